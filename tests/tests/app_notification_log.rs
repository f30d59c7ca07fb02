//! The notification log (digest §2.3): sections "first,last", `next_id` only when a section is
//! full, empty sections past the end, `select(start, limit)`, the section size, and invalid
//! section ids, and `select_of` with topic filters (locally, as JSON and over HTTP).

use eventsourcing::application::{Application, ApplicationError, Section};
use eventsourcing::prelude::*;
use eventsourcing_tests::{backend_tests, Backend};

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    count: u32,
}

#[aggregate]
impl Counter {
    #[created]
    pub fn create() -> Self {
        Counter { count: 0 }
    }

    #[event("Incremented")]
    pub fn increment(&mut self) {
        self.count += 1;
    }
}

/// An application with `n` notifications: one counter created and incremented `n - 1` times,
/// saved one event at a time.
fn app_with(backend: &Backend, n: u32, section_size: Option<usize>) -> Application {
    let mut builder = backend.builder("Counters");
    if let Some(size) = section_size {
        builder = builder.section_size(size);
    }
    let app = builder.build().unwrap();
    let mut counter = Counter::create();
    app.save(&mut counter).unwrap();
    for _ in 1..n {
        counter.increment();
        app.save(&mut counter).unwrap();
    }
    app
}

fn ids(section: &Section) -> Vec<u64> {
    section.items.iter().map(|n| n.id).collect()
}

#[track_caller]
fn assert_section(section: &Section, id: Option<&str>, next_id: Option<&str>, count: usize) {
    assert_eq!(section.id.as_deref(), id, "{section:?}");
    assert_eq!(section.next_id.as_deref(), next_id, "{section:?}");
    assert_eq!(section.items.len(), count);
}

