//! Tables the platform owns in every service's database. Each service lists
//! these migrations first in its own migrator.

use sea_orm_migration::{prelude::*, schema::*};

/// Name of the migration that scoped idempotency keys to their caller.
pub const SCOPE_IDEMPOTENCY_KEYS: &str = "m20261125_000001_scope_idempotency_keys";

/// Name of the migration that dropped the index on event ids.
pub const UNINDEXED_EVENT_IDS: &str = "m20261203_000006_unindexed_event_ids";

/// The platform's migrations, in order.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(PlatformTables),
        Box::new(ScopeIdempotencyKeys),
        Box::new(JobLeases),
        Box::new(FeedCursors),
        Box::new(ConsumerTables),
        Box::new(FastToastCompression),
        Box::new(UnindexedEventIds),
    ]
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Caller,
    RequestId,
    Method,
    Fingerprint,
    Response,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Sequence,
    EventId,
    EventType,
    SubjectId,
    Payload,
    OccurredAtUs,
}

#[derive(DeriveIden)]
enum OutboxHead {
    Table,
    Id,
    LastSequence,
}

struct PlatformTables;

impl MigrationName for PlatformTables {
    fn name(&self) -> &str {
        "m20261123_000001_platform_tables"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for PlatformTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string_len(IdempotencyKeys::RequestId, 128).primary_key())
                    .col(string_len(IdempotencyKeys::Method, 200))
                    .col(blob(IdempotencyKeys::Fingerprint))
                    .col(blob(IdempotencyKeys::Response))
                    .col(big_integer(IdempotencyKeys::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .col(big_integer(OutboxEvents::Sequence).primary_key())
                    .col(string_len(OutboxEvents::EventId, 36).unique_key())
                    .col(string_len(OutboxEvents::EventType, 200))
                    .col(string_len(OutboxEvents::SubjectId, 128))
                    .col(blob(OutboxEvents::Payload))
                    .col(big_integer(OutboxEvents::OccurredAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxHead::Table)
                    .col(integer(OutboxHead::Id).primary_key())
                    .col(big_integer(OutboxHead::LastSequence))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(OutboxHead::Table)
                    .columns([OutboxHead::Id, OutboxHead::LastSequence])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OutboxHead::Table.into_iden(),
            OutboxEvents::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Scopes idempotency keys to their caller: the primary key becomes
/// (caller, request_id). Existing records are kept with the legacy caller,
/// so retries of requests made before the upgrade still replay.
struct ScopeIdempotencyKeys;

#[derive(DeriveIden)]
enum IdempotencyKeysScoped {
    Table,
}

impl MigrationName for ScopeIdempotencyKeys {
    fn name(&self) -> &str {
        SCOPE_IDEMPOTENCY_KEYS
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for ScopeIdempotencyKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot change a primary key in place: build the new table,
        // copy, and swap.
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeysScoped::Table)
                    .col(string_len(IdempotencyKeys::Caller, 64))
                    .col(string_len(IdempotencyKeys::RequestId, 128))
                    .col(string_len(IdempotencyKeys::Method, 200))
                    .col(blob(IdempotencyKeys::Fingerprint))
                    .col(blob(IdempotencyKeys::Response))
                    .col(big_integer(IdempotencyKeys::CreatedAtMs))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::Caller)
                            .col(IdempotencyKeys::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO idempotency_keys_scoped \
                 (caller, request_id, method, fingerprint, response, created_at_ms) \
                 SELECT '', request_id, method, fingerprint, response, created_at_ms \
                 FROM idempotency_keys",
            )
            .await?;
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await?;
        manager
            .rename_table(
                Table::rename()
                    .table(IdempotencyKeysScoped::Table, IdempotencyKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Keys of different callers may now share a request_id, which the
        // old primary key cannot hold.
        Err(DbErr::Migration(
            "scoped idempotency keys cannot be unscoped".into(),
        ))
    }
}

#[derive(DeriveIden)]
enum JobLeasesTable {
    #[sea_orm(iden = "job_leases")]
    Table,
    Name,
    Holder,
    LeaseUntilMs,
    LastStartedMs,
    LastDurationMs,
    LastOutcome,
    LastError,
    RunCount,
    FailureCount,
}

/// The leases of scheduled jobs: one row per job, holding who runs it and how
/// its last run went.
struct JobLeases;

impl MigrationName for JobLeases {
    fn name(&self) -> &str {
        "m20261125_000002_job_leases"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for JobLeases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobLeasesTable::Table)
                    .col(string_len(JobLeasesTable::Name, 100).primary_key())
                    .col(string_len(JobLeasesTable::Holder, 200))
                    .col(big_integer(JobLeasesTable::LeaseUntilMs))
                    .col(big_integer(JobLeasesTable::LastStartedMs))
                    .col(big_integer(JobLeasesTable::LastDurationMs))
                    .col(string_len(JobLeasesTable::LastOutcome, 40))
                    .col(text(JobLeasesTable::LastError))
                    .col(big_integer(JobLeasesTable::RunCount))
                    .col(big_integer(JobLeasesTable::FailureCount))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobLeasesTable::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum FeedCursorsTable {
    #[sea_orm(iden = "feed_cursors")]
    Table,
    Name,
    Position,
}

/// How far each reader of an event log got (the NATS relay of the service's
/// own log, consumers of other services' logs): its last sequence processed.
struct FeedCursors;

impl MigrationName for FeedCursors {
    fn name(&self) -> &str {
        "m20261125_000003_feed_cursors"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for FeedCursors {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FeedCursorsTable::Table)
                    .col(string_len(FeedCursorsTable::Name, 100).primary_key())
                    .col(big_integer(FeedCursorsTable::Position))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeedCursorsTable::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsumedEvents {
    Table,
    Consumer,
    EventId,
    ConsumedAtMs,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Consumer,
    EventId,
    Source,
    Sequence,
    EventType,
    Event,
    Error,
    Attempts,
    ParkedAtMs,
}

/// What consumers of other services' events keep: the ids of the events they
/// applied (to ignore duplicates) and the events they parked.
struct ConsumerTables;

impl MigrationName for ConsumerTables {
    fn name(&self) -> &str {
        "m20261125_000004_consumer_tables"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for ConsumerTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsumedEvents::Table)
                    .col(string_len(ConsumedEvents::Consumer, 100))
                    .col(string_len(ConsumedEvents::EventId, 36))
                    .col(big_integer(ConsumedEvents::ConsumedAtMs))
                    .primary_key(
                        Index::create()
                            .col(ConsumedEvents::Consumer)
                            .col(ConsumedEvents::EventId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .col(string_len(DeadLetters::Consumer, 100))
                    .col(string_len(DeadLetters::EventId, 36))
                    .col(string_len(DeadLetters::Source, 100))
                    .col(big_integer(DeadLetters::Sequence))
                    .col(string_len(DeadLetters::EventType, 200))
                    .col(blob(DeadLetters::Event))
                    .col(text(DeadLetters::Error))
                    .col(integer(DeadLetters::Attempts))
                    .col(big_integer(DeadLetters::ParkedAtMs))
                    .primary_key(
                        Index::create()
                            .col(DeadLetters::Consumer)
                            .col(DeadLetters::EventId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeadLetters::Table.into_iden(),
            ConsumedEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Stored responses of batch calls run to hundreds of kilobytes, which
/// PostgreSQL compresses when it moves them out of line. Its default codec,
/// pglz, was 8% of the database's CPU on the bulk write path; lz4 does the
/// same job several times faster. A server built without lz4 keeps pglz.
struct FastToastCompression;

impl MigrationName for FastToastCompression {
    fn name(&self) -> &str {
        "m20261125_000005_fast_toast_compression"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for FastToastCompression {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DO $$ BEGIN \
                   ALTER TABLE idempotency_keys ALTER COLUMN response SET COMPRESSION lz4; \
                 EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL; \
                 END $$",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE idempotency_keys ALTER COLUMN response SET COMPRESSION pglz",
            )
            .await
            .map(|_| ())
    }
}

/// Nothing looks an event up by its id: readers page the log by sequence and
/// consumers remember the ids they took in their own tables. The unique index
/// on `event_id` was only a cost, one more B-tree entry (about 100 bytes of
/// WAL) for every event written. Ids stay unique without it: each is a UUIDv7
/// the outbox makes as it appends.
struct UnindexedEventIds;

impl MigrationName for UnindexedEventIds {
    fn name(&self) -> &str {
        UNINDEXED_EVENT_IDS
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for UnindexedEventIds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            return manager
                .get_connection()
                // A constraint as first made, a plain index after a downgrade.
                .execute_unprepared(
                    "ALTER TABLE outbox_events DROP CONSTRAINT IF EXISTS outbox_events_event_id_key; \
                     DROP INDEX IF EXISTS outbox_events_event_id_key",
                )
                .await
                .map(|_| ());
        }
        // SQLite cannot drop a column's UNIQUE.
        rebuild_table(
            manager,
            "outbox_events",
            Table::create()
                .col(big_integer(OutboxEvents::Sequence).primary_key())
                .col(string_len(OutboxEvents::EventId, 36))
                .col(string_len(OutboxEvents::EventType, 200))
                .col(string_len(OutboxEvents::SubjectId, 128))
                .col(blob(OutboxEvents::Payload))
                .col(big_integer(OutboxEvents::OccurredAtUs))
                .to_owned(),
            "sequence, event_id, event_type, subject_id, payload, occurred_at_us",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_event_id_key")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::EventId)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

/// Makes `table` again as `create` describes it (named `{table}_rebuilt`
/// until the swap), copies `columns` of every row into it, drops the old table
/// with its indexes and gives the new one its name; on PostgreSQL the new
/// primary key takes the table's name back too. For the changes SQLite cannot
/// make in place: a primary key, or a column's constraint.
pub async fn rebuild_table(
    manager: &SchemaManager<'_>,
    table: &str,
    mut create: TableCreateStatement,
    columns: &str,
) -> Result<(), DbErr> {
    let rebuilt = format!("{table}_rebuilt");
    manager
        .create_table(create.table(Alias::new(rebuilt.clone())).to_owned())
        .await?;
    let db = manager.get_connection();
    db.execute_unprepared(&format!(
        "INSERT INTO {rebuilt} ({columns}) SELECT {columns} FROM {table}"
    ))
    .await?;
    manager
        .drop_table(Table::drop().table(Alias::new(table)).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Alias::new(rebuilt.clone()), Alias::new(table))
                .to_owned(),
        )
        .await?;
    if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared(&format!(
            "ALTER INDEX IF EXISTS {rebuilt}_pkey RENAME TO {table}_pkey"
        ))
        .await?;
    }
    Ok(())
}
