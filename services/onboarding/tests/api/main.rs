//! API tests of the onboarding service: each test starts the service on port
//! 0 against a fresh database (SQLite, or PostgreSQL with TEST_DATABASE_URL),
//! with the segmentation and expansion services it relies on beside it.

mod helpers;

mod plans;
mod playbooks;
mod report;
