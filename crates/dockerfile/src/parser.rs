//! BuildKit's Dockerfile parser (moby/buildkit `frontend/dockerfile/parser`), reproduced
//! behaviour for behaviour, so that a Dockerfile means the same thing to gantry as to
//! `docker build`.
//!
//! The pipeline is BuildKit's: the source is cut into lines (keeping `\n`, like its
//! `scanLines`), parser directives are read from the top, comments are dropped, lines
//! ending in the escape character are joined, each joined line is split into keyword,
//! `--flags` and the rest, and the rest is handed to the keyword's argument parser
//! (its dispatch table). RUN, COPY and ADD lines (also under ONBUILD) that contain `<<`
//! then read their heredoc bodies from the following lines.
//!
//! Deliberate differences from BuildKit, all on inputs it mishandles:
//! - `--flag` extraction and HEALTHCHECK's first-word split work on characters; BuildKit
//!   works on bytes there, which turns non-ASCII bytes into Latin-1 (mojibake) and treats
//!   the bytes 0x85 and 0xA0 inside multi-byte characters as spaces.
//! - Errors name the 1-based line of the offending directive; BuildKit reports the line
//!   before it (an off-by-one in `Parse`).
//! - More than 64 nested `ONBUILD` keywords on one line are an error (BuildKit's parser
//!   accepts them, its instruction layer refuses any `ONBUILD ONBUILD`).
//! - Heredoc bodies have `<<-` tab stripping already applied (the crate contract);
//!   BuildKit strips them later, in its instruction layer.

use crate::{Ast, Directives, Heredoc, Node, ParseError};

/// `bufio.MaxScanTokenSize`: BuildKit's line reader refuses a line this long or longer.
const MAX_SCAN_TOKEN: usize = 64 * 1024;
/// Go's `encoding/json` refuses documents nested deeper than this.
const MAX_JSON_DEPTH: usize = 10_000;
/// Our bound on `ONBUILD ONBUILD ...` chains. BuildKit's parser has none, but each level
/// keeps its own copy of the rest of the line here (Go shares substrings), so a long chain
/// would cost memory quadratic in the line length; BuildKit's instruction layer rejects
/// any chain anyway.
const MAX_ONBUILD_DEPTH: usize = 64;
/// Our bound on `${...}` nesting while looking for heredocs (Go's stacks grow; ours do
/// not). Deeper nesting counts as a lexing error, which only means "no heredoc here".
const MAX_LEX_DEPTH: usize = 400;

/// Parses a Dockerfile the way BuildKit's frontend/dockerfile/parser does.
///
/// Unknown keywords are not an error here (BuildKit's parser keeps them with a single
/// empty argument; the instruction layer rejects them). ENV and LABEL arguments are
/// BuildKit's triples: key, value, and `"="` or `""` telling whether the pair was
/// written `k=v` or in the legacy `ENV k v` form.
///
/// An instruction continued across empty lines adds BuildKit's warning
/// `Empty continuation line found in: <joined line>` to `Ast::warnings`; BuildKit prints
/// each as `[WARNING]: ...` followed by one note that such lines will become errors in a
/// future release. An ONBUILD's nested instruction carries the lines of its ONBUILD.
pub fn parse(src: &str) -> Result<Ast, ParseError> {
    let (lines, too_long) = split_lines(src);
    let mut directives = DirectiveParser::new();
    let mut children = Vec::new();
    let mut warnings = Vec::new();
    let mut next = 0usize;
    let mut current_line = 0usize;

    while next < lines.len() {
        let mut raw = lines[next];
        next += 1;
        if current_line == 0 {
            raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        }
        let (first, found) = process_line(&mut directives, raw, true);
        if let Err(message) = found {
            return Err(ParseError { line: current_line + 1, message });
        }
        current_line += 1;
        let start_line = current_line;

        let (first, mut end_of_line) = trim_continuation(first, directives.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut line = first.to_string();
        let mut has_empty_continuation = false;
        while !end_of_line && next < lines.len() {
            let raw = lines[next];
            next += 1;
            let (processed, found) = process_line(&mut directives, raw, false);
            if let Err(message) = found {
                return Err(ParseError { line: current_line + 1, message });
            }
            current_line += 1;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(processed, directives.escape);
            end_of_line = eol;
            line.push_str(part);
        }
        if has_empty_continuation {
            warnings.push(format!("Empty continuation line found in: {line}"));
        }

        let mut node =
            node_from_line(&line, directives.escape).map_err(|message| ParseError { line: start_line, message })?;

        if can_contain_heredoc(&node) && line.contains("<<") {
            let docs = heredocs_from_line(&line).map_err(|message| ParseError { line: start_line, message })?;
            for mut doc in docs {
                let mut terminated = false;
                let mut content = String::new();
                while next < lines.len() {
                    let raw = lines[next];
                    next += 1;
                    current_line += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError { line: start_line, message: "unterminated heredoc".to_string() });
                }
                doc.content = if doc.chomp { chomp_heredoc(&content) } else { content };
                node.heredocs.push(doc);
            }
        }

        set_lines(&mut node, start_line, current_line);
        children.push(node);
    }

    if children.is_empty() {
        return Err(ParseError { line: current_line, message: "file with no instructions".to_string() });
    }
    if too_long {
        return Err(ParseError {
            line: current_line,
            message: format!("dockerfile line greater than max allowed size of {}", MAX_SCAN_TOKEN - 1),
        });
    }
    Ok(Ast { directives: directives.into_directives(), children, warnings })
}

/// The conformance dump of one node: keyword, flags as a Go-quoted list, args Go-quoted,
/// nested ONBUILD node inline (see the README for the format).
///
/// This is BuildKit's `Node.Dump`, the format of its parser test vectors, so our tree can
/// be compared with BuildKit's byte for byte. Deep ONBUILD chains are walked without
/// recursion.
pub fn dump(node: &Node) -> String {
    let mut chain = vec![node];
    let mut cur = node;
    while let Some(inner) = cur.nested.as_deref() {
        chain.push(inner);
        cur = inner;
    }
    let mut out = String::new();
    for (depth, n) in chain.iter().rev().enumerate() {
        let mut s = go_lower(&n.keyword);
        if !n.flags.is_empty() {
            s.push_str(" [");
            let quoted: Vec<String> = n.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&quoted.join(" "));
            s.push(']');
        }
        for arg in &n.args {
            s.push(' ');
            s.push_str(&go_quote(arg));
        }
        if depth > 0 {
            s.push_str(" (");
            s.push_str(&out);
            s.push(')');
        }
        out = s.trim().to_string();
    }
    out
}

