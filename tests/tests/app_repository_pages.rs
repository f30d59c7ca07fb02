//! The repository reads long histories a page at a time: aggregates with more events than a
//! page (10,000) come back whole, at any version, from every backend.

use eventsourcing::prelude::*;
use eventsourcing_tests::backend_tests;
use eventsourcing_tests::world::World;

backend_tests! {
    fn long_histories_load_whole_at_any_version(backend) {
        let app = backend.builder("Worlds").build().unwrap();
        let mut world = World::create();
        for i in 0..24_999 {
            world.make_it_so(format!("thing-{i}"));
        }
        app.save(&mut world).unwrap();
        let id = world.id();

        let loaded: World = app.repository().get(id).unwrap();
        assert_eq!(loaded.version(), 25_000);
        assert_eq!(loaded.history().len(), 24_999);
        assert_eq!(loaded.history()[24_998], "thing-24998");

        for version in [1, 9_999, 10_000, 10_001, 20_000, 20_001, 25_000, 30_000] {
            let at: World = app.repository().get_at(id, version).unwrap();
            assert_eq!(at.version(), version.min(25_000), "at {version}");
            assert_eq!(at.history().len() as u64, version.min(25_000) - 1, "at {version}");
        }
    }
}
