//! Sizes, ages and timestamps spelled exactly as docker spells them (docker uses
//! github.com/docker/go-units and Go's `time` formatting), so scripts that parse docker's
//! output keep working against gantry.

use std::time::Duration;

use super::gofmt::format_float;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn size_and_unit(mut size: f64, base: f64, units: &[&'static str; 9]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// The SIZE column of `docker images` (go-units `HumanSizeWithPrecision(size, 3)`), including
/// its quirks such as `1e+03kB` for 999999 bytes.
pub fn human_size(bytes: f64) -> String {
    human_size_with_precision(bytes, 3)
}

/// go-units `HumanSizeWithPrecision`; docker uses precision 4 (`HumanSize`) for `system df`
/// and the shared/unique image sizes.
pub fn human_size_with_precision(bytes: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(bytes, 1000.0, &DECIMAL_UNITS);
    let precision = i32::try_from(precision).unwrap_or(i32::MAX).min(1000);
    format_float(size, 'g', precision) + unit
}

/// go-units `BytesSize` (`%.4g` with binary units), used where docker reports memory.
pub fn bytes_size(bytes: f64) -> String {
    let (size, unit) = size_and_unit(bytes, 1024.0, &BINARY_UNITS);
    format_float(size, 'g', 4) + unit
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Go's `Duration.Seconds`/`Minutes`/`Hours`: whole units plus the remainder as a fraction,
/// so the rounding at unit boundaries matches Go's.
fn go_units(nanos: i64, unit: i64) -> f64 {
    (nanos / unit) as f64 + (nanos % unit) as f64 / unit as f64
}

/// go-units `HumanDuration`, the wording docker uses for ages ("About an hour", "2 weeks").
/// Durations past Go's `time.Duration` range (~292 years) saturate like a Go duration would.
pub fn human_duration(d: Duration) -> String {
    let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    human_duration_nanos(nanos)
}

fn human_duration_nanos(nanos: i64) -> String {
    let seconds = go_units(nanos, NANOS_PER_SEC) as i64;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = go_units(nanos, 60 * NANOS_PER_SEC) as i64;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let exact_hours = go_units(nanos, 3600 * NANOS_PER_SEC);
    let hours = (exact_hours + 0.5) as i64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", exact_hours as i64 / 24 / 365)
}

/// Docker's CREATED column: `HumanDuration(now - created) + " ago"`; a creation time in the
/// future reads "Less than a second ago", as it does in docker.
pub fn time_ago(unix_secs: i64, now_secs: i64) -> String {
    let secs = now_secs.saturating_sub(unix_secs).max(0);
    human_duration_nanos(secs.saturating_mul(NANOS_PER_SEC)) + " ago"
}

/// Civil date and time of a Unix instant in UTC, computed without a calendar library so any
/// i64 input works (days-from-civil inverse, proleptic Gregorian).
fn civil_utc(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = ((rem / 3600) as u32, (rem % 3600 / 60) as u32, (rem % 60) as u32);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, h, m, s)
}

/// Go's year layout "2006": at least four digits, sign for negative years.
fn go_year(year: i64) -> String {
    if year < 0 {
        format!("-{:04}", year.unsigned_abs())
    } else {
        format!("{year:04}")
    }
}

/// Go's `time.RFC3339Nano` in UTC, the form docker uses for timestamps in JSON and inspect
/// output (fraction without trailing zeros, none at all on a whole second).
pub fn rfc3339_nano(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(NANOS_PER_SEC);
    let frac = unix_nanos.rem_euclid(NANOS_PER_SEC);
    let (y, mo, d, h, mi, s) = civil_utc(secs);
    let mut out = format!("{}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}", go_year(y));
    if frac != 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// `docker images --format '{{.CreatedAt}}'`, i.e. Go's `time.Time.String()`. Docker renders it
/// in the client's local zone; gantry always uses UTC, which is what docker prints when TZ is
/// UTC (the usual case on servers and in CI).
pub fn docker_created_at(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_utc(unix_secs);
    format!("{}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC", go_year(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: f64 = 1024.0;
    const MIB: f64 = 1024.0 * KIB;
    const GIB: f64 = 1024.0 * MIB;
    const TIB: f64 = 1024.0 * GIB;
    const PIB: f64 = 1024.0 * TIB;
    const KB: f64 = 1000.0;
    const MB: f64 = 1000.0 * KB;
    const GB: f64 = 1000.0 * MB;
    const TB: f64 = 1000.0 * GB;
    const PB: f64 = 1000.0 * TB;

    #[test]
    fn bytes_size_matches_go_units() {
        let cases: &[(f64, &str)] = &[
            (1024.0, "1KiB"),
            (1024.0 * 1024.0, "1MiB"),
            (1048576.0, "1MiB"),
            (2.0 * MIB, "2MiB"),
            (3.42 * GIB, "3.42GiB"),
            (5.372 * TIB, "5.372TiB"),
            (2.22 * PIB, "2.22PiB"),
            (KIB * KIB * KIB * KIB * KIB * PIB, "1.049e+06YiB"),
            (0.0, "0B"),
            (1023.0, "1023B"),
            (1023.99, "1024B"),
        ];
        for &(v, want) in cases {
            assert_eq!(bytes_size(v), want, "BytesSize({v})");
        }
    }

    #[test]
    fn human_size4_matches_go_units() {
        let cases: &[(f64, &str)] = &[
            (1000.0, "1kB"),
            (1024.0, "1.024kB"),
            (1000000.0, "1MB"),
            (1048576.0, "1.049MB"),
            (2.0 * MB, "2MB"),
            (3.42 * GB, "3.42GB"),
            (5.372 * TB, "5.372TB"),
            (2.22 * PB, "2.22PB"),
            (10000000000000.0 * PB, "1e+04YB"),
        ];
        for &(v, want) in cases {
            assert_eq!(human_size_with_precision(v, 4), want, "HumanSize({v})");
        }
    }

    #[test]
    fn human_size_matches_docker_images_column() {
        // Checked against Go's fmt.Sprintf("%.3g%s") (docker's printf in a template).
        let cases: &[(f64, &str)] = &[
            (0.0, "0B"),
            (1.0, "1B"),
            (999.0, "999B"),
            (1000.0, "1kB"),
            (1024.0, "1.02kB"),
            (1500.0, "1.5kB"),
            (4261301.0, "4.26MB"),
            (77812343.0, "77.8MB"),
            (123456789.0, "123MB"),
            (999499.0, "999kB"),
            (999500.0, "1e+03kB"),
            (999999.0, "1e+03kB"),
            (1_000_000.0, "1MB"),
            (5_590_000.0, "5.59MB"),
            (187_000_000.0, "187MB"),
            (1_230_000_000.0, "1.23GB"),
            (72_800_000.0, "72.8MB"),
            (12_345.0, "12.3kB"),
            (10_000.0, "10kB"),
            (100_000.0, "100kB"),
            (0.5, "0.5B"),
            (1e27, "1e+03YB"),
            (-5.0, "-5B"),
        ];
        for &(v, want) in cases {
            assert_eq!(human_size(v), want, "HumanSizeWithPrecision({v}, 3)");
        }
    }

    #[test]
    fn human_duration_matches_go_units() {
        let s = |n: u64| Duration::from_secs(n);
        let min = 60;
        let hour = 60 * min;
        let day = 24 * hour;
        let week = 7 * day;
        let month = 30 * day;
        let year = 365 * day;
        let cases: Vec<(Duration, &str)> = vec![
            (Duration::from_millis(450), "Less than a second"),
            (s(1), "1 second"),
            (s(45), "45 seconds"),
            (s(46), "46 seconds"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (s(3 * min), "3 minutes"),
            (s(35 * min), "35 minutes"),
            (s(35 * min + 40), "35 minutes"),
            (s(45 * min), "45 minutes"),
            (s(45 * min + 40), "45 minutes"),
            (s(46 * min), "46 minutes"),
            (s(59 * min), "59 minutes"),
            (s(hour), "About an hour"),
            (s(hour + 29 * min), "About an hour"),
            (s(hour + 31 * min), "2 hours"),
            (s(hour + 59 * min), "2 hours"),
            (s(3 * hour), "3 hours"),
            (s(3 * hour + 29 * min), "3 hours"),
            (s(3 * hour + 31 * min), "4 hours"),
            (s(3 * hour + 59 * min), "4 hours"),
            (s(3 * hour + 60 * min), "4 hours"),
            (s(24 * hour), "24 hours"),
            (s(day + 12 * hour), "36 hours"),
            (s(2 * day), "2 days"),
            (s(7 * day), "7 days"),
            (s(13 * day + 5 * hour), "13 days"),
            (s(2 * week), "2 weeks"),
            (s(2 * week + 4 * day), "2 weeks"),
            (s(3 * week), "3 weeks"),
            (s(4 * week), "4 weeks"),
            (s(4 * week + 3 * day), "4 weeks"),
            (s(month), "4 weeks"),
            (s(month + 2 * week), "6 weeks"),
            (s(2 * month), "2 months"),
            (s(2 * month + 2 * week), "2 months"),
            (s(3 * month), "3 months"),
            (s(3 * month + week), "3 months"),
            (s(5 * month + 2 * week), "5 months"),
            (s(13 * month), "13 months"),
            (s(23 * month), "23 months"),
            (s(24 * month), "24 months"),
            (s(24 * month + 2 * week), "2 years"),
            (s(3 * year + 2 * month), "3 years"),
            (Duration::MAX, "292 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "HumanDuration({d:?})");
        }
    }

    #[test]
    fn time_ago_is_docker_created_column() {
        let now = 1_800_000_000;
        assert_eq!(time_ago(now - 14 * 86_400, now), "2 weeks ago");
        assert_eq!(time_ago(now - 30, now), "30 seconds ago");
        assert_eq!(time_ago(now + 100, now), "Less than a second ago");
        assert_eq!(time_ago(0, 1_771_000_000), "56 years ago");
        assert_eq!(time_ago(i64::MIN, i64::MAX), "292 years ago");
    }

    #[test]
    fn rfc3339_nano_matches_go() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (1_795_355_548_123_456_789, "2026-11-22T13:52:28.123456789Z"),
            (1_795_355_548_120_000_000, "2026-11-22T13:52:28.12Z"),
            (1_795_355_548_000_000_000, "2026-11-22T13:52:28Z"),
            (1_795_355_548_000_000_001, "2026-11-22T13:52:28.000000001Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
            (i64::MIN, "1677-09-21T00:12:43.145224192Z"),
            (i64::MAX, "2262-04-11T23:47:16.854775807Z"),
        ];
        for &(n, want) in cases {
            assert_eq!(rfc3339_nano(n), want, "RFC3339Nano({n})");
        }
    }

    #[test]
    fn created_at_matches_go_time_string() {
        assert_eq!(docker_created_at(1_795_355_548), "2026-11-22 13:52:28 +0000 UTC");
        assert_eq!(docker_created_at(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(docker_created_at(-86_400 * 366), "1968-12-31 00:00:00 +0000 UTC");
        // Far outside any real timestamp: still no panic.
        let _ = docker_created_at(i64::MAX);
        let _ = docker_created_at(i64::MIN);
    }
}
