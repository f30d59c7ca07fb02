//! What a caught panic said: for runners that report a panicking policy or projection as an
//! error instead of losing it with their thread.

/// The message of a panic's payload (a `&str` or `String`), or "(no message)".
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}
