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
