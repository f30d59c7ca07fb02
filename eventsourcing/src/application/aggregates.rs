//! What [`Application::save`](super::Application::save) saves: the [`Aggregates`] trait, for one aggregate, tuples of
//! several of any types, and slices of one type.

use super::error::ApplicationError;
use super::snapshotting::AfterSave;
use crate::domain::{Aggregate, AggregateEvent, EventMetadata};
use crate::persistence::{Mapper, StoredEvent, Transcoder};

/// Aggregates that [`Application::save`](super::Application::save) can save together: `&mut A`, tuples of these (up to
/// eight), and `&mut [A]`, `&mut Vec<A>` or `Vec<&mut A>` of one type.
pub trait Aggregates {
    /// Appends the stored form of the pending events to `out`, in order.
    /// [`ApplicationError::AggregateDiscarded`] if an aggregate has events recorded after it
    /// was discarded.
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        metadata: &EventMetadata,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), ApplicationError>;

    /// After a successful save: clears the pending events, and notes in `after` the automatic
    /// snapshots that are due (the application takes them).
    fn saved<T: Transcoder>(&mut self, after: &mut AfterSave<'_, T>);
}

/// Appends the stored form of `aggregate`'s pending events to `out`.
fn push_stored<A: Aggregate, T: Transcoder>(
    aggregate: &A,
    mapper: &Mapper<T>,
    metadata: &EventMetadata,
    out: &mut Vec<StoredEvent>,
) -> Result<(), ApplicationError> {
    // A discarded aggregate takes no more events: what was recorded after its discarding
    // event is refused, and nothing of the save is stored.
    let pending = aggregate.pending_events();
    if aggregate.is_discarded()
        && pending
            .last()
            .is_some_and(|e| !e.payload.event_type().discards)
    {
        return Err(ApplicationError::AggregateDiscarded {
            id: aggregate.id(),
            version: None,
        });
    }
    out.extend(mapper.from_domain_events_with(pending, metadata)?);
    Ok(())
}

/// Clears `aggregate`'s pending events, which have been saved, and notes the snapshots due.
fn after_saved<A: Aggregate, T: Transcoder>(aggregate: &mut A, after: &mut AfterSave<'_, T>) {
    let Some(first) = aggregate
        .pending_events()
        .first()
        .map(|e| e.originator_version)
    else {
        return;
    };
    crate::domain::aggregate::clear_pending_events(aggregate);
    after.saved(aggregate, first);
}

impl<A: Aggregate> Aggregates for &mut A {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        metadata: &EventMetadata,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), ApplicationError> {
        push_stored(&**self, mapper, metadata, out)
    }

    fn saved<T: Transcoder>(&mut self, after: &mut AfterSave<'_, T>) {
        after_saved(&mut **self, after);
    }
}

impl<A: Aggregate> Aggregates for &mut [A] {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        metadata: &EventMetadata,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), ApplicationError> {
        self.iter()
            .try_for_each(|a| push_stored(a, mapper, metadata, out))
    }

    fn saved<T: Transcoder>(&mut self, after: &mut AfterSave<'_, T>) {
        self.iter_mut().for_each(|a| after_saved(a, after));
    }
}

impl<A: Aggregate> Aggregates for &mut Vec<A> {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        metadata: &EventMetadata,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), ApplicationError> {
        self.iter()
            .try_for_each(|a| push_stored(a, mapper, metadata, out))
    }

    fn saved<T: Transcoder>(&mut self, after: &mut AfterSave<'_, T>) {
        self.iter_mut().for_each(|a| after_saved(a, after));
    }
}

impl<A: Aggregate> Aggregates for Vec<&mut A> {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        metadata: &EventMetadata,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), ApplicationError> {
        self.iter()
            .try_for_each(|a| push_stored(&**a, mapper, metadata, out))
    }

    fn saved<T: Transcoder>(&mut self, after: &mut AfterSave<'_, T>) {
        self.iter_mut().for_each(|a| after_saved(&mut **a, after));
    }
}

macro_rules! tuple_aggregates {
    ($($name:ident $index:tt),+) => {
        impl<$($name: Aggregates),+> Aggregates for ($($name,)+) {
            fn stored_events<T: Transcoder>(
                &self,
                mapper: &Mapper<T>,
                metadata: &EventMetadata,
                out: &mut Vec<StoredEvent>,
            ) -> Result<(), ApplicationError> {
                $(self.$index.stored_events(mapper, metadata, out)?;)+
                Ok(())
            }

            fn saved<T: Transcoder>(&mut self, after: &mut AfterSave<'_, T>) {
                $(self.$index.saved(after);)+
            }
        }
    };
}

tuple_aggregates!(A 0);
tuple_aggregates!(A 0, B 1);
tuple_aggregates!(A 0, B 1, C 2);
tuple_aggregates!(A 0, B 1, C 2, D 3);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