backend_tests! {
    /// An empty log: every section is empty, with no id and no next id.
    fn empty_log(backend) {
        let app = backend.builder("Counters").build().unwrap();
        assert_section(&app.log().section("1,10").unwrap(), None, None, 0);
        assert!(app.log().select(1, 10).unwrap().is_empty());
        assert_eq!(app.log().section_size(), 10);
    }

    /// 25 notifications in sections of 10: two full sections, a partial one, then nothing.
    fn sections(backend) {
        let app = app_with(backend, 25, None);
        let log = app.log();

        let section = log.section("1,10").unwrap();
        assert_section(&section, Some("1,10"), Some("11,20"), 10);
        assert_eq!(ids(&section), (1..=10).collect::<Vec<_>>());
        let section = log.section("11,20").unwrap();
        assert_section(&section, Some("11,20"), Some("21,30"), 10);
        let section = log.section("21,30").unwrap();
        assert_section(&section, Some("21,25"), None, 5);
        assert_eq!(ids(&section), (21..=25).collect::<Vec<_>>());

        // Past the end: empty.
        assert_section(&log.section("26,35").unwrap(), None, None, 0);
        assert_section(&log.section("100,109").unwrap(), None, None, 0);

        // More than a section asked for: a section's worth.
        assert_section(&log.section("1,100").unwrap(), Some("1,10"), Some("11,20"), 10);
        // Less: that many, and the next section is as long.
        assert_section(&log.section("1,3").unwrap(), Some("1,3"), Some("4,6"), 3);
        assert_section(&log.section("24,26").unwrap(), Some("24,25"), None, 2);
        // A start below 1 starts at 1.
        assert_section(&log.section("0,5").unwrap(), Some("1,5"), Some("6,10"), 5);
        assert_section(&log.section("-5,3").unwrap(), Some("1,3"), Some("4,6"), 3);
        // Last before first: nothing.
        assert_section(&log.section("10,1").unwrap(), None, None, 0);
        // Extreme numbers don't overflow.
        assert_section(&log.section("1,-9223372036854775808").unwrap(), None, None, 0);
        assert_section(
            &log.section("-9223372036854775808,9223372036854775807").unwrap(),
            Some("1,10"),
            Some("11,20"),
            10,
        );
        assert_section(&log.section("9223372036854775807,9223372036854775807").unwrap(), None, None, 0);
        // Spaces around the numbers are allowed.
        assert_section(&log.section(" 2 , 3 ").unwrap(), Some("2,3"), Some("4,5"), 2);

        // Following next_id reads every notification once, in order.
        let mut seen = Vec::new();
        let mut next = Some("1,10".to_string());
        while let Some(section_id) = next {
            let section = log.section(&section_id).unwrap();
            seen.extend(ids(&section));
            next = section.next_id;
        }
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    }

    /// `select(start, limit)`: at most `limit` from `start`; a limit above the section size is
    /// an error.
    fn select(backend) {
        let app = app_with(backend, 25, None);
        let log = app.log();
        let ids_of = |n: Vec<eventsourcing::persistence::Notification>| -> Vec<u64> {
            n.iter().map(|n| n.id).collect()
        };
        assert_eq!(ids_of(log.select(1, 10).unwrap()), (1..=10).collect::<Vec<_>>());
        assert_eq!(ids_of(log.select(5, 3).unwrap()), [5, 6, 7]);
        assert_eq!(ids_of(log.select(21, 10).unwrap()), (21..=25).collect::<Vec<_>>());
        assert!(log.select(26, 10).unwrap().is_empty());
        assert!(log.select(1, 0).unwrap().is_empty());

        let error = log.select(1, 11).unwrap_err();
        assert!(matches!(
            error,
            ApplicationError::LimitTooLarge { limit: 11, section_size: 10 }
        ));
        assert_eq!(error.to_string(), "requested limit 11 greater than section size 10");

        // The items are the stored events, with their originator and version.
        let first = &log.select(1, 1).unwrap()[0];
        assert_eq!(first.originator_version, 1);
        assert!(first.topic.ends_with("Counter.Created"), "{}", first.topic);
    }

    /// `select_of` keeps the notifications of some topics, in the log itself, through the JSON
    /// interface, over HTTP, and in the trait's default for logs that only `select`.
    fn select_of_topics(backend) {
        use std::sync::Arc;
        use eventsourcing::application::NotificationLog;
        use eventsourcing::interface::http::{HttpNotificationLog, NotificationLogServer};
        use eventsourcing::interface::NotificationLogJsonService;
        use eventsourcing::persistence::Notification;

        let app = backend.builder("Counters").build().unwrap();
        for _ in 0..4 {
            let mut counter = Counter::create();
            counter.increment();
            counter.increment();
            app.save(&mut counter).unwrap(); // ids 1 (created), 2, 3; then 4, 5, 6; ...
        }
        let log = app.log();
        let created = log.select(1, 1).unwrap()[0].topic.to_string();
        let incremented = log.select(2, 1).unwrap()[0].topic.to_string();
        let ids_of = |n: Vec<Notification>| -> Vec<u64> { n.iter().map(|n| n.id).collect() };

        /// A log that only selects: `select_of` is the trait's default.
        struct SelectOnly(eventsourcing::application::LocalNotificationLog);
        impl NotificationLog for SelectOnly {
            fn section(&self, id: &str) -> Result<Section, ApplicationError> {
                self.0.section(id)
            }
            fn select(&self, start: u64, limit: usize) -> Result<Vec<Notification>, ApplicationError> {
                self.0.select(start, limit)
            }
        }
        let server = NotificationLogServer::bind(
            "127.0.0.1:0",
            NotificationLogJsonService::new(Arc::new(log.clone())),
        )
        .unwrap();
        let remote = HttpNotificationLog::connect(&format!("http://{}", server.local_addr())).unwrap();
        let logs: [(&str, &dyn NotificationLog); 3] =
            [("local", log), ("default", &SelectOnly(log.clone())), ("http", &remote)];
        for (name, log) in logs {
            let select = |start, limit, topics: &[String]| ids_of(log.select_of(start, limit, topics).unwrap());
            assert_eq!(select(1, 10, std::slice::from_ref(&created)), [1, 4, 7, 10], "{name}");
            assert_eq!(select(2, 2, std::slice::from_ref(&created)), [4, 7], "{name}");
            assert_eq!(select(3, 3, std::slice::from_ref(&incremented)), [3, 5, 6], "{name}");
            assert_eq!(select(1, 10, &[created.clone(), incremented.clone()]), (1..=10).collect::<Vec<_>>(), "{name}");
            assert_eq!(select(11, 10, &[]), [11, 12], "{name}: no topics, no filter");
            assert!(select(1, 10, &["counters:Cow.Born, with a comma".into()]).is_empty(), "{name}");
        }
        // The notifications are whole, whichever way they came.
        assert_eq!(remote.select_of(1, 2, std::slice::from_ref(&created)).unwrap(), log.select_of(1, 2, std::slice::from_ref(&created)).unwrap());

        // The reference's parameters of get_notifications: start optional, inclusive_of_start,
        // stop.
        let get = |query: &str| -> (u16, Vec<u64>) {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
            write!(stream, "GET /notifications?{query} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            let status = response[9..12].parse().unwrap();
            let body = response.split_once("\r\n\r\n").unwrap().1;
            let ids = match serde_json::from_str::<serde_json::Value>(body).unwrap() {
                serde_json::Value::Array(items) => items.iter().map(|i| i["id"].as_u64().unwrap()).collect(),
                _ => Vec::new(),
            };
            (status, ids)
        };
        assert_eq!(get("limit=3"), (200, vec![1, 2, 3]));
        assert_eq!(get("start=&limit=2"), (200, vec![1, 2]));
        assert_eq!(get("start=4&limit=3&inclusive_of_start=false"), (200, vec![5, 6, 7]));
        assert_eq!(get("start=4&limit=3&inclusive_of_start=true"), (200, vec![4, 5, 6]));
        assert_eq!(get("start=4&limit=10&stop=6"), (200, vec![4, 5, 6]));
        let topic = eventsourcing::interface::http::percent_encode(&created);
        assert_eq!(get(&format!("limit=10&stop=7&topics={topic}")), (200, vec![1, 4, 7]));
        assert_eq!(get("start=1").0, 400, "limit is required");
        assert_eq!(get("limit=2&inclusive_of_start=maybe").0, 400);
        assert_eq!(get("limit=2&stop=-1").0, 400);
        server.stop();
    }

    /// The section size is configurable.
    fn section_size(backend) {
        let app = app_with(backend, 12, Some(5));
        let log = app.log();
        assert_eq!(log.section_size(), 5);
        assert_section(&log.section("1,10").unwrap(), Some("1,5"), Some("6,10"), 5);
        assert_section(&log.section("6,10").unwrap(), Some("6,10"), Some("11,15"), 5);
        assert_section(&log.section("11,15").unwrap(), Some("11,12"), None, 2);
        assert_eq!(log.select(1, 5).unwrap().len(), 5);
        assert!(matches!(
            log.select(1, 6),
            Err(ApplicationError::LimitTooLarge { limit: 6, section_size: 5 })
        ));

        // Another application over the same events, with bigger sections: 12 + its 1.
        let app = app_with(backend, 1, Some(100));
        assert_eq!(app.log().select(1, 100).unwrap().len(), 13);
    }

    /// Section ids that are not "first,last" are errors that quote them. (Python's
    /// `split(",")` ignores a third part; here "1,10,20" is refused.)
    fn invalid_section_ids(backend) {
        let app = app_with(backend, 3, None);
        for section_id in ["", "1", "1;10", "a,b", "1,b", "x,10", "1.5,10", ",", "1,10,20"] {
            match app.log().section(section_id) {
                Err(ApplicationError::InvalidSectionId(id)) => assert_eq!(id, section_id),
                other => panic!("{section_id:?}: expected InvalidSectionId, got {other:?}"),
            }
        }
        let error = app.log().section("1;10").unwrap_err();
        assert!(error.to_string().contains("\"1;10\""), "{error}");
        assert!(error.to_string().contains("first,last"), "{error}");
    }

    /// Events saved together get consecutive notification ids, in the order given.
    fn multi_aggregate_save_is_consecutive(backend) {
        let app = backend.builder("Counters").build().unwrap();
        let mut a = Counter::create();
        let mut b = Counter::create();
        b.increment();
        let mut c = vec![Counter::create(), Counter::create()];
        app.save((&mut a, &mut b, &mut c)).unwrap();
        let items = app.log().section("1,10").unwrap().items;
        let order: Vec<(Uuid, u64)> = items
            .iter()
            .map(|n| (n.originator_id, n.originator_version))
            .collect();
        assert_eq!(
            order,
            [(a.id(), 1), (b.id(), 1), (b.id(), 2), (c[0].id(), 1), (c[1].id(), 1)]
        );
        assert_eq!(ids(&app.log().section("1,10").unwrap()), [1, 2, 3, 4, 5]);
        // Nothing pending is a no-op.
        app.save((&mut a, &mut b)).unwrap();
        assert_eq!(app.log().recorder().max_notification_id().unwrap(), 5);
    }
}
