//! Go's `path.Match`/`filepath.Match` (Unix): the wildcard language of COPY sources,
//! `images --filter reference=` and (per path component) `.dockerignore`.
//! `*` and `?` never cross `/`; `[...]` classes with `^` negation and ranges; `\`
//! escapes. A malformed pattern matches nothing, as Go's ErrBadPattern does for its
//! callers here.

/// True when `name` matches `pattern` entirely.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob(&p, &n)
}

/// True when `s` has wildcard characters (Go's `hasMeta`), i.e. needs matching rather
/// than a direct lookup.
pub fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

fn glob(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            for i in 0..=n.len() {
                if glob(rest, &n[i..]) {
                    return true;
                }
                if i < n.len() && n[i] == '/' {
                    break;
                }
            }
            false
        }
        Some('?') => !n.is_empty() && n[0] != '/' && glob(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            let mut i = 1;
            let negate = p.get(1) == Some(&'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < p.len() && (first || p[i] != ']') {
                first = false;
                let lo = if p[i] == '\\' {
                    i += 1;
                    p.get(i).copied()
                } else {
                    Some(p[i])
                };
                let Some(lo) = lo else { return false };
                let mut hi = lo;
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|c| *c != ']') {
                    hi = p[i + 2];
                    i += 2;
                }
                if lo <= *c && *c <= hi {
                    matched = true;
                }
                i += 1;
            }
            if i >= p.len() {
                return false; // unterminated class: Go's ErrBadPattern
            }
            matched != negate && *c != '/' && glob(&p[i + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && glob(&p[2..], &n[1..]),
        Some(c) => !n.is_empty() && n[0] == *c && glob(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_table() {
        // From Go's path.Match tests, plus docker's reference-filter uses.
        let cases = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[", "a", false),
            ("[^", "a", false),
            ("*x", "xxx", true),
            ("busybox:*", "busybox:latest", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), want, "{p:?} vs {n:?}");
        }
        assert!(has_meta("a*") && has_meta("[x]") && !has_meta("plain/path"));
    }
}
