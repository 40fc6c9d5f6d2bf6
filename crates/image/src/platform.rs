//! Platforms (`linux/amd64`, `linux/arm/v7`) as `--platform` takes them and as image
//! indexes describe their entries, normalized the way containerd's `platforms` package
//! does so that `linux/aarch64` finds an `arm64/v8` entry.

use std::fmt;

/// An operating system, CPU architecture and optional variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\": unknown operating system or architecture: invalid argument")]
pub struct PlatformError(pub String);

impl Platform {
    /// The platform this gantry runs on.
    pub fn host() -> Platform {
        Platform::new("linux", std::env::consts::ARCH, None)
    }

    /// A platform with its architecture and variant normalized.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = os.to_ascii_lowercase();
        let (architecture, variant) = normalize_arch(&architecture.to_ascii_lowercase(), variant);
        Platform { os, architecture, variant }
    }

    /// Parses `os[/arch[/variant]]` or a bare architecture (`arm64`), as docker's
    /// `--platform` does.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || PlatformError(s.to_string());
        if parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            return Err(bad());
        }
        match parts.as_slice() {
            [one] if is_known_os(one) => Ok(Platform::new(one, std::env::consts::ARCH, None)),
            [one] => Ok(Platform::new("linux", one, None)),
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    /// True when an index entry for `other` can run here: same OS and architecture,
    /// and the variant matches when either side names one beyond the default.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || other.variant.is_none() || self.variant == other.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn is_known_os(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "linux" | "windows" | "darwin" | "freebsd")
}

/// containerd's `normalizeArch`: aliases to Go's names, default variants dropped.
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let variant = variant.map(|v| v.to_ascii_lowercase());
    let (arch, variant) = match arch {
        "i386" => ("386", None),
        "x86_64" | "x86-64" | "amd64" => ("amd64", variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => ("arm64", variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm", Some("v7".to_string())),
        "armel" => ("arm", Some("v6".to_string())),
        "arm" => {
            ("arm", Some(variant.map(|v| if v.starts_with('v') { v } else { format!("v{v}") }).unwrap_or("v7".into())))
        }
        other => (other, variant),
    };
    (arch.to_string(), variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(Platform::parse("linux/amd64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/aarch64").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("linux/arm64/v8").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("linux/arm").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("linux/arm/6").unwrap().to_string(), "linux/arm/v6");
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("linux/am d64").is_err());
    }

    #[test]
    fn matching() {
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches(&Platform::new("linux", "arm", Some("v7"))));
        assert!(!v7.matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(!v7.matches(&Platform::new("linux", "arm64", None)));
        assert!(Platform::parse("linux/arm64").unwrap().matches(&Platform::new("linux", "arm64", Some("v8"))));
    }
}
