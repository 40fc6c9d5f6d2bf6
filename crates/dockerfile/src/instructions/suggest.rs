//! "did you mean ...?" hints, as BuildKit's `util/suggest` adds them to errors about
//! unknown instructions, flags, mount keys and mount types.

/// Appends ` (did you mean X?)` to `message` when one of `options` is within edit
/// distance 2 of `value` (BuildKit: Levenshtein distance, strictly below 3, first
/// best option wins; our option lists are in a fixed order where BuildKit iterates a
/// Go map). An exact match adds nothing: the error was about something else.
pub(crate) fn wrap(message: String, value: &str, options: &[&str], case_sensitive: bool) -> String {
    match suggestion(value, options, case_sensitive) {
        Some(m) => format!("{message} (did you mean {m}?)"),
        None => message,
    }
}

fn suggestion(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let val = if case_sensitive { value.to_string() } else { value.to_lowercase() };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let opt = if case_sensitive { (*opt).to_string() } else { opt.to_lowercase() };
        if val == opt {
            return None;
        }
        let d = levenshtein(&val, &opt);
        if d < min {
            min = d;
            best = Some(if case_sensitive { opt } else { match_case(&opt, value) });
        }
    }
    best
}

/// BuildKit's `matchCase`: the suggestion takes the case of what the user wrote when
/// that was all lower or all upper case.
fn match_case(opt: &str, orig: &str) -> String {
    if orig == orig.to_lowercase() {
        opt.to_lowercase()
    } else if orig == orig.to_uppercase() {
        opt.to_uppercase()
    } else {
        opt.to_string()
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests() {
        let opts = ["ADD", "COPY", "FROM", "RUN"];
        assert_eq!(wrap("x".into(), "FORM", &opts, false), "x (did you mean FROM?)");
        assert_eq!(wrap("x".into(), "form", &opts, false), "x (did you mean from?)");
        assert_eq!(wrap("x".into(), "Form", &opts, false), "x (did you mean from?)");
        assert_eq!(wrap("x".into(), "zzzzzz", &opts, false), "x");
        assert_eq!(wrap("x".into(), "chmd", &["chown", "chmod"], true), "x (did you mean chmod?)");
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
