//! Shared helpers of the integration tests (the tests are in `tests/tests/`).

use eventsourcing::domain::{AggregateEvent, DomainEvent};
use uuid::Uuid;

/// An event as a store keeps it: its position, its topic and its state as JSON bytes (what the
/// persistence layer's mapper produces, minus compression and encryption).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The aggregate's id.
    pub originator_id: Uuid,
    /// The event's position in the aggregate's sequence.
    pub originator_version: u64,
    /// The event's topic.
    pub topic: String,
    /// The event's state, serialised as JSON.
    pub state: Vec<u8>,
}

impl StoredEvent {
    /// The event's state as a JSON value, to look at what was written.
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.state).expect("stored state is JSON")
    }
}

/// Serialises `event` with [`AggregateEvent::serialize_state`] and a JSON serializer.
pub fn store<E: AggregateEvent>(event: &DomainEvent<E>) -> StoredEvent {
    let mut state = Vec::new();
    event
        .payload
        .serialize_state(
            &event.timestamp,
            &mut serde_json::Serializer::new(&mut state),
        )
        .expect("event state serialises to JSON");
    StoredEvent {
        originator_id: event.originator_id,
        originator_version: event.originator_version,
        topic: event.topic().to_string(),
        state,
    }
}

/// Deserialises a stored event as an event of `E` with [`AggregateEvent::deserialize_state`],
/// upcasting state stored by older versions of the event.
pub fn load<E: AggregateEvent>(stored: &StoredEvent) -> Result<DomainEvent<E>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(&stored.state);
    let (timestamp, payload) = E::deserialize_state(&stored.topic, &mut deserializer)?;
    deserializer.end()?;
    Ok(DomainEvent {
        originator_id: stored.originator_id,
        originator_version: stored.originator_version,
        timestamp,
        payload,
    })
}
