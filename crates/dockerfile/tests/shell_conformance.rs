//! Shell-word expansion against BuildKit's own test vectors
//! (`../shared/conformance/buildkit/shell`, copied from moby/buildkit), plus the behaviours
//! BuildKit tests in code (variable tracking, modifiers, patterns), error messages, and a
//! no-panic property test.

use std::collections::{BTreeSet, HashMap};

use gantry_dockerfile::shell::{Env, Expanded, Lexer, ShellError, MAX_NESTING};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/buildkit/shell");

/// Reads a data file, failing loudly: a missing file must not make the suite pass vacuously.
fn read_data(name: &str) -> String {
    let path = format!("{DATA_DIR}/{name}");
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => panic!("conformance data {path} is missing or unreadable: {err}"),
    }
}

fn envvar_env() -> Vec<(String, String)> {
    [("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn render(result: &Result<String, ShellError>) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(err) => format!("error ({err})"),
    }
}

#[test]
fn envvar_test() {
    let data = read_data("envVarTest");
    let lexer = Lexer::new('\\');
    let env = envvar_env();
    let map: HashMap<String, String> = env.iter().cloned().collect();
    let (mut ran, mut failures) = (0, Vec::new());
    for (index, raw) in data.lines().enumerate() {
        let number = index + 1;
        if raw.starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.trim().split('|').collect();
        assert_eq!(fields.len(), 3, "envVarTest line {number} is malformed: {raw:?}");
        let (platform, source, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
        match platform {
            "A" | "U" => {}
            "W" => continue,
            other => panic!("envVarTest line {number}: unknown platform {other:?}"),
        }
        ran += 1;
        for (what, env) in [("list", &env as &dyn Env), ("map", &map as &dyn Env)] {
            let got = lexer.expand_word(source, env).map(|e| e.value);
            let ok = match (&got, expected) {
                (Err(_), "error") => true,
                (Ok(value), expected) => expected != "error" && value == expected,
                (Err(_), _) => false,
            };
            if !ok {
                failures.push(format!(
                    "envVarTest line {number} ({what} env): input {source:?}: expected {expected:?}, got {}",
                    render(&got)
                ));
            }
        }
    }
    eprintln!("envVarTest: {ran} A/U lines run, {} failures", failures.len());
    assert!(ran > 200, "envVarTest: only {ran} lines found; is the data file truncated?");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn words_test() {
    let data = read_data("wordsTest");
    let lexer = Lexer::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let (mut ran, mut failures) = (0, Vec::new());
    for (index, line) in data.lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let rest = rest.trim_start_matches(' ');
            let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
            env.push((name.to_string(), value.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "wordsTest line {number} should have exactly one '|': {line:?}");
        let source = fields[0].trim();
        let expected: Vec<String> = fields[1].trim_start_matches(' ').split(',').map(str::to_string).collect();
        ran += 1;
        let map: HashMap<String, String> = env.iter().cloned().collect();
        for (what, env) in [("list", &env as &dyn Env), ("map", &map as &dyn Env)] {
            let got = match lexer.expand_words(source, env) {
                Ok(words) => words,
                Err(_) => vec!["error".to_string()],
            };
            if got != expected {
                failures.push(format!(
                    "wordsTest line {number} ({what} env): input {source:?}: expected {expected:?}, got {got:?}"
                ));
            }
        }
    }
    eprintln!("wordsTest: {ran} lines run, {} failures", failures.len());
    assert!(ran > 20, "wordsTest: only {ran} lines found; is the data file truncated?");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn expand(input: &str, env: &[(&str, &str)]) -> Result<Expanded, ShellError> {
    Lexer::new('\\').expand_word(input, &pairs(env))
}

#[track_caller]
fn check(input: &str, env: &[(&str, &str)], value: &str, used_set: &[&str], unset: &[&str]) {
    let got = match expand(input, env) {
        Ok(got) => got,
        Err(err) => panic!("{input:?}: unexpected error {err}"),
    };
    assert_eq!(got.value, value, "value of {input:?}");
    let mut used = names(used_set);
    used.extend(names(unset));
    assert_eq!(got.used, used, "used of {input:?}");
    assert_eq!(got.unset, names(unset), "unset of {input:?}");
}

#[track_caller]
fn check_err(input: &str, env: &[(&str, &str)]) -> ShellError {
    match expand(input, env) {
        Ok(got) => panic!("{input:?}: expected an error, got {:?}", got.value),
        Err(err) => err,
    }
}

#[test]
fn tracks_used_and_unset_variables() {
    check("x", &[("DUMMY", "dummy")], "x", &[], &[]);
    check("x ${UNUSED}", &[("DUMMY", "dummy")], "x ", &[], &["UNUSED"]);
    check("x ${FOO}", &[("FOO", "y")], "x y", &["FOO"], &[]);
    check("$FOO$FOO ${FOO}", &[("FOO", "y")], "yy y", &["FOO"], &[]);
    let env = [("FOO", "xxx"), ("BAR", "")];
    check("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &env, "xxx  ccc", &["FOO", "BAR"], &["BAZ"]);
    check("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &env, "xxx bbb ccc", &["FOO", "BAR"], &["BAZ"]);
    check("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &env, "aaa bbb ", &["FOO", "BAR"], &["BAZ"]);
    check("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &env, "aaa  ", &["FOO", "BAR"], &["BAZ"]);
    check("${FOO:-}", &env, "xxx", &["FOO"], &[]);
    check("${FOO:-}", &[], "", &[], &["FOO"]);
    check("${FOO?aaa}", &env, "xxx", &["FOO"], &[]);
    check("${BAR?bbb}", &env, "", &["BAR"], &[]);
    check("${FOO:?aaa}", &env, "xxx", &["FOO"], &[]);
    // Variables inside a default are read even when the default is not used.
    check("${FOO:-$OTHER}", &env, "xxx", &["FOO"], &["OTHER"]);
    // Positional and special parameters are looked up like names, as BuildKit does.
    check("$1${#}$@", &[], "", &[], &["1", "#", "@"]);
    // Quoted and escaped references are not references.
    check("'$A' \\$B \"\\$C\"", &[], "$A $B $C", &[], &[]);
    check("\"$A\"", &[("A", "a")], "a", &["A"], &[]);
}

#[test]
fn later_entries_win() {
    let env = pairs(&[("car", "hat"), ("foo", "bar"), ("car", "bike")]);
    let got = Lexer::new('\\').expand_word("$car $foo", &env).map(|e| e.value);
    assert_eq!(got.ok().as_deref(), Some("bike bar"));
    let slice: &[(String, String)] = &env;
    assert_eq!(Lexer::new('\\').expand_word("$car", &slice).map(|e| e.value).ok().as_deref(), Some("bike"));
    let arr = [("A", "1"), ("A", "2")];
    assert_eq!(Lexer::default().expand_word("$A", &arr).map(|e| e.value).ok().as_deref(), Some("2"));
    let mut map = std::collections::BTreeMap::new();
    map.insert("A".to_string(), "m".to_string());
    assert_eq!(Lexer::default().expand_word("$A", &map).map(|e| e.value).ok().as_deref(), Some("m"));
}

#[test]
fn required_variables() {
    let set = [("VAR", "plain"), ("ARG", "x")];
    let empty = [("VAR", ""), ("ARG", "x")];
    let unset = [("ARG", "x")];
    check("${VAR:?message here$ARG}", &set, "plain", &["VAR", "ARG"], &[]);
    let err = check_err("${VAR:?message here$ARG}", &empty);
    assert_eq!(err.to_string(), "failed to process \"${VAR:?message here$ARG}\": VAR: message herex");
    let err = check_err("${VAR:?message here$ARG}", &unset);
    assert!(err.to_string().ends_with("VAR: message herex"), "{err}");
    check("${VAR?message here$ARG}", &set, "plain", &["VAR", "ARG"], &[]);
    check("${VAR?message here$ARG}", &empty, "", &["VAR", "ARG"], &[]);
    let err = check_err("${VAR?message here$ARG}", &unset);
    assert!(err.to_string().ends_with("VAR: message herex"), "{err}");
    assert_eq!(check_err("${VAR?}", &[]).to_string(), "failed to process \"${VAR?}\": VAR: is not allowed to be unset");
    assert_eq!(
        check_err("${VAR:?}", &[("VAR", "")]).to_string(),
        "failed to process \"${VAR:?}\": VAR: is not allowed to be empty"
    );
    assert_eq!(
        check_err("${VAR:?}", &[]).to_string(),
        "failed to process \"${VAR:?}\": VAR: is not allowed to be unset"
    );
    match check_err("${VAR:?msg}", &[]) {
        ShellError::Required { name, message, input } => {
            assert_eq!((name.as_str(), message.as_str(), input.as_str()), ("VAR", "msg", "${VAR:?msg}"));
        }
        other => panic!("wrong error {other:?}"),
    }
}

#[test]
fn unsupported_modifiers() {
    let env = [("FOO", "xxx"), ("BAR", "")];
    for input in ["${FOO=aaa}", "${FOO=:aaa}", "${FOO=}", "${FOO:=x}", "${FOO:#x}", "${FOO:%x}", "he${.}"] {
        let err = check_err(input, &env);
        assert!(matches!(err, ShellError::UnsupportedModifier { .. }), "{input}: {err:?}");
    }
    assert_eq!(
        check_err("${FOO:=x}", &env).to_string(),
        "failed to process \"${FOO:=x}\": unsupported modifier (:=) in substitution"
    );
    assert_eq!(check_err("${FOO:#x}", &env).input(), "${FOO:#x}");
}

#[test]
fn pattern_trimming() {
    check("${FOO#()[]{\\}^$.\\*\\?|\\\\}", &[("FOO", "()[]{}^$.*?|\\x")], "x", &["FOO"], &[]);
    check("${FOO%%\\**}", &[("FOO", "xx**")], "xx", &["FOO"], &[]);
    check("${FOO#*x*y}", &[("FOO", "xxyy")], "y", &["FOO"], &[]);
    check("${FOO#*}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], "xyy", &["FOO", "BAR"], &[]);
    check("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], "xxyy", &["FOO", "BAR"], &[]);
    check("${FOO#}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO##*x}", &[("FOO", "xxyy")], "yy", &["FOO"], &[]);
    check("${FOO##}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO#?\\?}", &[("FOO", "???y")], "?y", &["FOO"], &[]);
    check("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], ".xxyy.", &["FOO"], &["ABC"]);
    check("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], "a", &["FOO"], &[]);
    check("${FOO%}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO%%$BAR}", &[("FOO", "xxyy"), ("BAR", "")], "xxyy", &["FOO", "BAR"], &[]);
    // Shortest and longest, from either side.
    let path = [("P", "/usr/local/lib/file.tar.gz")];
    check("${P#*/}", &path, "usr/local/lib/file.tar.gz", &["P"], &[]);
    check("${P##*/}", &path, "file.tar.gz", &["P"], &[]);
    check("${P%.*}", &path, "/usr/local/lib/file.tar", &["P"], &[]);
    check("${P%%.*}", &path, "/usr/local/lib/file", &["P"], &[]);
    check("${P%/*}", &path, "/usr/local/lib", &["P"], &[]);
    // Go's `.` does not match a newline, so neither do `*` and `?`.
    check("${NL#*b}", &[("NL", "a\nbcb")], "a\nbcb", &["NL"], &[]);
    check("${NL##a?b}", &[("NL", "a\nbcb")], "a\nbcb", &["NL"], &[]);
    check("${NL%b*}", &[("NL", "a\nbcb")], "a\nbc", &["NL"], &[]);
    // Unset variables trim to nothing.
    check("${NOPE#x}", &[], "", &[], &["NOPE"]);
    // Bad escapes in a pattern.
    let err = check_err("${FOO#\\x}", &[("FOO", "x")]);
    assert_eq!(
        err.to_string(),
        "failed to process \"${FOO#\\\\x}\": invalid pattern (\\x) in substitution: invalid escape '\\x'"
    );
    assert!(matches!(check_err("${FOO%a\\b}", &[("FOO", "x")]), ShellError::InvalidPattern { .. }));
}

#[test]
fn pattern_substitution() {
    check(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        "/foo.*/*.txt - /foo..*.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    check(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        "/tmp/bar.txt - /bar.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    check(
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")],
        "/foo/b/c.txt - /foo/c.txt",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    );
    check(
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[("FOO", "http://google.de"), ("NEEDLE", "http://"), ("REPLACEMENT", "https://")],
        "https://google.de",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    );
    check("${FOO//\\//\\/}", &[("FOO", "/tmp/foo.txt")], "\\/tmp\\/foo.txt", &["FOO"], &[]);
    check("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], "wwxxyy", &["FOO", "BAR"], &[]);
    check("${FOO///}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO///}", &[], "", &[], &["FOO"]);
    assert!(matches!(check_err("${FOO//ww}", &[("FOO", "xxyy")]), ShellError::MissingSlash { .. }));
    assert!(matches!(check_err("${FOO//}", &[("FOO", "xxyy")]), ShellError::MissingSlash { .. }));
    assert!(matches!(check_err("${FOO/a/b", &[("FOO", "xxyy")]), ShellError::MissingBrace { .. }));
    // Stars are greedy in substitutions; an empty-matching pattern replaces between characters.
    check("${V/a*b/X}", &[("V", "cab ab d")], "cX d", &["V"], &[]);
    check("${V//*/-}", &[("V", "abc")], "-", &["V"], &[]);
    check("${V//$E/-}", &[("V", "abc"), ("E", "")], "-a-b-c-", &["V", "E"], &[]);
    check("${V//x*/-}", &[("V", "abc")], "abc", &["V"], &[]);
    // `//` runs the replacement through Go's Regexp.Expand: `$0` is the match, `$$` a dollar.
    check("${V//b/<'$0'>}", &[("V", "abcb")], "a<b>c<b>", &["V"], &[]);
    check("${V//b/'$$x${1}'}", &[("V", "ab")], "a$x", &["V"], &[]);
    check("${V/b/'$0'}", &[("V", "ab")], "a$0", &["V"], &[]);
    check("${V//b/'$'}", &[("V", "ab")], "a$", &["V"], &[]);
}

#[test]
fn platform_release_name() {
    let word = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut env = base.to_vec();
        env.extend_from_slice(extra);
        expand(word, &env).map(|e| e.value).ok()
    };
    assert_eq!(
        with(&[("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]).as_deref(),
        Some("something-v1.2.3.linux-arm-v7.tar.gz")
    );
    assert_eq!(
        with(&[("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]).as_deref(),
        Some("something-v1.2.3.linux-arm64.tar.gz")
    );
    assert_eq!(with(&[("TARGETARCH", "arm64")]).as_deref(), Some("something-v1.2.3.linux-arm64.tar.gz"));
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    let env = pairs(&[("A", "a")]);
    let value = |input: &str| lexer.expand_word(input, &env).map(|e| e.value).ok();
    assert_eq!(value("x`$A").as_deref(), Some("x$A"));
    assert_eq!(value("C:\\dir\\$A").as_deref(), Some("C:\\dir\\a"));
    assert_eq!(value("\"`\"q`$A``\"").as_deref(), Some("\"q$A`"));
    assert_eq!(value("a` b").as_deref(), Some("a b"));
    assert_eq!(value("end`").as_deref(), Some("end"));
    assert_eq!(lexer.expand_words("a` b c", &env).ok(), Some(vec!["a b".to_string(), "c".to_string()]));
}

#[test]
fn lexer_switches() {
    let env = pairs(&[("A", "a")]);
    let mut lexer = Lexer::new('\\');
    lexer.skip_unset_env = true;
    let value = |lexer: &Lexer, input: &str| lexer.expand_word(input, &env).map(|e| e.value).ok();
    assert_eq!(value(&lexer, "$A $B ${B} ${B:-x} ${B//p/r} ${A:-x}").as_deref(), Some("a $B ${B} ${B:-x} ${B/p/r} a"));
    assert_eq!(value(&lexer, "${B:=x}").as_deref(), Some("${B:=x}"));

    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    assert_eq!(value(&lexer, "'$A' \"$A\"").as_deref(), Some("'$A' \"a\""));

    let mut lexer = Lexer::new('\\');
    lexer.raw_escapes = true;
    assert_eq!(value(&lexer, "\\$A \"\\$A\" x\\").as_deref(), Some("\\$A \\$A x\\"));

    let mut lexer = Lexer::new('\\');
    lexer.skip_process_quotes = true;
    assert_eq!(value(&lexer, "'$A' \"$A\"").as_deref(), Some("'a' \"a\""));
    assert_eq!(value(&lexer, "'unbalanced").as_deref(), Some("'unbalanced"));
}

#[test]
fn words_splitting() {
    let env = pairs(&[("S", " a  b "), ("E", "")]);
    let words = |input: &str| Lexer::new('\\').expand_words(input, &env).ok();
    let owned = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(words("x$S"), owned(&["x", "a", "b"]));
    assert_eq!(words("x\"$S\"y"), owned(&["x a  b y"]));
    assert_eq!(words("a \"\" b"), owned(&["a", "b"]));
    assert_eq!(words("''"), owned(&[]));
    assert_eq!(words("  "), owned(&[]));
    assert_eq!(words("$E"), owned(&[]));
    assert_eq!(words("a\\ b c"), owned(&["a b", "c"]));
    assert_eq!(words("a${E:-x y}b"), owned(&["ax", "yb"]));
    assert_eq!(words("a\tb\nc"), owned(&["a", "b", "c"]));
    let full = Lexer::new('\\').expand_word("x$S", &env).ok();
    assert_eq!(
        full.map(|e| (e.value, e.words)),
        Some(("x a  b ".to_string(), vec!["x".into(), "a".into(), "b".into()]))
    );
}

#[test]
fn names_and_special_parameters() {
    let env = pairs(&[("안녕", "hi"), ("a_1", "v"), ("1", "one"), ("@", "at")]);
    let value = |input: &str| Lexer::new('\\').expand_word(input, &env).map(|e| e.value).ok();
    assert_eq!(value("$안녕!").as_deref(), Some("hi!"));
    assert_eq!(value("$a_1-").as_deref(), Some("v-"));
    assert_eq!(value("$12").as_deref(), Some(""));
    assert_eq!(value("$1x").as_deref(), Some("onex"));
    assert_eq!(value("$@x").as_deref(), Some("atx"));
    assert_eq!(value("$").as_deref(), Some("$"));
    assert_eq!(value("a$ b").as_deref(), Some("a$ b"));
    // A combining mark is not a letter in Go's sense, so it ends the name.
    assert_eq!(value("$a_1\u{301}").as_deref(), Some("v\u{301}"));
    // Arabic-Indic digits are digits.
    assert_eq!(value("$\u{661}\u{662}x").as_deref(), Some("x"));
    // A byte-order mark at the very start is dropped, as Go's scanner does.
    assert_eq!(value("\u{feff}$a_1").as_deref(), Some("v"));
    assert_eq!(value("x\u{feff}").as_deref(), Some("x\u{feff}"));
}

#[test]
fn error_messages() {
    let message = |input: &str| check_err(input, &[]).to_string();
    assert_eq!(message("${a"), "failed to process \"${a\": syntax error: missing '}'");
    assert_eq!(message("${"), "failed to process \"${\": syntax error: missing '}'");
    assert_eq!(message("${a:-b"), "failed to process \"${a:-b\": syntax error: missing '}'");
    assert_eq!(message("${}"), "failed to process \"${}\": syntax error: bad substitution");
    assert_eq!(message("${{a}"), "failed to process \"${{a}\": syntax error: bad substitution");
    assert_eq!(message("${a/b"), "failed to process \"${a/b\": syntax error: missing '/' in ${}");
    assert_eq!(
        message("'abc"),
        "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        message("\"abc"),
        "failed to process \"\\\"abc\": unexpected end of statement while looking for matching double-quote"
    );
    assert_eq!(message("${a:-${}}"), "failed to process \"${a:-${}}\": syntax error: bad substitution");
    assert_eq!(message("${a:-'x}"), "failed to process \"${a:-'x}\": syntax error: missing '}'");
    assert_eq!(message("\t${"), "failed to process \"\\t${\": syntax error: missing '}'");
    assert_eq!(message("${a.}"), "failed to process \"${a.}\": unsupported modifier (.) in substitution");
}

#[test]
fn nesting_limit() {
    let lexer = Lexer::new('\\');
    let nested = |depth: usize, open: &str, close: &str| format!("{}x{}", open.repeat(depth), close.repeat(depth));
    let ok = lexer.expand_word(&nested(MAX_NESTING, "${A:-", "}"), &[("B", "")]).map(|e| e.value);
    assert_eq!(ok.ok().as_deref(), Some("x"));
    let quoted = lexer.expand_word(&nested(MAX_NESTING, "\"${A:-", "}\""), &[("B", "")]).map(|e| e.value);
    assert_eq!(quoted.ok().as_deref(), Some("x"));
    let deep = lexer.expand_word(&nested(MAX_NESTING + 1, "${A:-", "}"), &[("B", "")]);
    assert!(matches!(deep, Err(ShellError::TooDeep { .. })), "{deep:?}");
    let hostile = lexer.expand_word(&"${A:-\"".repeat(100_000), &[("B", "")]);
    assert!(hostile.is_err());
}

#[test]
fn pathological_patterns_are_fast() {
    let value = "a".repeat(3000);
    let env = [("V", value.as_str())];
    let start = std::time::Instant::now();
    for input in ["${V#*a*a*a*a*a*a*b}", "${V%%*a*a*a*a*a*a*b}", "${V//*a*a*a*b/x}", "${V/a*a*a*a*a*a*b/x}"] {
        let got = expand(input, &env).map(|e| e.value);
        assert_eq!(got.ok().as_deref(), Some(value.as_str()), "{input}");
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "took {:?}", start.elapsed());
}

/// A tiny linear congruential generator: deterministic, no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[char] = &[
    '$', '$', '{', '}', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '`', '\'', '"', 'a', 'A', 'B', '_', '1',
    '0', '@', '*', '!', ' ', '\t', '\n', 'é', '안', '\u{301}', '\u{feff}', '\u{0}', '.', '=',
];

fn mutate(rng: &mut Lcg, seed: &str) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => chars.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = ALPHABET[rng.below(ALPHABET.len())],
            _ => chars.push(ALPHABET[rng.below(ALPHABET.len())]),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn never_panics_on_random_input() {
    let mut seeds: Vec<String> = Vec::new();
    for line in read_data("envVarTest").lines().chain(read_data("wordsTest").lines()) {
        if let Some(field) = line.split('|').nth(if line.starts_with(['A', 'U', 'W']) { 1 } else { 0 }) {
            seeds.push(field.trim().to_string());
        }
    }
    seeds.extend(
        ["${A#*x}", "${A%%\\**}", "${A//a/$0}", "${A/?/b}", "${A:?m}", "\"${A:-'x'}\"", "${A##}"].map(String::from),
    );
    let env = pairs(&[("A", "a*b?c\nd$0"), ("B", ""), ("PWD", "/home"), ("1", "one")]);
    let mut rng = Lcg(0x5eed);
    let mut lexers = Vec::new();
    for escape in ['\\', '`'] {
        for flags in 0..16u8 {
            let mut lexer = Lexer::new(escape);
            lexer.raw_quotes = flags & 1 != 0;
            lexer.raw_escapes = flags & 2 != 0;
            lexer.skip_process_quotes = flags & 4 != 0;
            lexer.skip_unset_env = flags & 8 != 0;
            lexers.push(lexer);
        }
    }
    let mut errors = 0;
    for round in 0..6000 {
        let input = if round % 3 == 0 {
            (0..rng.below(24)).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect()
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        let lexer = &lexers[rng.below(lexers.len())];
        match lexer.expand_word(&input, &env) {
            Ok(expanded) => {
                assert!(expanded.unset.is_subset(&expanded.used), "{input:?}");
                assert_eq!(lexer.expand_words(&input, &env).ok(), Some(expanded.words), "{input:?}");
            }
            Err(err) => {
                errors += 1;
                assert_eq!(err.input(), input);
                assert!(err.to_string().starts_with("failed to process \""), "{err}");
                assert!(lexer.expand_words(&input, &env).is_err(), "{input:?}");
            }
        }
    }
    assert!(errors > 100 && errors < 5900, "suspicious error count {errors}");
}
