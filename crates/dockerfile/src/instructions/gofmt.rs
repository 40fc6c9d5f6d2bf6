//! Go's formatting and number parsing, reproduced where BuildKit's error messages
//! embed them (`%q`, `time.ParseDuration`, `strconv.ParseInt`, `strconv.ParseBool`),
//! so that our messages read exactly like docker's.

/// Go's `strconv.Quote` (what `%q` and `%#v` print for a string).
pub(crate) fn quote(s: &str) -> String {
    crate::parser::go_quote(s)
}

/// The quoting of Go's `time` package (used in `time.ParseDuration` errors): only `"`
/// and `\` are escaped; bytes of non-ASCII or control characters print as `\xNN`.
fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Go's `time.ParseDuration`, returning nanoseconds (negative allowed), with Go's
/// error messages. BuildKit parses HEALTHCHECK intervals with it.
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut v: u64 = 0;
        for b in s[..digits].bytes() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        let pre = digits > 0;
        s = &s[digits..];
        // Fraction.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            let fdigits = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for b in s[..fdigits].bytes() {
                if overflow {
                    continue;
                }
                match frac.checked_mul(10).and_then(|f| f.checked_add(u64::from(b - b'0'))).filter(|f| *f <= 1 << 63) {
                    Some(f) => {
                        frac = f;
                        scale *= 10.0;
                    }
                    None => overflow = true,
                }
            }
            post = fdigits > 0;
            s = &s[fdigits..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let ulen = s.char_indices().find(|(_, c)| *c == '.' || c.is_ascii_digit()).map(|(i, _)| i).unwrap_or(s.len());
        let u = &s[..ulen];
        if u.is_empty() {
            return Err(format!("time: missing unit in duration {}", time_quote(orig)));
        }
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {} in duration {}", time_quote(u), time_quote(orig))),
        };
        s = &s[ulen..];
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            // Go: v += uint64(float64(f) * (float64(unit) / scale)).
            v = v
                .checked_add((frac as f64 * (unit as f64 / scale)) as u64)
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        total = total.checked_add(v).filter(|t| *t <= 1 << 63).ok_or_else(invalid)?;
    }
    if neg {
        // -(1<<63) is representable.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Go's `strconv.ParseInt(s, 10, 32)`, with its error messages.
pub(crate) fn parse_int32(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {}: invalid syntax", quote(s));
    let range = || format!("strconv.ParseInt: parsing {}: value out of range", quote(s));
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        v = v.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))).ok_or_else(range)?;
        if v > 1 << 31 {
            return Err(range());
        }
    }
    let v = if neg { -v } else { v };
    if v > i64::from(i32::MAX) || v < i64::from(i32::MIN) {
        return Err(range());
    }
    Ok(v)
}

/// Go's `strconv.ParseUint(s, base, 32)` for bases 8 and 10: `None` on any error.
pub(crate) fn parse_uint32(s: &str, base: u32) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for c in s.chars() {
        let d = c.to_digit(base)?;
        v = v * u64::from(base) + u64::from(d);
        if v > u64::from(u32::MAX) {
            return None;
        }
    }
    u32::try_from(v).ok()
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(5_000_000_000));
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-1ms"), Ok(-1_000_000));
        assert_eq!(parse_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_duration("1µs"), Ok(1_000));
        assert_eq!(parse_duration("5"), Err("time: missing unit in duration \"5\"".into()));
        assert_eq!(parse_duration("5x"), Err("time: unknown unit \"x\" in duration \"5x\"".into()));
        assert_eq!(parse_duration("abc"), Err("time: invalid duration \"abc\"".into()));
        assert_eq!(parse_duration(""), Err("time: invalid duration \"\"".into()));
        assert!(parse_duration("9999999999999999999h").is_err());
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int32("3"), Ok(3));
        assert_eq!(parse_int32("-3"), Ok(-3));
        assert_eq!(parse_int32("x"), Err("strconv.ParseInt: parsing \"x\": invalid syntax".into()));
        assert_eq!(
            parse_int32("2147483648"),
            Err("strconv.ParseInt: parsing \"2147483648\": value out of range".into())
        );
        assert_eq!(parse_uint32("755", 8), Some(0o755));
        assert_eq!(parse_uint32("8", 8), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("é"), "\"é\"");
        assert_eq!(quote("\u{1}"), "\"\\x01\"");
    }
}
