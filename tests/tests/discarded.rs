//! Discarding an aggregate (`#[aggregate(discardable = true)]`): its `discard()` records a
//! `Discarded` event; afterwards `get` is a typed error, saving events recorded after it is
//! refused (nothing of that save stored), and reads of its past still work.

use eventsourcing::application::ApplicationError;
use eventsourcing::prelude::*;
use eventsourcing_tests::backend_tests;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    name: String,
}

#[aggregate(module = "customers", discardable = true)]
impl Customer {
    #[created("Registered")]
    pub fn register(name: String) -> Self {
        Customer { name }
    }

    #[event("Renamed")]
    pub fn rename(&mut self, name: String) {
        self.name = name;
    }
}

backend_tests! {
    fn a_discarded_aggregate_is_refused(backend) {
        let app = backend.builder("Customers").build().unwrap();
        let mut customer = Customer::register("Ada".into());
        customer.rename("Ada L.".into());
        app.save(&mut customer).unwrap();
        assert!(!customer.is_discarded());

        customer.discard();
        assert!(customer.is_discarded());
        assert_eq!(customer.pending_events()[0].topic(), "customers:Customer.Discarded");
        app.save(&mut customer).unwrap();
        let id = customer.id();

        match app.repository().get::<Customer>(id) {
            Err(error @ ApplicationError::AggregateDiscarded { .. }) => {
                assert!(error.is_discarded());
                assert!(!error.is_not_found());
                assert!(error.to_string().contains("version 3"), "{error}");
            }
            other => panic!("expected AggregateDiscarded, got {other:?}"),
        }
        // Its past is still readable.
        let before: Customer = app.repository().get_at(id, 2).unwrap();
        assert_eq!(before.name, "Ada L.");
        assert!(!before.is_discarded());
        assert!(app.repository().get_at::<Customer>(id, 3).unwrap_err().is_discarded());

        // A command on the discarded aggregate: its save is refused, and nothing of it stored,
        // not even the other aggregate saved with it.
        let stored = app.log().select(1, 10).unwrap().len();
        customer.rename("Someone else".into());
        let mut other = Customer::register("Bob".into());
        let error = app.save((&mut other, &mut customer)).unwrap_err();
        assert!(matches!(error, ApplicationError::AggregateDiscarded { id: refused, .. } if refused == id), "{error}");
        assert_eq!(app.log().select(1, 10).unwrap().len(), stored);
        assert!(app.repository().get::<Customer>(other.id()).unwrap_err().is_not_found());
    }
}
