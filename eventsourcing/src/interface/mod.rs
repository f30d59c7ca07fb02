//! The interface layer: an application's notification log as JSON, for followers in other
//! processes, and (feature `http`) a small HTTP endpoint and client for it.
//!
//! [`NotificationLogJsonService`] presents a log as JSON strings; [`NotificationLogJsonClient`]
//! turns such strings back into a [`NotificationLog`], given any transport that implements
//! [`NotificationLogInterface`]. The JSON is the reference library's: a section is
//! `{"id": "1,4", "next_id": null, "items": [...]}`, an item
//! `{"id": 1, "originator_id": "<32 hex digits>", "originator_version": 1, "topic": "...",
//! "state": "<base64>"}`. The state stays encrypted and compressed if the application encrypts
//! or compresses it: the follower decodes it with the leader's cipher settings.

#[cfg(feature = "http")]
pub mod http;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::application::{ApplicationError, NotificationLog, Section};
use crate::persistence::{Notification, StoredEvent};

/// A notification log presented as JSON: what a server exposes and a client calls.
pub trait NotificationLogInterface: Send + Sync {
    /// The section `section_id` ("first,last") as JSON.
    fn get_log_section(&self, section_id: &str) -> Result<String, ApplicationError>;

    /// At most `limit` notifications from `start` whose topic is one of `topics` (all of them
    /// if `topics` is empty), as a JSON array: the reference's
    /// `get_notifications(start, limit, topics=...)`.
    fn get_notifications(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<String, ApplicationError>;
}

#[derive(Serialize, Deserialize)]
struct SectionJson {
    id: Option<String>,
    next_id: Option<String>,
    items: Vec<NotificationJson>,
}

#[derive(Serialize, Deserialize)]
struct NotificationJson {
    id: u64,
    originator_id: String,
    originator_version: u64,
    topic: String,
    state: String,
}

impl From<&Notification> for NotificationJson {
    fn from(n: &Notification) -> Self {
        NotificationJson {
            id: n.id,
            originator_id: n.originator_id.simple().to_string(),
            originator_version: n.originator_version,
            topic: n.topic.to_string(),
            state: BASE64.encode(&n.state),
        }
    }
}

impl TryFrom<NotificationJson> for Notification {
    type Error = ApplicationError;

    fn try_from(n: NotificationJson) -> Result<Self, ApplicationError> {
        let originator_id = Uuid::try_parse(&n.originator_id).map_err(|e| {
            interface_error(format!("invalid originator_id {:?}", n.originator_id), e)
        })?;
        let state = BASE64
            .decode(n.state.as_bytes())
            .map_err(|e| interface_error("state is not base64", e))?;
        Ok(Notification {
            id: n.id,
            stored: StoredEvent {
                originator_id,
                originator_version: n.originator_version,
                topic: n.topic.into(),
                state,
            },
        })
    }
}

fn interface_error(
    message: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> ApplicationError {
    ApplicationError::Interface {
        message: message.into(),
        source: Some(Box::new(source)),
    }
}

/// Presents a notification log as JSON: the reference's `NotificationLogJSONService`.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::application::{Application, NotificationLog};
/// use eventsourcing::interface::{NotificationLogJsonClient, NotificationLogJsonService};
/// # use eventsourcing::prelude::*;
/// # #[aggregate] pub struct Note { text: String }
/// # #[aggregate] impl Note { #[created] pub fn create(text: String) -> Self { Note { text } } }
///
/// # fn main() -> Result<(), ApplicationError> {
/// let app = Application::new("Notes")?;
/// app.save(&mut Note::create("hello".into()))?;
///
/// let service = NotificationLogJsonService::new(Arc::new(app.log().clone()));
/// let json = service.section_json("1,10")?;
/// assert!(json.starts_with(r#"{"id":"1,1","next_id":null,"items":[{"id":1,"#));
///
/// // A client (here over the service directly; normally over HTTP) is a NotificationLog again.
/// let client = NotificationLogJsonClient::new(service);
/// let section = client.section("1,10")?;
/// assert_eq!(section.items, app.log().section("1,10")?.items);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NotificationLogJsonService {
    log: Arc<dyn NotificationLog>,
}

impl std::fmt::Debug for NotificationLogJsonService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationLogJsonService")
            .finish_non_exhaustive()
    }
}

