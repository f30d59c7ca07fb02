//! Shared helpers of the integration tests (the tests are in `tests/tests/`).
