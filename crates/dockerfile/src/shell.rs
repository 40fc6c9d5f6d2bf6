//! BuildKit's shell-word expansion (`frontend/dockerfile/shell/lex.go`), reproduced exactly.
//!
//! Dockerfile instructions such as `ENV`, `ARG`, `COPY`, `WORKDIR` and `LABEL` expand their
//! arguments with a small shell-like language: single and double quotes, an escape character
//! (`\` or, with `# escape=`` ` ``, the backtick), `$VAR`, `${VAR}` and the modifiers
//! `${VAR:-x}` `${VAR-x}` `${VAR:+x}` `${VAR+x}` `${VAR:?msg}` `${VAR?msg}` `${VAR#p}`
//! `${VAR##p}` `${VAR%p}` `${VAR%%p}` `${VAR/p/r}` `${VAR//p/r}`. A build that expands a word
//! differently from BuildKit produces a different image, so this module follows lex.go step by
//! step, quirks included (see the notes on [`Lexer`]). It is checked against BuildKit's own test
//! vectors in `tests/shell_conformance.rs`.
//!
//! Deliberate differences from BuildKit, all in error paths or pathological input:
//! - `${NAME` cut off after the name reports "syntax error: missing '}'" where BuildKit prints
//!   "unsupported modifier (\u{FFFD}) in substitution" (it formats its end-of-input marker).
//! - Expansions nested more than [`MAX_NESTING`] levels deep are refused instead of recursing
//!   without bound (BuildKit's goroutine stacks grow to 1 GB; ours do not).
//! - When [`Lexer::expand_words`] meets a nested `${...}` modifier, each nesting level keeps its
//!   own word buffer. Recent BuildKit shares one buffer between levels, so the text of the
//!   current word before a `${VAR:-...}` can be lost there; that is a buffer-sharing slip, not a
//!   language rule, and the older (and documented) behaviour is kept.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

/// How deeply `${...}` expansions may nest inside each other's words before expansion is
/// refused with [`ShellError::TooDeep`]. Each level costs stack; real Dockerfiles nest two or
/// three levels, so this only stops hostile input from overflowing the stack.
pub const MAX_NESTING: usize = 100;

/// Variables visible to expansion; later entries win, as in BuildKit's env lists.
///
/// A trait rather than a concrete map because callers hold variables in different shapes (the
/// ordered `KEY=value` list of an image config, a stage's build args, a test's literal pairs) and
/// expansion only ever looks names up.
pub trait Env {
    /// The value of `name`, or `None` when it is not set. A variable set to the empty string
    /// returns `Some("")`: `${VAR-x}` and `${VAR:-x}` tell the two apart.
    fn get(&self, name: &str) -> Option<String>;
}

/// Ordered pairs, as an image config's `Env` list: the last entry for a name wins, like
/// BuildKit's `EnvsFromSlice` (a later `ENV` overrides an earlier one).
impl<K: AsRef<str>, V: AsRef<str>> Env for [(K, V)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().rev().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_ref().to_owned())
    }
}

/// Same as the slice: the last entry for a name wins.
impl<K: AsRef<str>, V: AsRef<str>> Env for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// Same as the slice: the last entry for a name wins.
impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Env for [(K, V); N] {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// A map has one value per name; BuildKit's `ProcessWordWithMap` takes the same shape.
impl<K: Borrow<str> + Hash + Eq, V: AsRef<str>, S: BuildHasher> Env for HashMap<K, V, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| v.as_ref().to_owned())
    }
}

/// A map has one value per name; ordered maps are what the build uses for deterministic keys.
impl<K: Borrow<str> + Ord, V: AsRef<str>> Env for BTreeMap<K, V> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).map(|v| v.as_ref().to_owned())
    }
}

/// Lets callers pass `&env` wherever an owned environment is expected.
impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<String> {
        (**self).get(name)
    }
}

/// BuildKit's `shell.Lex`: the escape character plus the switches BuildKit's frontend flips for
/// particular instructions.
///
/// Exact BuildKit behaviours worth knowing (all covered by tests):
/// - Names are letters, digits and `_` by Unicode category (Go's `unicode.IsLetter`/`IsDigit`),
///   so `$안녕` is a variable. A name starting with a digit is all the digits (`$12x` is `$12`
///   then `x`); `@ * # ? - $ ! 0` are one-character special parameters. None of those is ever
///   set in a Dockerfile unless the environment happens to hold such a name.
/// - `$` not followed by a name is literal (`$.`, `$` at the end).
/// - A trailing escape character is dropped (`hello\` is `hello`).
/// - Inside double quotes the escape character only escapes `"`, `$` and itself.
/// - Patterns (`#`, `%`, `/`) are shell globs without brackets: `*` and `?` never match a
///   newline, as in Go's regexp which BuildKit uses; `\*`, `\?`, `\\` are literal, `\}` and `\/`
///   stand for `}` and `/`, any other escape is an error.
/// - In `${VAR//p/r}` the replacement goes through Go's `Regexp.Expand`: `$$` is `$` and `$0`
///   or `${0}` is the matched text, any other `$name` is empty. `${VAR/p/r}` inserts `r` as is.
/// - A U+FEFF byte-order mark as the very first character of a word (or of a pattern) is
///   skipped, as Go's `text/scanner` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    /// Keep quote characters in the result (BuildKit's `RawQuotes`): for re-expanding text that
    /// a shell will read again, such as heredoc bodies.
    pub raw_quotes: bool,
    /// Keep escape characters in the result (BuildKit's `RawEscapes`), for the same reason.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters (BuildKit's `SkipProcessQuotes`): used for
    /// instructions whose arguments are expanded "raw", where quotes belong to the value.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (BuildKit's `SkipUnsetEnv`), so a later
    /// expansion (by a shell at run time) can still see them.
    pub skip_unset_env: bool,
}

/// The outcome of expanding one input: the word, the split words, and which variables it read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// The input with quotes removed and variables expanded, spaces kept (BuildKit's
    /// `ProcessWord` result).
    pub value: String,
    /// The same expansion split into words at unquoted white space, including white space that
    /// came out of unquoted variables (BuildKit's `ProcessWords` result).
    pub words: Vec<String>,
    /// Names of the variables the word referenced (set or not) — the build uses them for cache
    /// keys and for docker's "unused build-args" warning.
    pub used: BTreeSet<String>,
    /// Referenced but not set: BuildKit's linter reports these as undefined variables.
    pub unset: BTreeSet<String>,
}

