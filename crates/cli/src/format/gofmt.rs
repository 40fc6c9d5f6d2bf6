//! Go's `fmt`, `strconv` and `encoding/json` output rules for JSON values.
//!
//! Docker prints sizes with `%.*g`, templates print values with `fmt.Sprint`, and the `json`
//! template function goes through `encoding/json`; each has number-layout quirks (`1e+03kB`,
//! `1.5e-05`, `-0`) that users see, so they are reproduced here rather than approximated with
//! Rust's own formatting.

use serde_json::{Number, Value};

/// Decimal digits of a finite float's magnitude, as Go's `strconv` keeps them: no trailing
/// zeros (zero itself has no digits), `dp` is the decimal point position.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// Parses Rust's `{:e}` rendering ("1.2345e3") of a non-negative float.
    fn from_exp_string(s: &str) -> Digits {
        let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        let dp = if d.is_empty() { 0 } else { exp + 1 };
        Digits { d, dp }
    }

    /// The shortest digits that round-trip, like `strconv.FormatFloat(f, _, -1, 64)`.
    fn shortest(f: f64) -> Digits {
        Digits::from_exp_string(&format!("{:e}", f.abs()))
    }

    /// `n` significant digits, correctly rounded (half to even on exact ties, as Go does).
    fn rounded(f: f64, n: usize) -> Digits {
        Digits::from_exp_string(&format!("{:.*e}", n.saturating_sub(1), f.abs()))
    }

    fn nd(&self) -> i32 {
        self.d.len() as i32
    }
}

