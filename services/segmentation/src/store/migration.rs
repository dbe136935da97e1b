//! The segmentation service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(Box::new(m20261123_000002_accounts::Migration));
        migrations
    }
}

mod m20261123_000002_accounts {
    use super::*;

    #[derive(DeriveIden)]
    enum Accounts {
        Table,
        Id,
        ExternalId,
        Name,
        Industry,
        EmployeeCount,
        CurrencyCode,
        AcvUnits,
        AcvNanos,
        PotentialAcvUnits,
        PotentialAcvNanos,
        CloudLiteracy,
        MigrationSource,
        ContractStartDate,
        RenewalDate,
        OwnerCsmId,
        PartnerId,
        LifecycleStatus,
        Tier,
        CreateTimeUs,
        UpdateTimeUs,
        Revision,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261123_000002_accounts"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Accounts::Table)
                        .col(string_len(Accounts::Id, 36).primary_key())
                        .col(string_len_null(Accounts::ExternalId, 128).unique_key())
                        .col(string_len(Accounts::Name, 200))
                        .col(string_len(Accounts::Industry, 100))
                        .col(integer(Accounts::EmployeeCount))
                        .col(string_len(Accounts::CurrencyCode, 3))
                        .col(big_integer(Accounts::AcvUnits))
                        .col(integer(Accounts::AcvNanos))
                        .col(big_integer_null(Accounts::PotentialAcvUnits))
                        .col(integer_null(Accounts::PotentialAcvNanos))
                        .col(string_len(Accounts::CloudLiteracy, 40))
                        .col(string_len(Accounts::MigrationSource, 40))
                        .col(date_null(Accounts::ContractStartDate))
                        .col(date_null(Accounts::RenewalDate))
                        .col(string_len_null(Accounts::OwnerCsmId, 128))
                        .col(string_len_null(Accounts::PartnerId, 128))
                        .col(string_len(Accounts::LifecycleStatus, 40))
                        .col(string_len(Accounts::Tier, 40))
                        .col(big_integer(Accounts::CreateTimeUs))
                        .col(big_integer(Accounts::UpdateTimeUs))
                        .col(big_integer(Accounts::Revision))
                        .to_owned(),
                )
                .await?;
            // Listing filters, each followed by the id for keyset paging.
            for (name, column) in [
                ("idx_accounts_partner", Accounts::PartnerId),
                ("idx_accounts_owner", Accounts::OwnerCsmId),
                ("idx_accounts_tier", Accounts::Tier),
                ("idx_accounts_lifecycle", Accounts::LifecycleStatus),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(Accounts::Table)
                            .col(column)
                            .col(Accounts::Id)
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(Accounts::Table).to_owned())
                .await
        }
    }
}
