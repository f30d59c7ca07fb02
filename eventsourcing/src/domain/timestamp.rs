//! Event timestamps: how the next one is chosen, and how they are stored.
//!
//! Stored state written in the reference's format holds them as Python's `isoformat()` writes
//! a UTC datetime, `2021-10-08T10:00:00.123456+00:00`, inside
//! `{"_type_":"datetime_iso","_data_":...}`; the compact format as RFC 3339 text with a `Z`
//! (what chrono writes, `SecondsFormat::AutoSi`: 0, 3, 6 or 9 fraction digits). Every stored
//! event carries one, so they are written and read here without chrono's general-purpose
//! formatter and parser (which were a tenth of the time of encoding an event); anything
//! chrono's RFC 3339 parser accepts is read, and so is a datetime without an offset (as UTC).

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use serde::de;
use serde::{Deserializer, Serialize, Serializer};

/// The timestamp of an aggregate's next event: now, or just after `previous` if the clock has
/// not moved past it, so that an aggregate's timestamps strictly increase (the reference's
/// `modified_on > created_on` assertions rely on it). Whole microseconds, as Python's
/// datetimes are, so that a timestamp read back by the reference library is the same instant.
pub(crate) fn next_timestamp(previous: DateTime<Utc>) -> DateTime<Utc> {
    let now = now();
    if now > previous {
        now
    } else {
        previous + TimeDelta::microseconds(1)
    }
}

/// The current time, in whole microseconds.
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    let extra = i64::from(now.timestamp_subsec_nanos() % 1_000);
    now - TimeDelta::nanoseconds(extra)
}

/// The longest timestamp written: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+00:00`.
const MAX_LEN: usize = 35;

/// Writes `value` as `digits` decimal digits at `at`, two digits at a time.
fn put(buffer: &mut [u8; MAX_LEN], at: usize, mut value: u32, digits: usize) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                                2021222324252627282930313233343536373839\
                                4041424344454647484950515253545556575859\
                                6061626364656667686970717273747576777879\
                                8081828384858687888990919293949596979899";
    let mut end = at + digits;
    while end >= at + 2 {
        let pair = (value % 100) as usize * 2;
        buffer[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        value /= 100;
        end -= 2;
    }
    if end > at {
        buffer[at] = b'0' + (value % 10) as u8;
    }
}

/// How a timestamp's text ends.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// RFC 3339 with `Z`, 0, 3, 6 or 9 fraction digits (chrono's `AutoSi`).
    Rfc3339,
    /// Python's `isoformat()` of a UTC datetime: 0 or 6 digits (9 for nanoseconds), `+00:00`.
    Iso,
}

/// Writes `timestamp` into `buffer`; `None` for a year outside 0..=9999.
fn format(timestamp: &DateTime<Utc>, buffer: &mut [u8; MAX_LEN], style: Style) -> Option<usize> {
    // The calendar fields of the naive value: each accessor of a `DateTime` would convert it
    // again.
    let naive = timestamp.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    put(buffer, 0, year as u32, 4);
    buffer[4] = b'-';
    put(buffer, 5, date.month(), 2);
    buffer[7] = b'-';
    put(buffer, 8, date.day(), 2);
    buffer[10] = b'T';
    put(buffer, 11, time.hour(), 2);
    buffer[13] = b':';
    put(buffer, 14, time.minute(), 2);
    buffer[16] = b':';
    // A leap second is represented by nanoseconds of 1_000_000_000 and more.
    let (second, nanos) = match time.nanosecond() {
        n if n >= 1_000_000_000 => (60, n - 1_000_000_000),
        n => (time.second(), n),
    };
    put(buffer, 17, second, 2);
    let (value, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 && style == Style::Rfc3339 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut len = 19;
    if digits > 0 {
        buffer[19] = b'.';
        put(buffer, 20, value, digits);
        len = 20 + digits;
    }
    match style {
        Style::Rfc3339 => {
            buffer[len] = b'Z';
            Some(len + 1)
        }
        Style::Iso => {
            buffer[len..len + 6].copy_from_slice(b"+00:00");
            Some(len + 6)
        }
    }
}

/// Serialises `timestamp` as Python's `isoformat()` writes it
/// (`2021-10-08T10:00:00.123456+00:00`).
pub(crate) fn serialize_iso<S: Serializer>(
    timestamp: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serialize_styled(timestamp, Style::Iso, serializer)
}

/// Serialises `timestamp`'s text in `style`, formatted on the stack; a year outside
/// 0..=9999 (which Python can't hold either) as chrono writes it.
fn serialize_styled<S: Serializer>(
    timestamp: &DateTime<Utc>,
    style: Style,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; MAX_LEN];
    // The buffer holds only ASCII digits and separators.
    match format(timestamp, &mut buffer, style).map(|len| std::str::from_utf8(&buffer[..len])) {
        Some(Ok(text)) => serializer.serialize_str(text),
        _ => serializer.collect_str(
            &timestamp.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, style == Style::Rfc3339),
        ),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z`, `+00:00` or nothing (UTC), or
/// anything else RFC 3339 allows (through chrono).
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let utc = bytes
        .strip_suffix(b"Z")
        .or_else(|| bytes.strip_suffix(b"+00:00"))
        .unwrap_or(bytes);
    parse_utc(utc).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]`, a UTC time.
fn parse_utc(bytes: &[u8]) -> Option<DateTime<Utc>> {
    if bytes.len() < 19 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
        return None;
    }
    let fraction = &bytes[19..];
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let value = number(20..bytes.len())?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let time = if second == 60 {
        date.and_hms_nano_opt(hour, minute, 59, nanos + 1_000_000_000)?
    } else {
        date.and_hms_nano_opt(hour, minute, second, nanos)?
    };
    Some(time.and_utc())
}

