//! The export format: JSON lines, one record per line, each with a `"type"`.
//!
//! ```text
//! {"type":"header","format":"eventsourcing-export","version":2}
//! {"type":"application","name":"worlds"}
//! {"type":"event","notification_id":1,"originator_id":"…","originator_version":1,"topic":"…","state":"<base64>"}
//! {"type":"snapshot","originator_id":"…","originator_version":3,"topic":"eventsourcing.domain:Snapshot","state":"<base64>"}
//! {"type":"tracking","application_name":"Bank","notification_id":42}
//! {"type":"data_key","originator_id":"…","data_key":"<base64>"}
//! {"type":"data_key","originator_id":"…","data_key":null}
//! {"type":"end","application":"worlds","events":3,"snapshots":1,"tracking":1,"data_keys":2}
//! ```
//!
//! A header, then per application: its name, its events in notification id order, its
//! snapshots, its tracking positions, its data keys (per-aggregate keys), and an end record
//! with the counts (which tells a complete file from a truncated one). `state` is the stored
//! bytes, in standard base64 with padding, exactly as the store holds them (compressed and
//! encrypted if the store is), so an import writes the same bytes. `export --decoded` adds
//! `"decoded"`, the state as JSON, where it decodes, for people to read; import ignores it.
//!
//! `data_key` records are the rows of an application's key table: each aggregate's data key
//! as stored (encrypted under the application's key, `CIPHER_KEY`), in base64, or `null` for
//! a forgotten aggregate. Format version 2 added them, and the end record's `data_keys`
//! count. An export is written as version 1 (no key records, no `data_keys` count) when no
//! application of the store has a key table, so that readers of version 1 still read it; this
//! program reads both.

use std::io::BufRead;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use eventsourcing::persistence::{
    ApplicationContents, Notification, StoredDataKey, StoredEvent, Tracking,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::Failure;

/// The `format` of the header.
pub(crate) const FORMAT: &str = "eventsourcing-export";
/// The `version` of the header: this format's (with data-key records).
pub(crate) const VERSION: u64 = 2;
/// The version of exports without data keys, which readers of version 1 read.
pub(crate) const VERSION_WITHOUT_KEYS: u64 = 1;

/// The header of an export of `version`.
pub(crate) fn header(version: u64) -> Value {
    json!({"type": "header", "format": FORMAT, "version": version})
}

pub(crate) fn application(name: &str) -> Value {
    json!({"type": "application", "name": name})
}

pub(crate) fn event(notification: &Notification, decoded: Option<Value>) -> Value {
    let mut line = json!({
        "type": "event",
        "notification_id": notification.id,
        "originator_id": notification.originator_id,
        "originator_version": notification.originator_version,
        "topic": notification.topic,
        "state": STANDARD.encode(&notification.state),
    });
    if let Some(decoded) = decoded {
        line["decoded"] = decoded;
    }
    line
}

pub(crate) fn snapshot(snapshot: &StoredEvent, decoded: Option<Value>) -> Value {
    let mut line = json!({
        "type": "snapshot",
        "originator_id": snapshot.originator_id,
        "originator_version": snapshot.originator_version,
        "topic": snapshot.topic,
        "state": STANDARD.encode(&snapshot.state),
    });
    if let Some(decoded) = decoded {
        line["decoded"] = decoded;
    }
    line
}

pub(crate) fn tracking(record: &Tracking) -> Value {
    json!({
        "type": "tracking",
        "application_name": record.application_name,
        "notification_id": record.notification_id,
    })
}

pub(crate) fn data_key(key: &StoredDataKey) -> Value {
    json!({
        "type": "data_key",
        "originator_id": key.originator_id,
        "data_key": key.wrapped.as_ref().map(|wrapped| STANDARD.encode(wrapped)),
    })
}

/// How many records of each kind an application has in an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) events: u64,
    pub(crate) snapshots: u64,
    pub(crate) tracking: u64,
    pub(crate) data_keys: u64,
}

/// The end record of an application, in an export of `version`.
pub(crate) fn end(name: &str, counts: Counts, version: u64) -> Value {
    let mut line = json!({
        "type": "end",
        "application": name,
        "events": counts.events,
        "snapshots": counts.snapshots,
        "tracking": counts.tracking,
    });
    if version >= 2 {
        line["data_keys"] = json!(counts.data_keys);
    }
    line
}

