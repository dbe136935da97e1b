//! The expansion service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(Box::new(m20261125_000002_products::Migration));
        migrations.push(themodel_platform::accounts::migration());
        migrations.push(Box::new(m20261202_000002_subscriptions::Migration));
        migrations.push(Box::new(m20261202_000003_pipeline::Migration));
        migrations.push(Box::new(m20261202_000004_renewals_and_qbrs::Migration));
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

/// Subscriptions, their terms, and each account's revenue state.
mod m20261202_000002_subscriptions {
    use super::*;

    #[derive(DeriveIden)]
    enum Subscriptions {
        Table,
        Id,
        ExternalId,
        AccountId,
        ProductKey,
        PlanKey,
        CurrencyCode,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    #[derive(DeriveIden)]
    enum SubscriptionTerms {
        Table,
        SubscriptionId,
        Position,
        AccountId,
        ProductKey,
        CurrencyCode,
        Quantity,
        PriceUnits,
        PriceNanos,
        BillingPeriod,
        StartDate,
        EndDate,
        MrrMicros,
    }

    #[derive(DeriveIden)]
    enum RevenueAccounts {
        Table,
        AccountId,
        State,
        Since,
        NextCheck,
        CurrencyCode,
        MrrMicros,
        NextRenewal,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000002_subscriptions"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Subscriptions::Table)
                        .col(string_len(Subscriptions::Id, 36).primary_key())
                        .col(string_len_null(Subscriptions::ExternalId, 128).unique_key())
                        .col(string_len(Subscriptions::AccountId, 64))
                        .col(string_len(Subscriptions::ProductKey, 64))
                        .col(string_len(Subscriptions::PlanKey, 64))
                        .col(string_len(Subscriptions::CurrencyCode, 3))
                        .col(big_integer(Subscriptions::Revision))
                        .col(big_integer(Subscriptions::CreateTimeUs))
                        .col(big_integer(Subscriptions::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_subscriptions_account")
                        .table(Subscriptions::Table)
                        .col(Subscriptions::AccountId)
                        .to_owned(),
                )
                .await?;
            // Terms carry their subscription's account, product and currency
            // so that revenue is read from this table alone.
            manager
                .create_table(
                    Table::create()
                        .table(SubscriptionTerms::Table)
                        .col(string_len(SubscriptionTerms::SubscriptionId, 36))
                        .col(integer(SubscriptionTerms::Position))
                        .col(string_len(SubscriptionTerms::AccountId, 64))
                        .col(string_len(SubscriptionTerms::ProductKey, 64))
                        .col(string_len(SubscriptionTerms::CurrencyCode, 3))
                        .col(big_integer(SubscriptionTerms::Quantity))
                        .col(big_integer(SubscriptionTerms::PriceUnits))
                        .col(integer(SubscriptionTerms::PriceNanos))
                        .col(string_len(SubscriptionTerms::BillingPeriod, 40))
                        .col(string_len(SubscriptionTerms::StartDate, 10))
                        .col(string_len_null(SubscriptionTerms::EndDate, 10))
                        .col(big_integer(SubscriptionTerms::MrrMicros))
                        .primary_key(
                            Index::create()
                                .col(SubscriptionTerms::SubscriptionId)
                                .col(SubscriptionTerms::Position),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(SubscriptionTerms::Table, SubscriptionTerms::SubscriptionId)
                                .to(Subscriptions::Table, Subscriptions::Id),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_subscription_terms_account")
                        .table(SubscriptionTerms::Table)
                        .col(SubscriptionTerms::AccountId)
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(RevenueAccounts::Table)
                        .col(string_len(RevenueAccounts::AccountId, 64).primary_key())
                        .col(string_len(RevenueAccounts::State, 16))
                        .col(string_len(RevenueAccounts::Since, 10))
                        .col(string_len_null(RevenueAccounts::NextCheck, 10))
                        .col(string_len(RevenueAccounts::CurrencyCode, 3))
                        .col(big_integer(RevenueAccounts::MrrMicros))
                        .col(string_len_null(RevenueAccounts::NextRenewal, 10))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_revenue_accounts_next_check")
                        .table(RevenueAccounts::Table)
                        .col(RevenueAccounts::NextCheck)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                RevenueAccounts::Table.into_iden(),
                SubscriptionTerms::Table.into_iden(),
                Subscriptions::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// CSQLs and the opportunities accepted CSQLs open.
mod m20261202_000003_pipeline {
    use super::*;

    #[derive(DeriveIden)]
    enum Csqls {
        Table,
        Id,
        AccountId,
        Kind,
        ProductKey,
        CurrencyCode,
        EstimatedUnits,
        EstimatedNanos,
        Reason,
        CsmId,
        TeamId,
        Tier,
        QbrId,
        Status,
        RejectionReason,
        OpportunityId,
        CreateTimeUs,
        HandOffTimeUs,
        DecisionTimeUs,
        Revision,
    }

    #[derive(DeriveIden)]
    enum Opportunities {
        Table,
        Id,
        CsqlId,
        AccountId,
        ProductKey,
        CurrencyCode,
        EstimatedUnits,
        EstimatedNanos,
        OwnerId,
        Stage,
        WonUnits,
        WonNanos,
        SubscriptionId,
        LostReason,
        CloseDate,
        CreateTimeUs,
        UpdateTimeUs,
        Revision,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000003_pipeline"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Csqls::Table)
                        .col(string_len(Csqls::Id, 36).primary_key())
                        .col(string_len(Csqls::AccountId, 64))
                        .col(string_len(Csqls::Kind, 40))
                        .col(string_len(Csqls::ProductKey, 64))
                        .col(string_len(Csqls::CurrencyCode, 3))
                        .col(big_integer(Csqls::EstimatedUnits))
                        .col(integer(Csqls::EstimatedNanos))
                        .col(text(Csqls::Reason))
                        .col(string_len(Csqls::CsmId, 128))
                        .col(string_len(Csqls::TeamId, 128))
                        .col(string_len(Csqls::Tier, 40))
                        .col(string_len_null(Csqls::QbrId, 36))
                        .col(string_len(Csqls::Status, 40))
                        .col(text_null(Csqls::RejectionReason))
                        .col(string_len_null(Csqls::OpportunityId, 36))
                        .col(big_integer(Csqls::CreateTimeUs))
                        .col(big_integer_null(Csqls::HandOffTimeUs))
                        .col(big_integer_null(Csqls::DecisionTimeUs))
                        .col(big_integer(Csqls::Revision))
                        .to_owned(),
                )
                .await?;
            for (name, column) in [
                ("idx_csqls_account", Csqls::AccountId),
                ("idx_csqls_create_time", Csqls::CreateTimeUs),
                ("idx_csqls_qbr", Csqls::QbrId),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(Csqls::Table)
                            .col(column)
                            .to_owned(),
                    )
                    .await?;
            }
            manager
                .create_table(
                    Table::create()
                        .table(Opportunities::Table)
                        .col(string_len(Opportunities::Id, 36).primary_key())
                        .col(string_len(Opportunities::CsqlId, 36).unique_key())
                        .col(string_len(Opportunities::AccountId, 64))
                        .col(string_len(Opportunities::ProductKey, 64))
                        .col(string_len(Opportunities::CurrencyCode, 3))
                        .col(big_integer(Opportunities::EstimatedUnits))
                        .col(integer(Opportunities::EstimatedNanos))
                        .col(string_len(Opportunities::OwnerId, 128))
                        .col(string_len(Opportunities::Stage, 40))
                        .col(big_integer_null(Opportunities::WonUnits))
                        .col(integer_null(Opportunities::WonNanos))
                        .col(string_len_null(Opportunities::SubscriptionId, 36))
                        .col(text_null(Opportunities::LostReason))
                        .col(string_len_null(Opportunities::CloseDate, 10))
                        .col(big_integer(Opportunities::CreateTimeUs))
                        .col(big_integer(Opportunities::UpdateTimeUs))
                        .col(big_integer(Opportunities::Revision))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_opportunities_account")
                        .table(Opportunities::Table)
                        .col(Opportunities::AccountId)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [Opportunities::Table.into_iden(), Csqls::Table.into_iden()] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// Renewal closing plans and outcomes; QBRs.
mod m20261202_000004_renewals_and_qbrs {
    use super::*;

    #[derive(DeriveIden)]
    enum RenewalPlans {
        Table,
        SubscriptionId,
        RenewalDate,
        AccountId,
        OwnerId,
        Steps,
        ReviewEveryDays,
        CreatedOn,
        LastReviewDate,
        LastReviewNote,
        Outcome,
        ChurnReason,
        Revision,
    }

    #[derive(DeriveIden)]
    enum Qbrs {
        Table,
        Id,
        AccountId,
        ScheduledDate,
        Agenda,
        Status,
        HeldDate,
        Attendees,
        Proposals,
        Outcomes,
        CreateTimeUs,
        UpdateTimeUs,
        Revision,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000004_renewals_and_qbrs"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // Steps, attendees and lists are JSON: read and written whole
            // with their row, never queried by their parts.
            manager
                .create_table(
                    Table::create()
                        .table(RenewalPlans::Table)
                        .col(string_len(RenewalPlans::SubscriptionId, 36))
                        .col(string_len(RenewalPlans::RenewalDate, 10))
                        .col(string_len(RenewalPlans::AccountId, 64))
                        .col(string_len(RenewalPlans::OwnerId, 128))
                        .col(text(RenewalPlans::Steps))
                        .col(integer(RenewalPlans::ReviewEveryDays))
                        .col(string_len(RenewalPlans::CreatedOn, 10))
                        .col(string_len_null(RenewalPlans::LastReviewDate, 10))
                        .col(text_null(RenewalPlans::LastReviewNote))
                        .col(string_len_null(RenewalPlans::Outcome, 40))
                        .col(text_null(RenewalPlans::ChurnReason))
                        .col(big_integer(RenewalPlans::Revision))
                        .primary_key(
                            Index::create()
                                .col(RenewalPlans::SubscriptionId)
                                .col(RenewalPlans::RenewalDate),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_renewal_plans_owner")
                        .table(RenewalPlans::Table)
                        .col(RenewalPlans::OwnerId)
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_subscription_terms_end_date")
                        .table(Alias::new("subscription_terms"))
                        .col(Alias::new("end_date"))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Qbrs::Table)
                        .col(string_len(Qbrs::Id, 36).primary_key())
                        .col(string_len(Qbrs::AccountId, 64))
                        .col(string_len(Qbrs::ScheduledDate, 10))
                        .col(text(Qbrs::Agenda))
                        .col(string_len(Qbrs::Status, 40))
                        .col(string_len_null(Qbrs::HeldDate, 10))
                        .col(text(Qbrs::Attendees))
                        .col(text(Qbrs::Proposals))
                        .col(text(Qbrs::Outcomes))
                        .col(big_integer(Qbrs::CreateTimeUs))
                        .col(big_integer(Qbrs::UpdateTimeUs))
                        .col(big_integer(Qbrs::Revision))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_qbrs_account")
                        .table(Qbrs::Table)
                        .col(Qbrs::AccountId)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_index(
                    Index::drop()
                        .name("idx_subscription_terms_end_date")
                        .table(Alias::new("subscription_terms"))
                        .to_owned(),
                )
                .await?;
            for table in [Qbrs::Table.into_iden(), RenewalPlans::Table.into_iden()] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}
