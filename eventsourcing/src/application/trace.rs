//! The tracing spans of an application's operations: what they are named and which fields
//! they carry, in one place, so that the blocking and the async faces report alike.
//!
//! Spans are at `DEBUG` level: with no subscriber, or one at `INFO`, they cost a check of a
//! flag. Their fields: `application`; for a save, `events`, and the first event's
//! `originator_id` with the `first_version` and `last_version` saved; for a get, `aggregate`
//! (the type), `id`, and the `version` asked for (or `as_of`), then the `version` loaded. A
//! subscriber that records span closings (`tracing-subscriber`'s `FmtSpan::CLOSE`) gives each
//! one's duration.

use chrono::{DateTime, Utc};
use tracing::field::Empty;
use tracing::Span;
use uuid::Uuid;

use crate::persistence::StoredEvent;

/// The span of saving `stored`.
pub(crate) fn save_span(application: &str, stored: &[StoredEvent]) -> Span {
    let span = tracing::debug_span!(
        "save",
        application,
        events = stored.len(),
        originator_id = Empty,
        first_version = Empty,
        last_version = Empty,
    );
    if !span.is_disabled() {
        if let (Some(first), Some(last)) = (stored.first(), stored.last()) {
            span.record(
                "originator_id",
                tracing::field::display(first.originator_id),
            );
            span.record("first_version", first.originator_version);
            span.record("last_version", last.originator_version);
        }
    }
    span
}

/// The span of getting the aggregate `id` of type `aggregate`.
pub(crate) fn get_span(
    aggregate: &'static str,
    id: Uuid,
    version: Option<u64>,
    as_of: Option<DateTime<Utc>>,
) -> Span {
    tracing::debug_span!(
        "get",
        aggregate,
        %id,
        version,
        as_of = as_of.map(tracing::field::display),
        loaded_version = Empty,
    )
}

/// The span of taking a snapshot of the aggregate `id`.
pub(crate) fn snapshot_span(application: &str, aggregate: &'static str, id: Uuid) -> Span {
    tracing::debug_span!("snapshot", application, aggregate, %id, version = Empty)
}
