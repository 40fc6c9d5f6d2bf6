//! `.dockerignore` with Docker's semantics: the file is read as
//! `moby/patternmatcher/ignorefile.ReadAll` reads it, patterns are compiled as
//! `patternmatcher.New` compiles them, and a path is excluded as
//! `PatternMatcher.MatchesOrParentMatches` decides.
//!
//! Hand-written rather than built on a glob or regex crate: Docker's matcher is a
//! translation of each pattern to a Go regular expression with its own quirks, and
//! those quirks are the behaviour users' ignore files were written against:
//!
//! - `*` and `?` never cross `/`; `[...]` classes (negated by `^` only, never `!`),
//!   ranges and `\` escapes are Go's `filepath.Match` syntax, validated with its rules
//!   (`[`, `[]a]`, `[-]`, a trailing `\` are "syntax error in pattern").
//! - `**` matches any number of directories, including none: `a/**/b` matches `a/b`
//!   and `a/x/y/b`. It becomes `(.*/)?`, so in the middle of a name it still has to
//!   end at a `/`: `a**b` matches `ab` and `ax/b` but not `axb`.
//! - A pattern that *starts* with `**` followed only by plain characters is a suffix
//!   test (patternmatcher's `suffixMatch`): `**/foo` matches `foo` and `x/foo`, and
//!   `**foo` matches any path ending in `foo`, `xfoo` included.
//! - A plain prefix followed by a final `**` (`dir/**`) is a string prefix test.
//! - In the other (regex) patterns `**` is Go's `.`, which does not match a newline,
//!   so there a `**` does not cross a `\n` in a file name; this is kept for fidelity.
//! - A pattern matching a directory excludes everything below it; the last pattern
//!   that matches the path or one of its parents wins; `!` patterns re-include.
//!
//! Where patternmatcher's regex translation leaks regex syntax into patterns that
//! `filepath.Match` accepts, this module keeps `filepath.Match`'s meaning instead
//! (Docker's known flaws, done better): inside `[...]` a `*`, `?` or `[` is a literal
//! class member (Docker turns `[*]` into a broken regex), `\` + letter is that letter
//! (Go's regexp reads `\d`, `\b`, `\a` as regex escapes or rejects them), and a `^`
//! outside a class is a literal (the regex reads it as an anchor). A class range
//! written backwards (`[z-a]`, or `[Local-Only]`'s `l-O`) is rejected when the file
//! is parsed; Docker accepts it and fails the build on the first path it matches.
//!
//! The Dockerfile and the ignore file themselves may be excluded by the patterns;
//! Docker still reads them (the Dockerfile comes from its own source, and the classic
//! builder removes both from the excludes before sending the context). That is the
//! caller's concern: this module only answers what the patterns say.

use std::fmt;

/// The ignore file at the root of the build context, used when no
/// `<Dockerfile name>.dockerignore` sits beside the Dockerfile.
pub const CONTEXT_IGNORE_FILE: &str = ".dockerignore";

/// Go's `filepath.ErrBadPattern` text, so messages read like Docker's.
const SYNTAX_ERROR: &str = "syntax error in pattern";

/// Why an ignore file or pattern list was refused. Docker refuses the same inputs
/// (at parse time, or, for backwards class ranges, when the first path is matched).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A pattern that Docker rejects: `filepath.Match` syntax errors ("syntax error
    /// in pattern"), a lone `!`, or a class range Go's regexp refuses.
    #[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written (trimmed), so the user can find the line.
        pattern: String,
        /// What is wrong with it, in Go's words where Go has words for it.
        reason: String,
    },
}

/// A parsed `.dockerignore` (or any Docker exclude-pattern list): the patterns in
/// file order, compiled once so that matching a whole context costs no allocation
/// per pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnorePatterns {
    patterns: Vec<Pattern>,
    has_exceptions: bool,
}

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// The cleaned pattern with its `!` when it is an exception, as listed.
    listed: String,
    /// A `!` pattern: a match re-includes the path.
    exception: bool,
    matcher: Matcher,
}