/// Go's %q quoting (strconv.Quote) of a string.
///
/// Needed because BuildKit's dump (and many of its error messages) quote with it: `"` and
/// `\` are escaped, printable characters stay, the rest become `\n`, `\x07`, `\u00a0`,
/// `\U0001f600` and so on.
pub fn go_quote(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ => {
                let v = c as u32;
                let (prefix, digits) = if v < 0x20 || v == 0x7f {
                    ("\\x", 2)
                } else if v < 0x10000 {
                    ("\\u", 4)
                } else {
                    ("\\U", 8)
                };
                out.push_str(prefix);
                for i in (0..digits).rev() {
                    out.push(HEX[((v >> (4 * i)) & 0xf) as usize] as char);
                }
            }
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------
// Lines, comments, continuations

/// Cuts the source into lines that keep their `\n`, stopping before the first line that
/// Go's `bufio.Scanner` would refuse as too long (the flag says one was found).
fn split_lines(src: &str) -> (Vec<&str>, bool) {
    let mut out = Vec::new();
    let mut rest = src;
    while !rest.is_empty() {
        let (line, after) = match rest.find('\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let content = line.strip_suffix('\n').unwrap_or(line);
        if content.len() >= MAX_SCAN_TOKEN {
            return (out, true);
        }
        out.push(line);
        rest = after;
    }
    (out, false)
}

/// BuildKit's `trimNewline`: every trailing `\r` and `\n`.
fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// BuildKit's `isComment`: the first non-space character is `#`.
fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// BuildKit's `processLine`: drop the line ending (and leading space on the first line of
/// an instruction), let the directive parser look at it, and blank it if it is a comment.
fn process_line<'a>(d: &mut DirectiveParser, raw: &'a str, strip_left: bool) -> (&'a str, Result<(), String>) {
    let mut token = trim_newline(raw);
    if strip_left {
        token = token.trim_start();
    }
    let found = d.parse_line(token);
    (if is_comment(token) { "" } else { token }, found)
}

/// BuildKit's `trimContinuationCharacter`: a line ending in the escape character (then
/// optional blanks) continues, unless that escape is itself escaped. Returns the line
/// without the continuation and whether the instruction ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        None => (line, true),
        Some("") => ("", false),
        Some(before) if before.ends_with(escape) => (line, true),
        Some(before) => (before, false),
    }
}

/// Strips leading tabs from every line, like BuildKit's `ChompHeredocContent`.
fn chomp_heredoc(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for (i, part) in content.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(part.trim_start_matches('\t'));
    }
    out
}

fn set_lines(node: &mut Node, start: usize, end: usize) {
    let mut cur = Some(node);
    while let Some(n) = cur {
        n.start_line = start;
        n.end_line = end;
        cur = n.nested.as_deref_mut();
    }
}

// ---------------------------------------------------------------------------------------
// Directives

/// BuildKit's `DirectiveParser` plus the escape handling of its `directives`.
struct DirectiveParser {
    done: bool,
    seen: Vec<&'static str>,
    escape: char,
    syntax: Option<String>,
    check: Option<String>,
}

impl DirectiveParser {
    fn new() -> Self {
        DirectiveParser { done: false, seen: Vec::new(), escape: '\\', syntax: None, check: None }
    }

    fn into_directives(self) -> Directives {
        Directives { syntax: self.syntax, escape: self.escape, check: self.check }
    }

    /// Looks at one line while directives are still allowed: the first line that is not
    /// a `# key=value` comment with a known key ends the directive section.
    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(());
        };
        let Some((key, value)) = match_directive(rest.trim_start()) else {
            self.done = true;
            return Ok(());
        };
        let key: &'static str = match key.to_ascii_lowercase().as_str() {
            "syntax" => "syntax",
            "escape" => "escape",
            "check" => "check",
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key);
        match key {
            "escape" => match value {
                "`" => self.escape = '`',
                "\\" => self.escape = '\\',
                _ => return Err(format!("invalid escape token '{value}' does not match ` or \\")),
            },
            "syntax" => self.syntax = Some(value.to_string()),
            _ => self.check = Some(value.to_string()),
        }
        Ok(())
    }
}

/// Go's `\s` in RE2: ASCII tab, newline, form feed, carriage return and space.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// The regular expression `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, by hand.
fn match_directive(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let key_end = 1 + b[1..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    let after_key = s[key_end..].trim_start_matches(is_re_space);
    let value_part = after_key.strip_prefix('=')?;
    let value = value_part.trim_start_matches(is_re_space);
    if !value.is_empty() {
        return Some((&s[..key_end], value.trim_end_matches(is_re_space)));
    }
    // Only blanks after `=`: the lazy group still needs one character, the last one.
    let last = value_part.chars().last()?;
    Some((&s[..key_end], &value_part[value_part.len() - last.len_utf8()..]))
}

// ---------------------------------------------------------------------------------------
// Instructions

/// BuildKit's `newNodeFromLine` (and `parseSubCommand` for ONBUILD, unrolled into a loop
/// so that `ONBUILD ONBUILD ...` chains cannot exhaust the stack).
fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let mut chain: Vec<Node> = Vec::new();
    let mut text = line;
    loop {
        let (cmd, flags, args) = split_command(text);
        let keyword = go_lower(cmd);
        let mut node = Node { keyword, original: text.to_string(), flags, ..Node::default() };
        if node.keyword == "onbuild" && !args.is_empty() {
            if chain.len() >= MAX_ONBUILD_DEPTH {
                return Err(format!("ONBUILD instructions nested more than {MAX_ONBUILD_DEPTH} deep"));
            }
            chain.push(node);
            text = args;
            continue;
        }
        if node.keyword != "onbuild" {
            let (values, json) = dispatch(&node.keyword, args, escape)?;
            node.args = values;
            node.json = json;
        }
        chain.push(node);
        break;
    }
    let mut inner = match chain.pop() {
        Some(n) => n,
        None => return Err("internal error: empty instruction chain".to_string()),
    };
    while let Some(mut outer) = chain.pop() {
        outer.nested = Some(Box::new(inner));
        inner = outer;
    }
    Ok(inner)
}

/// BuildKit's `canContainHeredoc`: RUN, COPY and ADD in shell form, directly or as the
/// instruction of an ONBUILD.
fn can_contain_heredoc(node: &Node) -> bool {
    let mut n = node;
    if n.keyword == "onbuild" {
        if let Some(inner) = n.nested.as_deref() {
            n = inner;
        }
    }
    matches!(n.keyword.as_str(), "run" | "copy" | "add") && !n.json
}

/// BuildKit's dispatch table: the argument parser of each keyword. Returns the
/// arguments and whether they came from a JSON array.
fn dispatch(keyword: &str, rest: &str, escape: char) -> Result<(Vec<String>, bool), String> {
    match keyword {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(rest),
        "arg" => Ok((parse_words(rest, escape), false)),
        "cmd" | "entrypoint" | "run" | "shell" => parse_maybe_json(rest),
        "env" => parse_name_val(rest, "ENV", escape).map(|v| (v, false)),
        "label" => parse_name_val(rest, "LABEL", escape).map(|v| (v, false)),
        "expose" | "from" => Ok((parse_strings_whitespace_delimited(rest), false)),
        "healthcheck" => parse_health_config(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            Ok((if rest.is_empty() { Vec::new() } else { vec![rest.to_string()] }, false))
        }
        // parseIgnore: the keyword is kept with one empty argument.
        _ => Ok((vec![String::new()], false)),
    }
}