/// Why expansion failed. Messages are BuildKit's (`failed to process "<input>": <reason>`), so a
/// user sees what `docker build` would print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShellError {
    /// A `'` without its closing `'`.
    #[error(
        "failed to process {}: unexpected end of statement while looking for matching single-quote",
        go_quote(.input)
    )]
    UnterminatedSingleQuote {
        /// The whole input being expanded.
        input: String,
    },
    /// A `"` without its closing `"`.
    #[error(
        "failed to process {}: unexpected end of statement while looking for matching double-quote",
        go_quote(.input)
    )]
    UnterminatedDoubleQuote {
        /// The whole input being expanded.
        input: String,
    },
    /// `${` whose `}` never comes.
    #[error("failed to process {}: syntax error: missing '}}'", go_quote(.input))]
    MissingBrace {
        /// The whole input being expanded.
        input: String,
    },
    /// `${VAR/pattern` with no `/` before the end.
    #[error("failed to process {}: syntax error: missing '/' in ${{}}", go_quote(.input))]
    MissingSlash {
        /// The whole input being expanded.
        input: String,
    },
    /// `${}`, `${{...}`, `${:...}`.
    #[error("failed to process {}: syntax error: bad substitution", go_quote(.input))]
    BadSubstitution {
        /// The whole input being expanded.
        input: String,
    },
    /// An operator BuildKit does not support, such as `${VAR:=x}`, `${VAR:#x}` or `${.}`.
    #[error("failed to process {}: unsupported modifier ({modifier}) in substitution", go_quote(.input))]
    UnsupportedModifier {
        /// The whole input being expanded.
        input: String,
        /// The operator as written (`:=`, `.`).
        modifier: String,
    },
    /// `${VAR?msg}` with VAR unset, or `${VAR:?msg}` with VAR unset or empty: "VAR: msg".
    #[error("failed to process {}: {name}: {message}", go_quote(.input))]
    Required {
        /// The whole input being expanded.
        input: String,
        /// The variable that had to be set.
        name: String,
        /// The expanded message, or BuildKit's "is not allowed to be unset/empty".
        message: String,
    },
    /// A glob pattern with an escape other than `\*`, `\?`, `\\`, `\}`, `\/`.
    #[error(
        "failed to process {}: invalid pattern ({pattern}) in substitution: invalid escape '\\{escaped}'",
        go_quote(.input)
    )]
    InvalidPattern {
        /// The whole input being expanded.
        input: String,
        /// The pattern as BuildKit reports it (reversed for `%` and `%%`, as BuildKit does).
        pattern: String,
        /// The character after the backslash (U+FFFD when the pattern ends with it).
        escaped: char,
    },
    /// More than [`MAX_NESTING`] nested `${...}` levels.
    #[error("failed to process {}: syntax error: expansions nested too deeply", go_quote(.input))]
    TooDeep {
        /// The whole input being expanded.
        input: String,
    },
}

impl ShellError {
    /// The input whose expansion failed, for callers that point at the offending instruction.
    pub fn input(&self) -> &str {
        match self {
            ShellError::UnterminatedSingleQuote { input }
            | ShellError::UnterminatedDoubleQuote { input }
            | ShellError::MissingBrace { input }
            | ShellError::MissingSlash { input }
            | ShellError::BadSubstitution { input }
            | ShellError::UnsupportedModifier { input, .. }
            | ShellError::Required { input, .. }
            | ShellError::InvalidPattern { input, .. }
            | ShellError::TooDeep { input } => input,
        }
    }
}

