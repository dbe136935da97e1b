//! The partner-success service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(Box::new(m20261125_000002_partners::Migration));
        migrations.push(themodel_platform::accounts::migration());
        migrations.push(Box::new(
            m20261210_000001_staff_and_certifications::Migration,
        ));
        migrations.push(Box::new(m20261210_000002_attributions::Migration));
        migrations.push(Box::new(m20261210_000003_deals::Migration));
        migrations.push(Box::new(m20261220_000001_partner_tiers::Migration));
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

/// Partner staff and their certifications.
mod m20261210_000001_staff_and_certifications {
    use super::*;

    #[derive(DeriveIden)]
    enum PartnerStaff {
        Table,
        Id,
        PartnerId,
        Name,
        Email,
        EmailKey,
        Role,
        ExternalId,
        Status,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    #[derive(DeriveIden)]
    enum Certifications {
        Table,
        Id,
        StaffId,
        PartnerId,
        CourseKey,
        Level,
        EarnedOn,
        ExpiresOn,
        CreateTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261210_000001_staff_and_certifications"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(PartnerStaff::Table)
                        .col(string_len(PartnerStaff::Id, 64).primary_key())
                        .col(string_len(PartnerStaff::PartnerId, 128))
                        .col(string_len(PartnerStaff::Name, 200))
                        .col(string_len(PartnerStaff::Email, 254))
                        .col(string_len(PartnerStaff::EmailKey, 254))
                        .col(string_len(PartnerStaff::Role, 100))
                        .col(string_len_null(PartnerStaff::ExternalId, 128))
                        .col(string_len(PartnerStaff::Status, 40))
                        .col(big_integer(PartnerStaff::Revision))
                        .col(big_integer(PartnerStaff::CreateTimeUs))
                        .col(big_integer(PartnerStaff::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("ux_partner_staff_email")
                        .table(PartnerStaff::Table)
                        .col(PartnerStaff::PartnerId)
                        .col(PartnerStaff::EmailKey)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("ux_partner_staff_external_id")
                        .table(PartnerStaff::Table)
                        .col(PartnerStaff::ExternalId)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Certifications::Table)
                        .col(string_len(Certifications::Id, 64).primary_key())
                        .col(string_len(Certifications::StaffId, 64))
                        .col(string_len(Certifications::PartnerId, 128))
                        .col(string_len(Certifications::CourseKey, 64))
                        .col(integer(Certifications::Level))
                        .col(string_len(Certifications::EarnedOn, 10))
                        .col(string_len_null(Certifications::ExpiresOn, 10))
                        .col(big_integer(Certifications::CreateTimeUs))
                        .to_owned(),
                )
                .await?;
            for (name, column) in [
                ("idx_certifications_partner", Certifications::PartnerId),
                ("idx_certifications_staff", Certifications::StaffId),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(Certifications::Table)
                            .col(column)
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                Certifications::Table.into_iden(),
                PartnerStaff::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// Attributions of accounts to partners.
mod m20261210_000002_attributions {
    use super::*;

    #[derive(DeriveIden)]
    enum Attributions {
        Table,
        Id,
        AccountId,
        PartnerId,
        Kind,
        StartDate,
        EndDate,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261210_000002_attributions"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Attributions::Table)
                        .col(string_len(Attributions::Id, 64).primary_key())
                        .col(string_len(Attributions::AccountId, 64))
                        .col(string_len(Attributions::PartnerId, 128))
                        .col(string_len(Attributions::Kind, 40))
                        .col(string_len(Attributions::StartDate, 10))
                        .col(string_len_null(Attributions::EndDate, 10))
                        .col(big_integer(Attributions::Revision))
                        .col(big_integer(Attributions::CreateTimeUs))
                        .col(big_integer(Attributions::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            for (name, column) in [
                ("idx_attributions_account", Attributions::AccountId),
                ("idx_attributions_partner", Attributions::PartnerId),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(Attributions::Table)
                            .col(column)
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(Attributions::Table).to_owned())
                .await
        }
    }
}

/// Registered deals.
mod m20261210_000003_deals {
    use super::*;

    #[derive(DeriveIden)]
    enum Deals {
        Table,
        Id,
        PartnerId,
        CompanyName,
        NameKey,
        Domain,
        ContactName,
        ContactEmail,
        CurrencyCode,
        MrrUnits,
        MrrNanos,
        ProductKey,
        Notes,
        Status,
        ProtectionDays,
        ApprovedOn,
        ExpiresOn,
        RejectionReason,
        OverrideReason,
        ConflictMatchedOn,
        ConflictDealId,
        ConflictPartnerId,
        ConflictAccountId,
        SubmitTimeUs,
        Revision,
        CreateTimeUs,
        UpdateTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261210_000003_deals"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Deals::Table)
                        .col(string_len(Deals::Id, 64).primary_key())
                        .col(string_len(Deals::PartnerId, 128))
                        .col(string_len(Deals::CompanyName, 200))
                        .col(string_len(Deals::NameKey, 800))
                        .col(string_len(Deals::Domain, 300))
                        .col(string_len(Deals::ContactName, 200))
                        .col(string_len(Deals::ContactEmail, 254))
                        .col(string_len(Deals::CurrencyCode, 3))
                        .col(big_integer(Deals::MrrUnits))
                        .col(integer(Deals::MrrNanos))
                        .col(string_len(Deals::ProductKey, 64))
                        .col(text(Deals::Notes))
                        .col(string_len(Deals::Status, 40))
                        .col(integer(Deals::ProtectionDays))
                        .col(string_len_null(Deals::ApprovedOn, 10))
                        .col(string_len_null(Deals::ExpiresOn, 10))
                        .col(text(Deals::RejectionReason))
                        .col(text(Deals::OverrideReason))
                        .col(string_len(Deals::ConflictMatchedOn, 20))
                        .col(string_len_null(Deals::ConflictDealId, 64))
                        .col(string_len_null(Deals::ConflictPartnerId, 128))
                        .col(string_len_null(Deals::ConflictAccountId, 64))
                        .col(big_integer_null(Deals::SubmitTimeUs))
                        .col(big_integer(Deals::Revision))
                        .col(big_integer(Deals::CreateTimeUs))
                        .col(big_integer(Deals::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            for (name, columns) in [
                ("idx_deals_partner", vec![Deals::PartnerId]),
                (
                    "idx_deals_status_expires",
                    vec![Deals::Status, Deals::ExpiresOn],
                ),
                ("idx_deals_name_key", vec![Deals::NameKey]),
                ("idx_deals_domain", vec![Deals::Domain]),
            ] {
                let mut index = Index::create();
                index.name(name).table(Deals::Table);
                for column in columns {
                    index.col(column);
                }
                manager.create_index(index.to_owned()).await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(Deals::Table).to_owned())
                .await
        }
    }
}

/// The tier program: partners' tiers, the program's versions and the tier
/// history.
mod m20261220_000001_partner_tiers {
    use super::*;

    #[derive(DeriveIden)]
    enum Partners {
        Table,
        Tier,
    }

    #[derive(DeriveIden)]
    enum TierPrograms {
        Table,
        Version,
        Tiers,
        CurrencyCode,
        Reason,
        CreatedBy,
        CreateTimeUs,
    }

    #[derive(DeriveIden)]
    enum PartnerTierChanges {
        Table,
        Id,
        PartnerId,
        PreviousTier,
        NewTier,
        ProgramVersion,
        EvaluatedOn,
        RevenueStartMonth,
        RevenueEndMonth,
        CurrencyCode,
        Criteria,
        EvaluatedBy,
        ChangeTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261220_000001_partner_tiers"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .alter_table(
                    Table::alter()
                        .table(Partners::Table)
                        .add_column(string_len(Partners::Tier, 32).default(""))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(TierPrograms::Table)
                        .col(big_integer(TierPrograms::Version).primary_key())
                        .col(text(TierPrograms::Tiers))
                        .col(string_len(TierPrograms::CurrencyCode, 3))
                        .col(text(TierPrograms::Reason))
                        .col(text(TierPrograms::CreatedBy))
                        .col(big_integer(TierPrograms::CreateTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(PartnerTierChanges::Table)
                        .col(string_len(PartnerTierChanges::Id, 64).primary_key())
                        .col(string_len(PartnerTierChanges::PartnerId, 128))
                        .col(string_len(PartnerTierChanges::PreviousTier, 32))
                        .col(string_len(PartnerTierChanges::NewTier, 32))
                        .col(big_integer(PartnerTierChanges::ProgramVersion))
                        .col(string_len(PartnerTierChanges::EvaluatedOn, 10))
                        .col(string_len_null(PartnerTierChanges::RevenueStartMonth, 10))
                        .col(string_len_null(PartnerTierChanges::RevenueEndMonth, 10))
                        .col(string_len(PartnerTierChanges::CurrencyCode, 3))
                        .col(text(PartnerTierChanges::Criteria))
                        .col(text(PartnerTierChanges::EvaluatedBy))
                        .col(big_integer(PartnerTierChanges::ChangeTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_partner_tier_changes_partner")
                        .table(PartnerTierChanges::Table)
                        .col(PartnerTierChanges::PartnerId)
                        .col(PartnerTierChanges::Id)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                PartnerTierChanges::Table.into_iden(),
                TierPrograms::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(Partners::Table)
                        .drop_column(Partners::Tier)
                        .to_owned(),
                )
                .await
        }
    }
}