/// The class `[\t\v\f\r ]` of BuildKit's `reWhitespace`.
fn is_token_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Go's `unicode.IsSpace` on an ASCII byte (what BuildKit's byte loops see).
fn is_ascii_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Go's `strings.ToLower`: simple per-character lower-casing.
fn go_lower(s: &str) -> String {
    s.chars().map(|c| c.to_lowercase().next().unwrap_or(c)).collect()
}

/// Go's `regexp.Split` with `[\t\v\f\r ]+`, including its empty leading and trailing
/// fields; `limit` < 0 means no limit.
fn go_split_whitespace(s: &str, limit: isize) -> Vec<String> {
    if limit == 0 {
        return Vec::new();
    }
    if s.is_empty() {
        return vec![String::new()];
    }
    let mut matches: Vec<(usize, usize)> = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if limit > 0 && matches.len() as isize >= limit {
            break;
        }
        if is_token_space(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !is_token_space(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            matches.push((i, end));
        }
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for (m0, m1) in matches {
        if limit > 0 && out.len() as isize == limit - 1 {
            break;
        }
        end = m0;
        if m1 != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = m1;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// BuildKit's `splitCommand`: keyword, `--flags`, and the rest of the line.
fn split_command(line: &str) -> (&str, Vec<String>, &str) {
    let line = line.trim();
    match line.find(is_token_space) {
        None => (line, Vec::new(), ""),
        Some(i) => {
            let rest = line[i..].trim_start_matches(is_token_space);
            let (args, flags) = extract_builder_flags(rest);
            (&line[..i], flags, args.trim())
        }
    }
}

/// BuildKit's `extractBuilderFlags`: the leading words that start with `--` (quotes and
/// backslashes processed, `--` alone ends the flags), and the rest of the line.
fn extract_builder_flags(line: &str) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0usize;
    while pos <= n {
        let ch = if pos < n { chars[pos].1 } else { '\0' };
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || pos + 1 == n || chars[pos + 1].1 != '-' {
                return (&line[chars[pos].0..], words);
            }
            phase = Phase::Word;
        }
        if pos == n {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[chars[pos].0..], words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if c == '\\' {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = chars[pos].1;
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if c == '\\' {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = chars[pos].1;
        }
        word.push(c);
        pos += 1;
    }
    ("", words)
}

/// BuildKit's `parseWords`: words separated by spaces, quotes and escapes kept as
/// written (they are removed later, by expansion).
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0usize;
    while pos <= n {
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if chars[pos].is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == n {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        let mut ch = chars[pos];
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                // An escape outside quotes keeps itself and the next character, whatever
                // it is.
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// BuildKit's `parseNameVal` (ENV, LABEL): `k=v ...` pairs or the legacy `k v` form, as
/// key, value, separator triples.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let mut parts = go_split_whitespace(rest, 2).into_iter();
        return match (parts.next(), parts.next()) {
            (Some(k), Some(v)) => Ok(vec![k, v, String::new()]),
            _ => Err(format!("{key} must have two arguments")),
        };
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {}. Must be of the form: name=value", go_quote(word)));
        };
        out.push(k.to_string());
        out.push(v.to_string());
        out.push("=".to_string());
    }
    Ok(out)
}

/// BuildKit's `parseStringsWhitespaceDelimited` (FROM, EXPOSE, shell-form lists).
fn parse_strings_whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    go_split_whitespace(rest, -1)
}

const NOT_STRING_ARRAY: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// BuildKit's `parseMaybeJSON` (RUN, CMD, ENTRYPOINT, SHELL): a JSON array of strings is
/// the exec form; anything that is not valid JSON is the shell form, one argument; valid
/// JSON with a non-string element is an error.
fn parse_maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json_array(rest) {
        JsonArray::Strings(v) => Ok((v, true)),
        JsonArray::NotStrings => Err(NOT_STRING_ARRAY.to_string()),
        JsonArray::Invalid => Ok((vec![rest.to_string()], false)),
    }
}

/// BuildKit's `parseMaybeJSONToList` (COPY, ADD, VOLUME): like [`parse_maybe_json`], but
/// the shell form is split on blanks.
fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json_array(rest) {
        JsonArray::Strings(v) => Ok((v, true)),
        JsonArray::NotStrings => Err(NOT_STRING_ARRAY.to_string()),
        JsonArray::Invalid => Ok((parse_strings_whitespace_delimited(rest), false)),
    }
}

/// BuildKit's `parseHealthConfig`: the first word (`CMD`, `NONE`, ...), then the rest as
/// in [`parse_maybe_json`].
fn parse_health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let sep = rest.find(is_ascii_go_space).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let cmd = rest[sep..].trim_start_matches(is_ascii_go_space);
    let (more, json) = parse_maybe_json(cmd)?;
    let mut out = Vec::with_capacity(more.len() + 1);
    out.push(rest[..sep].to_string());
    out.extend(more);
    Ok((out, json))
}

// ---------------------------------------------------------------------------------------
// JSON, as Go's encoding/json.Unmarshal into []any sees it

enum JsonArray {
    /// A valid array whose elements are all strings.
    Strings(Vec<String>),
    /// Valid JSON, but some element is not a string.
    NotStrings,
    /// Not JSON (or a number too large for float64, which Go also refuses).
    Invalid,
}

struct JsonCursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonCursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.b.get(at..at + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        Some(v)
    }

    /// A string starting at `"`, decoded the way Go does (lone surrogates become U+FFFD).
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    let decoded = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let r = self.hex4(self.i)?;
                            self.i += 4;
                            if (0xD800..0xE000).contains(&r) {
                                let pair = if self.b.get(self.i..self.i + 2) == Some(b"\\u".as_slice()) {
                                    self.hex4(self.i + 2)
                                } else {
                                    None
                                };
                                match pair {
                                    Some(lo) if (0xD800..0xDC00).contains(&r) && (0xDC00..0xE000).contains(&lo) => {
                                        self.i += 6;
                                        char::from_u32(0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00))
                                            .unwrap_or('\u{fffd}')
                                    }
                                    _ => '\u{fffd}',
                                }
                            } else {
                                char::from_u32(r).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(decoded.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return None,
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    }

    /// A number; `Some(true)` when it overflows float64 (Go refuses it when decoding).
    fn number(&mut self) -> Option<bool> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        Some(text.parse::<f64>().map(|f| f.is_infinite()).unwrap_or(true))
    }

    /// An object key and its colon.
    fn key(&mut self) -> bool {
        if self.peek() != Some(b'"') || self.string().is_none() {
            return false;
        }
        self.skip_ws();
        if self.peek() != Some(b':') {
            return false;
        }
        self.i += 1;
        true
    }
}

