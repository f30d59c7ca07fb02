//! The Order example's application (examples/order.rs): a command that checks before it
//! records, on every backend.

use eventsourcing::prelude::*;
use eventsourcing_examples::order::{demo, Orders, OrdersError, StrictOrder};
use eventsourcing_tests::backend_tests;

backend_tests! {
    fn pickup_needs_confirmation(backend) {
        let orders = Orders::with_builder(backend.configure(Orders::builder())).unwrap();
        let id = orders.create_order("my order").unwrap();
        assert!(matches!(orders.pickup(id), Err(OrdersError::Order(_))));
        assert_eq!(orders.get_order(id).unwrap().version(), 1);
        orders.confirm(id).unwrap();
        orders.pickup(id).unwrap();
        let order = orders.get_order(id).unwrap();
        assert_eq!(order.version(), 3);
        assert_eq!(order.name(), "my order");
        assert!(order.picked_up_at().unwrap() > order.confirmed_at().unwrap());
    }

    fn demo_runs_twice(backend) {
        for run in 1..=2u64 {
            let orders = Orders::with_builder(backend.configure(Orders::builder())).unwrap();
            let mut out = Vec::new();
            demo(&orders, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("refused (Order is not confirmed)"), "{text}");
            assert!(text.contains(&format!("the first {} stored events", 3 * run)), "{text}");
        }
    }
}

#[test]
fn strict_order_refuses_in_the_event_method() {
    let mut order = StrictOrder::create("name".into());
    assert!(order.pickup(Utc::now()).is_err());
    assert_eq!(order.pending_events().len(), 1);
    order.confirm(Utc::now());
    order.pickup(Utc::now()).unwrap();
    let copy = StrictOrder::from_events(order.collect_events()).unwrap();
    assert_eq!(copy.picked_up_at(), order.picked_up_at());
    assert_eq!(copy.version(), 3);
}
