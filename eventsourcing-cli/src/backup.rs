//! The export format: JSON lines, one record per line, each with a `"type"`.
//!
//! ```text
//! {"type":"header","format":"eventsourcing-export","version":1}
//! {"type":"application","name":"worlds"}
//! {"type":"event","notification_id":1,"originator_id":"…","originator_version":1,"topic":"…","state":"<base64>"}
//! {"type":"snapshot","originator_id":"…","originator_version":3,"topic":"eventsourcing.domain:Snapshot","state":"<base64>"}
//! {"type":"tracking","application_name":"Bank","notification_id":42}
//! {"type":"end","application":"worlds","events":3,"snapshots":1,"tracking":1}
//! ```
//!
//! A header, then per application: its name, its events in notification id order, its
//! snapshots, its tracking positions, and an end record with the counts (which tells a
//! complete file from a truncated one). `state` is the stored bytes, in standard base64 with
//! padding, exactly as the store holds them (compressed and encrypted if the store is), so an
//! import writes the same bytes. `export --decoded` adds `"decoded"`, the state as JSON,
//! where it decodes, for people to read; import ignores it.

use std::io::BufRead;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use eventsourcing::persistence::{ApplicationContents, Notification, StoredEvent, Tracking};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::Failure;

/// The `format` of the header.
pub(crate) const FORMAT: &str = "eventsourcing-export";
/// The `version` of the header: this format's.
pub(crate) const VERSION: u64 = 1;

pub(crate) fn header() -> Value {
    json!({"type": "header", "format": FORMAT, "version": VERSION})
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

pub(crate) fn end(name: &str, contents: (u64, u64, u64)) -> Value {
    json!({
        "type": "end",
        "application": name,
        "events": contents.0,
        "snapshots": contents.1,
        "tracking": contents.2,
    })
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
                    header()
                )));
            }
            let version = fields.number("version")?;
            if version != VERSION {
                return Err(fields.fail(format!(
                    "an export of format version {version}, and this program reads version \
                     {VERSION}"
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
            "end" => {
                let counts = [
                    ("events", contents.events.len()),
                    ("snapshots", contents.snapshots.len()),
                    ("tracking", contents.tracking.len()),
                ];
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
        let text = lines(&[
            header(),
            application("worlds"),
            event(&n, None),
            tracking(&Tracking::new("Up", 3)),
            end("worlds", (1, 0, 1)),
        ]);
        let read = read(text.as_bytes(), |_| {}).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].0, "worlds");
        assert_eq!(read[0].1.events, [n]);
        assert_eq!(read[0].1.tracking, [Tracking::new("Up", 3)]);
    }

    #[test]
    fn cut_short_and_wrong_counts_are_errors() {
        let text = lines(&[header(), application("w")]);
        let error = read(text.as_bytes(), |_| {}).unwrap_err();
        assert!(error.to_string().contains("cut short"), "{error}");
        let text = lines(&[header(), application("w"), end("w", (1, 0, 0))]);
        let error = read(text.as_bytes(), |_| {}).unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
        let error = read(&b"{\"type\":\"event\"}\n"[..], |_| {}).unwrap_err();
        assert!(error.to_string().contains("header"), "{error}");
    }
}
