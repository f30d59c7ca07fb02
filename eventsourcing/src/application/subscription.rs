//! Subscriptions to an application's events: [`ApplicationSubscription`] (an iterator) and
//! [`AsyncApplicationSubscription`] (a `Stream`, feature `tokio`), which decode the recorder's
//! notifications into upstream events (such as `DomainEvent<DogEvent>`), each with the
//! tracking record of its position: the reference's `ApplicationSubscription`.

use std::marker::PhantomData;
use std::sync::Arc;

use super::error::ApplicationError;
use super::upstream::UpstreamEvent;
use crate::persistence::{
    Mapper, Notification, Subscription, SubscriptionStopper, Tracking, Transcoder,
};

/// What a subscription yields: an event and the tracking record of its notification (the
/// application's name and the notification id), to record with what processing it produces.
pub type Tracked<U> = (U, Tracking);

/// Decodes a notification of the application `name`, or skips it.
fn decode<U: UpstreamEvent, T: Transcoder>(
    mapper: &Mapper<T>,
    name: &str,
    notification: Notification,
) -> Option<Result<Tracked<U>, ApplicationError>> {
    match U::decode(mapper, &notification) {
        Ok(Some(event)) => Some(Ok((event, Tracking::new(name, notification.id)))),
        Ok(None) => None,
        Err(error) => Some(Err(error.into())),
    }
}

/// A subscription to an application's events of type `U` after a position, as an iterator:
/// the stored ones, then those committed next (blocking while it waits). Made by
/// [`Application::subscribe`](super::Application::subscribe).
///
/// Notifications of other types are read only if `U` lists no topics
/// ([`UpstreamEvent::topics`]), and skipped. A notification that can't be decoded is yielded as
/// an error, and the subscription goes on after it.
pub struct ApplicationSubscription<U, T: Transcoder> {
    subscription: Subscription,
    mapper: Arc<Mapper<T>>,
    name: String,
    marker: PhantomData<fn() -> U>,
}

impl<U, T: Transcoder> std::fmt::Debug for ApplicationSubscription<U, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationSubscription")
            .field("application", &self.name)
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

impl<U: UpstreamEvent, T: Transcoder> ApplicationSubscription<U, T> {
    pub(crate) fn new(subscription: Subscription, mapper: Arc<Mapper<T>>, name: String) -> Self {
        ApplicationSubscription {
            subscription,
            mapper,
            name,
            marker: PhantomData,
        }
    }

    /// A handle that stops this subscription from elsewhere.
    pub fn stopper(&self) -> SubscriptionStopper {
        self.subscription.stopper()
    }

    /// The id of the last notification read.
    pub fn position(&self) -> u64 {
        self.subscription.position()
    }
}

impl<U: UpstreamEvent, T: Transcoder> Iterator for ApplicationSubscription<U, T> {
    type Item = Result<Tracked<U>, ApplicationError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let notification = match self.subscription.next()? {
                Ok(notification) => notification,
                Err(error) => return Some(Err(error.into())),
            };
            if let Some(decoded) = decode(&self.mapper, &self.name, notification) {
                return Some(decoded);
            }
        }
    }
}

#[cfg(feature = "tokio")]
pub use self::stream::AsyncApplicationSubscription;

#[cfg(feature = "tokio")]
mod stream {
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use super::{decode, Tracked};
    use crate::application::{ApplicationError, UpstreamEvent};
    use crate::persistence::{AsyncSubscription, Mapper, SubscriptionStopper, Transcoder};

    /// A subscription to an application's events of type `U` after a position, as a `Stream`
    /// (feature `tokio`): the stored ones, then those committed next. Made by
    /// [`AsyncApplication::subscribe`](crate::application::AsyncApplication::subscribe).
    pub struct AsyncApplicationSubscription<U, T: Transcoder> {
        subscription: AsyncSubscription,
        mapper: Arc<Mapper<T>>,
        name: String,
        marker: PhantomData<fn() -> U>,
    }

    impl<U, T: Transcoder> std::fmt::Debug for AsyncApplicationSubscription<U, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AsyncApplicationSubscription")
                .field("application", &self.name)
                .field("subscription", &self.subscription)
                .finish_non_exhaustive()
        }
    }

    impl<U: UpstreamEvent, T: Transcoder> AsyncApplicationSubscription<U, T> {
        pub(crate) fn new(
            subscription: AsyncSubscription,
            mapper: Arc<Mapper<T>>,
            name: String,
        ) -> Self {
            AsyncApplicationSubscription {
                subscription,
                mapper,
                name,
                marker: PhantomData,
            }
        }

        /// A handle that stops this subscription from elsewhere.
        pub fn stopper(&self) -> SubscriptionStopper {
            self.subscription.stopper()
        }

        /// The id of the last notification read.
        pub fn position(&self) -> u64 {
            self.subscription.position()
        }

        /// The next event: `None` once stopped. The same as the `Stream`'s next item, without
        /// `StreamExt`.
        pub async fn next(&mut self) -> Option<Result<Tracked<U>, ApplicationError>> {
            std::future::poll_fn(|cx| Pin::new(&mut *self).poll_decoded(cx)).await
        }

        fn poll_decoded(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Tracked<U>, ApplicationError>>> {
            let this = self.get_mut();
            loop {
                let notification =
                    match futures_core::Stream::poll_next(Pin::new(&mut this.subscription), cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => return Poll::Ready(None),
                        Poll::Ready(Some(Err(error))) => {
                            return Poll::Ready(Some(Err(error.into())))
                        }
                        Poll::Ready(Some(Ok(notification))) => notification,
                    };
                if let Some(decoded) = decode(&this.mapper, &this.name, notification) {
                    return Poll::Ready(Some(decoded));
                }
            }
        }
    }

    impl<U: UpstreamEvent, T: Transcoder> futures_core::Stream for AsyncApplicationSubscription<U, T> {
        type Item = Result<Tracked<U>, ApplicationError>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.poll_decoded(cx)
        }
    }
}
