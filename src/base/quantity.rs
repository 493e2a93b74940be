//! Kubernetes resource quantities (`2Gi`, `2048Mi`, `2147483648`) as byte counts,
//! for hugepages capacity and the configured V2 minimum.

/// Parses a Kubernetes quantity into a whole number of bytes (fractions are
/// rounded down). Accepts binary (`Ki`..`Ei`) and decimal (`k`..`E`) suffixes,
/// a plain number, and an exponent (`2e9`).
pub fn parse_bytes(q: &str) -> Result<u64, String> {
    let q = q.trim();
    if q.is_empty() {
        return Err("empty quantity".into());
    }
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..]
                .parse()
                .map_err(|_| format!("bad exponent in {q:?}"))?;
            10f64.powi(exp)
        }
        other => return Err(format!("unknown suffix {other:?} in {q:?}")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{q:?} does not start with a number"))?;
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{q:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// Formats a byte count the way people write memory quantities (`2Gi`, `512Mi`).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let cases = [
            ("2Gi", 2u64 << 30),
            ("2048Mi", 2 << 30),
            ("2147483648", 2 << 30),
            ("0", 0),
            ("1.5Gi", 3 << 29),
            ("2G", 2_000_000_000),
            ("2e9", 2_000_000_000),
            ("1k", 1000),
        ];
        for (q, want) in cases {
            assert_eq!(parse_bytes(q), Ok(want), "{q}");
        }
        for bad in ["", "Gi", "2Gb", "-1Gi", "x"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(2 << 30), "2Gi");
        assert_eq!(format_bytes(512 << 20), "512Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
    }
}