/// patternmatcher's four match types; the first three are plain string tests and
/// have different semantics from the regex form (see the module comment), so they
/// are kept apart rather than folded into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    /// No wildcard at all: the path must equal the pattern.
    Exact(String),
    /// Plain characters then a final `**`: the path must start with them.
    Prefix(String),
    /// A leading `**` then plain characters: the path must end with them (or, when
    /// they start with `/`, equal them without it).
    Suffix(String),
    /// Everything else: an anchored match of the token sequence.
    Tokens(Vec<Token>),
}

/// One element of a regex-form pattern, named after the Go regex it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character, escaped or not.
    Literal(char),
    /// `?`: `[^/]`.
    AnyChar,
    /// `*`: `[^/]*`.
    Star,
    /// `**` followed by more pattern: `(.*/)?`.
    DoubleStar,
    /// `**` at the end of the pattern: `.*`.
    Rest,
    /// `[...]`.
    Class(Class),
}

/// A bracket expression: inclusive ranges, maybe negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

impl IgnorePatterns {
    /// Reads `.dockerignore` text as `ignorefile.ReadAll` does, then compiles the
    /// patterns as `patternmatcher.New` does: a UTF-8 BOM is dropped; a line whose
    /// first character is `#` is a comment (an indented `#` is a pattern, as in
    /// Docker); lines are trimmed and blank ones skipped; `!` marks an exception (the
    /// space after it is trimmed too); each pattern goes through Go's `filepath.Clean`
    /// (`./x` is `x`, `dir/` is `dir`, `a/../b` is `b`); a leading `/` is removed, so
    /// `/abs/pattern` is relative to the context root.
    ///
    /// Docker stops reading at a line longer than 64 KiB (bufio.Scanner's limit);
    /// here such a line is read like any other.
    pub fn parse(text: &str) -> Result<IgnorePatterns, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut listed = Vec::new();
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with('#') {
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (invert, body) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            let mut pattern = String::new();
            if !body.is_empty() {
                pattern = go_clean(body);
                if pattern.len() > 1 && pattern.starts_with('/') {
                    pattern.remove(0);
                }
            }
            if invert {
                pattern.insert(0, '!');
            }
            listed.push((trimmed, pattern));
        }
        Self::compile_all(listed)
    }

    /// Compiles a list of patterns exactly as `patternmatcher.New` does, with none of
    /// the ignore-file reading rules (no comments, a leading `/` is kept). This is how
    /// Docker treats exclude lists that do not come from a file, such as
    /// `COPY --exclude`.
    pub fn new<I, S>(patterns: I) -> Result<IgnorePatterns, IgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let owned: Vec<S> = patterns.into_iter().collect();
        Self::compile_all(owned.iter().map(|p| (p.as_ref(), p.as_ref().to_string())))
    }

    /// `patternmatcher.New` over `(as written, pattern)` pairs.
    fn compile_all<'a>(listed: impl IntoIterator<Item = (&'a str, String)>) -> Result<IgnorePatterns, IgnoreError> {
        let mut out = IgnorePatterns::default();
        for (written, pattern) in listed {
            let trimmed = pattern.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = go_clean(trimmed);
            let bad = |reason: &str| IgnoreError::BadPattern {
                pattern: written.trim().to_string(),
                reason: reason.to_string(),
            };
            let (exception, body) = match cleaned.strip_prefix('!') {
                Some("") => return Err(bad("illegal exclusion pattern: \"!\"")),
                Some(rest) => (true, rest),
                None => (false, cleaned.as_str()),
            };
            let matcher = compile(body).map_err(bad)?;
            out.has_exceptions |= exception;
            out.patterns.push(Pattern { listed: cleaned.clone(), exception, matcher });
        }
        Ok(out)
    }

    /// Docker's `MatchesOrParentMatches`: is this context-relative path excluded?
    ///
    /// `path` is slash-separated and relative to the context root, as a walker
    /// produces it (no leading `./`, no cleaning is done here). Each pattern is tried
    /// on the path and on each of its parent directories; the last pattern that
    /// matches decides, so a later `!` pattern re-includes and a later plain pattern
    /// excludes again. The context root itself (`""` or `.`) is never excluded.
    ///
    /// BuildKit's walker asks the same question through `MatchesUsingParentResults`,
    /// which reuses the parent's per-pattern results and in rare orderings (an
    /// exception for a directory listed *after* an inclusion of a file below it, e.g.
    /// `a/b` then `!a`) still excludes `a/b`; this follows `MatchesOrParentMatches`,
    /// where the later `!a` wins.
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.patterns.is_empty() || path.is_empty() || path == "." {
            return false;
        }
        let parent = go_dir(path);
        let parents: Vec<&str> = if parent == "." { Vec::new() } else { prefixes(&parent).collect() };
        // "Last match wins" is what patternmatcher's loop computes (a pattern that
        // matches sets the result to !exception, one that does not leaves it), so the
        // scan can start from the end and stop at the first match.
        for pattern in self.patterns.iter().rev() {
            let m = &pattern.matcher;
            if m.matches(path) || parents.iter().any(|p| m.matches(p)) {
                return !pattern.exception;
            }
        }
        false
    }

    /// Docker's `MatchesExact`: does the last pattern matching `path` itself (parents
    /// not consulted) exclude it? Exposed for callers that track parents themselves
    /// and so that the matcher can be tested pattern by pattern.
    pub fn matches_exact(&self, path: &str) -> bool {
        for pattern in self.patterns.iter().rev() {
            if pattern.matcher.matches(path) {
                return !pattern.exception;
            }
        }
        false
    }

    /// For walking the context: true when `dir` is excluded and no exception pattern
    /// can match anything below it, so the walker may skip the whole subtree without
    /// changing what `is_excluded` says about any path in it. `dir` is a clean
    /// context-relative path, as a walker produces it (no `.`/`..` components, no
    /// trailing or doubled `/`): the guarantee is about the paths below such a dir.
    ///
    /// Docker's walkers approximate this with a string-prefix test on the exception
    /// patterns; here each exception is run on `dir/` and asked whether it could still
    /// match, which is exact for wildcard exceptions too (`!*/keep` keeps `build`
    /// walked when `build` is excluded).
    pub fn skips_dir(&self, dir: &str) -> bool {
        if !self.is_excluded(dir) {
            return false;
        }
        if !self.has_exceptions {
            return true;
        }
        let below = format!("{dir}/");
        !self.patterns.iter().any(|p| p.exception && p.matcher.may_match_below(&below))
    }

    /// True when there are no patterns: nothing is excluded, and a caller can skip
    /// matching altogether.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is a `!` exception (patternmatcher's `Exclusions`): an
    /// excluded directory may then still have to be walked.
    pub fn has_exceptions(&self) -> bool {
        self.has_exceptions
    }

    /// The patterns in file order, cleaned, with `!` on exceptions: a canonical form
    /// for cache keys (two files that differ only in comments, blank lines, spacing or
    /// `./` spelling give the same list).
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.listed.as_str())
    }
}

