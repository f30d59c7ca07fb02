//! [`UpstreamEvent`]: what a notification is decoded into by the policies of process
//! applications, projections and subscriptions.

use crate::domain::{AggregateEvent, DomainEvent, EventMetadata};
use crate::persistence::{Mapper, Notification, PersistenceError, Transcoder};

/// Upstream events a policy understands: how to decode a notification into one, or skip it.
///
/// Implemented for `DomainEvent<E>` of any aggregate's event enum `E`: notifications of other
/// topics are skipped. For a policy that follows events of several aggregate types, implement
/// it for an enum of yours, trying each type in turn:
///
/// ```
/// # use eventsourcing::prelude::*;
/// # #[aggregate] pub struct Cat {}
/// # #[aggregate] impl Cat { #[created] pub fn create() -> Self { Cat {} } }
/// # #[aggregate] pub struct Dog {}
/// # #[aggregate] impl Dog { #[created] pub fn create() -> Self { Dog {} } }
/// use eventsourcing::persistence::{Mapper, Notification, PersistenceError, Transcoder};
/// use eventsourcing::application::UpstreamEvent;
///
/// pub enum Pets {
///     Cat(DomainEvent<CatEvent>),
///     Dog(DomainEvent<DogEvent>),
/// }
///
/// impl UpstreamEvent for Pets {
///     fn decode<T: Transcoder>(mapper: &Mapper<T>, n: &Notification) -> Result<Option<Self>, PersistenceError> {
///         if let Some(cat) = DomainEvent::decode(mapper, n)? {
///             return Ok(Some(Pets::Cat(cat)));
///         }
///         Ok(DomainEvent::decode(mapper, n)?.map(Pets::Dog))
///     }
/// }
/// ```
pub trait UpstreamEvent: Sized + Send + 'static {
    /// The topics of the events it decodes, so that subscriptions read only those from the
    /// database; empty (the default) reads every notification and lets
    /// [`decode`](UpstreamEvent::decode) skip the others.
    fn topics() -> Vec<String> {
        Vec::new()
    }

    /// The event's causation and correlation ids, which the events a policy saves while
    /// processing it carry onward ([`EventMetadata::caused_by`]). Empty by default; an enum
    /// of several aggregates' events returns its variant's.
    fn metadata(&self) -> EventMetadata {
        EventMetadata::default()
    }

    /// The notification as an upstream event, or `None` if the policy does not handle its
    /// type. A notification of a handled type that can't be decoded is an error; one of a
    /// forgotten aggregate ([`Mapper::is_forgotten`])
    /// has nothing to decode, and `DomainEvent`'s `decode` skips it (`None`), so that
    /// followers carry on past it.
    fn decode<T: Transcoder>(
        mapper: &Mapper<T>,
        notification: &Notification,
    ) -> Result<Option<Self>, PersistenceError>;
}

impl<E: AggregateEvent> UpstreamEvent for DomainEvent<E> {
    fn topics() -> Vec<String> {
        E::topics().map(str::to_string).collect()
    }

    fn metadata(&self) -> EventMetadata {
        self.metadata
    }

    fn decode<T: Transcoder>(
        mapper: &Mapper<T>,
        notification: &Notification,
    ) -> Result<Option<Self>, PersistenceError> {
        if mapper.is_forgotten(notification) {
            tracing::debug!(
                notification_id = notification.id,
                originator_id = %notification.originator_id,
                "skipped a notification of a forgotten aggregate"
            );
            Ok(None)
        } else if E::has_topic(&notification.topic) {
            mapper.to_domain_event(notification).map(Some)
        } else {
            Ok(None)
        }
    }
}
