//! API tests of the expansion service: each test starts the service on port 0
//! against a fresh database (SQLite, or PostgreSQL with TEST_DATABASE_URL),
//! with the segmentation service it follows beside it.

mod helpers;

mod pipeline;
mod products;
mod renewals;
mod revenue;
mod subscriptions;