impl fmt::Display for IgnorePatterns {
    /// One cleaned pattern per line, as `patterns()` lists them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.patterns {
            writeln!(f, "{}", p.listed)?;
        }
        Ok(())
    }
}

/// Which ignore file applies to a build, as BuildKit's Dockerfile frontend chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreSource {
    /// `<Dockerfile name>.dockerignore` in the Dockerfile's directory (the file name
    /// is carried); it replaces the context's `.dockerignore` entirely.
    BesideDockerfile(String),
    /// `.dockerignore` at the root of the context.
    ContextRoot,
}

impl IgnoreSource {
    /// The file name to read, relative to the directory the variant names.
    pub fn file_name(&self) -> &str {
        match self {
            IgnoreSource::BesideDockerfile(name) => name,
            IgnoreSource::ContextRoot => CONTEXT_IGNORE_FILE,
        }
    }
}

/// Which ignore file applies: `<Dockerfile name>.dockerignore` beside the Dockerfile
/// takes precedence over `.dockerignore` at the context root (BuildKit's rule; e.g.
/// `-f app.Dockerfile` reads `app.Dockerfile.dockerignore`). Pure, so the rule is
/// testable without a file system: the callers say which names exist.
///
/// `dockerfile_name` may carry directories (`docker/app.Dockerfile`); only its last
/// component names the ignore file, looked up with `dockerfile_dir_has` in the
/// Dockerfile's own directory. BuildKit keeps `Dockerfile.dockerignore` even when it
/// falls back to reading a lowercase `dockerfile`, so pass the name as requested.
pub fn ignore_file_for(
    dockerfile_name: &str,
    dockerfile_dir_has: &dyn Fn(&str) -> bool,
    context_root_has: &dyn Fn(&str) -> bool,
) -> Option<IgnoreSource> {
    let base = dockerfile_name.rsplit('/').next().unwrap_or(dockerfile_name);
    if !base.is_empty() {
        let beside = format!("{base}{CONTEXT_IGNORE_FILE}");
        if dockerfile_dir_has(&beside) {
            return Some(IgnoreSource::BesideDockerfile(beside));
        }
    }
    if context_root_has(CONTEXT_IGNORE_FILE) {
        return Some(IgnoreSource::ContextRoot);
    }
    None
}

