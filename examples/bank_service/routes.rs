//! The axum [`Router`] of the service: one handler per route, each turning its request into a
//! command or query of [`AsyncBankAccounts`] and its result into JSON.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use eventsourcing::domain::Aggregate;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use super::api::{
    AccountList, AccountView, AmountRequest, NotificationList, NotificationView,
    OpenAccountRequest, OverdraftLimitRequest, SectionView, TransferRequest, TransferView,
};
use super::app::AsyncBankAccounts;
use super::error::{no_route, ApiError};
use crate::bank_accounts::Decimal;

/// The service's routes (see the [module docs](super) for the table), over `accounts`.
pub fn router(accounts: Arc<AsyncBankAccounts>) -> Router {
    Router::new()
        .route("/accounts", post(open_account).get(list_accounts))
        .route("/accounts/{account_id}", get(get_account))
        .route("/accounts/{account_id}/deposits", post(deposit_funds))
        .route("/accounts/{account_id}/withdrawals", post(withdraw_funds))
        .route(
            "/accounts/{account_id}/overdraft-limit",
            put(set_overdraft_limit).post(set_overdraft_limit),
        )
        .route("/accounts/{account_id}/close", post(close_account))
        .route("/transfers", post(transfer_funds))
        .route("/notifications", get(select_notifications))
        .route("/notifications/{section_id}", get(notification_section))
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_method)
        .with_state(accounts)
}

type Accounts = State<Arc<AsyncBankAccounts>>;

/// A JSON request body, refused with an [`ApiError`] (and its JSON body) when it can't be
/// read.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// The `{account_id}` of a path: a UUID, or 400.
struct AccountId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for AccountId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        match Uuid::parse_str(&id) {
            Ok(id) => Ok(AccountId(id)),
            Err(_) => Err(ApiError::bad_request(
                "invalid_account_id",
                format!("{id:?} is not an account id: account ids are UUIDs"),
            )
            .with("account_id", id)),
        }
    }
}

/// The account as JSON, with status 200.
fn account_json(account: &crate::bank_accounts::BankAccount) -> Json<AccountView> {
    Json(AccountView::from(account))
}

/// `field`'s value, trimmed, or 422 if it is blank.
fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(
            ApiError::unprocessable("invalid_body", format!("{field} can't be empty"))
                .with("field", field),
        );
    }
    Ok(value)
}

/// `amount`, or 422 unless it is above zero.
fn positive(amount: Decimal) -> Result<Decimal, ApiError> {
    if amount <= Decimal::ZERO {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            format!("an amount must be above zero, not {amount}"),
        )
        .with("amount", amount.to_string()));
    }
    Ok(amount)
}

/// `POST /accounts`: 201, the account, and its `Location`.
async fn open_account(
    State(accounts): Accounts,
    JsonBody(request): JsonBody<OpenAccountRequest>,
) -> Result<Response, ApiError> {
    let full_name = required("full_name", &request.full_name)?;
    let email_address = required("email_address", &request.email_address)?;
    let account = accounts.open_account(full_name, email_address).await?;
    let mut response = (StatusCode::CREATED, account_json(&account)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/accounts/{}", account.id())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /accounts`.
async fn list_accounts(State(accounts): Accounts) -> Result<Json<AccountList>, ApiError> {
    let accounts = accounts.accounts().await?;
    Ok(Json(AccountList {
        accounts: accounts.into_iter().map(Into::into).collect(),
    }))
}

/// `GET /accounts/{account_id}`.
async fn get_account(
    State(accounts): Accounts,
    AccountId(id): AccountId,
) -> Result<Json<AccountView>, ApiError> {
    Ok(account_json(&accounts.get_account(id).await?))
}

/// `POST /accounts/{account_id}/deposits`.
async fn deposit_funds(
    State(accounts): Accounts,
    AccountId(id): AccountId,
    JsonBody(request): JsonBody<AmountRequest>,
) -> Result<Json<AccountView>, ApiError> {
    let amount = positive(request.amount.0)?;
    Ok(account_json(&accounts.deposit_funds(id, amount).await?))
}

/// `POST /accounts/{account_id}/withdrawals`.
async fn withdraw_funds(
    State(accounts): Accounts,
    AccountId(id): AccountId,
    JsonBody(request): JsonBody<AmountRequest>,
) -> Result<Json<AccountView>, ApiError> {
    let amount = positive(request.amount.0)?;
    Ok(account_json(&accounts.withdraw_funds(id, amount).await?))
}

/// `PUT` (or `POST`) `/accounts/{account_id}/overdraft-limit`.
async fn set_overdraft_limit(
    State(accounts): Accounts,
    AccountId(id): AccountId,
    JsonBody(request): JsonBody<OverdraftLimitRequest>,
) -> Result<Json<AccountView>, ApiError> {
    let limit = request.overdraft_limit.0;
    Ok(account_json(
        &accounts.set_overdraft_limit(id, limit).await?,
    ))
}

/// `POST /accounts/{account_id}/close`.
async fn close_account(
    State(accounts): Accounts,
    AccountId(id): AccountId,
) -> Result<Json<AccountView>, ApiError> {
    Ok(account_json(&accounts.close_account(id).await?))
}

/// `POST /transfers`.
async fn transfer_funds(
    State(accounts): Accounts,
    JsonBody(request): JsonBody<TransferRequest>,
) -> Result<Json<TransferView>, ApiError> {
    let amount = positive(request.amount.0)?;
    let (transaction_id, debit, credit) = accounts
        .transfer_funds(request.debit_account_id, request.credit_account_id, amount)
        .await?;
    Ok(Json(TransferView {
        transaction_id,
        debit_account: AccountView::from(&debit),
        credit_account: AccountView::from(&credit),
    }))
}

/// The query of `GET /notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationQuery {
    /// The first notification id (default 1).
    start: Option<u64>,
    /// How many, at most (default and maximum: the log's section size).
    limit: Option<usize>,
}

/// Whether notifications show their stored state: only if it is plain JSON.
fn with_state(accounts: &AsyncBankAccounts) -> bool {
    let mapper = accounts.app().mapper();
    !mapper.is_encrypted() && !mapper.is_compressed()
}

/// `GET /notifications?start=&limit=`.
async fn select_notifications(
    State(accounts): Accounts,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(query) = query?;
    let log = accounts.app().log();
    let start = query.start.unwrap_or(1);
    let limit = query.limit.unwrap_or(log.section_size());
    let notifications = log.select(start, limit).await?;
    let with_state = with_state(&accounts);
    Ok(Json(NotificationList {
        next_start: notifications.last().map_or(start, |last| last.id + 1),
        items: notifications
            .iter()
            .map(|notification| NotificationView::new(notification, with_state))
            .collect(),
    }))
}

/// `GET /notifications/{section_id}`, such as `/notifications/1,10`.
async fn notification_section(
    State(accounts): Accounts,
    section_id: Result<Path<String>, PathRejection>,
) -> Result<Json<SectionView>, ApiError> {
    let Path(section_id) = section_id?;
    let section = accounts.app().log().section(&section_id).await?;
    Ok(Json(SectionView::new(&section, with_state(&accounts))))
}

/// Any other path: 404.
async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    no_route(StatusCode::NOT_FOUND, method.as_str(), uri.path())
}

/// A known path with another method: 405 (axum adds the `Allow` header).
async fn unknown_method(method: Method, uri: Uri) -> ApiError {
    no_route(StatusCode::METHOD_NOT_ALLOWED, method.as_str(), uri.path())
}