impl NotificationLogJsonService {
    /// A service presenting `log`.
    pub fn new(log: Arc<dyn NotificationLog>) -> Self {
        NotificationLogJsonService { log }
    }

    /// The section `section_id` as JSON.
    pub fn section_json(&self, section_id: &str) -> Result<String, ApplicationError> {
        let section = self.log.section(section_id)?;
        let json = SectionJson {
            id: section.id,
            next_id: section.next_id,
            items: section.items.iter().map(NotificationJson::from).collect(),
        };
        serde_json::to_string(&json).map_err(|e| interface_error("can't encode a section", e))
    }

    /// At most `limit` notifications from `start` whose topic is one of `topics` (all of them
    /// if `topics` is empty), as a JSON array.
    pub fn notifications_json(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<String, ApplicationError> {
        self.notifications_json_until(start, limit, None, topics)
    }

    /// As [`notifications_json`](Self::notifications_json), without the notifications after
    /// id `stop` (the reference's `stop`).
    pub fn notifications_json_until(
        &self,
        start: u64,
        limit: usize,
        stop: Option<u64>,
        topics: &[String],
    ) -> Result<String, ApplicationError> {
        let mut notifications = self.log.select_of(start, limit, topics)?;
        if let Some(stop) = stop {
            notifications.retain(|n| n.id <= stop);
        }
        let json: Vec<NotificationJson> =
            notifications.iter().map(NotificationJson::from).collect();
        serde_json::to_string(&json).map_err(|e| interface_error("can't encode notifications", e))
    }
}

impl NotificationLogInterface for NotificationLogJsonService {
    fn get_log_section(&self, section_id: &str) -> Result<String, ApplicationError> {
        self.section_json(section_id)
    }

    fn get_notifications(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<String, ApplicationError> {
        self.notifications_json(start, limit, topics)
    }
}

/// A notification log read through a [`NotificationLogInterface`]: the reference's
/// `NotificationLogJSONClient`. Give it to a [`Follower`](crate::system::Follower) to follow a
/// leader in another process.
#[derive(Debug, Clone)]
pub struct NotificationLogJsonClient<I> {
    interface: I,
}

impl<I: NotificationLogInterface> NotificationLogJsonClient<I> {
    /// A client of `interface`.
    pub fn new(interface: I) -> Self {
        NotificationLogJsonClient { interface }
    }

    /// The interface.
    pub fn interface(&self) -> &I {
        &self.interface
    }
}

impl<I: NotificationLogInterface> NotificationLog for NotificationLogJsonClient<I> {
    fn section(&self, section_id: &str) -> Result<Section, ApplicationError> {
        let json = self.interface.get_log_section(section_id)?;
        let section: SectionJson =
            serde_json::from_str(&json).map_err(|e| interface_error("invalid section JSON", e))?;
        Ok(Section {
            id: section.id,
            next_id: section.next_id,
            items: section
                .items
                .into_iter()
                .map(Notification::try_from)
                .collect::<Result<_, _>>()?,
        })
    }

    fn select(&self, start: u64, limit: usize) -> Result<Vec<Notification>, ApplicationError> {
        self.select_of(start, limit, &[])
    }

    fn select_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, ApplicationError> {
        let json = self.interface.get_notifications(start, limit, topics)?;
        let items: Vec<NotificationJson> = serde_json::from_str(&json)
            .map_err(|e| interface_error("invalid notifications JSON", e))?;
        items.into_iter().map(Notification::try_from).collect()
    }
}
