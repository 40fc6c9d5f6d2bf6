//! Recognising heredoc words (`<<EOF`, `<<-"EOF"`, `3<<EOF`) among COPY/ADD
//! arguments, as BuildKit's `parser.ParseHeredoc` does, so that a source can be a
//! heredoc's content instead of a path.

/// A heredoc word: its delimiter name (quotes removed), whether the body is expanded
/// (no quoting in the word), and whether it is `<<-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
}

/// `Some` when `src` is a heredoc word: `^(\d*)<<(-?)([^<]*)$` whose rest is exactly
/// one shell word.
pub(crate) fn parse_word(src: &str) -> Option<Word> {
    let digits = src.bytes().take_while(u8::is_ascii_digit).count();
    let rest = src[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let words = split_words(rest)?;
    let [(name, raw)] = words.as_slice() else {
        return None;
    };
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Some(Word { expand: quotes(name) == quotes(raw), name: name.clone(), chomp })
}

/// Splits on unquoted whitespace with `\` as escape; returns each word twice: with
/// quotes removed and with quote characters kept (BuildKit lexes the word both ways
/// to tell whether any of it was quoted). `None` for an unterminated quote.
fn split_words(s: &str) -> Option<Vec<(String, String)>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut raw = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push((std::mem::take(&mut cur), std::mem::take(&mut raw)));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                    raw.push(n);
                }
            }
            '\'' => {
                in_word = true;
                raw.push('\'');
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => {
                            cur.push(c);
                            raw.push(c);
                        }
                    }
                }
                raw.push('\'');
            }
            '"' => {
                in_word = true;
                raw.push('"');
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let n = chars.next()?;
                            if !matches!(n, '"' | '\\' | '$' | '`') {
                                cur.push('\\');
                                raw.push('\\');
                            }
                            cur.push(n);
                            raw.push(n);
                        }
                        c => {
                            cur.push(c);
                            raw.push(c);
                        }
                    }
                }
                raw.push('"');
            }
            c => {
                in_word = true;
                cur.push(c);
                raw.push(c);
            }
        }
    }
    if in_word {
        words.push((cur, raw));
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let w = parse_word("<<EOF").unwrap();
        assert_eq!((w.name.as_str(), w.expand, w.chomp), ("EOF", true, false));
        let w = parse_word("<<-\"EOF\"").unwrap();
        assert_eq!((w.name.as_str(), w.expand, w.chomp), ("EOF", false, true));
        let w = parse_word("3<<'E'OF").unwrap();
        assert_eq!((w.name.as_str(), w.expand), ("EOF", false));
        assert!(parse_word("<<").is_none());
        assert!(parse_word("<<a b").is_none());
        assert!(parse_word("a<<b").is_none());
        assert!(parse_word("/dst").is_none());
        assert!(parse_word("<<'unterminated").is_none());
    }
}