/// BuildKit's `parseJSON`: the text (after leading blanks) must start with `[` and be one
/// complete JSON document. Validation is iterative, so deep nesting is safe.
fn parse_json_array(rest: &str) -> JsonArray {
    let s = rest.trim_start();
    if !s.starts_with('[') {
        return JsonArray::Invalid;
    }
    let mut p = JsonCursor { b: s.as_bytes(), i: 0 };
    let mut stack: Vec<u8> = Vec::new();
    let mut elements: Vec<Option<String>> = Vec::new();
    let mut overflow = false;
    'value: loop {
        p.skip_ws();
        let in_top = stack.len() == 1;
        match p.peek() {
            Some(open @ (b'[' | b'{')) => {
                p.i += 1;
                if in_top {
                    elements.push(None);
                }
                stack.push(open);
                if stack.len() > MAX_JSON_DEPTH {
                    return JsonArray::Invalid;
                }
                p.skip_ws();
                let close = if open == b'[' { b']' } else { b'}' };
                if p.peek() == Some(close) {
                    p.i += 1;
                    stack.pop();
                } else {
                    if open == b'{' && !p.key() {
                        return JsonArray::Invalid;
                    }
                    continue 'value;
                }
            }
            Some(b'"') => match p.string() {
                Some(v) if in_top => elements.push(Some(v)),
                Some(_) => {}
                None => return JsonArray::Invalid,
            },
            Some(b't' | b'f' | b'n') => {
                if !(p.literal(b"true") || p.literal(b"false") || p.literal(b"null")) {
                    return JsonArray::Invalid;
                }
                if in_top {
                    elements.push(None);
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                match p.number() {
                    Some(o) => overflow |= o,
                    None => return JsonArray::Invalid,
                }
                if in_top {
                    elements.push(None);
                }
            }
            _ => return JsonArray::Invalid,
        }
        // After a complete value: a separator, a closing bracket, or the end.
        loop {
            p.skip_ws();
            let Some(&open) = stack.last() else {
                if p.i != p.b.len() {
                    return JsonArray::Invalid;
                }
                if overflow {
                    return JsonArray::Invalid;
                }
                let mut strings = Vec::with_capacity(elements.len());
                for e in elements {
                    match e {
                        Some(s) => strings.push(s),
                        None => return JsonArray::NotStrings,
                    }
                }
                return JsonArray::Strings(strings);
            };
            match (open, p.peek()) {
                (_, Some(b',')) => {
                    p.i += 1;
                    if open == b'{' {
                        p.skip_ws();
                        if !p.key() {
                            return JsonArray::Invalid;
                        }
                    }
                    continue 'value;
                }
                (b'[', Some(b']')) | (b'{', Some(b'}')) => {
                    p.i += 1;
                    stack.pop();
                }
                _ => return JsonArray::Invalid,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Heredocs

/// BuildKit's `heredocsFromLine`: split the whole line into shell words (quotes, escapes
/// and `$vars` kept as written) and take every word that reads as `[n]<<[-]NAME`.
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let words = lex_words(line, true, true).unwrap_or_default();
    let mut docs = Vec::new();
    for word in &words {
        if let Some(doc) = parse_heredoc(word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// BuildKit's `ParseHeredoc`: the pattern `^(\d*)<<(-?)\s*([^<]*)$`, then the name must
/// lex to exactly one word; any quoting in it turns expansion off.
fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start_matches(is_re_space);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    // strconv.ParseUint: empty is 0, overflow saturates.
    let fd = if digits == 0 { 0 } else { word[..digits].parse::<u64>().unwrap_or(u64::MAX) };
    let file_descriptor = u32::try_from(fd).unwrap_or(u32::MAX);

    let words = lex_words(rest, false, false)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = lex_words(rest, true, false)?;
    if raw.len() != words.len() {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc { name: words[0].clone(), content: String::new(), expand, chomp, file_descriptor }))
}

/// Runs BuildKit's shell lexer (escape `\`, empty environment, unset variables kept as
/// written) over `s` and returns its words.
fn lex_words(s: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    let mut lex = Lexer::new(s, raw_quotes, raw_escapes);
    match lex.process_stop_on(None, raw_escapes) {
        Ok((_, words)) => Ok(words),
        Err(e) => Err(format!("failed to process {}: {e}", go_quote(s))),
    }
}

/// The word splitting state of BuildKit's lexer. The word being built lives in the
/// lexer (`Lexer::buf`), shared by nested calls exactly as in BuildKit, where a nested
/// `${...}` resets it.
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, c: char) {
        if c.is_whitespace() && self.in_word {
            if !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else if !c.is_whitespace() {
            self.add_raw_char(buf, c);
        }
    }

    fn add_raw_char(&mut self, buf: &mut String, c: char) {
        buf.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, buf: &mut String, s: &str) {
        for c in s.chars() {
            self.add_char(buf, c);
        }
    }

    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }

    fn get_words(mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
        }
        self.words
    }
}

/// A port of the parts of BuildKit's `shell.Lex` that heredoc detection uses.
///
/// Deliberately separate from [`crate::shell::Lexer`]: heredoc detection must follow
/// BuildKit's current lexer exactly, including its shared word buffer (a nested
/// `${x:-y}` drops what the word held before it) and a deeper nesting bound, which the
/// expansion lexer does not reproduce; routing this through it changes which lines
/// BuildKit would see heredocs on (the conformance tests catch it).
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    buf: String,
    depth: usize,
}