impl Default for Lexer {
    /// The Dockerfile default: `\` escapes, no switches.
    fn default() -> Self {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer for a Dockerfile whose escape character is `escape` (`\`, or `` ` `` after an
    /// `# escape=` directive), with BuildKit's switches off.
    pub fn new(escape: char) -> Lexer {
        Lexer { escape, raw_quotes: false, raw_escapes: false, skip_process_quotes: false, skip_unset_env: false }
    }

    /// The escape character this lexer was made with.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// One word (ENV/ARG/COPY/WORKDIR...): quotes removed, variables expanded.
    ///
    /// Also reports the variables referenced, which cache keys and build-arg warnings need, and
    /// the split [`Expanded::words`], computed in the same pass as BuildKit does.
    pub fn expand_word(&self, word: &str, env: &dyn Env) -> Result<Expanded, ShellError> {
        let chars: Vec<char> = word.chars().collect();
        // Go's text/scanner drops a byte-order mark at the very start of its input.
        let pos = usize::from(chars.first() == Some(&BOM));
        let mut state = Word {
            lexer: self,
            chars,
            pos,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
        };
        match state.process_stop_on(None, self.raw_escapes) {
            Ok((value, words)) => Ok(Expanded { value, words, used: state.used, unset: state.unset }),
            Err(fault) => Err(fault.into_error(word)),
        }
    }

    /// Split into words with expansion (as BuildKit's ProcessWords).
    ///
    /// Words break at unquoted white space, including white space produced by an unquoted
    /// variable (`$A` with `A="x y"` gives two words); quoted text stays in one word and empty
    /// quotes alone make no word.
    pub fn expand_words(&self, words: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        self.expand_word(words, env).map(|expanded| expanded.words)
    }
}

const BOM: char = '\u{FEFF}';

/// Go's `%c` of its end-of-input marker.
const REPLACEMENT: char = '\u{FFFD}';

/// An error found while scanning, before the input is attached.
#[derive(Debug)]
enum Fault {
    SingleQuote,
    DoubleQuote,
    /// A nested scan reached the end without its stop character; callers turn this into
    /// `MissingBrace` or `MissingSlash` as BuildKit does.
    Unterminated,
    MissingBrace,
    MissingSlash,
    BadSubstitution,
    UnsupportedModifier(String),
    Required {
        name: String,
        message: String,
    },
    InvalidPattern {
        pattern: String,
        escaped: char,
    },
    TooDeep,
}

impl Fault {
    fn into_error(self, input: &str) -> ShellError {
        let input = input.to_owned();
        match self {
            Fault::SingleQuote => ShellError::UnterminatedSingleQuote { input },
            Fault::DoubleQuote => ShellError::UnterminatedDoubleQuote { input },
            Fault::Unterminated | Fault::MissingBrace => ShellError::MissingBrace { input },
            Fault::MissingSlash => ShellError::MissingSlash { input },
            Fault::BadSubstitution => ShellError::BadSubstitution { input },
            Fault::UnsupportedModifier(modifier) => ShellError::UnsupportedModifier { input, modifier },
            Fault::Required { name, message } => ShellError::Required { input, name, message },
            Fault::InvalidPattern { pattern, escaped } => ShellError::InvalidPattern { input, pattern, escaped },
            Fault::TooDeep => ShellError::TooDeep { input },
        }
    }
}

/// BuildKit's `wordsStruct`: accumulates the split words alongside the expanded value.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

/// BuildKit's `shellWord`: the scan position over one input and what it has read so far.
struct Word<'a> {
    lexer: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    raw_escapes: bool,
    depth: usize,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
}

impl Word<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Scans until `stop` (consumed) or the end of input; `None` means "to the end".
    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), Fault> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.scan_until(stop);
        self.raw_escapes = saved;
        result
    }

    fn scan_until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), Fault> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quotes = !self.lexer.skip_process_quotes;
            if ch == '$' {
                let text = self.process_dollar()?;
                result.push_str(&text);
                words.add_string(&text);
            } else if quotes && ch == '\'' {
                let text = self.process_single_quote()?;
                result.push_str(&text);
                words.add_raw_string(&text);
            } else if quotes && ch == '"' {
                let text = self.process_double_quote()?;
                result.push_str(&text);
                words.add_raw_string(&text);
            } else {
                self.pos += 1;
                let mut ch = ch;
                if ch == self.lexer.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // The escape escapes the next character, except at the end of the input.
                    match self.next() {
                        Some(escaped) => {
                            ch = escaped;
                            words.add_raw_char(ch);
                        }
                        None => break,
                    }
                } else {
                    words.add_char(ch);
                }
                result.push(ch);
            }
        }
        if stop.is_some() {
            return Err(Fault::Unterminated);
        }
        Ok((result, words.finish()))
    }

    /// Everything between single quotes is literal; a single quote cannot be escaped inside.
    fn process_single_quote(&mut self) -> Result<String, Fault> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(Fault::SingleQuote),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    /// Double quotes keep everything but `$` expansions; the escape character escapes only `"`,
    /// `$` and itself and is otherwise literal.
    fn process_double_quote(&mut self) -> Result<String, Fault> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(Fault::DoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape at the very end is dropped (the quote is unterminated anyway).
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.lexer.escape => {
                                self.pos += 1;
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `$name`, `${name}` and `${name<op>word}`, starting at the `$`.
    fn process_dollar(&mut self) -> Result<String, Fault> {
        if self.depth >= MAX_NESTING {
            return Err(Fault::TooDeep);
        }
        self.depth += 1;
        let result = self.dollar();
        self.depth -= 1;
        result
    }

    fn dollar(&mut self) -> Result<String, Fault> {
        self.pos += 1; // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            let value = self.get_env(&name);
            if value.is_none() && self.lexer.skip_unset_env {
                return Ok(format!("${name}"));
            }
            return Ok(value.unwrap_or_default());
        }
        self.pos += 1; // the '{'
        match self.peek() {
            None => return Err(Fault::MissingBrace),
            Some('{' | '}' | ':') => return Err(Fault::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        // BuildKit formats its end-of-input marker here ("unsupported modifier (\u{FFFD})");
        // saying what is missing is more useful.
        let Some(ch) = self.next() else {
            return Err(Fault::MissingBrace);
        };
        match ch {
            '}' => {
                let value = self.get_env(&name);
                if value.is_none() && self.lexer.skip_unset_env {
                    return Ok(format!("${{{name}}}"));
                }
                Ok(value.unwrap_or_default())
            }
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(name, ch),
            '/' => self.substitute(name),
            other => Err(Fault::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${name:op word}` and `${name op word}` for op in `- + ? # %` (after `name` and the first
    /// operator character `first`).
    fn modifier(&mut self, name: String, first: char) -> Result<String, Fault> {
        let mut spelled = first.to_string();
        let null_is_unset = first == ':';
        let op = if null_is_unset {
            let op = self.next();
            spelled.push(op.unwrap_or(REPLACEMENT));
            op
        } else {
            Some(first)
        };
        let trims = matches!(op, Some('#' | '%'));
        if null_is_unset && trims {
            return Err(Fault::UnsupportedModifier(spelled));
        }
        let word = self.nested(Some('}'), trims, Fault::MissingBrace)?;

        let value = self.get_env(&name);
        let set = value.is_some();
        let value = value.unwrap_or_default();
        if self.lexer.skip_unset_env && !set {
            return Ok(format!("${{{name}{spelled}{word}}}"));
        }
        let missing = !set || (null_is_unset && value.is_empty());
        match op {
            Some('-') => Ok(if missing { word } else { value }),
            Some('+') => Ok(if missing { String::new() } else { word }),
            Some('?') => {
                if missing {
                    let message = if !word.is_empty() {
                        word
                    } else if !set {
                        "is not allowed to be unset".to_owned()
                    } else {
                        "is not allowed to be empty".to_owned()
                    };
                    return Err(Fault::Required { name, message });
                }
                Ok(value)
            }
            Some(op @ ('#' | '%')) => {
                // `#`/`%` remove the shortest match, `##`/`%%` the longest.
                let (pattern, greedy) = match word.strip_prefix(op) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                if op == '%' {
                    trim_suffix(pattern, &value, greedy)
                } else {
                    trim_prefix(pattern, &value, greedy)
                }
            }
            _ => Err(Fault::UnsupportedModifier(spelled)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`, after the first `/`.
    fn substitute(&mut self, name: String) -> Result<String, Fault> {
        let replace_all = self.peek() == Some('/');
        if replace_all {
            self.pos += 1;
        }
        let pattern = self.nested(Some('/'), true, Fault::MissingSlash)?;
        let replacement = self.nested(Some('}'), true, Fault::MissingBrace)?;

        let value = self.get_env(&name);
        if value.is_none() && self.lexer.skip_unset_env {
            // BuildKit writes a single '/' back even for '//'.
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let value = value.unwrap_or_default();
        let glob = Glob::compile(&pattern, true)?;
        let text: Vec<char> = value.chars().collect();
        let ends = match_ends(&glob, &text);
        if replace_all {
            return Ok(replace_all_expand(&ends, &text, &replacement));
        }
        Ok(match find_from(&ends, 0) {
            Some((start, end)) => {
                let mut out: String = text[..start].iter().collect();
                out.push_str(&replacement);
                out.extend(&text[end..]);
                out
            }
            None => value,
        })
    }

    /// A nested scan up to `stop`; a failure at the end of the input becomes `at_end`.
    fn nested(&mut self, stop: Option<char>, raw_escapes: bool, at_end: Fault) -> Result<String, Fault> {
        match self.process_stop_on(stop, raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(at_end),
            Err(fault) => Err(fault),
        }
    }

    /// A name: letters, digits and `_`; or all the digits when it starts with one; or one special
    /// parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(digit) = self.peek().filter(|c| is_digit(*c)) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !is_letter(ch) && !is_digit(ch) && ch != '_' {
                break;
            }
            self.pos += 1;
            name.push(ch);
        }
        name
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        let value = self.env.get(name);
        self.used.insert(name.to_owned());
        if value.is_none() {
            self.unset.insert(name.to_owned());
        }
        value
    }
}

/// POSIX special parameters; BuildKit never sets them.
fn is_special_param(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

fn in_table(table: &[(u32, u32)], ch: char) -> bool {
    let cp = u32::from(ch);
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Go's `unicode.IsLetter` (category L), which BuildKit uses for names. Rust's `is_alphabetic`
/// is wider (it includes letter-like marks and numbers), so it would read different names.
fn is_letter(ch: char) -> bool {
    if ch.is_ascii() {
        return ch.is_ascii_alphabetic();
    }
    in_table(LETTER_RANGES, ch)
}

/// Go's `unicode.IsDigit` (category Nd).
fn is_digit(ch: char) -> bool {
    if ch.is_ascii() {
        return ch.is_ascii_digit();
    }
    in_table(DIGIT_RANGES, ch)
}

/// The trimmed value for `${VAR#p}` (shortest) and `${VAR##p}` (`greedy`, longest).
fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, Fault> {
    let glob = Glob::compile(pattern, greedy)?;
    let text: Vec<char> = value.chars().collect();
    Ok(match match_ends(&glob, &text).first().copied().flatten() {
        Some(end) => text[end..].iter().collect(),
        None => value.to_owned(),
    })
}

/// `${VAR%p}` and `${VAR%%p}`: BuildKit reverses pattern and value and trims a prefix, so the
/// shortest/longest choice is made from the right. Reproduced as is, including its way of
/// reversing escapes.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, Fault> {
    let reversed_pattern = reverse_pattern(pattern);
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reversed_pattern, &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern while keeping each backslash before the character it escapes (pairs are
/// taken left to right, as BuildKit's `reversePattern` does).
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens: Vec<&[char]> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let len = if chars[i] == '\\' && i + 1 < chars.len() { 2 } else { 1 };
        tokens.push(&chars[i..i + len]);
        i += len;
    }
    tokens.iter().rev().flat_map(|token| token.iter()).collect()
}

/// One element of a glob: BuildKit turns `*` into `.*` (or `.*?`), `?` into `.` and the rest
/// into literals, then runs Go's regexp; these are the same three pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Literal(char),
    /// `?`: any one character except a newline (Go's `.`).
    Any,
    /// `*`: any run of characters without a newline (Go's `.*`).
    Star,
}

/// A compiled glob and whether its stars prefer the longest run (`.*`) or the shortest (`.*?`).
struct Glob {
    pieces: Vec<Piece>,
    greedy: bool,
}

impl Glob {
    fn compile(pattern: &str, greedy: bool) -> Result<Glob, Fault> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = usize::from(chars.first() == Some(&BOM));
        let mut pieces = Vec::with_capacity(chars.len());
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            let piece = match ch {
                '*' => Piece::Star,
                '?' => Piece::Any,
                '\\' => match chars.get(i) {
                    // `\}` and `\/` only protect the delimiter; the backslash is not part of the pattern.
                    Some('}' | '/') => continue,
                    Some(&escaped @ ('*' | '?' | '\\')) => {
                        i += 1;
                        Piece::Literal(escaped)
                    }
                    other => {
                        return Err(Fault::InvalidPattern {
                            pattern: pattern.to_owned(),
                            escaped: other.copied().unwrap_or(REPLACEMENT),
                        });
                    }
                },
                other => Piece::Literal(other),
            };
            pieces.push(piece);
        }
        Ok(Glob { pieces, greedy })
    }
}

/// Where the preferred match of a [`Glob`] starting at each position of `text` ends (`None`:
/// no match starts there).
///
/// "Preferred" is what Go's regexp returns: the match a backtracking engine would find first,
/// trying the longest run for each star when greedy and the shortest otherwise. Rather than
/// backtrack (exponential on patterns like `*a*a*a*b`), this fills the answer in piece by piece
/// from the end of the pattern: the preferred end from (piece, position) is the preferred end
/// from the next piece at the first position, in preference order, from which a match exists.
/// O(pattern × text) time and O(text) memory, like Go's own engine.
fn match_ends(glob: &Glob, text: &[char]) -> Vec<Option<usize>> {
    let n = text.len();
    // After the last piece, a match ends wherever it got to.
    let mut row: Vec<Option<usize>> = (0..=n).map(Some).collect();
    let mut next: Vec<Option<usize>> = vec![None; n + 1];
    for piece in glob.pieces.iter().rev() {
        match *piece {
            Piece::Literal(ch) => {
                for pos in 0..=n {
                    next[pos] = if text.get(pos) == Some(&ch) { row[pos + 1] } else { None };
                }
            }
            Piece::Any => {
                for pos in 0..=n {
                    next[pos] = if text.get(pos).is_some_and(|&c| c != '\n') { row[pos + 1] } else { None };
                }
            }
            Piece::Star => {
                // A star starting at `pos` may end anywhere from `pos` up to the next newline
                // (or the end); scanning down, `choice` is the preferred such end from which the
                // rest of the pattern matches: the largest when greedy, the smallest otherwise.
                let mut choice: Option<usize> = None;
                for pos in (0..=n).rev() {
                    if matches!(text.get(pos), None | Some('\n')) {
                        choice = None;
                    }
                    if row[pos].is_some() && (!glob.greedy || choice.is_none()) {
                        choice = Some(pos);
                    }
                    next[pos] = choice.and_then(|end| row[end]);
                }
            }
        }
        std::mem::swap(&mut row, &mut next);
    }
    row
}

/// The leftmost match starting at or after `from`, as `(start, end)`.
fn find_from(ends: &[Option<usize>], from: usize) -> Option<(usize, usize)> {
    ends.iter().enumerate().skip(from).find_map(|(start, end)| end.map(|end| (start, end)))
}

/// Go's `Regexp.ReplaceAllString`: every non-overlapping match, an empty match right after a
/// previous match skipped, and the replacement run through `Regexp.Expand`.
fn replace_all_expand(ends: &[Option<usize>], text: &[char], template: &str) -> String {
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= text.len() {
        let Some((start, end)) = find_from(ends, search) else {
            break;
        };
        out.extend(&text[last_end..start]);
        if end > last_end || start == 0 {
            let matched: String = text[start..end].iter().collect();
            go_expand(&mut out, template, &matched);
        }
        last_end = end;
        search = if search + 1 > end { search + 1 } else { end };
    }
    out.extend(&text[last_end..]);
    out
}

/// Go's `Regexp.Expand` for a regexp without groups: `$$` is `$`, `$0`/`${0}` the match, any
/// other well-formed `$name`/`${name}` nothing, and a malformed `$` is kept.
fn go_expand(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match go_extract(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// Go's `extract`: a leading `name` or `{name}` (letters, digits, `_`), and the text after it.
fn go_extract(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len = body.find(|c: char| !is_letter(c) && !is_digit(c) && c != '_').unwrap_or(body.len());
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let after = &body[len..];
    if brace {
        return after.strip_prefix('}').map(|after| (name, after));
    }
    Some((name, after))
}

/// Go's `%q` quoting, which BuildKit uses for the input in its messages. Printability beyond
/// ASCII is approximated (control, white-space and common format characters are escaped;
/// unassigned code points are not), which only affects how a message looks.
fn go_quote(s: &str) -> String {
    crate::parser::go_quote(s)
}

/// General category L (Lu, Ll, Lt, Lm, Lo), Unicode 15.0.0: Go's `unicode.IsLetter`.
#[rustfmt::skip]
const LETTER_RANGES: &[(u32, u32)] = &[
    (0x41, 0x5A), (0x61, 0x7A), (0xAA, 0xAA), (0xB5, 0xB5), (0xBA, 0xBA), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2C1),
    (0x2C6, 0x2D1), (0x2E0, 0x2E4), (0x2EC, 0x2EC), (0x2EE, 0x2EE), (0x370, 0x374), (0x376, 0x377), (0x37A, 0x37D),
    (0x37F, 0x37F), (0x386, 0x386), (0x388, 0x38A), (0x38C, 0x38C), (0x38E, 0x3A1), (0x3A3, 0x3F5), (0x3F7, 0x481),
    (0x48A, 0x52F), (0x531, 0x556), (0x559, 0x559), (0x560, 0x588), (0x5D0, 0x5EA), (0x5EF, 0x5F2), (0x620, 0x64A),
    (0x66E, 0x66F), (0x671, 0x6D3), (0x6D5, 0x6D5), (0x6E5, 0x6E6), (0x6EE, 0x6EF), (0x6FA, 0x6FC), (0x6FF, 0x6FF),
    (0x710, 0x710), (0x712, 0x72F), (0x74D, 0x7A5), (0x7B1, 0x7B1), (0x7CA, 0x7EA), (0x7F4, 0x7F5), (0x7FA, 0x7FA),
    (0x800, 0x815), (0x81A, 0x81A), (0x824, 0x824), (0x828, 0x828), (0x840, 0x858), (0x860, 0x86A), (0x870, 0x887),
    (0x889, 0x88E), (0x8A0, 0x8C9), (0x904, 0x939), (0x93D, 0x93D), (0x950, 0x950), (0x958, 0x961), (0x971, 0x980),
    (0x985, 0x98C), (0x98F, 0x990), (0x993, 0x9A8), (0x9AA, 0x9B0), (0x9B2, 0x9B2), (0x9B6, 0x9B9), (0x9BD, 0x9BD),
    (0x9CE, 0x9CE), (0x9DC, 0x9DD), (0x9DF, 0x9E1), (0x9F0, 0x9F1), (0x9FC, 0x9FC), (0xA05, 0xA0A), (0xA0F, 0xA10),
    (0xA13, 0xA28), (0xA2A, 0xA30), (0xA32, 0xA33), (0xA35, 0xA36), (0xA38, 0xA39), (0xA59, 0xA5C), (0xA5E, 0xA5E),
    (0xA72, 0xA74), (0xA85, 0xA8D), (0xA8F, 0xA91), (0xA93, 0xAA8), (0xAAA, 0xAB0), (0xAB2, 0xAB3), (0xAB5, 0xAB9),
    (0xABD, 0xABD), (0xAD0, 0xAD0), (0xAE0, 0xAE1), (0xAF9, 0xAF9), (0xB05, 0xB0C), (0xB0F, 0xB10), (0xB13, 0xB28),
    (0xB2A, 0xB30), (0xB32, 0xB33), (0xB35, 0xB39), (0xB3D, 0xB3D), (0xB5C, 0xB5D), (0xB5F, 0xB61), (0xB71, 0xB71),
    (0xB83, 0xB83), (0xB85, 0xB8A), (0xB8E, 0xB90), (0xB92, 0xB95), (0xB99, 0xB9A), (0xB9C, 0xB9C), (0xB9E, 0xB9F),
    (0xBA3, 0xBA4), (0xBA8, 0xBAA), (0xBAE, 0xBB9), (0xBD0, 0xBD0), (0xC05, 0xC0C), (0xC0E, 0xC10), (0xC12, 0xC28),
    (0xC2A, 0xC39), (0xC3D, 0xC3D), (0xC58, 0xC5A), (0xC5D, 0xC5D), (0xC60, 0xC61), (0xC80, 0xC80), (0xC85, 0xC8C),
    (0xC8E, 0xC90), (0xC92, 0xCA8), (0xCAA, 0xCB3), (0xCB5, 0xCB9), (0xCBD, 0xCBD), (0xCDD, 0xCDE), (0xCE0, 0xCE1),
    (0xCF1, 0xCF2), (0xD04, 0xD0C), (0xD0E, 0xD10), (0xD12, 0xD3A), (0xD3D, 0xD3D), (0xD4E, 0xD4E), (0xD54, 0xD56),
    (0xD5F, 0xD61), (0xD7A, 0xD7F), (0xD85, 0xD96), (0xD9A, 0xDB1), (0xDB3, 0xDBB), (0xDBD, 0xDBD), (0xDC0, 0xDC6),
    (0xE01, 0xE30), (0xE32, 0xE33), (0xE40, 0xE46), (0xE81, 0xE82), (0xE84, 0xE84), (0xE86, 0xE8A), (0xE8C, 0xEA3),
    (0xEA5, 0xEA5), (0xEA7, 0xEB0), (0xEB2, 0xEB3), (0xEBD, 0xEBD), (0xEC0, 0xEC4), (0xEC6, 0xEC6), (0xEDC, 0xEDF),
    (0xF00, 0xF00), (0xF40, 0xF47), (0xF49, 0xF6C), (0xF88, 0xF8C), (0x1000, 0x102A), (0x103F, 0x103F),
    (0x1050, 0x1055), (0x105A, 0x105D), (0x1061, 0x1061), (0x1065, 0x1066), (0x106E, 0x1070), (0x1075, 0x1081),
    (0x108E, 0x108E), (0x10A0, 0x10C5), (0x10C7, 0x10C7), (0x10CD, 0x10CD), (0x10D0, 0x10FA), (0x10FC, 0x1248),
    (0x124A, 0x124D), (0x1250, 0x1256), (0x1258, 0x1258), (0x125A, 0x125D), (0x1260, 0x1288), (0x128A, 0x128D),
    (0x1290, 0x12B0), (0x12B2, 0x12B5), (0x12B8, 0x12BE), (0x12C0, 0x12C0), (0x12C2, 0x12C5), (0x12C8, 0x12D6),
    (0x12D8, 0x1310), (0x1312, 0x1315), (0x1318, 0x135A), (0x1380, 0x138F), (0x13A0, 0x13F5), (0x13F8, 0x13FD),
    (0x1401, 0x166C), (0x166F, 0x167F), (0x1681, 0x169A), (0x16A0, 0x16EA), (0x16F1, 0x16F8), (0x1700, 0x1711),
    (0x171F, 0x1731), (0x1740, 0x1751), (0x1760, 0x176C), (0x176E, 0x1770), (0x1780, 0x17B3), (0x17D7, 0x17D7),
    (0x17DC, 0x17DC), (0x1820, 0x1878), (0x1880, 0x1884), (0x1887, 0x18A8), (0x18AA, 0x18AA), (0x18B0, 0x18F5),
    (0x1900, 0x191E), (0x1950, 0x196D), (0x1970, 0x1974), (0x1980, 0x19AB), (0x19B0, 0x19C9), (0x1A00, 0x1A16),
    (0x1A20, 0x1A54), (0x1AA7, 0x1AA7), (0x1B05, 0x1B33), (0x1B45, 0x1B4C), (0x1B83, 0x1BA0), (0x1BAE, 0x1BAF),
    (0x1BBA, 0x1BE5), (0x1C00, 0x1C23), (0x1C4D, 0x1C4F), (0x1C5A, 0x1C7D), (0x1C80, 0x1C88), (0x1C90, 0x1CBA),
    (0x1CBD, 0x1CBF), (0x1CE9, 0x1CEC), (0x1CEE, 0x1CF3), (0x1CF5, 0x1CF6), (0x1CFA, 0x1CFA), (0x1D00, 0x1DBF),
    (0x1E00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59),
    (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE),
    (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4),
    (0x1FF6, 0x1FFC), (0x2071, 0x2071), (0x207F, 0x207F), (0x2090, 0x209C), (0x2102, 0x2102), (0x2107, 0x2107),
    (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124), (0x2126, 0x2126), (0x2128, 0x2128),
    (0x212A, 0x212D), (0x212F, 0x2139), (0x213C, 0x213F), (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2184),
    (0x2C00, 0x2CE4), (0x2CEB, 0x2CEE), (0x2CF2, 0x2CF3), (0x2D00, 0x2D25), (0x2D27, 0x2D27), (0x2D2D, 0x2D2D),
    (0x2D30, 0x2D67), (0x2D6F, 0x2D6F), (0x2D80, 0x2D96), (0x2DA0, 0x2DA6), (0x2DA8, 0x2DAE), (0x2DB0, 0x2DB6),
    (0x2DB8, 0x2DBE), (0x2DC0, 0x2DC6), (0x2DC8, 0x2DCE), (0x2DD0, 0x2DD6), (0x2DD8, 0x2DDE), (0x2E2F, 0x2E2F),
    (0x3005, 0x3006), (0x3031, 0x3035), (0x303B, 0x303C), (0x3041, 0x3096), (0x309D, 0x309F), (0x30A1, 0x30FA),
    (0x30FC, 0x30FF), (0x3105, 0x312F), (0x3131, 0x318E), (0x31A0, 0x31BF), (0x31F0, 0x31FF), (0x3400, 0x4DBF),
    (0x4E00, 0xA48C), (0xA4D0, 0xA4FD), (0xA500, 0xA60C), (0xA610, 0xA61F), (0xA62A, 0xA62B), (0xA640, 0xA66E),
    (0xA67F, 0xA69D), (0xA6A0, 0xA6E5), (0xA717, 0xA71F), (0xA722, 0xA788), (0xA78B, 0xA7CA), (0xA7D0, 0xA7D1),
    (0xA7D3, 0xA7D3), (0xA7D5, 0xA7D9), (0xA7F2, 0xA801), (0xA803, 0xA805), (0xA807, 0xA80A), (0xA80C, 0xA822),
    (0xA840, 0xA873), (0xA882, 0xA8B3), (0xA8F2, 0xA8F7), (0xA8FB, 0xA8FB), (0xA8FD, 0xA8FE), (0xA90A, 0xA925),
    (0xA930, 0xA946), (0xA960, 0xA97C), (0xA984, 0xA9B2), (0xA9CF, 0xA9CF), (0xA9E0, 0xA9E4), (0xA9E6, 0xA9EF),
    (0xA9FA, 0xA9FE), (0xAA00, 0xAA28), (0xAA40, 0xAA42), (0xAA44, 0xAA4B), (0xAA60, 0xAA76), (0xAA7A, 0xAA7A),
    (0xAA7E, 0xAAAF), (0xAAB1, 0xAAB1), (0xAAB5, 0xAAB6), (0xAAB9, 0xAABD), (0xAAC0, 0xAAC0), (0xAAC2, 0xAAC2),
    (0xAADB, 0xAADD), (0xAAE0, 0xAAEA), (0xAAF2, 0xAAF4), (0xAB01, 0xAB06), (0xAB09, 0xAB0E), (0xAB11, 0xAB16),
    (0xAB20, 0xAB26), (0xAB28, 0xAB2E), (0xAB30, 0xAB5A), (0xAB5C, 0xAB69), (0xAB70, 0xABE2), (0xAC00, 0xD7A3),
    (0xD7B0, 0xD7C6), (0xD7CB, 0xD7FB), (0xF900, 0xFA6D), (0xFA70, 0xFAD9), (0xFB00, 0xFB06), (0xFB13, 0xFB17),
    (0xFB1D, 0xFB1D), (0xFB1F, 0xFB28), (0xFB2A, 0xFB36), (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E), (0xFB40, 0xFB41),
    (0xFB43, 0xFB44), (0xFB46, 0xFBB1), (0xFBD3, 0xFD3D), (0xFD50, 0xFD8F), (0xFD92, 0xFDC7), (0xFDF0, 0xFDFB),
    (0xFE70, 0xFE74), (0xFE76, 0xFEFC), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0xFF66, 0xFFBE), (0xFFC2, 0xFFC7),
    (0xFFCA, 0xFFCF), (0xFFD2, 0xFFD7), (0xFFDA, 0xFFDC), (0x10000, 0x1000B), (0x1000D, 0x10026), (0x10028, 0x1003A),
    (0x1003C, 0x1003D), (0x1003F, 0x1004D), (0x10050, 0x1005D), (0x10080, 0x100FA), (0x10280, 0x1029C),
    (0x102A0, 0x102D0), (0x10300, 0x1031F), (0x1032D, 0x10340), (0x10342, 0x10349), (0x10350, 0x10375),
    (0x10380, 0x1039D), (0x103A0, 0x103C3), (0x103C8, 0x103CF), (0x10400, 0x1049D), (0x104B0, 0x104D3),
    (0x104D8, 0x104FB), (0x10500, 0x10527), (0x10530, 0x10563), (0x10570, 0x1057A), (0x1057C, 0x1058A),
    (0x1058C, 0x10592), (0x10594, 0x10595), (0x10597, 0x105A1), (0x105A3, 0x105B1), (0x105B3, 0x105B9),
    (0x105BB, 0x105BC), (0x10600, 0x10736), (0x10740, 0x10755), (0x10760, 0x10767), (0x10780, 0x10785),
    (0x10787, 0x107B0), (0x107B2, 0x107BA), (0x10800, 0x10805), (0x10808, 0x10808), (0x1080A, 0x10835),
    (0x10837, 0x10838), (0x1083C, 0x1083C), (0x1083F, 0x10855), (0x10860, 0x10876), (0x10880, 0x1089E),
    (0x108E0, 0x108F2), (0x108F4, 0x108F5), (0x10900, 0x10915), (0x10920, 0x10939), (0x10980, 0x109B7),
    (0x109BE, 0x109BF), (0x10A00, 0x10A00), (0x10A10, 0x10A13), (0x10A15, 0x10A17), (0x10A19, 0x10A35),
    (0x10A60, 0x10A7C), (0x10A80, 0x10A9C), (0x10AC0, 0x10AC7), (0x10AC9, 0x10AE4), (0x10B00, 0x10B35),
    (0x10B40, 0x10B55), (0x10B60, 0x10B72), (0x10B80, 0x10B91), (0x10C00, 0x10C48), (0x10C80, 0x10CB2),
    (0x10CC0, 0x10CF2), (0x10D00, 0x10D23), (0x10E80, 0x10EA9), (0x10EB0, 0x10EB1), (0x10F00, 0x10F1C),
    (0x10F27, 0x10F27), (0x10F30, 0x10F45), (0x10F70, 0x10F81), (0x10FB0, 0x10FC4), (0x10FE0, 0x10FF6),
    (0x11003, 0x11037), (0x11071, 0x11072), (0x11075, 0x11075), (0x11083, 0x110AF), (0x110D0, 0x110E8),
    (0x11103, 0x11126), (0x11144, 0x11144), (0x11147, 0x11147), (0x11150, 0x11172), (0x11176, 0x11176),
    (0x11183, 0x111B2), (0x111C1, 0x111C4), (0x111DA, 0x111DA), (0x111DC, 0x111DC), (0x11200, 0x11211),
    (0x11213, 0x1122B), (0x1123F, 0x11240), (0x11280, 0x11286), (0x11288, 0x11288), (0x1128A, 0x1128D),
    (0x1128F, 0x1129D), (0x1129F, 0x112A8), (0x112B0, 0x112DE), (0x11305, 0x1130C), (0x1130F, 0x11310),
    (0x11313, 0x11328), (0x1132A, 0x11330), (0x11332, 0x11333), (0x11335, 0x11339), (0x1133D, 0x1133D),
    (0x11350, 0x11350), (0x1135D, 0x11361), (0x11400, 0x11434), (0x11447, 0x1144A), (0x1145F, 0x11461),
    (0x11480, 0x114AF), (0x114C4, 0x114C5), (0x114C7, 0x114C7), (0x11580, 0x115AE), (0x115D8, 0x115DB),
    (0x11600, 0x1162F), (0x11644, 0x11644), (0x11680, 0x116AA), (0x116B8, 0x116B8), (0x11700, 0x1171A),
    (0x11740, 0x11746), (0x11800, 0x1182B), (0x118A0, 0x118DF), (0x118FF, 0x11906), (0x11909, 0x11909),
    (0x1190C, 0x11913), (0x11915, 0x11916), (0x11918, 0x1192F), (0x1193F, 0x1193F), (0x11941, 0x11941),
    (0x119A0, 0x119A7), (0x119AA, 0x119D0), (0x119E1, 0x119E1), (0x119E3, 0x119E3), (0x11A00, 0x11A00),
    (0x11A0B, 0x11A32), (0x11A3A, 0x11A3A), (0x11A50, 0x11A50), (0x11A5C, 0x11A89), (0x11A9D, 0x11A9D),
    (0x11AB0, 0x11AF8), (0x11C00, 0x11C08), (0x11C0A, 0x11C2E), (0x11C40, 0x11C40), (0x11C72, 0x11C8F),
    (0x11D00, 0x11D06), (0x11D08, 0x11D09), (0x11D0B, 0x11D30), (0x11D46, 0x11D46), (0x11D60, 0x11D65),
    (0x11D67, 0x11D68), (0x11D6A, 0x11D89), (0x11D98, 0x11D98), (0x11EE0, 0x11EF2), (0x11F02, 0x11F02),
    (0x11F04, 0x11F10), (0x11F12, 0x11F33), (0x11FB0, 0x11FB0), (0x12000, 0x12399), (0x12480, 0x12543),
    (0x12F90, 0x12FF0), (0x13000, 0x1342F), (0x13441, 0x13446), (0x14400, 0x14646), (0x16800, 0x16A38),
    (0x16A40, 0x16A5E), (0x16A70, 0x16ABE), (0x16AD0, 0x16AED), (0x16B00, 0x16B2F), (0x16B40, 0x16B43),
    (0x16B63, 0x16B77), (0x16B7D, 0x16B8F), (0x16E40, 0x16E7F), (0x16F00, 0x16F4A), (0x16F50, 0x16F50),
    (0x16F93, 0x16F9F), (0x16FE0, 0x16FE1), (0x16FE3, 0x16FE3), (0x17000, 0x187F7), (0x18800, 0x18CD5),
    (0x18D00, 0x18D08), (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB), (0x1AFFD, 0x1AFFE), (0x1B000, 0x1B122),
    (0x1B132, 0x1B132), (0x1B150, 0x1B152), (0x1B155, 0x1B155), (0x1B164, 0x1B167), (0x1B170, 0x1B2FB),
    (0x1BC00, 0x1BC6A), (0x1BC70, 0x1BC7C), (0x1BC80, 0x1BC88), (0x1BC90, 0x1BC99), (0x1D400, 0x1D454),
    (0x1D456, 0x1D49C), (0x1D49E, 0x1D49F), (0x1D4A2, 0x1D4A2), (0x1D4A5, 0x1D4A6), (0x1D4A9, 0x1D4AC),
    (0x1D4AE, 0x1D4B9), (0x1D4BB, 0x1D4BB), (0x1D4BD, 0x1D4C3), (0x1D4C5, 0x1D505), (0x1D507, 0x1D50A),
    (0x1D50D, 0x1D514), (0x1D516, 0x1D51C), (0x1D51E, 0x1D539), (0x1D53B, 0x1D53E), (0x1D540, 0x1D544),
    (0x1D546, 0x1D546), (0x1D54A, 0x1D550), (0x1D552, 0x1D6A5), (0x1D6A8, 0x1D6C0), (0x1D6C2, 0x1D6DA),
    (0x1D6DC, 0x1D6FA), (0x1D6FC, 0x1D714), (0x1D716, 0x1D734), (0x1D736, 0x1D74E), (0x1D750, 0x1D76E),
    (0x1D770, 0x1D788), (0x1D78A, 0x1D7A8), (0x1D7AA, 0x1D7C2), (0x1D7C4, 0x1D7CB), (0x1DF00, 0x1DF1E),
    (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), (0x1E100, 0x1E12C), (0x1E137, 0x1E13D), (0x1E14E, 0x1E14E),
    (0x1E290, 0x1E2AD), (0x1E2C0, 0x1E2EB), (0x1E4D0, 0x1E4EB), (0x1E7E0, 0x1E7E6), (0x1E7E8, 0x1E7EB),
    (0x1E7ED, 0x1E7EE), (0x1E7F0, 0x1E7FE), (0x1E800, 0x1E8C4), (0x1E900, 0x1E943), (0x1E94B, 0x1E94B),
    (0x1EE00, 0x1EE03), (0x1EE05, 0x1EE1F), (0x1EE21, 0x1EE22), (0x1EE24, 0x1EE24), (0x1EE27, 0x1EE27),
    (0x1EE29, 0x1EE32), (0x1EE34, 0x1EE37), (0x1EE39, 0x1EE39), (0x1EE3B, 0x1EE3B), (0x1EE42, 0x1EE42),
    (0x1EE47, 0x1EE47), (0x1EE49, 0x1EE49), (0x1EE4B, 0x1EE4B), (0x1EE4D, 0x1EE4F), (0x1EE51, 0x1EE52),
    (0x1EE54, 0x1EE54), (0x1EE57, 0x1EE57), (0x1EE59, 0x1EE59), (0x1EE5B, 0x1EE5B), (0x1EE5D, 0x1EE5D),
    (0x1EE5F, 0x1EE5F), (0x1EE61, 0x1EE62), (0x1EE64, 0x1EE64), (0x1EE67, 0x1EE6A), (0x1EE6C, 0x1EE72),
    (0x1EE74, 0x1EE77), (0x1EE79, 0x1EE7C), (0x1EE7E, 0x1EE7E), (0x1EE80, 0x1EE89), (0x1EE8B, 0x1EE9B),
    (0x1EEA1, 0x1EEA3), (0x1EEA5, 0x1EEA9), (0x1EEAB, 0x1EEBB), (0x20000, 0x2A6DF), (0x2A700, 0x2B739),
    (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1), (0x2CEB0, 0x2EBE0), (0x2F800, 0x2FA1D), (0x30000, 0x3134A),
    (0x31350, 0x323AF),
];

/// General category Nd, Unicode 15.0.0: Go's `unicode.IsDigit`.
#[rustfmt::skip]
const DIGIT_RANGES: &[(u32, u32)] = &[
    (0x30, 0x39), (0x660, 0x669), (0x6F0, 0x6F9), (0x7C0, 0x7C9), (0x966, 0x96F), (0x9E6, 0x9EF), (0xA66, 0xA6F),
    (0xAE6, 0xAEF), (0xB66, 0xB6F), (0xBE6, 0xBEF), (0xC66, 0xC6F), (0xCE6, 0xCEF), (0xD66, 0xD6F), (0xDE6, 0xDEF),
    (0xE50, 0xE59), (0xED0, 0xED9), (0xF20, 0xF29), (0x1040, 0x1049), (0x1090, 0x1099), (0x17E0, 0x17E9),
    (0x1810, 0x1819), (0x1946, 0x194F), (0x19D0, 0x19D9), (0x1A80, 0x1A89), (0x1A90, 0x1A99), (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9), (0x1C40, 0x1C49), (0x1C50, 0x1C59), (0xA620, 0xA629), (0xA8D0, 0xA8D9), (0xA900, 0xA909),
    (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59), (0xABF0, 0xABF9), (0xFF10, 0xFF19), (0x104A0, 0x104A9),
    (0x10D30, 0x10D39), (0x11066, 0x1106F), (0x110F0, 0x110F9), (0x11136, 0x1113F), (0x111D0, 0x111D9),
    (0x112F0, 0x112F9), (0x11450, 0x11459), (0x114D0, 0x114D9), (0x11650, 0x11659), (0x116C0, 0x116C9),
    (0x11730, 0x11739), (0x118E0, 0x118E9), (0x11950, 0x11959), (0x11C50, 0x11C59), (0x11D50, 0x11D59),
    (0x11DA0, 0x11DA9), (0x11F50, 0x11F59), (0x16A60, 0x16A69), (0x16AC0, 0x16AC9), (0x16B50, 0x16B59),
    (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149), (0x1E2F0, 0x1E2F9), (0x1E4F0, 0x1E4F9), (0x1E950, 0x1E959),
    (0x1FBF0, 0x1FBF9),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_patterns_like_buildkit() {
        for (pattern, expected) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn compiles_globs() {
        let glob = |p: &str| Glob::compile(p, true).map(|g| g.pieces).ok();
        use Piece::{Any, Literal as L, Star};
        assert_eq!(glob("a*?"), Some(vec![L('a'), Star, Any]));
        assert_eq!(glob("\\*\\?\\\\"), Some(vec![L('*'), L('?'), L('\\')]));
        assert_eq!(glob("\\}\\/"), Some(vec![L('}'), L('/')]));
        assert_eq!(glob("(()[]{\\}^$.|"), Some("(()[]{}^$.|".chars().map(L).collect()));
        assert_eq!(glob("\u{feff}a\u{feff}"), Some(vec![L('a'), L('\u{feff}')]));
        for bad in ["\\", "\\x", "\\\\\\"] {
            assert!(glob(bad).is_none(), "{bad:?}");
        }
        match Glob::compile("a\\", true) {
            Err(Fault::InvalidPattern { escaped, .. }) => assert_eq!(escaped, REPLACEMENT),
            _ => panic!("expected an invalid pattern"),
        }
    }

    /// The obvious backtracking matcher, which defines the semantics `match_ends` must have.
    fn backtrack(pieces: &[Piece], greedy: bool, text: &[char], pos: usize) -> Option<usize> {
        let Some((first, rest)) = pieces.split_first() else {
            return Some(pos);
        };
        match *first {
            Piece::Literal(ch) => {
                (text.get(pos) == Some(&ch)).then(|| backtrack(rest, greedy, text, pos + 1)).flatten()
            }
            Piece::Any => {
                text.get(pos).is_some_and(|&c| c != '\n').then(|| backtrack(rest, greedy, text, pos + 1)).flatten()
            }
            Piece::Star => {
                let last = text[pos..].iter().position(|&c| c == '\n').map_or(text.len(), |i| pos + i);
                let mut ends: Vec<usize> = (pos..=last).collect();
                if greedy {
                    ends.reverse();
                }
                ends.into_iter().find_map(|end| backtrack(rest, greedy, text, end))
            }
        }
    }

    #[test]
    fn match_ends_agrees_with_backtracking() {
        let mut state = 0x1234_5678_u64;
        let mut below = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % n) as usize
        };
        let pieces_pool = [Piece::Literal('a'), Piece::Literal('b'), Piece::Literal('\n'), Piece::Any, Piece::Star];
        let text_pool = ['a', 'b', '\n'];
        for _ in 0..20_000 {
            let pieces: Vec<Piece> = (0..below(7)).map(|_| pieces_pool[below(5)]).collect();
            let text: Vec<char> = (0..below(9)).map(|_| text_pool[below(3)]).collect();
            for greedy in [false, true] {
                let glob = Glob { pieces: pieces.clone(), greedy };
                let ends = match_ends(&glob, &text);
                for (start, end) in ends.iter().enumerate() {
                    assert_eq!(*end, backtrack(&pieces, greedy, &text, start), "{pieces:?} {text:?} {start} {greedy}");
                }
            }
        }
    }

    #[test]
    fn expands_replacements_like_go() {
        let expand = |template: &str| {
            let mut out = String::new();
            go_expand(&mut out, template, "M");
            out
        };
        for (template, expected) in [
            ("a", "a"),
            ("$$", "$"),
            ("$0", "M"),
            ("${0}", "M"),
            ("$00", ""),
            ("$0x", ""),
            ("$1", ""),
            ("${1", "${1"),
            ("$", "$"),
            ("$-", "$-"),
            ("$x-", "-"),
            ("${x}y", "y"),
            ("${}", "${}"),
            ("a${0}b$$c", "aMb$c"),
            ("a$0b$$c", "a$c"),
        ] {
            assert_eq!(expand(template), expected, "{template:?}");
        }
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("\n\t\r\u{7}\u{8}\u{b}\u{c}"), "\"\\n\\t\\r\\a\\b\\v\\f\"");
        assert_eq!(go_quote("\u{1}\u{7f}"), "\"\\x01\\x7f\"");
        assert_eq!(go_quote("한 é\u{a0}\u{e000}\u{10ffff}"), "\"한 é\\u00a0\\ue000\\U0010ffff\"");
    }

    #[test]
    fn classifies_characters_like_go() {
        for letter in ['a', 'Z', 'ª', 'µ', 'ß', 'Ω', '한', 'ー', '\u{31350}'] {
            assert!(is_letter(letter), "{letter:?}");
        }
        for other in ['1', '_', '\u{301}', '\u{2160}', '\u{24b6}', '\u{d7}', ' '] {
            assert!(!is_letter(other), "{other:?}");
        }
        for digit in ['0', '9', '\u{661}', '\u{e50}', '\u{ff10}', '\u{1d7ce}'] {
            assert!(is_digit(digit), "{digit:?}");
        }
        for other in ['a', '\u{b2}', '\u{2160}', '\u{bd}'] {
            assert!(!is_digit(other), "{other:?}");
        }
    }
}
