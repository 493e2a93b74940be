//! Durations on the command line: a bare number in the flag's own unit (what
//! `--drain-seconds 10` always meant), or Go's `time.ParseDuration` form that
//! Kubernetes tools take (`10s`, `500ms`, `1m30s`, `1.5h`).

use std::time::Duration;

/// Units of Go's duration syntax, in nanoseconds; longest names first, so
/// that `ms` is not read as `m` followed by `s`.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `text` as a duration; a bare number counts in `unit`.
pub fn parse(text: &str, unit: Duration) -> Result<Duration, String> {
    let text = text.trim();
    let expected =
        "expected a number (in the flag's unit) or a duration such as 10s, 500ms or 1m30s";
    if text.is_empty() {
        return Err(format!("empty value; {expected}"));
    }
    if let Some(nanos) = decimal_nanos(text, unit.as_nanos()) {
        return nanos_to_duration(nanos, text);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: a number without a unit; {expected}"))?;
        let (number, after) = rest.split_at(split);
        let (name, scale) = UNITS
            .iter()
            .filter(|(name, _)| after.starts_with(name))
            .max_by_key(|(name, _)| name.len())
            .ok_or_else(|| {
                format!("{text:?}: unknown unit; {expected} (units: h, m, s, ms, us, ns)")
            })?;
        let part = decimal_nanos(number, *scale)
            .ok_or_else(|| format!("{text:?}: {number:?} is not a number; {expected}"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("{text:?} is too long"))?;
        rest = &after[name.len()..];
    }
    nanos_to_duration(total, text)
}

/// `number` (digits with at most one `.`) times `scale` nanoseconds; a
/// fraction below one nanosecond is dropped, as Go does.
fn decimal_nanos(number: &str, scale: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(scale)?;
    let mut place = scale;
    for digit in fraction.bytes().take(30) {
        place /= 10;
        nanos = nanos.checked_add(u128::from(digit - b'0') * place)?;
    }
    Some(nanos)
}

fn nanos_to_duration(nanos: u128, text: &str) -> Result<Duration, String> {
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| format!("{text:?} is too long"))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// clap value parser: a bare number in seconds, or a Go duration.
pub fn seconds(text: &str) -> Result<Duration, String> {
    parse(text, Duration::from_secs(1))
}

/// clap value parser: a bare number in milliseconds, or a Go duration.
pub fn millis(text: &str) -> Result<Duration, String> {
    parse(text, Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_keep_the_flags_unit() {
        assert_eq!(seconds("10"), Ok(Duration::from_secs(10)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert_eq!(millis("2000"), Ok(Duration::from_secs(2)));
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn go_durations() {
        assert_eq!(seconds("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(millis("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(seconds("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(seconds("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(seconds("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(millis("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(millis("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(millis("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(seconds("1h2m3s4ms"), Ok(Duration::new(3723, 4_000_000)));
        assert_eq!(seconds(".5s"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn refusals_say_what_is_expected() {
        for bad in ["", "s", "10x", "1m30", "-5s", "1..5s", "ten", "5 s", "."] {
            let err = seconds(bad).expect_err(bad);
            assert!(err.contains("10s, 500ms or 1m30s"), "{bad:?}: {err}");
        }
        assert!(seconds("99999999999999999999999h").is_err());
    }
}
