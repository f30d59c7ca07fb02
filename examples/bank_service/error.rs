//! [`ApiError`]: what the service answers when a request fails, with the HTTP status each
//! failure maps to (see the module docs of [`bank_service`](super) for the table and the
//! reasons).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use eventsourcing::application::ApplicationError;
use eventsourcing::persistence::{ErrorKind, PersistenceError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::bank_accounts::BankAccountError;

/// A failed request: its status, a stable error code, a message for people, and details
/// (such as the account's id), answered as JSON:
/// `{"error": "insufficient_funds", "message": "...", "account_id": "...", ...}`.
///
/// Server-side failures (the event store unavailable or failing) answer a generic message;
/// what actually happened is logged with [`tracing`] at the error level, never sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Map<String, Value>,
}

impl ApiError {
    /// An error with this status, code and message, and no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// 400 Bad Request: the request can't be read (malformed JSON, a path or query parameter
    /// of the wrong form).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 Unprocessable Content: the request is well-formed, but its values are invalid
    /// whatever the state of the accounts (a negative amount, an empty name).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// Adds a detail to the JSON body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code: the body's `"error"`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message: the body's `"message"`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body, as a value (the response writes `"error"` and `"message"` first, then
    /// the details).
    pub fn body(&self) -> Value {
        serde_json::to_value(self.wire()).unwrap_or_else(|_| Value::from(self.code))
    }

    /// What the response serialises.
    fn wire(&self) -> Body<'_> {
        Body {
            error: self.code,
            message: &self.message,
            details: &self.details,
        }
    }

    /// 500 or 503 for a failure of the server's own, logged here with what actually happened.
    fn server(
        status: StatusCode,
        code: &'static str,
        message: &str,
        error: &dyn std::fmt::Display,
    ) -> Self {
        tracing::error!(status = status.as_u16(), %error, "bank service: request failed");
        Self::new(status, code, message)
    }
}

/// What [`ApiError::body`] serialises, in this order.
#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: &'a str,
    #[serde(flatten)]
    details: &'a Map<String, Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.wire())).into_response()
    }
}

impl From<BankAccountError> for ApiError {
    fn from(error: BankAccountError) -> Self {
        let message = error.to_string();
        match error {
            BankAccountError::AccountNotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, "account_not_found", message)
                    .with("account_id", id.to_string())
            }
            BankAccountError::AccountClosed(id) => {
                Self::new(StatusCode::CONFLICT, "account_closed", message)
                    .with("account_id", id.to_string())
            }
            BankAccountError::InsufficientFunds {
                account_id,
                balance,
                overdraft_limit,
                amount,
            } => Self::new(StatusCode::CONFLICT, "insufficient_funds", message)
                .with("account_id", account_id.to_string())
                .with("balance", balance.to_string())
                .with("overdraft_limit", overdraft_limit.to_string())
                .with("amount", amount.to_string()),
            BankAccountError::NegativeOverdraftLimit(limit) => {
                Self::unprocessable("invalid_overdraft_limit", message)
                    .with("overdraft_limit", limit.to_string())
            }
            BankAccountError::AmountOutOfRange(amount) => {
                Self::unprocessable("amount_out_of_range", message)
                    .with("amount", amount.to_string())
            }
            BankAccountError::SameAccount(id) => {
                Self::unprocessable("same_account", message).with("account_id", id.to_string())
            }
            BankAccountError::Application(error) => error.into(),
        }
    }
}

/// What a client is told of a server-side failure.
const INTERNAL: &str = "the request failed on the server";

impl From<ApplicationError> for ApiError {
    fn from(error: ApplicationError) -> Self {
        match &error {
            ApplicationError::InvalidSectionId(_) => {
                Self::bad_request("invalid_section_id", error.to_string())
            }
            ApplicationError::LimitTooLarge { section_size, .. } => {
                let section_size = *section_size;
                Self::bad_request("invalid_limit", error.to_string())
                    .with("max_limit", section_size)
            }
            _ if error.is_integrity() => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the account was changed by other requests at the same time, again and again: \
                 send the request again",
            ),
            ApplicationError::Persistence(persistence) if is_unavailable(persistence) => {
                Self::server(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the event store is unavailable: try again later",
                    &error,
                )
            }
            _ => Self::server(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                INTERNAL,
                &error,
            ),
        }
    }
}

/// Whether a persistence error is one that may pass (a lock that timed out, a connection that
/// failed): 503, where other failures are 500.
fn is_unavailable(error: &PersistenceError) -> bool {
    matches!(error.kind(), ErrorKind::Operational | ErrorKind::Interface)
}

/// A JSON body that can't be read: 400 if it isn't JSON, 415 without the JSON content type,
/// 422 if it is JSON of the wrong shape (a missing field, a number for an amount).
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection {
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ => "bad_request",
        };
        Self::new(rejection.status(), code, rejection.body_text())
    }
}

/// A path parameter that can't be read: 400.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("invalid_path", rejection.body_text())
    }
}

/// A query string that can't be read: 400.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

/// The body of an error, for a request the router doesn't know: 404, or 405 for a known path
/// with another method.
pub(super) fn no_route(status: StatusCode, method: &str, path: &str) -> ApiError {
    let (code, what) = if status == StatusCode::METHOD_NOT_ALLOWED {
        ("method_not_allowed", "this method")
    } else {
        ("not_found", "this path")
    };
    ApiError::new(
        status,
        code,
        format!("no route for {method} {path}: {what} is not served"),
    )
    .with("method", method)
    .with("path", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventsourcing::persistence::PersistenceError;
    use uuid::Uuid;

    #[test]
    fn storage_failures_do_not_leak() {
        let unavailable = ApplicationError::Persistence(PersistenceError::database(
            ErrorKind::Operational,
            "password=hunter2 refused",
        ));
        let error = ApiError::from(BankAccountError::Application(unavailable));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.body().to_string().contains("hunter2"));

        let broken = ApplicationError::Persistence(PersistenceError::database(
            ErrorKind::Data,
            "row 7 is garbage",
        ));
        let error = ApiError::from(BankAccountError::Application(broken));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.body().to_string().contains("row 7"));
    }

    #[test]
    fn conflicts_are_409() {
        let conflict = ApplicationError::Persistence(PersistenceError::Conflict {
            originator_id: Uuid::nil(),
            originator_version: 3,
        });
        let error = ApiError::from(BankAccountError::Application(conflict));
        assert_eq!(
            (error.status(), error.code()),
            (StatusCode::CONFLICT, "conflict")
        );
    }
}
