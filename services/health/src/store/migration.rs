//! The health service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(themodel_platform::accounts::migration());
        migrations.push(Box::new(m20261202_000002_features_and_usage::Migration));
        migrations.push(Box::new(m20261202_000003_seat_terms::Migration));
        migrations.push(Box::new(m20261202_000004_scorecards_and_scores::Migration));
        migrations.push(Box::new(m20261202_000005_alerts_outcomes_queue::Migration));
        migrations.push(Box::new(m20261202_000006_event_id_bytewise::Migration));
        migrations
    }
}

/// The feature catalogue, usage events, the event ids accepted and the first
/// use of each feature by each account.
mod m20261202_000002_features_and_usage {
    use super::*;

    #[derive(DeriveIden)]
    enum Features {
        Table,
        ProductKey,
        FeatureKey,
        DisplayName,
        KeyFeature,
        Retired,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    #[derive(DeriveIden)]
    enum UsageEvents {
        Table,
        Id,
        AccountId,
        UserId,
        ProductKey,
        FeatureKey,
        OccurredAtUs,
        Count,
        EventId,
    }

    #[derive(DeriveIden)]
    enum UsageEventIds {
        Table,
        EventId,
        AcceptedAtMs,
    }

    #[derive(DeriveIden)]
    enum FeatureAdoptions {
        Table,
        AccountId,
        ProductKey,
        FeatureKey,
        FirstUsedUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000002_features_and_usage"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Features::Table)
                        .col(string_len(Features::ProductKey, 64))
                        .col(string_len(Features::FeatureKey, 64))
                        .col(string_len(Features::DisplayName, 200))
                        .col(boolean(Features::KeyFeature))
                        .col(boolean(Features::Retired))
                        .col(big_integer(Features::Revision))
                        .col(big_integer(Features::CreateTimeUs))
                        .col(big_integer(Features::UpdateTimeUs))
                        .primary_key(
                            Index::create()
                                .col(Features::ProductKey)
                                .col(Features::FeatureKey),
                        )
                        .to_owned(),
                )
                .await?;
            // Append-only: written by bulk append, read by aggregates.
            manager
                .create_table(
                    Table::create()
                        .table(UsageEvents::Table)
                        .col(big_integer(UsageEvents::Id).primary_key().auto_increment())
                        .col(string_len(UsageEvents::AccountId, 64))
                        .col(string_len(UsageEvents::UserId, 128))
                        .col(string_len(UsageEvents::ProductKey, 64))
                        .col(string_len(UsageEvents::FeatureKey, 64))
                        .col(big_integer(UsageEvents::OccurredAtUs))
                        .col(big_integer(UsageEvents::Count))
                        .col(string_len_null(UsageEvents::EventId, 128))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_usage_events_account_time")
                        .table(UsageEvents::Table)
                        .col(UsageEvents::AccountId)
                        .col(UsageEvents::OccurredAtUs)
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(UsageEventIds::Table)
                        .col(string_len(UsageEventIds::EventId, 128).primary_key())
                        .col(big_integer(UsageEventIds::AcceptedAtMs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(FeatureAdoptions::Table)
                        .col(string_len(FeatureAdoptions::AccountId, 64))
                        .col(string_len(FeatureAdoptions::ProductKey, 64))
                        .col(string_len(FeatureAdoptions::FeatureKey, 64))
                        .col(big_integer(FeatureAdoptions::FirstUsedUs))
                        .primary_key(
                            Index::create()
                                .col(FeatureAdoptions::AccountId)
                                .col(FeatureAdoptions::ProductKey)
                                .col(FeatureAdoptions::FeatureKey),
                        )
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                FeatureAdoptions::Table.into_iden(),
                UsageEventIds::Table.into_iden(),
                UsageEvents::Table.into_iden(),
                Features::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// The terms of the expansion service's subscriptions, for licensed seats.
mod m20261202_000003_seat_terms {
    use super::*;

    #[derive(DeriveIden)]
    enum SeatTerms {
        Table,
        SubscriptionId,
        Position,
        AccountId,
        ProductKey,
        Quantity,
        StartDate,
        EndDate,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000003_seat_terms"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(SeatTerms::Table)
                        .col(string_len(SeatTerms::SubscriptionId, 36))
                        .col(integer(SeatTerms::Position))
                        .col(string_len(SeatTerms::AccountId, 64))
                        .col(string_len(SeatTerms::ProductKey, 64))
                        .col(big_integer(SeatTerms::Quantity))
                        .col(string_len(SeatTerms::StartDate, 10))
                        .col(string_len_null(SeatTerms::EndDate, 10))
                        .primary_key(
                            Index::create()
                                .col(SeatTerms::SubscriptionId)
                                .col(SeatTerms::Position),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_seat_terms_account_product")
                        .table(SeatTerms::Table)
                        .col(SeatTerms::AccountId)
                        .col(SeatTerms::ProductKey)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(SeatTerms::Table).to_owned())
                .await
        }
    }
}

/// Scorecards and their immutable versions, CSM sentiments and the history
/// of health scores.
mod m20261202_000004_scorecards_and_scores {
    use super::*;

    #[derive(DeriveIden)]
    enum Scorecards {
        Table,
        ScorecardKey,
        Tier,
        Version,
        CreateTimeUs,
        UpdateTimeUs,
    }

    #[derive(DeriveIden)]
    enum ScorecardVersions {
        Table,
        ScorecardKey,
        Version,
        DisplayName,
        Measures,
        AMin,
        BMin,
        CMin,
        DMin,
        CreateTimeUs,
        CreatedBy,
    }

    #[derive(DeriveIden)]
    enum Sentiments {
        Table,
        Id,
        AccountId,
        ProductKey,
        Score,
        Note,
        Author,
        RecordTimeUs,
    }

    #[derive(DeriveIden)]
    enum HealthScores {
        Table,
        Id,
        AccountId,
        ProductKey,
        ScorecardKey,
        ScorecardVersion,
        Score,
        Grade,
        Trend,
        Parts,
        ComputeTimeUs,
        ComputedBy,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000004_scorecards_and_scores"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Scorecards::Table)
                        .col(string_len(Scorecards::ScorecardKey, 64).primary_key())
                        .col(string_len(Scorecards::Tier, 32))
                        .col(big_integer(Scorecards::Version))
                        .col(big_integer(Scorecards::CreateTimeUs))
                        .col(big_integer(Scorecards::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            // One scorecard per scope.
            manager
                .create_index(
                    Index::create()
                        .name("idx_scorecards_tier")
                        .table(Scorecards::Table)
                        .col(Scorecards::Tier)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(ScorecardVersions::Table)
                        .col(string_len(ScorecardVersions::ScorecardKey, 64))
                        .col(big_integer(ScorecardVersions::Version))
                        .col(string_len(ScorecardVersions::DisplayName, 200))
                        .col(text(ScorecardVersions::Measures))
                        .col(integer(ScorecardVersions::AMin))
                        .col(integer(ScorecardVersions::BMin))
                        .col(integer(ScorecardVersions::CMin))
                        .col(integer(ScorecardVersions::DMin))
                        .col(big_integer(ScorecardVersions::CreateTimeUs))
                        .col(string_len(ScorecardVersions::CreatedBy, 256))
                        .primary_key(
                            Index::create()
                                .col(ScorecardVersions::ScorecardKey)
                                .col(ScorecardVersions::Version),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Sentiments::Table)
                        .col(big_integer(Sentiments::Id).primary_key().auto_increment())
                        .col(string_len(Sentiments::AccountId, 64))
                        .col(string_len(Sentiments::ProductKey, 64))
                        .col(integer(Sentiments::Score))
                        .col(text(Sentiments::Note))
                        .col(string_len(Sentiments::Author, 256))
                        .col(big_integer(Sentiments::RecordTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_sentiments_account_product")
                        .table(Sentiments::Table)
                        .col(Sentiments::AccountId)
                        .col(Sentiments::ProductKey)
                        .col(Sentiments::Id)
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(HealthScores::Table)
                        .col(big_integer(HealthScores::Id).primary_key().auto_increment())
                        .col(string_len(HealthScores::AccountId, 64))
                        .col(string_len(HealthScores::ProductKey, 64))
                        .col(string_len(HealthScores::ScorecardKey, 64))
                        .col(big_integer(HealthScores::ScorecardVersion))
                        .col(integer_null(HealthScores::Score))
                        .col(string_len_null(HealthScores::Grade, 1))
                        .col(integer_null(HealthScores::Trend))
                        .col(text(HealthScores::Parts))
                        .col(big_integer(HealthScores::ComputeTimeUs))
                        .col(string_len(HealthScores::ComputedBy, 256))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_health_scores_account_product")
                        .table(HealthScores::Table)
                        .col(HealthScores::AccountId)
                        .col(HealthScores::ProductKey)
                        .col(HealthScores::Id)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                HealthScores::Table.into_iden(),
                Sentiments::Table.into_iden(),
                ScorecardVersions::Table.into_iden(),
                Scorecards::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// The alert policy and health alerts, outcomes (churns, renewals,
/// reactivations) and the queue of accounts to score again.
mod m20261202_000005_alerts_outcomes_queue {
    use super::*;

    #[derive(DeriveIden)]
    enum AlertPolicy {
        Table,
        Id,
        UsageDropPercent,
        NoUsageGraceDays,
        GradeDrop,
        Revision,
        UpdateTimeUs,
        UpdatedBy,
    }

    #[derive(DeriveIden)]
    enum HealthAlerts {
        Table,
        AlertId,
        AccountId,
        ProductKey,
        Kind,
        Detail,
        RaiseTimeUs,
        ClearTimeUs,
        RecentUsers,
        BaselineUsers,
        GradeBefore,
        GradeAfter,
        SinceDate,
        PartnerId,
        OpenSlot,
    }

    #[derive(DeriveIden)]
    enum Outcomes {
        Table,
        Id,
        AccountId,
        Kind,
        OutcomeDate,
        ProductKey,
        Source,
        RecordTimeUs,
    }

    #[derive(DeriveIden)]
    enum ScoreQueue {
        Table,
        AccountId,
        ProductKey,
        QueuedAtUs,
    }

    /// This migration.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000005_alerts_outcomes_queue"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // One row (id 1) once the policy is first changed; the defaults
            // apply before.
            manager
                .create_table(
                    Table::create()
                        .table(AlertPolicy::Table)
                        .col(integer(AlertPolicy::Id).primary_key())
                        .col(integer(AlertPolicy::UsageDropPercent))
                        .col(integer(AlertPolicy::NoUsageGraceDays))
                        .col(boolean(AlertPolicy::GradeDrop))
                        .col(big_integer(AlertPolicy::Revision))
                        .col(big_integer(AlertPolicy::UpdateTimeUs))
                        .col(string_len(AlertPolicy::UpdatedBy, 256))
                        .to_owned(),
                )
                .await?;
            // open_slot is "account/product/kind" while the alert is open and
            // NULL once cleared: unique, so each kind is open at most once.
            manager
                .create_table(
                    Table::create()
                        .table(HealthAlerts::Table)
                        .col(string_len(HealthAlerts::AlertId, 64).primary_key())
                        .col(string_len(HealthAlerts::AccountId, 64))
                        .col(string_len(HealthAlerts::ProductKey, 64))
                        .col(string_len(HealthAlerts::Kind, 16))
                        .col(text(HealthAlerts::Detail))
                        .col(big_integer(HealthAlerts::RaiseTimeUs))
                        .col(big_integer_null(HealthAlerts::ClearTimeUs))
                        .col(big_integer(HealthAlerts::RecentUsers))
                        .col(big_integer(HealthAlerts::BaselineUsers))
                        .col(string_len_null(HealthAlerts::GradeBefore, 1))
                        .col(string_len_null(HealthAlerts::GradeAfter, 1))
                        .col(string_len_null(HealthAlerts::SinceDate, 10))
                        .col(string_len_null(HealthAlerts::PartnerId, 64))
                        .col(string_len_null(HealthAlerts::OpenSlot, 160).unique_key())
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_health_alerts_account_product")
                        .table(HealthAlerts::Table)
                        .col(HealthAlerts::AccountId)
                        .col(HealthAlerts::ProductKey)
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_health_alerts_raise_time")
                        .table(HealthAlerts::Table)
                        .col(HealthAlerts::RaiseTimeUs)
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Outcomes::Table)
                        .col(big_integer(Outcomes::Id).primary_key().auto_increment())
                        .col(string_len(Outcomes::AccountId, 64))
                        .col(string_len(Outcomes::Kind, 16))
                        .col(string_len(Outcomes::OutcomeDate, 10))
                        .col(string_len(Outcomes::ProductKey, 64))
                        .col(string_len(Outcomes::Source, 16))
                        .col(big_integer(Outcomes::RecordTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_outcomes_natural")
                        .table(Outcomes::Table)
                        .col(Outcomes::AccountId)
                        .col(Outcomes::Kind)
                        .col(Outcomes::OutcomeDate)
                        .col(Outcomes::ProductKey)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_outcomes_kind_date")
                        .table(Outcomes::Table)
                        .col(Outcomes::Kind)
                        .col(Outcomes::OutcomeDate)
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(ScoreQueue::Table)
                        .col(string_len(ScoreQueue::AccountId, 64))
                        .col(string_len(ScoreQueue::ProductKey, 64))
                        .col(big_integer(ScoreQueue::QueuedAtUs))
                        .primary_key(
                            Index::create()
                                .col(ScoreQueue::AccountId)
                                .col(ScoreQueue::ProductKey),
                        )
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                ScoreQueue::Table.into_iden(),
                Outcomes::Table.into_iden(),
                HealthAlerts::Table.into_iden(),
                AlertPolicy::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// On PostgreSQL, accepted event ids compare byte by byte (`COLLATE "C"`):
/// they are opaque keys, and every ingested chunk inserts thousands into
/// their unique index, where the database's locale-aware comparison cost
/// about a third of the insert. SQLite compares bytes already.
mod m20261202_000006_event_id_bytewise {
    use super::*;

    /// This migration.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000006_event_id_bytewise"
        }
    }

    /// Sets the collation of the event id column.
    async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE usage_event_ids ALTER COLUMN event_id \
                 TYPE varchar(128) COLLATE {collation}"
            ))
            .await
            .map(|_| ())
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            collate(manager, "\"C\"").await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            collate(manager, "\"default\"").await
        }
    }
}