/// Serialises a timestamp as its RFC 3339 text (the compact format, and serde's plain form).
pub(crate) fn serialize_rfc3339<S: Serializer>(
    timestamp: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serialize_styled(timestamp, Style::Rfc3339, serializer)
}

/// An event's or a snapshot's timestamp, serialising as stored state holds it: in the
/// reference's form inside [`with_reference_format`](crate::transcoding::with_reference_format),
/// else as RFC 3339 text.
pub(crate) struct StoredTimestamp<'a>(pub(crate) &'a DateTime<Utc>);

impl Serialize for StoredTimestamp<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::transcoding::serialize(self.0, serializer)
    }
}

/// A stored timestamp in either form, as a [`serde::de::DeserializeSeed`] (for the
/// deserializers that pick a timestamp out of stored state).
pub(crate) struct TimestampSeed;

impl<'de> de::DeserializeSeed<'de> for TimestampSeed {
    type Value = DateTime<Utc>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        crate::transcoding::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{SecondsFormat, TimeZone};

    use super::*;

    fn check(timestamp: DateTime<Utc>) {
        let mut buffer = [0u8; MAX_LEN];
        let len = format(&timestamp, &mut buffer, Style::Rfc3339).unwrap();
        let text = std::str::from_utf8(&buffer[..len]).unwrap();
        assert_eq!(text, timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        assert_eq!(parse(text), Some(timestamp));
    }

    #[test]
    fn next_timestamp_is_after_a_future_previous() {
        let future = Utc::now() + TimeDelta::seconds(60);
        assert!(next_timestamp(future) > future);
    }

    #[test]
    fn writes_what_chrono_writes_and_reads_it_back() {
        let base = Utc.with_ymd_and_hms(2021, 10, 8, 10, 0, 0).unwrap();
        for nanos in [0, 123_000_000, 123_456_000, 123_456_789, 1] {
            check(base + chrono::TimeDelta::nanoseconds(nanos));
        }
        check(Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap());
        check(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
        check(Utc::now());
    }

    #[test]
    fn writes_what_python_isoformat_writes() {
        let base = Utc.with_ymd_and_hms(2021, 10, 8, 10, 0, 0).unwrap();
        for (nanos, text) in [
            (0, "2021-10-08T10:00:00+00:00"),
            (180_000_000, "2021-10-08T10:00:00.180000+00:00"),
            (123_456_000, "2021-10-08T10:00:00.123456+00:00"),
            (123_456_789, "2021-10-08T10:00:00.123456789+00:00"),
        ] {
            let timestamp = base + TimeDelta::nanoseconds(nanos);
            let out = serialize_iso(&timestamp, serde_json::value::Serializer).unwrap();
            assert_eq!(out, text);
            assert_eq!(parse(text), Some(timestamp));
        }
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
        let previous = now() + TimeDelta::seconds(60);
        assert_eq!(
            next_timestamp(previous),
            previous + TimeDelta::microseconds(1)
        );
    }

    #[test]
    fn reads_other_rfc3339_forms() {
        let expected = Utc.with_ymd_and_hms(2021, 10, 8, 10, 0, 0).unwrap();
        assert_eq!(parse("2021-10-08T12:00:00+02:00"), Some(expected));
        assert_eq!(parse("2021-10-08T10:00:00.000000Z"), Some(expected));
        assert_eq!(parse("2021-10-08 10:00:00Z"), Some(expected));
        assert_eq!(parse("2021-10-08T10:00:00"), Some(expected));
        assert_eq!(parse("2021-13-08T10:00:00Z"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