/// One line's fields, with errors that say which line and field.
struct Fields<'a> {
    line: usize,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn fail(&self, message: impl std::fmt::Display) -> Failure {
        Failure::new(format!("line {}: {message}", self.line))
    }

    fn field(&self, name: &str) -> Result<&Value, Failure> {
        self.map
            .get(name)
            .ok_or_else(|| self.fail(format!("no field {name:?}")))
    }

    fn string(&self, name: &str) -> Result<&str, Failure> {
        self.field(name)?
            .as_str()
            .ok_or_else(|| self.fail(format!("{name:?} is not a string")))
    }

    fn number(&self, name: &str) -> Result<u64, Failure> {
        self.field(name)?
            .as_u64()
            .ok_or_else(|| self.fail(format!("{name:?} is not a non-negative integer")))
    }

    fn uuid(&self, name: &str) -> Result<Uuid, Failure> {
        let text = self.string(name)?;
        Uuid::try_parse(text).map_err(|e| self.fail(format!("{name:?} is not a UUID: {e}")))
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>, Failure> {
        STANDARD
            .decode(self.string(name)?)
            .map_err(|e| self.fail(format!("{name:?} is not base64: {e}")))
    }

    /// Bytes in base64, or `null`.
    fn bytes_or_null(&self, name: &str) -> Result<Option<Vec<u8>>, Failure> {
        match self.field(name)? {
            Value::Null => Ok(None),
            _ => self.bytes(name).map(Some),
        }
    }

    fn stored(&self) -> Result<StoredEvent, Failure> {
        Ok(StoredEvent {
            originator_id: self.uuid("originator_id")?,
            originator_version: self.number("originator_version")?,
            topic: self.string("topic")?.to_string().into(),
            state: self.bytes("state")?,
        })
    }
}

