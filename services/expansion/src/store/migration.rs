//! The expansion service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(Box::new(m20261125_000002_products::Migration));
        migrations
    }
}

/// The product catalogue.
mod m20261125_000002_products {
    use super::*;

    #[derive(DeriveIden)]
    enum Products {
        Table,
        ProductKey,
        DisplayName,
        Description,
        Retired,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    #[derive(DeriveIden)]
    enum ProductPlans {
        Table,
        ProductKey,
        PlanKey,
        Position,
        DisplayName,
        CurrencyCode,
        PriceUnits,
        PriceNanos,
        BillingPeriod,
        Retired,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000002_products"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Products::Table)
                        .col(string_len(Products::ProductKey, 64).primary_key())
                        .col(string_len(Products::DisplayName, 200))
                        .col(text(Products::Description))
                        .col(boolean(Products::Retired))
                        .col(big_integer(Products::Revision))
                        .col(big_integer(Products::CreateTimeUs))
                        .col(big_integer(Products::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(ProductPlans::Table)
                        .col(string_len(ProductPlans::ProductKey, 64))
                        .col(string_len(ProductPlans::PlanKey, 64))
                        .col(integer(ProductPlans::Position))
                        .col(string_len(ProductPlans::DisplayName, 200))
                        .col(string_len(ProductPlans::CurrencyCode, 3))
                        .col(big_integer(ProductPlans::PriceUnits))
                        .col(integer(ProductPlans::PriceNanos))
                        .col(string_len(ProductPlans::BillingPeriod, 40))
                        .col(boolean(ProductPlans::Retired))
                        .primary_key(
                            Index::create()
                                .col(ProductPlans::ProductKey)
                                .col(ProductPlans::PlanKey),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(ProductPlans::Table, ProductPlans::ProductKey)
                                .to(Products::Table, Products::ProductKey),
                        )
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [ProductPlans::Table.into_iden(), Products::Table.into_iden()] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}