/// Go's `fmtE`: one digit, `prec` decimals, exponent with at least two digits.
fn fmt_e(out: &mut String, digs: &Digits, prec: i32, upper: bool) {
    out.push(if digs.d.is_empty() { '0' } else { digs.d[0] as char });
    if prec > 0 {
        out.push('.');
        let mut i = 1;
        let m = digs.nd().min(prec + 1);
        while i < m {
            out.push(digs.d[i as usize] as char);
            i += 1;
        }
        while i <= prec {
            out.push('0');
            i += 1;
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

/// Go's `fmtF`: integer part then exactly `prec` decimals taken from the digits.
fn fmt_f(out: &mut String, digs: &Digits, prec: i32) {
    if digs.dp > 0 {
        let m = digs.nd().min(digs.dp);
        for i in 0..m {
            out.push(digs.d[i as usize] as char);
        }
        for _ in m..digs.dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = digs.dp + i - 1;
            out.push(if j >= 0 && j < digs.nd() { digs.d[j as usize] as char } else { '0' });
        }
    }
}

/// Go's `%g` layout decision for already-rounded digits.
fn fmt_g(out: &mut String, digs: &Digits, prec: i32, shortest: bool, upper: bool) {
    let mut prec = prec;
    let mut eprec = prec;
    if eprec > digs.nd() && digs.nd() >= digs.dp {
        eprec = digs.nd();
    }
    if shortest {
        eprec = 6;
    }
    let exp = digs.dp - 1;
    if exp < -4 || exp >= eprec {
        if prec > digs.nd() {
            prec = digs.nd();
        }
        fmt_e(out, digs, prec - 1, upper);
        return;
    }
    if prec > digs.dp {
        prec = digs.nd();
    }
    fmt_f(out, digs, (prec - digs.dp).max(0));
}

/// `strconv.FormatFloat(f, verb, prec, 64)` for verbs e, E, f, g, G (`prec < 0` = shortest).
pub(crate) fn format_float(f: f64, verb: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let shortest = prec < 0;
    match verb {
        'e' | 'E' => {
            let digs = if shortest { Digits::shortest(f) } else { Digits::rounded(f, prec as usize + 1) };
            let p = if shortest { (digs.nd() - 1).max(0) } else { prec };
            fmt_e(&mut out, &digs, p, verb == 'E');
        }
        'f' | 'F' => {
            if shortest {
                let digs = Digits::shortest(f);
                fmt_f(&mut out, &digs, (digs.nd() - digs.dp).max(0));
            } else {
                out.push_str(&format!("{:.*}", prec as usize, f.abs()));
            }
        }
        _ => {
            let upper = verb == 'G';
            if shortest {
                let digs = Digits::shortest(f);
                fmt_g(&mut out, &digs, digs.nd(), true, upper);
            } else {
                let p = prec.max(1);
                let digs = Digits::rounded(f, p as usize);
                fmt_g(&mut out, &digs, p, false, upper);
            }
        }
    }
    out
}

/// `encoding/json`'s float layout: plain decimals unless tiny or huge, then `1e+21`/`1e-7`.
pub(crate) fn json_float(f: f64) -> String {
    if !f.is_finite() {
        // encoding/json refuses these; JSON values here cannot hold them anyway.
        return "null".to_string();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = format_float(f, 'e', -1);
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        s
    } else {
        format_float(f, 'f', -1)
    }
}

/// A JSON number as Go prints it with `%v`: integers plainly, floats with `%g` shortest.
pub(crate) fn number_string(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        format_float(n.as_f64().unwrap_or(0.0), 'g', -1)
    }
}

/// Go's type name for the value, as `%T` and bad-verb diagnostics show it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int",
        Value::Number(n) if n.is_u64() => "uint64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Object entries in Go's map print order (sorted keys).
pub(crate) fn sorted_entries(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// `fmt.Sprint` of one value (`%v`).
pub(crate) fn sprint(v: &Value) -> String {
    let mut out = String::new();
    format_value(&mut out, v, 'v', &Flags::default(), 0);
    out
}

/// `fmt.Sprint(args...)`: a space only between operands when neither side is a string.
pub(crate) fn sprint_args(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.is_string();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        format_value(&mut out, a, 'v', &Flags::default(), 0);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln(args...)`: always spaces, then a newline.
pub(crate) fn sprintln_args(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    s
}

/// Go's `unicode.IsPrint`, close enough for quoting: graphic characters plus ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF
        | 0xD800..=0xDFFF)
}

fn push_escaped_rune(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if (!ascii_only || c.is_ascii()) && is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// `strconv.Quote` (or `QuoteToASCII`).
pub(crate) fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped_rune(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

/// `strconv.QuoteRune`.
fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped_rune(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// Parsed `%` directive flags; `wid`/`prec` are `None` when absent.
#[derive(Default, Clone)]
pub(crate) struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Width padding as Go's `fmt.pad`: counted in runes, zeros only on the left.
fn pad(out: &mut String, s: &str, f: &Flags) {
    let w = f.wid.unwrap_or(0);
    let n = s.chars().count();
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if f.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_null() {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        format_value(out, v, 'v', &Flags::default(), 0);
    }
    out.push(')');
}

/// Go's `fmtInteger` for a signed magnitude.
fn fmt_integer(out: &mut String, neg: bool, mag: u128, verb: char, f: &Flags) {
    let (base, upper) = match verb {
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        _ => (10, false),
    };
    let mut digits = match base {
        2 => format!("{mag:b}"),
        8 => format!("{mag:o}"),
        16 if upper => format!("{mag:X}"),
        16 => format!("{mag:x}"),
        _ => mag.to_string(),
    };
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
        if p == 0 && mag == 0 {
            pad(out, "", &Flags { zero: false, ..f.clone() });
            return;
        }
    } else if f.zero && !f.minus {
        if let Some(w) = f.wid {
            prec = w;
            if neg || f.plus || f.space {
                prec = prec.saturating_sub(1);
            }
        }
    }
    let mut prefix = String::new();
    match verb {
        'b' if f.sharp => prefix.push_str("0b"),
        'o' if f.sharp && !digits.starts_with('0') => prefix.push('0'),
        'O' => prefix.push_str("0o"),
        'x' if f.sharp => prefix.push_str("0x"),
        'X' if f.sharp => prefix.push_str("0X"),
        _ => {}
    }
    if digits.len() < prec {
        digits = "0".repeat(prec - digits.len()) + &digits;
    }
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    pad(out, &s, &Flags { zero: false, ..f.clone() });
}

fn fmt_float_verb(out: &mut String, v: f64, verb: char, f: &Flags) {
    let sharp_v = verb == 'v';
    let (verb, prec) = match verb {
        'v' => ('g', f.prec.map_or(-1, |p| p as i32)),
        'F' => ('f', f.prec.map_or(6, |p| p as i32)),
        'e' | 'E' | 'f' => (verb, f.prec.map_or(6, |p| p as i32)),
        _ => (verb, f.prec.map_or(-1, |p| p as i32)),
    };
    if !v.is_finite() {
        // Go never zero-pads these and shows NaN's sign only when asked to.
        let s = match (v.is_nan(), v > 0.0) {
            (true, _) if f.plus => "+NaN",
            (true, _) if f.space => " NaN",
            (true, _) => "NaN",
            (false, true) if f.space && !f.plus => " Inf",
            (false, true) => "+Inf",
            (false, false) => "-Inf",
        };
        pad(out, s, &Flags { zero: false, ..f.clone() });
        return;
    }
    let mut num = format_float(v, verb, prec);
    if !num.starts_with('-') && !num.starts_with('+') {
        num.insert(0, '+');
    }
    if f.space && num.starts_with('+') && !f.plus {
        num.replace_range(0..1, " ");
    }
    if f.sharp && !sharp_v && !num.contains('.') {
        // '#' forces a decimal point.
        let at = num.find(['e', 'E']).unwrap_or(num.len());
        num.insert(at, '.');
    }
    let show_sign = f.plus || !num.starts_with('+');
    let body = if show_sign { num.as_str() } else { &num[1..] };
    if f.zero && !f.minus {
        if let Some(w) = f.wid {
            if w > body.chars().count() {
                let (sign, digits) = if body.starts_with(['-', '+', ' ']) { body.split_at(1) } else { ("", body) };
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', w - body.chars().count()));
                out.push_str(digits);
                return;
            }
        }
    }
    pad(out, body, f);
}

/// Go's `printValue`/`printArg` for one operand and verb.
pub(crate) fn format_value(out: &mut String, v: &Value, verb: char, f: &Flags, depth: usize) {
    if verb == 'T' {
        pad(out, type_name(v), f);
        return;
    }
    match v {
        Value::Null => {
            if depth > 0 && f.sharp && verb == 'v' {
                out.push_str("interface {}(nil)");
            } else if verb == 'v' || depth > 0 {
                pad(out, "<nil>", f);
            } else {
                bad_verb(out, verb, v);
            }
        }
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, verb, v),
        },
        Value::Number(n) => {
            if let Some((neg, mag)) =
                n.as_i64().map(|i| (i < 0, i.unsigned_abs() as u128)).or_else(|| n.as_u64().map(|u| (false, u as u128)))
            {
                match verb {
                    'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' => fmt_integer(out, neg, mag, verb, f),
                    'c' | 'q' | 'U' => {
                        let c = if neg { None } else { u32::try_from(mag).ok().and_then(char::from_u32) };
                        let c = c.unwrap_or('\u{FFFD}');
                        match verb {
                            'c' => pad(out, &c.to_string(), f),
                            'q' => pad(out, &quote_rune(c, f.plus), f),
                            _ => {
                                let mut s = format!("U+{mag:04X}");
                                if f.sharp && is_print(c) {
                                    s.push_str(&format!(" '{c}'"));
                                }
                                pad(out, &s, f)
                            }
                        }
                    }
                    _ => bad_verb(out, verb, v),
                }
            } else {
                let x = n.as_f64().unwrap_or(0.0);
                match verb {
                    'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' => fmt_float_verb(out, x, verb, f),
                    _ => bad_verb(out, verb, v),
                }
            }
        }
        Value::String(s) => match verb {
            'v' if f.sharp => pad(out, &quote(s, false), f),
            'v' | 's' => {
                let t: String = match f.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                pad(out, &t, f)
            }
            'q' => {
                let t: String = match f.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                if f.sharp && !t.contains('`') && t.chars().all(|c| c == '\t' || !c.is_control()) {
                    pad(out, &format!("`{t}`"), f)
                } else {
                    pad(out, &quote(&t, f.plus), f)
                }
            }
            'x' | 'X' => {
                let bytes = s.as_bytes();
                let bytes = &bytes[..f.prec.unwrap_or(bytes.len()).min(bytes.len())];
                let mut h = String::new();
                for (i, b) in bytes.iter().enumerate() {
                    if f.space && i > 0 {
                        h.push(' ');
                    }
                    if f.sharp && (f.space || i == 0) {
                        h.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    if verb == 'x' {
                        h.push_str(&format!("{b:02x}"));
                    } else {
                        h.push_str(&format!("{b:02X}"));
                    }
                }
                pad(out, &h, f)
            }
            _ => bad_verb(out, verb, v),
        },
        Value::Array(items) => {
            if f.sharp && verb == 'v' {
                out.push_str("[]interface {}{");
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    format_value(out, it, verb, f, depth + 1);
                }
                out.push('}');
            } else {
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    format_value(out, it, verb, f, depth + 1);
                }
                out.push(']');
            }
        }
        Value::Object(m) => {
            if f.sharp && verb == 'v' {
                out.push_str("map[string]interface {}{");
                for (i, (k, val)) in sorted_entries(m).into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&quote(k, false));
                    out.push(':');
                    format_value(out, val, verb, f, depth + 1);
                }
                out.push('}');
            } else {
                out.push_str("map[");
                for (i, (k, val)) in sorted_entries(m).into_iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    format_value(out, &Value::String(k.clone()), verb, f, depth + 1);
                    out.push(':');
                    format_value(out, val, verb, f, depth + 1);
                }
                out.push(']');
            }
        }
    }
}