/// Translates one cleaned pattern (without its `!`) the way patternmatcher's
/// `compile` walks it, choosing the same match type, while validating it with
/// `filepath.Match`'s syntax rules (which `New` applies first).
fn compile(pattern: &str) -> Result<Matcher, &'static str> {
    #[derive(PartialEq, Eq, Clone, Copy)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut first = true;
    while let Some(&ch) = chars.get(i) {
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // "**/" is "**": the slash is eaten.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    kind = if kind == Kind::Exact { Kind::Prefix } else { Kind::Regex };
                    tokens.push(Token::Rest);
                } else {
                    kind = Kind::Regex;
                    tokens.push(Token::DoubleStar);
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                kind = Kind::Regex;
                tokens.push(Token::Star);
            }
            '?' => {
                kind = Kind::Regex;
                tokens.push(Token::AnyChar);
            }
            '\\' => {
                let escaped = chars.get(i).copied().ok_or(SYNTAX_ERROR)?;
                i += 1;
                kind = Kind::Regex;
                tokens.push(Token::Literal(escaped));
            }
            '[' => {
                kind = Kind::Regex;
                tokens.push(Token::Class(parse_class(&chars, &mut i)?));
            }
            ']' => {
                kind = Kind::Regex;
                tokens.push(Token::Literal(']'));
            }
            c => tokens.push(Token::Literal(c)),
        }
        first = false;
    }
    let literal_prefix = || -> String {
        tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    Ok(match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(literal_prefix()),
        // Suffix only survives when the pattern starts with "**" and has nothing but
        // plain characters after it.
        Kind::Suffix => Matcher::Suffix(pattern.get(2..).unwrap_or("").to_string()),
        Kind::Regex => Matcher::Tokens(tokens),
    })
}

/// Parses a bracket expression after its `[` with `filepath.Match`'s rules (`^`
/// negates; `]` closes only after at least one member; `-` and `]` must be escaped to
/// be members; `\` escapes; the class must be closed). A range whose ends are reversed
/// is refused, as Go's regexp refuses it.
fn parse_class(chars: &[char], i: &mut usize) -> Result<Class, &'static str> {
    let mut negated = false;
    if chars.get(*i) == Some(&'^') {
        negated = true;
        *i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*i) == Some(&']') && !ranges.is_empty() {
            *i += 1;
            return Ok(Class { negated, ranges });
        }
        let lo = class_char(chars, i)?;
        let mut hi = lo;
        if chars.get(*i) == Some(&'-') {
            *i += 1;
            hi = class_char(chars, i)?;
        }
        if lo > hi {
            return Err("invalid character class range");
        }
        ranges.push((lo, hi));
    }
}

