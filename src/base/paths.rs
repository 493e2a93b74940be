//! Host path handling shared by every policy: lexical normalisation and the
//! component-wise "is this path inside that mount" rule.

use std::fmt;

/// Why a string is not usable as an absolute host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The string is empty.
    Empty,
    /// The path does not start with `/`.
    Relative,
    /// The path contains a NUL byte, which no host path can hold.
    Nul,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("the path is empty"),
            PathError::Relative => f.write_str("the path is relative; it must start with /"),
            PathError::Nul => f.write_str("the path contains a NUL byte"),
        }
    }
}

/// An absolute host path after lexical normalisation: no `.` or `..`
/// components, no repeated or trailing slashes. `/` is the only path that ends
/// with a slash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(String);

impl HostPath {
    /// Normalises `raw` lexically, the way the kernel would resolve it if no
    /// component were a symlink: `..` above `/` stays at `/`.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul);
        }
        if !raw.starts_with('/') {
            return Err(PathError::Relative);
        }
        if is_normalised(raw) {
            return Ok(HostPath(raw.to_string()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        let mut out = String::with_capacity(raw.len());
        for part in &parts {
            out.push('/');
            out.push_str(part);
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(HostPath(out))
    }

    /// The normalised path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `/` itself.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// True when `self` equals `base` or lies below it, compared by whole
    /// components: `/var/lib/longhorn2` is not inside `/var/lib/longhorn`.
    pub fn is_within(&self, base: &HostPath) -> bool {
        self.is_within_normalised(&base.0)
    }

    /// [`HostPath::is_within`] for a base that is already normalised (a
    /// constant such as `/dev`), without building a `HostPath` for it.
    pub fn is_within_normalised(&self, base: &str) -> bool {
        if base == "/" {
            return true;
        }
        match self.0.strip_prefix(base) {
            Some("") => true,
            Some(rest) => rest.starts_with('/'),
            None => false,
        }
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when an absolute path is already in normal form (the common case, so
/// it is copied as it is).
fn is_normalised(raw: &str) -> bool {
    raw == "/"
        || (!raw.ends_with('/')
            && raw[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// True when `s` looks like a PCI address in the `domain:bus:device.function`
/// form Longhorn accepts for V2 block disks (`0000:05:00.0`).
pub fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 12 || b[4] != b':' || b[7] != b':' || b[10] != b'.' {
        return false;
    }
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
    hex(0..4) && hex(5..7) && hex(8..10) && (b'0'..=b'7').contains(&b[11])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPath {
        HostPath::parse(s).expect(s)
    }

    #[test]
    fn normalisation_table() {
        let cases = [
            ("/var/lib/longhorn", "/var/lib/longhorn"),
            ("/var/lib/longhorn/", "/var/lib/longhorn"),
            ("//var//lib///longhorn//", "/var/lib/longhorn"),
            ("/var/./lib/longhorn/.", "/var/lib/longhorn"),
            ("/var/lib/longhorn/../etc", "/var/lib/etc"),
            ("/var/lib/longhorn/../../../..", "/"),
            ("/..", "/"),
            ("/", "/"),
            ("///", "/"),
            ("/var/mnt/longhorn/disk-1/", "/var/mnt/longhorn/disk-1"),
        ];
        for (raw, want) in cases {
            assert_eq!(p(raw).as_str(), want, "normalising {raw:?}");
        }
    }

    #[test]
    fn bad_paths_are_named() {
        assert_eq!(HostPath::parse(""), Err(PathError::Empty));
        assert_eq!(
            HostPath::parse("var/lib/longhorn"),
            Err(PathError::Relative)
        );
        assert_eq!(HostPath::parse("./longhorn"), Err(PathError::Relative));
        assert_eq!(HostPath::parse("/var/\0x"), Err(PathError::Nul));
    }

    #[test]
    fn containment_is_by_component() {
        let mount = p("/var/lib/longhorn");
        let cases = [
            ("/var/lib/longhorn", true),
            ("/var/lib/longhorn/", true),
            ("/var/lib/longhorn/replicas", true),
            ("/var/lib/longhorn2", false),
            ("/var/lib/longhorn-data", false),
            ("/var/lib", false),
            ("/var/lib/longhorn/../longhorn2", false),
            ("/var/lib/longhorn/x/../y", true),
            ("/", false),
        ];
        for (raw, want) in cases {
            assert_eq!(p(raw).is_within(&mount), want, "{raw:?} within {mount}");
        }
        assert!(p("/anything").is_within(&p("/")));
    }

    #[test]
    fn pci_addresses() {
        assert!(is_pci_address("0000:05:00.0"));
        assert!(is_pci_address("0000:af:1f.7"));
        assert!(!is_pci_address("0000:05:00.8"));
        assert!(!is_pci_address("0000:05:00"));
        assert!(!is_pci_address("/dev/nvme0n1"));
        assert!(!is_pci_address("000g:05:00.0"));
    }
}
