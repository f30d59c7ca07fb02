//! Event timestamps.

use chrono::{DateTime, TimeDelta, Utc};

/// The timestamp of an aggregate's next event: now, or just after `previous` if the clock has
/// not moved past it, so that an aggregate's timestamps strictly increase (the reference's
/// `modified_on > created_on` assertions rely on it).
pub(crate) fn next_timestamp(previous: DateTime<Utc>) -> DateTime<Utc> {
    let now = Utc::now();
    if now > previous {
        now
    } else {
        previous + TimeDelta::nanoseconds(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_timestamp_is_after_a_future_previous() {
        let future = Utc::now() + TimeDelta::seconds(60);
        assert!(next_timestamp(future) > future);
    }
}
