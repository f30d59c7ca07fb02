// Argument forms that are accepted: `mut` bindings, raw identifiers, composite owned types,
// `Self` (the aggregate, also in the generated event enum), inferred event names, and struct
// expressions nested in the constructor body.
use std::collections::BTreeMap;

use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    r#type: String,
    lines: BTreeMap<String, (u32, Option<String>)>,
    tags: [String; 2],
}

#[aggregate]
impl Order {
    #[created]
    pub fn create(r#type: String, mut tags: Vec<String>) -> Self {
        tags.resize(2, String::new());
        let build = |tags: [String; 2]| Self { r#type, lines: BTreeMap::new(), tags };
        build([tags[0].clone(), tags[1].clone()])
    }

    #[event]
    pub fn line_added(&mut self, sku: String, quantity: u32, note: Option<String>) {
        self.lines.insert(sku, (quantity, note));
    }

    #[event]
    pub fn merged(&mut self, other: Box<Self>, more: Vec<Self>) {
        for order in std::iter::once(*other).chain(more) {
            self.lines.extend(order.lines);
        }
    }

    #[event]
    pub fn _line_removed(&mut self, mut sku: String) {
        sku.make_ascii_uppercase();
        self.lines.remove(&sku);
    }
}

fn main() {
    let mut order = Order::create("express".into(), vec!["a".into()]);
    order.line_added("ABC".into(), 2, None);
    order._line_removed("abc".into());
    assert!(order.lines.is_empty());
    let mut other = Order::create("standard".into(), Vec::new());
    other.line_added("XYZ".into(), 1, Some("gift".into()));
    order.merged(Box::new(other.clone()), vec![other]);
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.tags, ["a".to_string(), String::new()]);
    let names: Vec<_> = order.pending_events().iter().map(|e| e.name()).collect();
    assert_eq!(names, ["Created", "LineAdded", "LineRemoved", "Merged"]);
    let copy = Order::from_events(order.collect_events()).unwrap();
    assert_eq!(copy, order);
}
