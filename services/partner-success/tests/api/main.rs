//! API tests of the partner success service: each test starts the service on
//! port 0 against a fresh database (SQLite, or PostgreSQL with
//! TEST_DATABASE_URL).

mod helpers;

mod partners;
