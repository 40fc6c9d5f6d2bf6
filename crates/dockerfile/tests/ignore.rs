//! `.dockerignore` conformance: moby/patternmatcher's test tables (TestMatches,
//! TestMatch, the single-case tests, TestCleanPatterns*), ignorefile's TestReadAll,
//! Docker's documented examples, BuildKit's ignore-file choice, and a no-panic
//! property test over random patterns and paths.

use gantry_dockerfile::ignore::{ignore_file_for, IgnoreError, IgnorePatterns, IgnoreSource, CONTEXT_IGNORE_FILE};

/// patternmatcher's `New([]string{pattern})`; panics with the pattern on refusal.
fn one(pattern: &str) -> IgnorePatterns {
    match IgnorePatterns::new([pattern]) {
        Ok(p) => p,
        Err(e) => panic!("pattern {pattern:?} refused: {e}"),
    }
}

fn many(patterns: &[&str]) -> IgnorePatterns {
    match IgnorePatterns::new(patterns) {
        Ok(p) => p,
        Err(e) => panic!("patterns {patterns:?} refused: {e}"),
    }
}

fn parse(text: &str) -> IgnorePatterns {
    match IgnorePatterns::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("{text:?} refused: {e}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pass {
    /// Neither the path nor a parent matches.
    Fail,
    /// The path itself matches (MatchesExact).
    Exact,
    /// Only a parent matches (MatchesOrParentMatches but not MatchesExact).
    Inexact,
}
use Pass::{Exact, Fail, Inexact};

/// patternmatcher_test.go TestMatches `tests`, plus the non-Windows additions.
const MATCHES: &[(&str, &str, Pass)] = &[
    ("**", "file", Exact),
    ("**", "file/", Exact),
    ("**/", "file", Exact), // weird one
    ("**/", "file/", Exact),
    ("**", "/", Exact),
    ("**/", "/", Exact),
    ("**", "dir/file", Exact),
    ("**/", "dir/file", Exact),
    ("**", "dir/file/", Exact),
    ("**/", "dir/file/", Exact),
    ("**/**", "dir/file", Exact),
    ("**/**", "dir/file/", Exact),
    ("dir/**", "dir/file", Exact),
    ("dir/**", "dir/file/", Exact),
    ("dir/**", "dir/dir2/file", Exact),
    ("dir/**", "dir/dir2/file/", Exact),
    ("**/dir", "dir", Exact),
    ("**/dir", "dir/file", Inexact),
    ("**/dir2/*", "dir/dir2/file", Exact),
    ("**/dir2/*", "dir/dir2/file/", Inexact),
    ("**/dir2/**", "dir/dir2/dir3/file", Exact),
    ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
    ("**file", "file", Exact),
    ("**file", "dir/file", Exact),
    ("**/file", "dir/file", Exact),
    ("**file", "dir/dir/file", Exact),
    ("**/file", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file.txt", Exact),
    ("**/file*txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt*", "dir/dir/file.txt", Exact),
    ("**/**/*.txt", "dir/dir/file.txt", Exact),
    ("**/**/*.txt2", "dir/dir/file.txt", Fail),
    ("**/*.txt", "file.txt", Exact),
    ("**/**/*.txt", "file.txt", Exact),
    ("a**/*.txt", "a/file.txt", Exact),
    ("a**/*.txt", "a/dir/file.txt", Exact),
    ("a**/*.txt", "a/dir/dir/file.txt", Exact),
    ("a/*.txt", "a/dir/file.txt", Fail),
    ("a/*.txt", "a/file.txt", Exact),
    ("a/*.txt**", "a/file.txt", Exact),
    ("a[b-d]e", "ae", Fail),
    ("a[b-d]e", "ace", Exact),
    ("a[b-d]e", "aae", Fail),
    ("a[^b-d]e", "aze", Exact),
    (".*", ".foo", Exact),
    (".*", "foo", Fail),
    ("abc.def", "abcdef", Fail),
    ("abc.def", "abc.def", Exact),
    ("abc.def", "abcZdef", Fail),
    ("abc?def", "abcZdef", Exact),
    ("abc?def", "abcdef", Fail),
    ("**/foo/bar", "foo/bar", Exact),
    ("**/foo/bar", "dir/foo/bar", Exact),
    ("**/foo/bar", "dir/dir2/foo/bar", Exact),
    ("abc/**", "abc", Fail),
    ("abc/**", "abc/def", Exact),
    ("abc/**", "abc/def/ghi", Exact),
    ("**/.foo", ".foo", Exact),
    ("**/.foo", "bar.foo", Fail),
    ("a(b)c/def", "a(b)c/def", Exact),
    ("a(b)c/def", "a(b)c/xyz", Fail),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", Exact),
    // non-Windows additions
    (r"a\\", r"a\", Exact),
    (r"a\*b", "a*b", Exact),
];

/// TestMatches `multiPatternTests`.
const MULTI: &[(&[&str], &str, Pass)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", Fail),
    (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", Exact),
    (
        &["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Fail,
    ),
    (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", Fail),
];

#[test]
fn patternmatcher_matches_table() {
    let mut failures = Vec::new();
    for &(pattern, text, pass) in MATCHES {
        let pm = one(pattern);
        let exact = pm.matches_exact(text);
        let any = pm.is_excluded(text);
        if exact != (pass == Exact) || any != (pass != Fail) {
            failures.push(format!("{pattern:?} vs {text:?}: want {pass:?}, got exact={exact} parent-or-exact={any}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn patternmatcher_multi_pattern_table() {
    for &(patterns, text, pass) in MULTI {
        assert_eq!(many(patterns).is_excluded(text), pass != Fail, "{patterns:?} vs {text:?}");
    }
}

/// patternmatcher_test.go `matchTests` (Go's own filepath.Match tests), through the
/// package-level `Matches`: `None` means the pattern is refused (ErrBadPattern).
const GO_MATCH: &[(&str, &str, Option<bool>)] = &[
    ("abc", "abc", Some(true)),
    ("*", "abc", Some(true)),
    ("*c", "abc", Some(true)),
    ("a*", "a", Some(true)),
    ("a*", "abc", Some(true)),
    ("a*", "ab/c", Some(true)),
    ("a*/b", "abc/b", Some(true)),
    ("a*/b", "a/c/b", Some(false)),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
    ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
    ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
    ("ab[c]", "abc", Some(true)),
    ("ab[b-d]", "abc", Some(true)),
    ("ab[e-g]", "abc", Some(false)),
    ("ab[^c]", "abc", Some(false)),
    ("ab[^b-d]", "abc", Some(false)),
    ("ab[^e-g]", "abc", Some(true)),
    (r"a\*b", "a*b", Some(true)),
    (r"a\*b", "ab", Some(false)),
    ("a?b", "a☺b", Some(true)),
    ("a[^a]b", "a☺b", Some(true)),
    ("a???b", "a☺b", Some(false)),
    ("a[^a][^a][^a]b", "a☺b", Some(false)),
    ("[a-ζ]*", "α", Some(true)),
    ("*[a-ζ]", "A", Some(false)),
    ("a?b", "a/b", Some(false)),
    ("a*b", "a/b", Some(false)),
    (r"[\]a]", "]", Some(true)),
    (r"[\-]", "-", Some(true)),
    (r"[x\-]", "x", Some(true)),
    (r"[x\-]", "-", Some(true)),
    (r"[x\-]", "z", Some(false)),
    (r"[\-x]", "x", Some(true)),
    (r"[\-x]", "-", Some(true)),
    (r"[\-x]", "a", Some(false)),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    (r"\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("*x", "xxx", Some(true)),
];

#[test]
fn go_filepath_match_table() {
    for &(pattern, text, want) in GO_MATCH {
        match (IgnorePatterns::new([pattern]), want) {
            (Ok(pm), Some(want)) => assert_eq!(pm.is_excluded(text), want, "{pattern:?} vs {text:?}"),
            (Err(IgnoreError::BadPattern { reason, .. }), None) => {
                assert_eq!(reason, "syntax error in pattern", "{pattern:?}")
            }
            (Ok(_), None) => panic!("{pattern:?} accepted, Go refuses it"),
            (Err(e), Some(_)) => panic!("{pattern:?} refused: {e}"),
        }
    }
}

#[test]
fn patternmatcher_single_cases() {
    // TestWildcardMatches, TestPatternMatches
    assert!(one("*").is_excluded("fileutils.go"));
    assert!(one("*.go").is_excluded("fileutils.go"));
    // TestExclusionPatternMatchesPatternBefore: the later inclusion wins.
    assert!(many(&["!fileutils.go", "*.go"]).is_excluded("fileutils.go"));
    // TestPatternMatchesFolderExclusions / WithSlash / Wildcard
    assert!(!many(&["docs", "!docs/README.md"]).is_excluded("docs/README.md"));
    assert!(!many(&["docs/", "!docs/README.md"]).is_excluded("docs/README.md"));
    assert!(!many(&["docs/*", "!docs/README.md"]).is_excluded("docs/README.md"));
    // TestExclusionPatternMatchesPatternAfter
    assert!(!many(&["*.go", "!fileutils.go"]).is_excluded("fileutils.go"));
    // TestExclusionPatternMatchesWholeDirectory: "." is never excluded.
    assert!(!one("*.go").is_excluded("."));
    assert!(!one("**").is_excluded("."));
    assert!(!one("**").is_excluded(""));
    // TestSingleExclamationError, TestCleanPatternsErrorSingleException
    match IgnorePatterns::new(["!"]) {
        Err(IgnoreError::BadPattern { pattern, reason }) => {
            assert_eq!(pattern, "!");
            assert_eq!(reason, "illegal exclusion pattern: \"!\"");
        }
        other => panic!("{other:?}"),
    }
    // TestMatchesWithNoPatterns
    let empty = IgnorePatterns::new(Vec::<String>::new()).unwrap_or_default();
    assert!(empty.is_empty());
    assert!(!empty.is_excluded("/any/path/there"));
    assert!(!empty.skips_dir("any"));
    // TestMatchesWithMalformedPatterns
    assert!(IgnorePatterns::new(["["]).is_err());
}

/// TestMatchesOrParentMatchesMalformedPatternDoesNotPanicOnRepeatedCall: Docker
/// accepts `[Local-Only]/` (filepath.Match does not check range order) and then fails
/// every match because Go's regexp refuses the range `l-O`; here it is refused up front.
#[test]
fn backwards_class_range_is_refused_when_parsed() {
    match IgnorePatterns::parse("[Local-Only]/\n") {
        Err(IgnoreError::BadPattern { pattern, reason }) => {
            assert_eq!(pattern, "[Local-Only]/");
            assert_eq!(reason, "invalid character class range");
        }
        other => panic!("{other:?}"),
    }
    assert!(IgnorePatterns::new(["[z-a]"]).is_err());
    assert!(one("[a-a]").is_excluded("a"));
}

#[test]
fn patternmatcher_clean_patterns() {
    // TestCleanPatterns, TestCleanPatternsStripEmptyPatterns
    assert_eq!(many(&["docs", "config"]).patterns().count(), 2);
    assert_eq!(many(&["docs", "config", ""]).patterns().count(), 2);
    // TestCleanPatternsExceptionFlag, LeadingSpaceTrimmed, TrailingSpaceTrimmed
    for list in [&["docs", "!docs/README.md"], &["docs", "  !docs/README.md"], &["docs", "!docs/README.md  "]] {
        let pm = many(list);
        assert!(pm.has_exceptions(), "{list:?}");
        assert_eq!(pm.patterns().collect::<Vec<_>>(), ["docs", "!docs/README.md"]);
    }
    assert!(!many(&["docs", "config"]).has_exceptions());
}

/// ignorefile_test.go TestReadAll. Its content ends with `!` lines, which ReadAll
/// returns and patternmatcher.New (so any build) refuses; the rest is checked through
/// `patterns()`.
#[test]
fn ignorefile_read_all() {
    const CONTENT: &str = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert!(parse("").is_empty());
    let err = IgnorePatterns::parse(CONTENT);
    assert!(
        matches!(&err, Err(IgnoreError::BadPattern { pattern, reason }) if pattern == "!" && reason.contains("illegal exclusion")),
        "{err:?}"
    );
    let head = CONTENT.trim_end_matches("\n!\n! ");
    let pm = parse(head);
    assert_eq!(pm.patterns().collect::<Vec<_>>(), ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path"]);
    assert!(pm.is_excluded("test2"));
    assert!(pm.is_excluded("a/file/here/below"));
    assert!(!pm.is_excluded("a/file"));
    assert!(!pm.is_excluded("# this is a comment"));
}

#[test]
fn ignorefile_reading_rules() {
    // A BOM is dropped before the comment test, so a first-line comment stays one.
    assert!(parse("\u{feff}# comment\nx").patterns().eq(["x"]));
    assert!(parse("\u{feff}x").patterns().eq(["x"]));
    // Only a '#' in the first column is a comment; an indented one is a pattern.
    assert!(parse("  # not a comment").patterns().eq(["# not a comment"]));
    // CRLF, tabs and surrounding blanks.
    assert!(parse("a\r\n\t b \t\r\n\r\n").patterns().eq(["a", "b"]));
    // filepath.Clean, then a leading '/' stripped (but "/" alone kept).
    let pm = parse("./x\ndir/\n/abs/pattern\na/../b\n//c//d/\n/\n../up\n!./keep/\n! /other\n!.\n");
    assert!(pm.patterns().eq(["x", "dir", "abs/pattern", "b", "c/d", "/", "../up", "!keep", "!other", "!."]));
    assert!(pm.is_excluded("dir/file"));
    assert!(pm.is_excluded("abs/pattern"));
    assert!(!pm.is_excluded("keep/file"));
    // "!/" cleans to "!": refused, as by Docker.
    assert!(IgnorePatterns::parse("!/").is_err());
    // Without the ignore-file rules, New keeps a leading slash and '#'.
    assert!(many(&["/abs", "#x"]).patterns().eq(["/abs", "#x"]));
    assert!(!many(&["/abs"]).is_excluded("abs"));
    // Display lists the cleaned patterns.
    assert_eq!(parse("a/\n!b").to_string(), "a\n!b\n");
}

#[test]
fn bad_pattern_reports_the_line_as_written() {
    match IgnorePatterns::parse("ok\n  /x/[ab  \n") {
        Err(IgnoreError::BadPattern { pattern, reason }) => {
            assert_eq!(pattern, "/x/[ab");
            assert_eq!(reason, "syntax error in pattern");
        }
        other => panic!("{other:?}"),
    }
    let msg = IgnorePatterns::parse("[").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("syntax error in pattern") && msg.contains("\"[\""), "{msg}");
}

/// The examples of Docker's documentation (build context, .dockerignore files).
#[test]
fn docker_documentation_examples() {
    let pm = parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    assert!(pm.is_excluded("somedir/temporary.txt"));
    assert!(pm.is_excluded("somedir/temp"));
    assert!(pm.is_excluded("somedir/temp/inner/file"));
    assert!(pm.is_excluded("somedir/subdir/temporary.txt"));
    assert!(pm.is_excluded("tempa"));
    assert!(pm.is_excluded("tempb/file"));
    assert!(!pm.is_excluded("temp"));
    assert!(!pm.is_excluded("tempab"));
    assert!(!pm.is_excluded("temporary.txt"));
    assert!(!pm.is_excluded("a/b/c/temporary.txt"));

    let pm = parse("**/*.go");
    assert!(pm.is_excluded("main.go"));
    assert!(pm.is_excluded("cmd/x/main.go"));
    assert!(!pm.is_excluded("main.go.txt"));

    let pm = parse("*.md\n!README*.md\nREADME-secret.md\n");
    assert!(pm.is_excluded("CHANGELOG.md"));
    assert!(!pm.is_excluded("README.md"));
    assert!(!pm.is_excluded("README-public.md"));
    assert!(pm.is_excluded("README-secret.md"));
    assert!(!pm.is_excluded("docs/guide.md"), "* does not cross /");

    let pm = parse("*.md\nREADME-secret.md\n!README*.md\n");
    assert!(pm.is_excluded("CHANGELOG.md"));
    assert!(!pm.is_excluded("README-secret.md"));

    // Excluding everything but a few paths.
    let pm = parse("*\n!src\n!Cargo.toml\n");
    assert!(pm.is_excluded("target"));
    assert!(pm.is_excluded(".git"));
    assert!(!pm.is_excluded("src"));
    assert!(!pm.is_excluded("src/main.rs"));
    assert!(!pm.is_excluded("Cargo.toml"));
    assert!(pm.skips_dir("target"));
    assert!(!pm.skips_dir("src"));
}

#[test]
fn patternmatcher_quirks_kept() {
    // A leading ** followed by plain characters is a suffix test.
    assert!(one("**foo").is_excluded("xfoo"));
    assert!(one("**foo").is_excluded("a/xfoo"));
    assert!(one("**/foo").matches_exact("foo"));
    assert!(!one("**/foo").matches_exact("xfoo"));
    // Elsewhere ** is (.*/)? and must end at a slash.
    assert!(one("a**b").matches_exact("ab"));
    assert!(one("a**b").matches_exact("ax/b"));
    assert!(!one("a**b").matches_exact("axb"));
    assert!(one("a/**/b").matches_exact("a/b"));
    assert!(one("a/**/b").matches_exact("a/x/y/b"));
    assert!(!one("a/**/b").matches_exact("a/xb"));
    // A trailing ** after plain text is a prefix test: "a**" matches "abc/def".
    assert!(one("a**").matches_exact("abc/def"));
    assert!(!one("abc/**").matches_exact("abc"));
    // In regex patterns ** (Go's .) does not cross a newline; in prefix/suffix tests it does.
    assert!(!one("**/*.txt").matches_exact("x\ny/a.txt"));
    assert!(one("**/*.txt").matches_exact("x/a\n.txt"), "* is [^/], which takes newlines");
    assert!(one("dir/**").matches_exact("dir/a\nb"));
    assert!(one("**/b").matches_exact("a\nx/b"));
    // Negation is '^' only: '!' inside a class is a member.
    assert!(one("[!a]").matches_exact("!"));
    assert!(one("[!a]").matches_exact("a"));
    assert!(!one("[!a]").matches_exact("b"));
    assert!(one("[^a]").matches_exact("b"));
    assert!(one("[^a]").matches_exact("/"), "a negated class takes '/', as in Go");
    // Escapes.
    assert!(one(r"\[x]").matches_exact("[x]"));
    assert!(one(r"a\?").matches_exact("a?"));
    assert!(!one(r"a\?").matches_exact("ab"));
    // Unicode is matched by character.
    assert!(one("?").matches_exact("é"));
    assert!(one("caf?/*").matches_exact("café/menü"));
}

#[test]
fn filepath_match_meaning_where_docker_leaks_regex() {
    // Docker turns these into broken regexes; filepath.Match's meaning is kept.
    assert!(one("[*]").matches_exact("*"));
    assert!(!one("[*]").matches_exact("x"));
    assert!(one("a[?]").matches_exact("a?"));
    assert!(one(r"\d").matches_exact("d"));
    assert!(one(r"foo\bar").matches_exact("foobar"));
    assert!(one("x*^y").matches_exact("xx^y"));
    assert!(one("[[:a]]").matches_exact(":]"));
}

#[test]
fn parents_are_matched() {
    let pm = parse("node_modules\n");
    assert!(pm.is_excluded("node_modules"));
    assert!(pm.is_excluded("node_modules/a/b/c.js"));
    assert!(!pm.is_excluded("web/node_modules/x"), "a plain name is anchored at the root");
    let pm = parse("**/node_modules\n");
    assert!(pm.is_excluded("web/node_modules/x"));
    // Every parent is tried, not only the one with as many components as the pattern.
    let pm = parse("*/b\n");
    assert!(pm.is_excluded("a/b/c/d"));
    assert!(!pm.is_excluded("b/c"));
}

#[test]
fn last_match_wins() {
    let pm = parse("logs\n!logs/keep\nlogs/keep/secret\n!logs/keep/secret/ok.txt\n");
    assert!(pm.is_excluded("logs/x"));
    assert!(!pm.is_excluded("logs/keep"));
    assert!(!pm.is_excluded("logs/keep/file"));
    assert!(pm.is_excluded("logs/keep/secret"));
    assert!(pm.is_excluded("logs/keep/secret/other"));
    assert!(!pm.is_excluded("logs/keep/secret/ok.txt"));
    // An exception for a directory listed after an inclusion below it wins
    // (MatchesOrParentMatches).
    let pm = parse("a/b\n!a\n");
    assert!(!pm.is_excluded("a/b"));
    // An exception before anything is excluded changes nothing.
    assert!(parse("!a\na").is_excluded("a"));
}

#[test]
fn skipping_directories() {
    let pm = parse("build\n.git\n");
    assert!(pm.skips_dir("build"));
    assert!(pm.skips_dir(".git"));
    assert!(!pm.skips_dir("src"));

    let pm = parse("build\n!build/keep.txt\n");
    assert!(!pm.skips_dir("build"));
    assert!(pm.is_excluded("build/other"));
    assert!(!pm.is_excluded("build/keep.txt"));

    // A wildcard exception that can reach below keeps the directory walked (Docker's
    // prefix test would skip it and lose build/keep).
    let pm = parse("build\n!*/keep\n");
    assert!(!pm.skips_dir("build"));
    assert!(!pm.is_excluded("build/keep"));
    // ...but not one that cannot.
    let pm = parse("build\n!*.txt\n!other/x\n");
    assert!(pm.skips_dir("build"));
    let pm = parse("build\n!**/keep\n");
    assert!(!pm.skips_dir("build"));
    let pm = parse("build\n!buildx/**\n!build/a/**\n");
    assert!(!pm.skips_dir("build"));
    assert!(pm.skips_dir("build/b"));
    let pm = parse("a\n!a\na\n");
    assert!(pm.skips_dir("a"), "an exception matching only the directory itself cannot re-include below");
    assert!(!pm.skips_dir("."));
    assert!(!pm.skips_dir(""));
}

#[test]
fn ignore_file_choice() {
    let has = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
    let both = has(&["Dockerfile.dockerignore", ".dockerignore"]);
    assert_eq!(
        ignore_file_for("Dockerfile", &both, &both),
        Some(IgnoreSource::BesideDockerfile("Dockerfile.dockerignore".to_string()))
    );
    let root_only = has(&[".dockerignore"]);
    let none = has(&[]);
    assert_eq!(ignore_file_for("Dockerfile", &none, &root_only), Some(IgnoreSource::ContextRoot));
    assert_eq!(ignore_file_for("Dockerfile", &none, &none), None);
    let app = has(&["app.Dockerfile.dockerignore"]);
    let got = ignore_file_for("docker/app.Dockerfile", &app, &root_only);
    assert_eq!(got, Some(IgnoreSource::BesideDockerfile("app.Dockerfile.dockerignore".to_string())));
    assert_eq!(got.as_ref().map(IgnoreSource::file_name), Some("app.Dockerfile.dockerignore"));
    // Another Dockerfile's ignore file does not apply.
    assert_eq!(ignore_file_for("other.Dockerfile", &app, &root_only), Some(IgnoreSource::ContextRoot));
    assert_eq!(IgnoreSource::ContextRoot.file_name(), CONTEXT_IGNORE_FILE);
    assert_eq!(ignore_file_for("", &both, &none), None);
}

// ---------------------------------------------------------------------------------
// Property tests: random patterns and paths never panic, skips_dir is sound, and the
// matcher agrees with a slow backtracking reading of patternmatcher's translation.

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn string(&mut self, alphabet: &[&str], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }
    /// 1 to `max` components, none empty, `.` or `..`: a clean relative path.
    fn clean_path(&mut self, max: usize) -> String {
        let count = 1 + self.below(max);
        let parts: Vec<String> = (0..count)
            .map(|_| loop {
                let name = self.string(&["a", "b", ".", "é", "*", "[", "\n", " "], 3);
                if !name.is_empty() && name != "." && name != ".." {
                    break name;
                }
            })
            .collect();
        parts.join("/")
    }
}

const PATTERN_ALPHABET: &[&str] =
    &["a", "b", "/", "*", "**", "?", "[", "]", "^", "!", "-", "\\", ".", "..", "#", " ", "\n", "é", "\r", "\u{feff}"];
const PATH_ALPHABET: &[&str] = &["a", "b", "/", "/", ".", "*", "é", "\n", "-", "!", "[", "]"];

#[test]
fn random_input_never_panics() {
    let mut rng = Lcg(0x5eed);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let text = rng.string(PATTERN_ALPHABET, 24);
        let Ok(pm) = IgnorePatterns::parse(&text) else { continue };
        accepted += 1;
        let _ = pm.patterns().count();
        for _ in 0..8 {
            let path = rng.string(PATH_ALPHABET, 12);
            let _ = pm.is_excluded(&path);
            let _ = pm.matches_exact(&path);
            let _ = pm.skips_dir(&path);
            // Soundness of skips_dir on clean paths, as a walker produces them.
            let dir = rng.clean_path(3);
            if pm.skips_dir(&dir) {
                assert!(pm.is_excluded(&dir), "{text:?}: skips {dir:?} without excluding it");
                for _ in 0..4 {
                    let below = format!("{dir}/{}", rng.clean_path(3));
                    assert!(pm.is_excluded(&below), "{text:?}: skips {dir:?} but {below:?} is kept");
                }
            }
        }
    }
    assert!(accepted > 5_000, "only {accepted} random files parsed");
}

/// skips_dir against brute force: with patterns over a small alphabet, every path up to
/// a few components below a skipped directory must be excluded.
#[test]
fn skips_dir_is_sound() {
    let mut rng = Lcg(42);
    let names = ["a", "b", "ab", "ba", "a.b"];
    let mut dirs = Vec::new();
    for x in names {
        dirs.push(x.to_string());
        for y in names {
            dirs.push(format!("{x}/{y}"));
        }
    }
    let mut skipped = 0;
    for _ in 0..3_000 {
        let count = 1 + rng.below(4);
        let lines: Vec<String> = (0..count)
            .map(|_| {
                let bang = if rng.below(3) == 0 { "!" } else { "" };
                format!("{bang}{}", rng.string(&["a", "b", "/", "*", "**", "?", "[ab]", "."], 5))
            })
            .collect();
        let Ok(pm) = IgnorePatterns::parse(&lines.join("\n")) else { continue };
        for dir in &dirs {
            if !pm.skips_dir(dir) {
                continue;
            }
            skipped += 1;
            for below in &dirs {
                let path = format!("{dir}/{below}");
                assert!(pm.is_excluded(&path), "{lines:?}: skips {dir:?} but keeps {path:?}");
            }
        }
    }
    assert!(skipped > 1_000, "only {skipped} skips exercised");
}

/// A slow, independent reading of patternmatcher's `compile` for patterns without
/// classes or escapes: the regex pieces as a list, matched by backtracking.
#[derive(Clone, Copy, Debug)]
enum Piece {
    Lit(char),
    NotSlash,     // [^/]
    NotSlashStar, // [^/]*
    DirsOpt,      // (.*/)?
    DotStar,      // .*
}

fn reference_match(pattern: &str, path: &str) -> bool {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let p: Vec<char> = pattern.chars().collect();
    let mut pieces = Vec::new();
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut iteration = 0;
    while i < p.len() {
        let ch = p[i];
        i += 1;
        if ch == '*' && p.get(i) == Some(&'*') {
            i += 1;
            if p.get(i) == Some(&'/') {
                i += 1;
            }
            if i == p.len() {
                kind = if kind == Kind::Exact { Kind::Prefix } else { Kind::Regex };
                pieces.push(Piece::DotStar);
            } else {
                kind = Kind::Regex;
                pieces.push(Piece::DirsOpt);
            }
            if iteration == 0 {
                kind = Kind::Suffix;
            }
        } else if ch == '*' {
            kind = Kind::Regex;
            pieces.push(Piece::NotSlashStar);
        } else if ch == '?' {
            kind = Kind::Regex;
            pieces.push(Piece::NotSlash);
        } else {
            pieces.push(Piece::Lit(ch));
        }
        iteration += 1;
    }
    match kind {
        Kind::Exact => path == pattern,
        Kind::Prefix => path.starts_with(&pattern[..pattern.len() - 2]),
        Kind::Suffix => {
            let s = &pattern[2..];
            path.ends_with(s) || s.strip_prefix('/') == Some(path)
        }
        Kind::Regex => {
            let s: Vec<char> = path.chars().collect();
            backtrack(&pieces, &s)
        }
    }
}

fn backtrack(pieces: &[Piece], s: &[char]) -> bool {
    let Some((first, rest)) = pieces.split_first() else { return s.is_empty() };
    match *first {
        Piece::Lit(c) => s.first() == Some(&c) && backtrack(rest, &s[1..]),
        Piece::NotSlash => s.first().is_some_and(|&c| c != '/') && backtrack(rest, &s[1..]),
        Piece::NotSlashStar => {
            (0..=s.len()).take_while(|&n| s[..n].iter().all(|&c| c != '/')).any(|n| backtrack(rest, &s[n..]))
        }
        Piece::DotStar => (0..=s.len()).take_while(|&n| !s[..n].contains(&'\n')).any(|n| backtrack(rest, &s[n..])),
        Piece::DirsOpt => {
            backtrack(rest, s)
                || (1..=s.len())
                    .take_while(|&n| !s[..n].contains(&'\n'))
                    .any(|n| s[n - 1] == '/' && backtrack(rest, &s[n..]))
        }
    }
}

#[test]
fn matcher_agrees_with_backtracking_reference() {
    let mut rng = Lcg(7);
    let mut compared = 0;
    for _ in 0..20_000 {
        let raw = rng.string(&["a", "b", "/", "*", "**", "?", "."], 7);
        let Ok(pm) = IgnorePatterns::new([raw.as_str()]) else { continue };
        let Some(cleaned) = pm.patterns().next().map(str::to_string) else { continue };
        for _ in 0..6 {
            let path = rng.string(&["a", "b", "/", ".", "\n"], 8);
            let want = reference_match(&cleaned, &path);
            assert_eq!(pm.matches_exact(&path), want, "pattern {cleaned:?} (from {raw:?}) vs {path:?}");
            compared += 1;
        }
    }
    assert!(compared > 50_000, "{compared}");
}

/// Long hostile inputs stay fast: the matcher is an automaton, not a backtracker.
#[test]
fn no_exponential_blowup() {
    let pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
    let pm = one(pattern);
    let path = "a".repeat(5_000);
    let start = std::time::Instant::now();
    assert!(!pm.is_excluded(&path));
    let pm = one("**/**/**/**/**/**/**/**/x");
    let deep = "a/".repeat(500) + "y";
    assert!(!pm.is_excluded(&deep));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
