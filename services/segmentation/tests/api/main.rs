//! API tests of the segmentation service: each test starts the service on port
//! 0 against a fresh database (SQLite, or PostgreSQL with TEST_DATABASE_URL).

mod helpers;

mod accounts;
mod auth;
mod batch_upsert;
mod clients;
mod consumers;
mod coverage;
mod csms;
mod events;
mod idempotency;
mod jobs;
mod limits;
mod migrations;
mod plan;
mod relay;
mod shutdown;
mod tiers;
mod updates;
