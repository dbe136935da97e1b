//! API tests of the partner success service: each test starts the service on
//! port 0 against a fresh database (SQLite, or PostgreSQL with
//! TEST_DATABASE_URL), with the segmentation service it follows beside it
//! (and the expansion service whose revenue it reads, for the tier program
//! and the scorecards, and the health service, for the scorecards).

mod helpers;

mod attributions;
mod certifications;
mod deals;
mod partners;
mod scorecards;
mod staff;
mod tiers;