/// Go's `getEsc`: one class member, which must not be a bare `-` or `]` and must be
/// followed by more pattern (the class is not closed yet).
fn class_char(chars: &[char], i: &mut usize) -> Result<char, &'static str> {
    let mut c = *chars.get(*i).ok_or(SYNTAX_ERROR)?;
    if c == '-' || c == ']' {
        return Err(SYNTAX_ERROR);
    }
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i).ok_or(SYNTAX_ERROR)?;
    }
    *i += 1;
    if *i >= chars.len() {
        return Err(SYNTAX_ERROR);
    }
    Ok(c)
}

impl Matcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(s) => path == s,
            Matcher::Prefix(s) => path.starts_with(s.as_str()),
            Matcher::Suffix(s) => path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest),
            Matcher::Tokens(tokens) => run(tokens, path).is_some_and(|states| states[2 * tokens.len()]),
        }
    }

    /// Could this pattern match some path that starts with `below` (a directory
    /// followed by `/`) and has at least one more character? Errs towards yes.
    fn may_match_below(&self, below: &str) -> bool {
        match self {
            Matcher::Exact(s) => s.len() > below.len() && s.starts_with(below),
            Matcher::Prefix(s) => below.starts_with(s.as_str()) || s.starts_with(below),
            // `below` + the suffix without its leading '/' always ends with it.
            Matcher::Suffix(_) => true,
            // A live state other than "accepted" can consume at least one more
            // character and, every token being satisfiable, reach the end.
            Matcher::Tokens(tokens) => {
                run(tokens, below).is_some_and(|states| states.iter().take(2 * tokens.len()).any(|&s| s))
            }
        }
    }
}

/// Simulates the token sequence as a nondeterministic automaton over `input` (linear
/// time, no backtracking, whatever the pattern). State `2k` is "before token k",
/// `2k + 1` is "inside the `(.*/)?` of token k after at least one character"; state
/// `2n` accepts. Returns the final state set, or `None` once no state is alive.
fn run(tokens: &[Token], input: &str) -> Option<Vec<bool>> {
    let size = 2 * tokens.len() + 2;
    let mut cur = vec![false; size];
    let mut next = vec![false; size];
    cur[0] = true;
    close(tokens, &mut cur);
    for c in input.chars() {
        next.iter_mut().for_each(|s| *s = false);
        let mut alive = false;
        for (k, token) in tokens.iter().enumerate() {
            let at = cur[2 * k];
            let inside = cur[2 * k + 1];
            if !at && !inside {
                continue;
            }
            let (stay, advance) = match token {
                Token::Literal(l) => (false, at && c == *l),
                Token::AnyChar => (false, at && c != '/'),
                Token::Class(class) => (false, at && class.matches(c)),
                Token::Star => (at && c != '/', false),
                Token::Rest => (at && c != '\n', false),
                Token::DoubleStar => {
                    // `.*` takes any character but a newline; a '/' may also close
                    // the group and move on.
                    if c != '\n' {
                        next[2 * k + 1] = true;
                        alive = true;
                    }
                    (false, c == '/')
                }
            };
            if stay {
                next[2 * k] = true;
                alive = true;
            }
            if advance {
                next[2 * k + 2] = true;
                alive = true;
            }
        }
        if !alive {
            return None;
        }
        close(tokens, &mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    Some(cur)
}

/// Adds the states reachable without input: `*`, `(.*/)?` and `.*` may match nothing.
fn close(tokens: &[Token], states: &mut [bool]) {
    for (k, token) in tokens.iter().enumerate() {
        if states[2 * k] && matches!(token, Token::Star | Token::DoubleStar | Token::Rest) {
            states[2 * k + 2] = true;
        }
    }
}

/// Go's `path.Clean` (what `filepath.Clean` is on Unix): the shortest equivalent
/// path, by purely lexical processing.
fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned; `.` without one.
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => go_clean(&path[..=i]),
        None => ".".to_string(),
    }
}

