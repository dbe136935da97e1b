//! The partner-success service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(Box::new(m20261125_000002_partners::Migration));
        migrations
    }
}

/// Partners.
mod m20261125_000002_partners {
    use super::*;

    #[derive(DeriveIden)]
    enum Partners {
        Table,
        PartnerId,
        DisplayName,
        ContractForm,
        CsModel,
        Status,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000002_partners"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Partners::Table)
                        .col(string_len(Partners::PartnerId, 128).primary_key())
                        .col(string_len(Partners::DisplayName, 200))
                        .col(string_len(Partners::ContractForm, 40))
                        .col(string_len(Partners::CsModel, 40))
                        .col(string_len(Partners::Status, 40))
                        .col(big_integer(Partners::Revision))
                        .col(big_integer(Partners::CreateTimeUs))
                        .col(big_integer(Partners::UpdateTimeUs))
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(Partners::Table).to_owned())
                .await
        }
    }
}
