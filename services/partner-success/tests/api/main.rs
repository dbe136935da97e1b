//! API tests of the partner success service: each test starts the service on
//! port 0 against a fresh database (SQLite, or PostgreSQL with
//! TEST_DATABASE_URL), with the segmentation service it follows beside it
//! (and the expansion service whose revenue it reads, for the tier program).

mod helpers;

mod attributions;
mod certifications;
mod deals;
mod partners;
mod staff;
mod tiers;
