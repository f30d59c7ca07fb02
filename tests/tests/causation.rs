//! Causation and correlation ids: a command's events carry the correlation id the application
//! saved them with; events a policy saves while processing an upstream event carry that
//! event's id as their causation id and its correlation id onward (or its own id, if it had
//! none); both are stored with the events (under compression, encryption and a hash chain) and
//! read back in `DomainEvent::metadata`, in memory, SQLite and PostgreSQL.

use std::sync::Arc;

use eventsourcing::domain::{event_id, EventMetadata};
use eventsourcing::persistence::{AesCipher, EventQuery};
use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System};
use eventsourcing_tests::backend_tests;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    items: u32,
}

#[aggregate(module = "orders")]
impl Order {
    #[created("Placed")]
    pub fn place(items: u32) -> Self {
        Order { items }
    }

    #[event("ItemAdded")]
    pub fn add_item(&mut self) {
        self.items += 1;
    }
}

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shipment {
    order: Uuid,
    parcels: u32,
}

#[aggregate(module = "shipments")]
impl Shipment {
    pub fn create_id(order: Uuid) -> Uuid {
        eventsourcing::domain::url_id(&format!("/shipments/{order}"))
    }

    #[created("Prepared")]
    pub fn create(order: Uuid) -> Self {
        Shipment { order, parcels: 0 }
    }

    #[event("ParcelPacked")]
    pub fn pack(&mut self) {
        self.parcels += 1;
    }
}

pub struct Orders {
    app: Application,
}

impl AsRef<Application> for Orders {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

pub struct Shipping {
    app: Application,
}

impl AsRef<Application> for Shipping {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Shipping {
    type Upstream = DomainEvent<OrderEvent>;

    fn policy(
        &self,
        event: DomainEvent<OrderEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        let order = event.originator_id;
        let mut shipment =
            processing.get_or_else(Shipment::create_id(order), || Shipment::create(order))?;
        shipment.pack();
        processing.save(&mut shipment)?;
        Ok(())
    }
}

fn metadata_of<E: AggregateEvent>(app: &Application, id: Uuid) -> Vec<EventMetadata> {
    app.events()
        .get::<E>(id, &EventQuery::new())
        .unwrap()
        .into_iter()
        .map(|event| event.metadata)
        .collect()
}

backend_tests! {
    fn a_commands_correlation_id_is_stored_and_read_back(backend) {
        let key = AesCipher::create_key(32).unwrap();
        let app = backend
            .builder("Orders")
            .cipher_key(&key)
            .zlib_compression()
            .hash_chain(true)
            .build()
            .unwrap();
        let request = Uuid::new_v4();
        let mut order = Order::place(1);
        order.add_item();
        app.save_with(&mut order, &EventMetadata::correlated(request)).unwrap();
        assert_eq!(metadata_of::<OrderEvent>(&app, order.id()), [EventMetadata::correlated(request); 2]);
        // The notification log's events, decoded, carry it too; the aggregate reads as usual.
        let notifications = app.log().select(1, 10).unwrap();
        let event = app.mapper().to_domain_event::<OrderEvent>(&notifications[1]).unwrap();
        assert_eq!(event.metadata.correlation_id, Some(request));
        assert_eq!(event.event_id(), event_id(order.id(), 2));
        assert_eq!(app.repository().get::<Order>(order.id()).unwrap().items, 2);
        assert!(app.verify_hash_chain(order.id()).unwrap().is_empty());
        // A save without metadata stores none.
        let mut order: Order = app.repository().get(order.id()).unwrap();
        order.add_item();
        app.save(&mut order).unwrap();
        assert_eq!(metadata_of::<OrderEvent>(&app, order.id())[2], EventMetadata::default());
    }

    fn a_policys_events_are_caused_by_the_upstream_event(backend) {
        let orders = Arc::new(Orders { app: backend.builder("Orders").build().unwrap() });
        let shipping = Arc::new(Shipping { app: backend.builder("Shipping").build().unwrap() });
        let runner = SingleThreadedRunner::start(System::new().pipe(&orders, &shipping)).unwrap();

        // Correlated by the command's id.
        let request = Uuid::new_v4();
        let mut order = Order::place(1);
        orders.app.save_with(&mut order, &EventMetadata::correlated(request)).unwrap();
        // Not correlated: the first event's id becomes the correlation id.
        let mut other = Order::place(2);
        orders.app.save(&mut other).unwrap();
        runner.check().unwrap();

        let shipment = Shipment::create_id(order.id());
        let caused = metadata_of::<ShipmentEvent>(&shipping.app, shipment);
        let expected = EventMetadata {
            causation_id: Some(event_id(order.id(), 1)),
            correlation_id: Some(request),
        };
        assert_eq!(caused, [expected, expected]);
        let other_shipment = Shipment::create_id(other.id());
        let first = event_id(other.id(), 1);
        assert_eq!(
            metadata_of::<ShipmentEvent>(&shipping.app, other_shipment),
            [EventMetadata { causation_id: Some(first), correlation_id: Some(first) }; 2]
        );
        runner.stop().unwrap();
    }
}
