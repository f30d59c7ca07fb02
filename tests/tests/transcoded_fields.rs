//! Fields `#[aggregate]` transcodes as the reference does (UUIDs, datetimes), and fields whose
//! author already chose how they serialise, whatever other serde options come before.

use eventsourcing::prelude::*;
use serde_json::json;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    // Transcoded by #[aggregate].
    vet: Uuid,
    // Its author's choice (after another option): not transcoded a second time.
    #[serde(rename = "when", with = "eventsourcing::transcoding")]
    at: DateTime<Utc>,
    // Plain by its author's choice.
    #[serde(rename = "booked", with = "chrono::serde::ts_seconds")]
    booked_at: DateTime<Utc>,
}

#[aggregate]
impl Visit {
    #[created]
    pub fn book(vet: Uuid, at: DateTime<Utc>) -> Self {
        Visit {
            vet,
            at,
            booked_at: at,
        }
    }
}

#[test]
fn fields_with_serde_options_are_left_as_written() {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let visit = Visit::book(Uuid::nil(), at);
    let snapshot = visit.take_snapshot().unwrap();
    assert_eq!(
        snapshot.state["vet"],
        json!({"_type_": "uuid_hex", "_data_": "00000000000000000000000000000000"})
    );
    assert_eq!(
        snapshot.state["when"],
        json!({"_type_": "datetime_iso", "_data_": "2023-11-14T22:13:20+00:00"})
    );
    assert_eq!(snapshot.state["booked"], json!(1_700_000_000));
    let restored = Visit::from_snapshot(snapshot).unwrap();
    assert_eq!(
        (restored.vet, restored.at, restored.booked_at),
        (visit.vet, visit.at, visit.booked_at)
    );
}