impl Lexer {
    fn new(s: &str, raw_quotes: bool, raw_escapes: bool) -> Self {
        let chars: Vec<char> = s.chars().collect();
        // Go's text/scanner skips a byte order mark at the very start.
        let pos = usize::from(chars.first() == Some(&'\u{feff}'));
        Lexer { chars, pos, raw_quotes, raw_escapes, buf: String::new(), depth: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), String> {
        if self.depth >= MAX_LEX_DEPTH {
            return Err("substitutions nested too deeply".to_string());
        }
        self.depth += 1;
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        r
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.buf.clear();
        let mut words = Words { words: Vec::new(), in_word: false };
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.get_words(&mut self.buf)));
            }
            match ch {
                '$' => {
                    let tmp = self.process_dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&mut self.buf, &tmp);
                }
                '<' => {
                    let tmp = self.process_possible_heredoc();
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.buf, &tmp);
                }
                '\'' => {
                    let tmp = self.process_single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.buf, &tmp);
                }
                '"' => {
                    let tmp = self.process_double_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.buf, &tmp);
                }
                _ => {
                    self.next();
                    let mut c = ch;
                    if c == '\\' {
                        if self.raw_escapes {
                            words.add_raw_char(&mut self.buf, c);
                            result.push(c);
                        }
                        match self.next() {
                            None => break,
                            Some(escaped) => c = escaped,
                        }
                        words.add_raw_char(&mut self.buf, c);
                    } else {
                        words.add_char(&mut self.buf, c);
                    }
                    result.push(c);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!("unexpected end of statement while looking for matching {stop}"));
        }
        Ok((result, words.get_words(&mut self.buf)))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        self.next();
        if self.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".to_string()),
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        self.next();
        if self.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".to_string()),
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(c) => {
                    self.next();
                    let mut c = c;
                    if c == '\\' {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | '\\') => {
                                if let Some(escaped) = self.next() {
                                    c = escaped;
                                }
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(c);
                }
            }
        }
    }

    /// `$name` and `${...}` with an empty environment and unset variables kept: the
    /// reference comes back as written (normalized), or an error for bad syntax.
    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            return Ok(if name.is_empty() { "$".to_string() } else { format!("${name}") });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.process_name();
        let ch = self.next();
        let mut chs = go_rune_string(ch);
        match ch {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut modifier = ch;
                let null_is_unset = ch == Some(':');
                if null_is_unset {
                    modifier = self.next();
                    chs.push_str(&go_rune_string(modifier));
                }
                let raw_escapes = matches!(modifier, Some('#' | '%'));
                if null_is_unset && raw_escapes {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw_escapes) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".to_string()),
                    Err(e) => return Err(e),
                };
                Ok(format!("${{{name}{chs}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => return Err("syntax error: missing '/' in ${}".to_string()),
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".to_string()),
                    Err(e) => return Err(e),
                };
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_go_digit(ch) {
                while let Some(d) = self.peek() {
                    if !is_go_digit(d) {
                        break;
                    }
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !is_go_digit(ch) && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    /// `<<` keeps the blanks after it in its word, so `<< EOF` is one word.
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut result = "<<".to_string();
        while let Some(c @ (' ' | '\t' | '\r' | '\n')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }
}

/// Go's `string(rune)`, where end of input (-1) becomes U+FFFD.
fn go_rune_string(c: Option<char>) -> String {
    c.unwrap_or('\u{fffd}').to_string()
}

/// Go's `unicode.IsDigit` (decimal digits), approximated by Rust's numeric class outside
/// ASCII.
fn is_go_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

// ---------------------------------------------------------------------------------------
// Printable characters, for go_quote

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space.
fn go_is_print(c: char) -> bool {
    let v = c as u32;
    if v < 0x80 {
        return (0x20..0x7f).contains(&v);
    }
    PRINTABLE_RANGES
        .binary_search_by(|&(lo, hi)| {
            if hi < v {
                std::cmp::Ordering::Less
            } else if lo > v {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Ranges of non-ASCII code points in the general categories L, M, N, P and S (Unicode
/// 14, generated from Python's unicodedata), which is what Go calls printable.
#[rustfmt::skip]
const PRINTABLE_RANGES: &[(u32, u32)] = &[
    (0xA1, 0xAC), (0xAE, 0x377), (0x37A, 0x37F), (0x384, 0x38A), (0x38C, 0x38C), (0x38E, 0x3A1),
    (0x3A3, 0x52F), (0x531, 0x556), (0x559, 0x58A), (0x58D, 0x58F), (0x591, 0x5C7), (0x5D0, 0x5EA),
    (0x5EF, 0x5F4), (0x606, 0x61B), (0x61D, 0x6DC), (0x6DE, 0x70D), (0x710, 0x74A), (0x74D, 0x7B1),
    (0x7C0, 0x7FA), (0x7FD, 0x82D), (0x830, 0x83E), (0x840, 0x85B), (0x85E, 0x85E), (0x860, 0x86A),
    (0x870, 0x88E), (0x898, 0x8E1), (0x8E3, 0x983), (0x985, 0x98C), (0x98F, 0x990), (0x993, 0x9A8),
    (0x9AA, 0x9B0), (0x9B2, 0x9B2), (0x9B6, 0x9B9), (0x9BC, 0x9C4), (0x9C7, 0x9C8), (0x9CB, 0x9CE),
    (0x9D7, 0x9D7), (0x9DC, 0x9DD), (0x9DF, 0x9E3), (0x9E6, 0x9FE), (0xA01, 0xA03), (0xA05, 0xA0A),
    (0xA0F, 0xA10), (0xA13, 0xA28), (0xA2A, 0xA30), (0xA32, 0xA33), (0xA35, 0xA36), (0xA38, 0xA39),
    (0xA3C, 0xA3C), (0xA3E, 0xA42), (0xA47, 0xA48), (0xA4B, 0xA4D), (0xA51, 0xA51), (0xA59, 0xA5C),
    (0xA5E, 0xA5E), (0xA66, 0xA76), (0xA81, 0xA83), (0xA85, 0xA8D), (0xA8F, 0xA91), (0xA93, 0xAA8),
    (0xAAA, 0xAB0), (0xAB2, 0xAB3), (0xAB5, 0xAB9), (0xABC, 0xAC5), (0xAC7, 0xAC9), (0xACB, 0xACD),
    (0xAD0, 0xAD0), (0xAE0, 0xAE3), (0xAE6, 0xAF1), (0xAF9, 0xAFF), (0xB01, 0xB03), (0xB05, 0xB0C),
    (0xB0F, 0xB10), (0xB13, 0xB28), (0xB2A, 0xB30), (0xB32, 0xB33), (0xB35, 0xB39), (0xB3C, 0xB44),
    (0xB47, 0xB48), (0xB4B, 0xB4D), (0xB55, 0xB57), (0xB5C, 0xB5D), (0xB5F, 0xB63), (0xB66, 0xB77),
    (0xB82, 0xB83), (0xB85, 0xB8A), (0xB8E, 0xB90), (0xB92, 0xB95), (0xB99, 0xB9A), (0xB9C, 0xB9C),
    (0xB9E, 0xB9F), (0xBA3, 0xBA4), (0xBA8, 0xBAA), (0xBAE, 0xBB9), (0xBBE, 0xBC2), (0xBC6, 0xBC8),
    (0xBCA, 0xBCD), (0xBD0, 0xBD0), (0xBD7, 0xBD7), (0xBE6, 0xBFA), (0xC00, 0xC0C), (0xC0E, 0xC10),
    (0xC12, 0xC28), (0xC2A, 0xC39), (0xC3C, 0xC44), (0xC46, 0xC48), (0xC4A, 0xC4D), (0xC55, 0xC56),
    (0xC58, 0xC5A), (0xC5D, 0xC5D), (0xC60, 0xC63), (0xC66, 0xC6F), (0xC77, 0xC8C), (0xC8E, 0xC90),
    (0xC92, 0xCA8), (0xCAA, 0xCB3), (0xCB5, 0xCB9), (0xCBC, 0xCC4), (0xCC6, 0xCC8), (0xCCA, 0xCCD),
    (0xCD5, 0xCD6), (0xCDD, 0xCDE), (0xCE0, 0xCE3), (0xCE6, 0xCEF), (0xCF1, 0xCF2), (0xD00, 0xD0C),
    (0xD0E, 0xD10), (0xD12, 0xD44), (0xD46, 0xD48), (0xD4A, 0xD4F), (0xD54, 0xD63), (0xD66, 0xD7F),
    (0xD81, 0xD83), (0xD85, 0xD96), (0xD9A, 0xDB1), (0xDB3, 0xDBB), (0xDBD, 0xDBD), (0xDC0, 0xDC6),
    (0xDCA, 0xDCA), (0xDCF, 0xDD4), (0xDD6, 0xDD6), (0xDD8, 0xDDF), (0xDE6, 0xDEF), (0xDF2, 0xDF4),
    (0xE01, 0xE3A), (0xE3F, 0xE5B), (0xE81, 0xE82), (0xE84, 0xE84), (0xE86, 0xE8A), (0xE8C, 0xEA3),
    (0xEA5, 0xEA5), (0xEA7, 0xEBD), (0xEC0, 0xEC4), (0xEC6, 0xEC6), (0xEC8, 0xECD), (0xED0, 0xED9),
    (0xEDC, 0xEDF), (0xF00, 0xF47), (0xF49, 0xF6C), (0xF71, 0xF97), (0xF99, 0xFBC), (0xFBE, 0xFCC),
    (0xFCE, 0xFDA), (0x1000, 0x10C5), (0x10C7, 0x10C7), (0x10CD, 0x10CD), (0x10D0, 0x1248), (0x124A, 0x124D),
    (0x1250, 0x1256), (0x1258, 0x1258), (0x125A, 0x125D), (0x1260, 0x1288), (0x128A, 0x128D), (0x1290, 0x12B0),
    (0x12B2, 0x12B5), (0x12B8, 0x12BE), (0x12C0, 0x12C0), (0x12C2, 0x12C5), (0x12C8, 0x12D6), (0x12D8, 0x1310),
    (0x1312, 0x1315), (0x1318, 0x135A), (0x135D, 0x137C), (0x1380, 0x1399), (0x13A0, 0x13F5), (0x13F8, 0x13FD),
    (0x1400, 0x167F), (0x1681, 0x169C), (0x16A0, 0x16F8), (0x1700, 0x1715), (0x171F, 0x1736), (0x1740, 0x1753),
    (0x1760, 0x176C), (0x176E, 0x1770), (0x1772, 0x1773), (0x1780, 0x17DD), (0x17E0, 0x17E9), (0x17F0, 0x17F9),
    (0x1800, 0x180D), (0x180F, 0x1819), (0x1820, 0x1878), (0x1880, 0x18AA), (0x18B0, 0x18F5), (0x1900, 0x191E),
    (0x1920, 0x192B), (0x1930, 0x193B), (0x1940, 0x1940), (0x1944, 0x196D), (0x1970, 0x1974), (0x1980, 0x19AB),
    (0x19B0, 0x19C9), (0x19D0, 0x19DA), (0x19DE, 0x1A1B), (0x1A1E, 0x1A5E), (0x1A60, 0x1A7C), (0x1A7F, 0x1A89),
    (0x1A90, 0x1A99), (0x1AA0, 0x1AAD), (0x1AB0, 0x1ACE), (0x1B00, 0x1B4C), (0x1B50, 0x1B7E), (0x1B80, 0x1BF3),
    (0x1BFC, 0x1C37), (0x1C3B, 0x1C49), (0x1C4D, 0x1C88), (0x1C90, 0x1CBA), (0x1CBD, 0x1CC7), (0x1CD0, 0x1CFA),
    (0x1D00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59),
    (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FC4), (0x1FC6, 0x1FD3),
    (0x1FD6, 0x1FDB), (0x1FDD, 0x1FEF), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFE), (0x2010, 0x2027), (0x2030, 0x205E),
    (0x2070, 0x2071), (0x2074, 0x208E), (0x2090, 0x209C), (0x20A0, 0x20C0), (0x20D0, 0x20F0), (0x2100, 0x218B),
    (0x2190, 0x2426), (0x2440, 0x244A), (0x2460, 0x2B73), (0x2B76, 0x2B95), (0x2B97, 0x2CF3), (0x2CF9, 0x2D25),
    (0x2D27, 0x2D27), (0x2D2D, 0x2D2D), (0x2D30, 0x2D67), (0x2D6F, 0x2D70), (0x2D7F, 0x2D96), (0x2DA0, 0x2DA6),
    (0x2DA8, 0x2DAE), (0x2DB0, 0x2DB6), (0x2DB8, 0x2DBE), (0x2DC0, 0x2DC6), (0x2DC8, 0x2DCE), (0x2DD0, 0x2DD6),
    (0x2DD8, 0x2DDE), (0x2DE0, 0x2E5D), (0x2E80, 0x2E99), (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x2FF0, 0x2FFB),
    (0x3001, 0x303F), (0x3041, 0x3096), (0x3099, 0x30FF), (0x3105, 0x312F), (0x3131, 0x318E), (0x3190, 0x31E3),
    (0x31F0, 0x321E), (0x3220, 0xA48C), (0xA490, 0xA4C6), (0xA4D0, 0xA62B), (0xA640, 0xA6F7), (0xA700, 0xA7CA),
    (0xA7D0, 0xA7D1), (0xA7D3, 0xA7D3), (0xA7D5, 0xA7D9), (0xA7F2, 0xA82C), (0xA830, 0xA839), (0xA840, 0xA877),
    (0xA880, 0xA8C5), (0xA8CE, 0xA8D9), (0xA8E0, 0xA953), (0xA95F, 0xA97C), (0xA980, 0xA9CD), (0xA9CF, 0xA9D9),
    (0xA9DE, 0xA9FE), (0xAA00, 0xAA36), (0xAA40, 0xAA4D), (0xAA50, 0xAA59), (0xAA5C, 0xAAC2), (0xAADB, 0xAAF6),
    (0xAB01, 0xAB06), (0xAB09, 0xAB0E), (0xAB11, 0xAB16), (0xAB20, 0xAB26), (0xAB28, 0xAB2E), (0xAB30, 0xAB6B),
    (0xAB70, 0xABED), (0xABF0, 0xABF9), (0xAC00, 0xD7A3), (0xD7B0, 0xD7C6), (0xD7CB, 0xD7FB), (0xF900, 0xFA6D),
    (0xFA70, 0xFAD9), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFB1D, 0xFB36), (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E),
    (0xFB40, 0xFB41), (0xFB43, 0xFB44), (0xFB46, 0xFBC2), (0xFBD3, 0xFD8F), (0xFD92, 0xFDC7), (0xFDCF, 0xFDCF),
    (0xFDF0, 0xFE19), (0xFE20, 0xFE52), (0xFE54, 0xFE66), (0xFE68, 0xFE6B), (0xFE70, 0xFE74), (0xFE76, 0xFEFC),
    (0xFF01, 0xFFBE), (0xFFC2, 0xFFC7), (0xFFCA, 0xFFCF), (0xFFD2, 0xFFD7), (0xFFDA, 0xFFDC), (0xFFE0, 0xFFE6),
    (0xFFE8, 0xFFEE), (0xFFFC, 0xFFFD), (0x10000, 0x1000B), (0x1000D, 0x10026), (0x10028, 0x1003A), (0x1003C, 0x1003D),
    (0x1003F, 0x1004D), (0x10050, 0x1005D), (0x10080, 0x100FA), (0x10100, 0x10102), (0x10107, 0x10133), (0x10137, 0x1018E),
    (0x10190, 0x1019C), (0x101A0, 0x101A0), (0x101D0, 0x101FD), (0x10280, 0x1029C), (0x102A0, 0x102D0), (0x102E0, 0x102FB),
    (0x10300, 0x10323), (0x1032D, 0x1034A), (0x10350, 0x1037A), (0x10380, 0x1039D), (0x1039F, 0x103C3), (0x103C8, 0x103D5),
    (0x10400, 0x1049D), (0x104A0, 0x104A9), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10500, 0x10527), (0x10530, 0x10563),
    (0x1056F, 0x1057A), (0x1057C, 0x1058A), (0x1058C, 0x10592), (0x10594, 0x10595), (0x10597, 0x105A1), (0x105A3, 0x105B1),
    (0x105B3, 0x105B9), (0x105BB, 0x105BC), (0x10600, 0x10736), (0x10740, 0x10755), (0x10760, 0x10767), (0x10780, 0x10785),
    (0x10787, 0x107B0), (0x107B2, 0x107BA), (0x10800, 0x10805), (0x10808, 0x10808), (0x1080A, 0x10835), (0x10837, 0x10838),
    (0x1083C, 0x1083C), (0x1083F, 0x10855), (0x10857, 0x1089E), (0x108A7, 0x108AF), (0x108E0, 0x108F2), (0x108F4, 0x108F5),
    (0x108FB, 0x1091B), (0x1091F, 0x10939), (0x1093F, 0x1093F), (0x10980, 0x109B7), (0x109BC, 0x109CF), (0x109D2, 0x10A03),
    (0x10A05, 0x10A06), (0x10A0C, 0x10A13), (0x10A15, 0x10A17), (0x10A19, 0x10A35), (0x10A38, 0x10A3A), (0x10A3F, 0x10A48),
    (0x10A50, 0x10A58), (0x10A60, 0x10A9F), (0x10AC0, 0x10AE6), (0x10AEB, 0x10AF6), (0x10B00, 0x10B35), (0x10B39, 0x10B55),
    (0x10B58, 0x10B72), (0x10B78, 0x10B91), (0x10B99, 0x10B9C), (0x10BA9, 0x10BAF), (0x10C00, 0x10C48), (0x10C80, 0x10CB2),
    (0x10CC0, 0x10CF2), (0x10CFA, 0x10D27), (0x10D30, 0x10D39), (0x10E60, 0x10E7E), (0x10E80, 0x10EA9), (0x10EAB, 0x10EAD),
    (0x10EB0, 0x10EB1), (0x10F00, 0x10F27), (0x10F30, 0x10F59), (0x10F70, 0x10F89), (0x10FB0, 0x10FCB), (0x10FE0, 0x10FF6),
    (0x11000, 0x1104D), (0x11052, 0x11075), (0x1107F, 0x110BC), (0x110BE, 0x110C2), (0x110D0, 0x110E8), (0x110F0, 0x110F9),
    (0x11100, 0x11134), (0x11136, 0x11147), (0x11150, 0x11176), (0x11180, 0x111DF), (0x111E1, 0x111F4), (0x11200, 0x11211),
    (0x11213, 0x1123E), (0x11280, 0x11286), (0x11288, 0x11288), (0x1128A, 0x1128D), (0x1128F, 0x1129D), (0x1129F, 0x112A9),
    (0x112B0, 0x112EA), (0x112F0, 0x112F9), (0x11300, 0x11303), (0x11305, 0x1130C), (0x1130F, 0x11310), (0x11313, 0x11328),
    (0x1132A, 0x11330), (0x11332, 0x11333), (0x11335, 0x11339), (0x1133B, 0x11344), (0x11347, 0x11348), (0x1134B, 0x1134D),
    (0x11350, 0x11350), (0x11357, 0x11357), (0x1135D, 0x11363), (0x11366, 0x1136C), (0x11370, 0x11374), (0x11400, 0x1145B),
    (0x1145D, 0x11461), (0x11480, 0x114C7), (0x114D0, 0x114D9), (0x11580, 0x115B5), (0x115B8, 0x115DD), (0x11600, 0x11644),
    (0x11650, 0x11659), (0x11660, 0x1166C), (0x11680, 0x116B9), (0x116C0, 0x116C9), (0x11700, 0x1171A), (0x1171D, 0x1172B),
    (0x11730, 0x11746), (0x11800, 0x1183B), (0x118A0, 0x118F2), (0x118FF, 0x11906), (0x11909, 0x11909), (0x1190C, 0x11913),
    (0x11915, 0x11916), (0x11918, 0x11935), (0x11937, 0x11938), (0x1193B, 0x11946), (0x11950, 0x11959), (0x119A0, 0x119A7),
    (0x119AA, 0x119D7), (0x119DA, 0x119E4), (0x11A00, 0x11A47), (0x11A50, 0x11AA2), (0x11AB0, 0x11AF8), (0x11C00, 0x11C08),
    (0x11C0A, 0x11C36), (0x11C38, 0x11C45), (0x11C50, 0x11C6C), (0x11C70, 0x11C8F), (0x11C92, 0x11CA7), (0x11CA9, 0x11CB6),
    (0x11D00, 0x11D06), (0x11D08, 0x11D09), (0x11D0B, 0x11D36), (0x11D3A, 0x11D3A), (0x11D3C, 0x11D3D), (0x11D3F, 0x11D47),
    (0x11D50, 0x11D59), (0x11D60, 0x11D65), (0x11D67, 0x11D68), (0x11D6A, 0x11D8E), (0x11D90, 0x11D91), (0x11D93, 0x11D98),
    (0x11DA0, 0x11DA9), (0x11EE0, 0x11EF8), (0x11FB0, 0x11FB0), (0x11FC0, 0x11FF1), (0x11FFF, 0x12399), (0x12400, 0x1246E),
    (0x12470, 0x12474), (0x12480, 0x12543), (0x12F90, 0x12FF2), (0x13000, 0x1342E), (0x14400, 0x14646), (0x16800, 0x16A38),
    (0x16A40, 0x16A5E), (0x16A60, 0x16A69), (0x16A6E, 0x16ABE), (0x16AC0, 0x16AC9), (0x16AD0, 0x16AED), (0x16AF0, 0x16AF5),
    (0x16B00, 0x16B45), (0x16B50, 0x16B59), (0x16B5B, 0x16B61), (0x16B63, 0x16B77), (0x16B7D, 0x16B8F), (0x16E40, 0x16E9A),
    (0x16F00, 0x16F4A), (0x16F4F, 0x16F87), (0x16F8F, 0x16F9F), (0x16FE0, 0x16FE4), (0x16FF0, 0x16FF1), (0x17000, 0x187F7),
    (0x18800, 0x18CD5), (0x18D00, 0x18D08), (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB), (0x1AFFD, 0x1AFFE), (0x1B000, 0x1B122),
    (0x1B150, 0x1B152), (0x1B164, 0x1B167), (0x1B170, 0x1B2FB), (0x1BC00, 0x1BC6A), (0x1BC70, 0x1BC7C), (0x1BC80, 0x1BC88),
    (0x1BC90, 0x1BC99), (0x1BC9C, 0x1BC9F), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1CF50, 0x1CFC3), (0x1D000, 0x1D0F5),
    (0x1D100, 0x1D126), (0x1D129, 0x1D172), (0x1D17B, 0x1D1EA), (0x1D200, 0x1D245), (0x1D2E0, 0x1D2F3), (0x1D300, 0x1D356),
    (0x1D360, 0x1D378), (0x1D400, 0x1D454), (0x1D456, 0x1D49C), (0x1D49E, 0x1D49F), (0x1D4A2, 0x1D4A2), (0x1D4A5, 0x1D4A6),
    (0x1D4A9, 0x1D4AC), (0x1D4AE, 0x1D4B9), (0x1D4BB, 0x1D4BB), (0x1D4BD, 0x1D4C3), (0x1D4C5, 0x1D505), (0x1D507, 0x1D50A),
    (0x1D50D, 0x1D514), (0x1D516, 0x1D51C), (0x1D51E, 0x1D539), (0x1D53B, 0x1D53E), (0x1D540, 0x1D544), (0x1D546, 0x1D546),
    (0x1D54A, 0x1D550), (0x1D552, 0x1D6A5), (0x1D6A8, 0x1D7CB), (0x1D7CE, 0x1DA8B), (0x1DA9B, 0x1DA9F), (0x1DAA1, 0x1DAAF),
    (0x1DF00, 0x1DF1E), (0x1E000, 0x1E006), (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A),
    (0x1E100, 0x1E12C), (0x1E130, 0x1E13D), (0x1E140, 0x1E149), (0x1E14E, 0x1E14F), (0x1E290, 0x1E2AE), (0x1E2C0, 0x1E2F9),
    (0x1E2FF, 0x1E2FF), (0x1E7E0, 0x1E7E6), (0x1E7E8, 0x1E7EB), (0x1E7ED, 0x1E7EE), (0x1E7F0, 0x1E7FE), (0x1E800, 0x1E8C4),
    (0x1E8C7, 0x1E8D6), (0x1E900, 0x1E94B), (0x1E950, 0x1E959), (0x1E95E, 0x1E95F), (0x1EC71, 0x1ECB4), (0x1ED01, 0x1ED3D),
    (0x1EE00, 0x1EE03), (0x1EE05, 0x1EE1F), (0x1EE21, 0x1EE22), (0x1EE24, 0x1EE24), (0x1EE27, 0x1EE27), (0x1EE29, 0x1EE32),
    (0x1EE34, 0x1EE37), (0x1EE39, 0x1EE39), (0x1EE3B, 0x1EE3B), (0x1EE42, 0x1EE42), (0x1EE47, 0x1EE47), (0x1EE49, 0x1EE49),
    (0x1EE4B, 0x1EE4B), (0x1EE4D, 0x1EE4F), (0x1EE51, 0x1EE52), (0x1EE54, 0x1EE54), (0x1EE57, 0x1EE57), (0x1EE59, 0x1EE59),
    (0x1EE5B, 0x1EE5B), (0x1EE5D, 0x1EE5D), (0x1EE5F, 0x1EE5F), (0x1EE61, 0x1EE62), (0x1EE64, 0x1EE64), (0x1EE67, 0x1EE6A),
    (0x1EE6C, 0x1EE72), (0x1EE74, 0x1EE77), (0x1EE79, 0x1EE7C), (0x1EE7E, 0x1EE7E), (0x1EE80, 0x1EE89), (0x1EE8B, 0x1EE9B),
    (0x1EEA1, 0x1EEA3), (0x1EEA5, 0x1EEA9), (0x1EEAB, 0x1EEBB), (0x1EEF0, 0x1EEF1), (0x1F000, 0x1F02B), (0x1F030, 0x1F093),
    (0x1F0A0, 0x1F0AE), (0x1F0B1, 0x1F0BF), (0x1F0C1, 0x1F0CF), (0x1F0D1, 0x1F0F5), (0x1F100, 0x1F1AD), (0x1F1E6, 0x1F202),
    (0x1F210, 0x1F23B), (0x1F240, 0x1F248), (0x1F250, 0x1F251), (0x1F260, 0x1F265), (0x1F300, 0x1F6D7), (0x1F6DD, 0x1F6EC),
    (0x1F6F0, 0x1F6FC), (0x1F700, 0x1F773), (0x1F780, 0x1F7D8), (0x1F7E0, 0x1F7EB), (0x1F7F0, 0x1F7F0), (0x1F800, 0x1F80B),
    (0x1F810, 0x1F847), (0x1F850, 0x1F859), (0x1F860, 0x1F887), (0x1F890, 0x1F8AD), (0x1F8B0, 0x1F8B1), (0x1F900, 0x1FA53),
    (0x1FA60, 0x1FA6D), (0x1FA70, 0x1FA74), (0x1FA78, 0x1FA7C), (0x1FA80, 0x1FA86), (0x1FA90, 0x1FAAC), (0x1FAB0, 0x1FABA),
    (0x1FAC0, 0x1FAC5), (0x1FAD0, 0x1FAD9), (0x1FAE0, 0x1FAE7), (0x1FAF0, 0x1FAF6), (0x1FB00, 0x1FB92), (0x1FB94, 0x1FBCA),
    (0x1FBF0, 0x1FBF9), (0x20000, 0x2A6DF), (0x2A700, 0x2B738), (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1), (0x2CEB0, 0x2EBE0),
    (0x2F800, 0x2FA1D), (0x30000, 0x3134A), (0xE0100, 0xE01EF),
];