/// Go's limit on widths and precisions (`fmt.tooLarge`), which also keeps a format string from
/// asking for gigabytes of padding.
const MAX_WIDTH: usize = 1_000_000;

/// `fmt.Sprintf`: Go's verbs, flags, `*` widths and `[n]` argument indexes, with Go's
/// `%!v(MISSING)` / `%!(EXTRA ...)` diagnostics instead of errors.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut chars = format.char_indices().peekable();
    let bytes = format.as_bytes();

    // Reads "[n]" at the current position; returns the new argument index if valid.
    fn arg_index(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, bytes: &[u8]) -> Option<Option<usize>> {
        let &(start, c) = chars.peek()?;
        if c != '[' {
            return None;
        }
        let rest = &bytes[start + 1..];
        let close = rest.iter().position(|&b| b == b']');
        chars.next();
        match close {
            Some(end) => {
                let digits = &rest[..end];
                for _ in 0..=end {
                    chars.next();
                }
                let n = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<usize>().ok());
                Some(n.filter(|&n| n >= 1).map(|n| n - 1))
            }
            None => Some(None),
        }
    }

    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '#' => f.sharp = true,
                '0' => f.zero = !f.minus,
                '+' => f.plus = true,
                '-' => {
                    f.minus = true;
                    f.zero = false;
                }
                ' ' => f.space = true,
                _ => break,
            }
            chars.next();
        }
        let mut bad_index = false;
        if let Some(idx) = arg_index(&mut chars, bytes) {
            reordered = true;
            match idx {
                Some(i) if i < args.len() => arg_num = i,
                _ => bad_index = true,
            }
        }
        // Width.
        let mut bad_width = false;
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            match args.get(arg_num).and_then(Value::as_i64) {
                Some(w) if w.unsigned_abs() as usize <= MAX_WIDTH => {
                    if w < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.wid = Some(w.unsigned_abs() as usize);
                }
                _ => bad_width = true,
            }
            arg_num += 1;
        } else {
            let mut n = 0usize;
            let mut any = false;
            while let Some(&(_, c)) = chars.peek() {
                let Some(d) = c.to_digit(10) else { break };
                n = n.saturating_mul(10).saturating_add(d as usize);
                any = true;
                chars.next();
            }
            if any {
                if n > MAX_WIDTH {
                    bad_width = true;
                } else {
                    f.wid = Some(n);
                }
            }
        }
        // Precision.
        let mut bad_prec = false;
        if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            if let Some(idx) = arg_index(&mut chars, bytes) {
                reordered = true;
                match idx {
                    Some(i) if i < args.len() => arg_num = i,
                    _ => bad_index = true,
                }
            }
            if chars.peek().map(|&(_, c)| c) == Some('*') {
                chars.next();
                match args.get(arg_num).and_then(Value::as_i64) {
                    Some(p) if p >= 0 && p as usize <= MAX_WIDTH => f.prec = Some(p as usize),
                    Some(p) if p < 0 => f.prec = None,
                    _ => bad_prec = true,
                }
                arg_num += 1;
            } else {
                let mut n = 0usize;
                while let Some(&(_, c)) = chars.peek() {
                    let Some(d) = c.to_digit(10) else { break };
                    n = n.saturating_mul(10).saturating_add(d as usize);
                    chars.next();
                }
                if n > MAX_WIDTH {
                    bad_prec = true;
                } else {
                    f.prec = Some(n);
                }
            }
        }
        if let Some(idx) = arg_index(&mut chars, bytes) {
            reordered = true;
            match idx {
                Some(i) if i < args.len() => arg_num = i,
                _ => bad_index = true,
            }
        }
        if bad_width {
            out.push_str("%!(BADWIDTH)");
        }
        if bad_prec {
            out.push_str("%!(BADPREC)");
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if bad_index {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(BADINDEX)");
            continue;
        }
        match args.get(arg_num) {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(a) => {
                format_value(&mut out, a, verb, &f, 0);
                arg_num += 1;
            }
        }
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if a.is_null() {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(a));
                out.push('=');
                format_value(&mut out, a, 'v', &Flags::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

/// `encoding/json` string escaping; `escape_html` mirrors `Encoder.SetEscapeHTML`.
fn json_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Compact JSON as Go's encoder writes it. `sort_top` sorts the outermost object's keys, which
/// is what docker's formatter rows look like (they are marshalled from a Go map).
pub(crate) fn go_json(v: &Value, escape_html: bool, sort_top: bool) -> String {
    let mut out = String::new();
    write_json(&mut out, v, escape_html, sort_top);
    out
}

fn write_json(out: &mut String, v: &Value, escape_html: bool, sort: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.push_str(&n.to_string());
            } else {
                out.push_str(&json_float(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => json_string(out, s, escape_html),
        Value::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, it, escape_html, false);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let entries: Vec<(&String, &Value)> = if sort { sorted_entries(m) } else { m.iter().collect() };
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k, escape_html);
                out.push(':');
                write_json(out, val, escape_html, false);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(x: f64) -> Value {
        json!(x)
    }

    #[test]
    fn float_formats_match_go() {
        // (value, verb, prec, Go's strconv.FormatFloat output)
        let cases: &[(f64, char, i32, &str)] = &[
            (4.261301, 'g', 3, "4.26"),
            (1.0, 'g', 3, "1"),
            (0.0, 'g', 3, "0"),
            (999.9, 'g', 3, "1e+03"),
            (999.4, 'g', 3, "999"),
            (100.0, 'g', 3, "100"),
            (10.0, 'g', 3, "10"),
            (12.5, 'g', 3, "12.5"),
            (0.125, 'g', 2, "0.12"),
            (1.024, 'g', 4, "1.024"),
            (1.048576, 'g', 4, "1.049"),
            (1048576.0, 'g', 4, "1.049e+06"),
            (10000.0, 'g', 3, "1e+04"),
            (0.0001, 'g', 3, "0.0001"),
            (0.00001234, 'g', 3, "1.23e-05"),
            (123456789.0, 'g', -1, "1.23456789e+08"),
            (100000.0, 'g', -1, "100000"),
            (1e6, 'g', -1, "1e+06"),
            (1e21, 'g', -1, "1e+21"),
            (0.0001, 'g', -1, "0.0001"),
            (0.00001, 'g', -1, "1e-05"),
            (1.5, 'g', -1, "1.5"),
            (-0.0, 'g', -1, "-0"),
            (0.1, 'g', -1, "0.1"),
            (1234.5678, 'e', 6, "1.234568e+03"),
            (0.0, 'e', 6, "0.000000e+00"),
            (1e100, 'E', 6, "1.000000E+100"),
            (15.0, 'e', 0, "2e+01"),
            (1.23456, 'f', 2, "1.23"),
            (0.25, 'f', 1, "0.2"),
            (0.5, 'f', 0, "0"),
            (1.5, 'f', 0, "2"),
            (2.5, 'f', 0, "2"),
            (1e-10, 'G', -1, "1E-10"),
            (f64::INFINITY, 'g', -1, "+Inf"),
            (f64::NEG_INFINITY, 'g', -1, "-Inf"),
            (f64::NAN, 'g', -1, "NaN"),
        ];
        for &(v, verb, prec, want) in cases {
            assert_eq!(format_float(v, verb, prec), want, "FormatFloat({v}, {verb}, {prec})");
        }
    }

    #[test]
    fn json_floats_match_encoding_json() {
        let cases: &[(f64, &str)] = &[
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.00001, "0.00001"),
            (0.0000001, "1e-7"),
            (1.5, "1.5"),
            (3.0, "3"),
            (-2.5e-9, "-2.5e-9"),
            (0.0, "0"),
        ];
        for &(v, want) in cases {
            assert_eq!(json_float(v), want, "json({v})");
        }
    }

    #[test]
    fn sprint_matches_go() {
        let v = json!({"A": ["x", 1, null, [1, 2], {"k": "v"}], "B": true, "F": 1.5, "N": 1234567.0, "S": "s"});
        assert_eq!(sprint(&v), "map[A:[x 1 <nil> [1 2] map[k:v]] B:true F:1.5 N:1.234567e+06 S:s]");
        assert_eq!(sprint_args(&[json!("a"), json!(1), json!(2), json!("b"), json!("c"), f(3.5)]), "a1 2bc3.5");
        assert_eq!(sprintln_args(&[json!("a"), json!(1), json!("b")]), "a 1 b\n");
    }

    #[test]
    fn sprintf_matches_go() {
        // Outputs recorded from Go (docker 28's template printf).
        let arr = json!(["x", 1.0, null, [1.0, 2.0], {"k": "v"}]);
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%d|%s|%v|%q", vec![json!(42), json!("s"), f(1.5), json!("a\tb")], "42|s|1.5|\"a\\tb\""),
            ("%5.2f|%x|%X|%o|%t", vec![f(1.23456), json!(255), json!("hi"), json!(8), json!(true)], " 1.23|ff|6869|10|true"),
            ("%e|%g", vec![f(1234.5678), f(0.000012345)], "1.234568e+03|1.2345e-05"),
            ("%05s|%-5d|%+d|%08.3f", vec![json!("ab"), json!(3), json!(3), f(-1.23456)], "000ab|3    |+3|-001.235"),
            ("%U|%c|%q|% x", vec![json!(65), json!(65), json!(65), json!("hi")], "U+0041|A|'A'|68 69"),
            ("%#v", vec![json!("s")], "\"s\""),
            ("%.2s|%5.1s", vec![json!("héllo"), json!("abc")], "hé|    a"),
            ("%d %s", vec![f(1234567.0), f(1.5)], "%!d(float64=1.234567e+06) %!s(float64=1.5)"),
            ("%v", vec![arr.clone()], "[x 1 <nil> [1 2] map[k:v]]"),
            (
                "%q",
                vec![arr.clone()],
                "[\"x\" %!q(float64=1) <nil> [%!q(float64=1) %!q(float64=2)] map[\"k\":\"v\"]]",
            ),
            (
                "%#v",
                vec![arr],
                "[]interface {}{\"x\", 1, interface {}(nil), []interface {}{1, 2}, map[string]interface {}{\"k\":\"v\"}}",
            ),
            ("%d", vec![], "%!d(MISSING)"),
            ("%d", vec![json!(1), json!(2)], "1%!(EXTRA int=2)"),
            ("%d %d", vec![json!(1), json!(2), json!(3), json!("x")], "1 2%!(EXTRA int=3, string=x)"),
            ("%!", vec![], "%!!(MISSING)"),
            ("%", vec![], "%!(NOVERB)"),
            ("%z", vec![json!(1)], "%!z(int=1)"),
            ("%v|%s|%d", vec![Value::Null, Value::Null, Value::Null], "<nil>|%!s(<nil>)|%!d(<nil>)"),
            ("%6.2v|%-8v|%08v", vec![f(1.23456), json!("ab"), json!(42)], "   1.2|ab      |00000042"),
            ("%v %v %v", vec![f(-0.0), f(1e-7), json!(123456789012345678_i64)], "-0 1e-07 123456789012345678"),
            ("%T %T %T %T", vec![f(1.5), json!("s"), json!([]), Value::Null], "float64 string []interface {} <nil>"),
            ("%[2]d %[1]d", vec![json!(1), json!(2)], "2 1"),
            ("%*d|%-*d|", vec![json!(4), json!(7), json!(3), json!(1)], "   7|1  |"),
            ("100%%", vec![], "100%"),
            ("%x %X %#x %o %b", vec![json!(-255), json!(255), json!(255), json!(8), json!(5)], "-ff FF 0xff 10 101"),
            ("%.3d|%+.2e|% d", vec![json!(7), f(12345.678), json!(5)], "007|+1.23e+04| 5"),
        ];
        for (fmt, args, want) in cases {
            assert_eq!(sprintf(fmt, &args), want, "printf {fmt:?}");
        }
    }

    #[test]
    fn sprintf_never_allocates_huge_widths() {
        assert_eq!(sprintf("%99999999999d", &[json!(1)]), "%!(BADWIDTH)1");
        assert_eq!(sprintf("%.99999999999f", &[f(1.0)]), "%!(BADPREC)1.000000");
    }

    #[test]
    fn quoting_matches_strconv() {
        assert_eq!(quote("a\"b\\c\n\u{7f}\u{a0}é😀", false), "\"a\\\"b\\\\c\\n\\x7f\\u00a0é😀\"");
        assert_eq!(quote("é", true), "\"\\u00e9\"");
    }

    #[test]
    fn json_matches_go_encoder() {
        let v = json!({"b": "<a&b>", "a": [1, 1.5, null, true], "c": "\u{2028}\u{1}\t"});
        assert_eq!(go_json(&v, false, false), r#"{"b":"<a&b>","a":[1,1.5,null,true],"c":"\u2028\u0001\t"}"#);
        assert_eq!(
            go_json(&v, true, true),
            r#"{"a":[1,1.5,null,true],"b":"\u003ca\u0026b\u003e","c":"\u2028\u0001\t"}"#
        );
    }
}
