//! `--chmod` values: octal (`0755`) or symbolic (`u+rwx,go-w,a+X`), as COPY/ADD take
//! them since Dockerfile 1.14. Symbolic modes change each file's own mode, so the
//! result depends on the file (and on whether it is a directory, for `X`).

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One comma-separated clause: who, then operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Bits of u (0o4700), g (0o2070), o (0o1007) the clause applies to.
    who: u32,
    ops: Vec<(char, String)>,
}

impl Chmod {
    pub fn parse(s: &str) -> Result<Chmod, String> {
        let bad = || {
            format!("invalid chmod parameter: '{s}'. it should be octal string and between 0 and 07777, or a symbolic mode like u+rwx,go-w")
        };
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777).map(Chmod::Octal).ok_or_else(bad);
        }
        let mut clauses = Vec::new();
        for part in s.split(',') {
            let split = part.find(['+', '-', '=']).ok_or_else(bad)?;
            let (who_s, rest) = part.split_at(split);
            let mut who = 0;
            for c in who_s.chars() {
                who |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => return Err(bad()),
                };
            }
            if who_s.is_empty() {
                who = 0o7777;
            }
            let mut ops = Vec::new();
            let mut chars = rest.chars().peekable();
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return Err(bad());
                }
                let mut perms = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, '+' | '-' | '=') {
                        break;
                    }
                    if !"rwxXstugo".contains(c) {
                        return Err(bad());
                    }
                    perms.push(c);
                    chars.next();
                }
                ops.push((op, perms));
            }
            clauses.push(Clause { who, ops });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The mode a file with `mode` gets (permission bits only; the type is kept).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(m) => return *m,
            Chmod::Symbolic(c) => c,
        };
        let mut m = mode & 0o7777;
        for cl in clauses {
            for (op, perms) in &cl.ops {
                let mut bits = 0;
                for p in perms.chars() {
                    bits |= match p {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        'X' if is_dir || m & 0o111 != 0 => 0o111,
                        's' => 0o6000,
                        't' => 0o1000,
                        // Copy another class's bits to every class.
                        'u' => ((m >> 6) & 7) * 0o111,
                        'g' => ((m >> 3) & 7) * 0o111,
                        'o' => (m & 7) * 0o111,
                        _ => 0,
                    };
                }
                let bits = bits & cl.who;
                match op {
                    '+' => m |= bits,
                    '-' => m &= !bits,
                    _ => m = (m & !(cl.who & 0o7777)) | bits,
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s).unwrap().apply(mode, dir)
    }

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(ap("755", 0o600, false), 0o755);
        assert_eq!(ap("0644", 0o777, true), 0o644);
        assert_eq!(ap("u+x", 0o644, false), 0o744);
        assert_eq!(ap("go-w", 0o666, false), 0o644);
        assert_eq!(ap("a=r", 0o777, false), 0o444);
        assert_eq!(ap("+x", 0o600, false), 0o711);
        assert_eq!(ap("u=rwx,g=rx,o=", 0o000, false), 0o750);
        assert_eq!(ap("a+X", 0o644, false), 0o644, "X adds execute only to dirs or executables");
        assert_eq!(ap("a+X", 0o644, true), 0o755);
        assert_eq!(ap("a+X", 0o744, false), 0o755);
        assert_eq!(ap("g=u", 0o740, false), 0o770);
        assert_eq!(ap("u+s", 0o755, false), 0o4755);
        assert_eq!(ap("+t", 0o777, true), 0o1777);
        assert_eq!(ap("u+r-w", 0o200, false), 0o400);
        for bad in ["", "8", "77777", "z+x", "u*x", "u+q", "u"] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