/// Reads an export: every application's contents, by name, in the file's order. Anything
/// malformed, out of order, or missing (a file cut short) is an error naming the line.
pub(crate) fn read(
    input: impl BufRead,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(String, ApplicationContents)>, Failure> {
    let mut applications: Vec<(String, ApplicationContents)> = Vec::new();
    // The application being read, until its end record.
    let mut open = false;
    let mut seen_header = false;
    let mut version = VERSION;
    let mut number = 0;
    for line in input.lines() {
        number += 1;
        let line = line.map_err(|e| Failure::from(e).context(format!("line {number}")))?;
        progress(u64::try_from(line.len() + 1).unwrap_or(0));
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| Failure::new(format!("line {number}: not JSON: {e}")))?;
        let Value::Object(map) = &value else {
            return Err(Failure::new(format!("line {number}: not a JSON object")));
        };
        let fields = Fields { line: number, map };
        let kind = fields.string("type")?;
        if !seen_header {
            if kind != "header" || fields.string("format")? != FORMAT {
                return Err(fields.fail(format!(
                    "not an export of eventsourcing (the first line must be its header, \
                     {})",
                    header(VERSION)
                )));
            }
            version = fields.number("version")?;
            if !(VERSION_WITHOUT_KEYS..=VERSION).contains(&version) {
                return Err(fields.fail(format!(
                    "an export of format version {version}, and this program reads versions \
                     {VERSION_WITHOUT_KEYS} and {VERSION}"
                )));
            }
            seen_header = true;
            continue;
        }
        if kind == "application" {
            if open {
                return Err(fields.fail("an application begins before the last one ended"));
            }
            applications.push((fields.string("name")?.to_string(), Default::default()));
            open = true;
            continue;
        }
        let (name, contents) = match applications.last_mut() {
            Some(last) if open => last,
            _ => return Err(fields.fail(format!("a {kind:?} record outside an application"))),
        };
        match kind {
            "event" => {
                let id = fields.number("notification_id")?;
                if let Some(previous) = contents.events.last() {
                    if id <= previous.id {
                        return Err(fields.fail(format!(
                            "notification id {id} is not above the previous one, {}",
                            previous.id
                        )));
                    }
                }
                contents.events.push(Notification {
                    id,
                    stored: fields.stored()?,
                });
            }
            "snapshot" => contents.snapshots.push(fields.stored()?),
            "tracking" => contents.tracking.push(Tracking::new(
                fields.string("application_name")?,
                fields.number("notification_id")?,
            )),
            "data_key" if version >= 2 => contents.data_keys.push(StoredDataKey {
                originator_id: fields.uuid("originator_id")?,
                wrapped: fields.bytes_or_null("data_key")?,
            }),
            "end" => {
                let mut counts = vec![
                    ("events", contents.events.len()),
                    ("snapshots", contents.snapshots.len()),
                    ("tracking", contents.tracking.len()),
                ];
                if version >= 2 {
                    counts.push(("data_keys", contents.data_keys.len()));
                }
                for (field, read) in counts {
                    let said = fields.number(field)?;
                    if u64::try_from(read).ok() != Some(said) {
                        return Err(fields.fail(format!(
                            "the end of {name:?} counts {said} {field} records, and {read} were \
                             read"
                        )));
                    }
                }
                open = false;
            }
            other => return Err(fields.fail(format!("unknown record type {other:?}"))),
        }
    }
    if !seen_header {
        return Err(Failure::new("the export is empty (no header line)"));
    }
    if open {
        let name = applications.last().map(|(n, _)| n.as_str()).unwrap_or("");
        return Err(Failure::new(format!(
            "the export ends inside the application {name:?} (no end record): it was cut short"
        )));
    }
    Ok(applications)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(values: &[Value]) -> String {
        values.iter().map(|v| format!("{v}\n")).collect()
    }

    #[test]
    fn round_trip() {
        let n = Notification {
            id: 7,
            stored: StoredEvent {
                originator_id: Uuid::from_u128(5),
                originator_version: 1,
                topic: "a:B.C".into(),
                state: vec![0, 1, 255],
            },
        };
        let keys = [
            StoredDataKey {
                originator_id: Uuid::from_u128(5),
                wrapped: Some(vec![9, 8, 7]),
            },
            StoredDataKey {
                originator_id: Uuid::from_u128(6),
                wrapped: None,
            },
        ];
        let counts = Counts {
            events: 1,
            tracking: 1,
            data_keys: 2,
            ..Counts::default()
        };
        let text = lines(&[
            header(VERSION),
            application("worlds"),
            event(&n, None),
            tracking(&Tracking::new("Up", 3)),
            data_key(&keys[0]),
            data_key(&keys[1]),
            end("worlds", counts, VERSION),
        ]);
        let read = read(text.as_bytes(), |_| {}).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].0, "worlds");
        assert_eq!(read[0].1.events, std::slice::from_ref(&n));
        assert_eq!(read[0].1.tracking, [Tracking::new("Up", 3)]);
        assert_eq!(read[0].1.data_keys, keys);

        // Version 1: no key records, no count of them.
        let counts = Counts {
            data_keys: 0,
            ..counts
        };
        let v1 = lines(&[
            header(VERSION_WITHOUT_KEYS),
            application("worlds"),
            event(&n, None),
            tracking(&Tracking::new("Up", 3)),
            end("worlds", counts, VERSION_WITHOUT_KEYS),
        ]);
        assert!(!v1.contains("data_keys"));
        let read_v1 = super::read(v1.as_bytes(), |_| {}).unwrap();
        assert_eq!(read_v1[0].1.events, [n]);
        assert!(read_v1[0].1.data_keys.is_empty());
    }

    #[test]
    fn cut_short_and_wrong_counts_are_errors() {
        let text = lines(&[header(VERSION), application("w")]);
        let error = read(text.as_bytes(), |_| {}).unwrap_err();
        assert!(error.to_string().contains("cut short"), "{error}");
        let one_event = Counts {
            events: 1,
            ..Counts::default()
        };
        let text = lines(&[
            header(VERSION),
            application("w"),
            end("w", one_event, VERSION),
        ]);
        let error = read(text.as_bytes(), |_| {}).unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
        let error = read(&b"{\"type\":\"event\"}\n"[..], |_| {}).unwrap_err();
        assert!(error.to_string().contains("header"), "{error}");
    }
}
