//! Forgetting a customer (crypto-shredding), with a command's correlation id.
//!
//! ```text
//! cargo run --example forgetting
//! ```
//!
//! Registers two customers in an SQLite file in the temporary directory, each under a data key
//! of its own (per-aggregate keys), forgets one, and shows what is left: the repository refuses
//! to rebuild her, the notification log keeps her events' places without their state, and the
//! other customer is as he was. Each run uses a new file and a new application key.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing::domain::EventMetadata;
use eventsourcing::persistence::AesCipher;
use eventsourcing::prelude::*;

/// A customer, whose name and email are personal data.
#[aggregate]
#[derive(Debug)]
pub struct Customer {
    name: String,
    email: String,
}

#[aggregate(module = "customers")]
impl Customer {
    /// A new customer.
    #[created("Registered")]
    pub fn register(name: String, email: String) -> Self {
        Customer { name, email }
    }

    /// The customer's new email address.
    #[event("EmailChanged")]
    pub fn change_email(&mut self, email: String) {
        self.email = email;
    }
}

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::env::temp_dir().join(format!(
        "eventsourcing-examples-forgetting-{}.db",
        std::process::id()
    ));
    let app = Application::builder("Customers")
        .sqlite(&db)
        .cipher_key(AesCipher::create_key(32)?)
        .zlib_compression()
        .per_aggregate_keys(true)
        .build()?;

    // A request's id, carried by the events of the command it asked for.
    let request = Uuid::new_v4();
    let mut alice = Customer::register("Alice".into(), "alice@example.com".into());
    alice.change_email("alice@example.org".into());
    let mut bob = Customer::register("Bob".into(), "bob@example.com".into());
    app.save_with((&mut alice, &mut bob), &EventMetadata::correlated(request))?;
    println!("registered Alice ({}) and Bob ({})", alice.id(), bob.id());

    println!("forgetting Alice: {:?}", app.forget(alice.id())?);
    match app.repository().get::<Customer>(alice.id()) {
        Err(error) => println!("getting Alice: {error}"),
        Ok(customer) => println!("getting Alice: still there?! {customer:?}"),
    }
    let bob: Customer = app.repository().get(bob.id())?;
    println!("getting Bob: {} <{}>", bob.name, bob.email);

    println!("the notification log:");
    for notification in app.log().select(1, 10)? {
        if app.mapper().is_forgotten(&notification) {
            println!(
                "  {} {} v{} {}: forgotten",
                notification.id,
                notification.originator_id,
                notification.originator_version,
                notification.topic
            );
        } else {
            let event = app
                .mapper()
                .to_domain_event::<CustomerEvent>(&notification)?;
            println!(
                "  {} {} v{} {:?} (correlation {})",
                notification.id,
                notification.originator_id,
                notification.originator_version,
                event.payload,
                event
                    .metadata
                    .correlation_id
                    .map_or("none".to_string(), |id| id.to_string())
            );
        }
    }
    drop(app);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = db.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    Ok(())
}