/// The successive joins of `strings.Split(parent, "/")`'s first 1, 2, … parts, which
/// is what `MatchesOrParentMatches` tries: for `a/b/c`, `a`, `a/b`, `a/b/c`.
fn prefixes(parent: &str) -> impl Iterator<Item = &str> {
    parent.match_indices('/').map(move |(i, _)| &parent[..i]).chain(std::iter::once(parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("./", "."),
            ("/", "/"),
            ("//", "/"),
            ("a/", "a"),
            ("./x", "x"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("a/..", "."),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("../../a/b/..", "../../a"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
            ("!/", "!"),
            ("!./x", "!./x"),
            ("abc/def/../../..", ".."),
        ] {
            assert_eq!(go_clean(input), want, "Clean({input:?})");
        }
    }

    #[test]
    fn dir_matches_go() {
        for (input, want) in
            [("a", "."), ("a/b", "a"), ("a/b/", "a/b"), ("/", "/"), ("/a", "/"), ("a//b", "a"), ("./a", ".")]
        {
            assert_eq!(go_dir(input), want, "Dir({input:?})");
        }
    }

    #[test]
    fn parent_prefixes() {
        assert_eq!(prefixes("a/b/c").collect::<Vec<_>>(), ["a", "a/b", "a/b/c"]);
        assert_eq!(prefixes("/").collect::<Vec<_>>(), ["", "/"]);
        assert_eq!(prefixes("a").collect::<Vec<_>>(), ["a"]);
    }

    /// patternmatcher's TestCompile table: the match type each pattern gets.
    #[test]
    fn compile_picks_patternmatchers_match_type() {
        #[derive(Debug, PartialEq)]
        enum K {
            Exact,
            Prefix,
            Suffix,
            Regex,
        }
        let kind = |p: &str| match compile(&go_clean(p)) {
            Ok(Matcher::Exact(_)) => K::Exact,
            Ok(Matcher::Prefix(_)) => K::Prefix,
            Ok(Matcher::Suffix(_)) => K::Suffix,
            Ok(Matcher::Tokens(_)) => K::Regex,
            Err(e) => panic!("{p}: {e}"),
        };
        for (pattern, want) in [
            ("*", K::Regex),
            ("file*", K::Regex),
            ("*file", K::Regex),
            ("a*/b", K::Regex),
            ("**", K::Suffix),
            ("**/**", K::Regex),
            ("dir/**", K::Prefix),
            ("**/dir", K::Suffix),
            ("**/dir2/*", K::Regex),
            ("**/dir2/**", K::Regex),
            ("**file", K::Suffix),
            ("**/file*txt", K::Regex),
            ("**/**/*.txt", K::Regex),
            ("a[b-d]e", K::Regex),
            (".*", K::Regex),
            ("abc.def", K::Exact),
            ("abc?def", K::Regex),
            ("**/foo/bar", K::Suffix),
            ("a(b)c/def", K::Exact),
            ("a.|)$(}+{bc", K::Exact),
            ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", K::Exact),
        ] {
            assert_eq!(kind(pattern), want, "{pattern}");
        }
        // The regexes TestCompile expects, as token sequences.
        assert_eq!(compile("**/**"), Ok(Matcher::Tokens(vec![Token::DoubleStar, Token::Rest])));
        assert_eq!(compile("dir/**"), Ok(Matcher::Prefix("dir/".to_string())));
        assert_eq!(compile("**/dir"), Ok(Matcher::Suffix("/dir".to_string())));
    }
}
