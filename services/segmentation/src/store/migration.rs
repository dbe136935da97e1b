//! The segmentation service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(Box::new(m20261123_000002_accounts::Migration));
        migrations.push(Box::new(m20261125_000003_tier_policies::Migration));
        migrations.push(Box::new(m20261125_000004_tier_overrides::Migration));
        migrations.push(Box::new(m20261125_000005_csms::Migration));
        migrations.push(Box::new(m20261125_000006_touchpoints::Migration));
        migrations.push(Box::new(m20261125_000007_owner_changes::Migration));
        migrations.push(Box::new(
            m20261203_000008_histories_keyed_by_account::Migration,
        ));
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

/// Tier policy versions, each account's tier history, and the ranking basis
/// (ACV + potential ACV) stored on the account so a policy ranks and compares
/// it in SQL.
mod m20261125_000003_tier_policies {
    use super::*;

    #[derive(DeriveIden)]
    enum Accounts {
        Table,
        BasisUnits,
        BasisNanos,
    }

    #[derive(DeriveIden)]
    enum TierPolicies {
        Table,
        Version,
        CurrencyCode,
        HighAboveUnits,
        HighAboveNanos,
        LowAboveUnits,
        LowAboveNanos,
        ApplyTimeUs,
        RemindedTimeUs,
        Body,
    }

    #[derive(DeriveIden)]
    enum TierChanges {
        Table,
        Id,
        AccountId,
        ChangeTimeUs,
        OldTier,
        NewTier,
        PolicyVersion,
        Rule,
        Actor,
        Reason,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000003_tier_policies"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // One column per statement: SQLite adds one at a time.
            for column in [
                big_integer(Accounts::BasisUnits).default(0).to_owned(),
                integer(Accounts::BasisNanos).default(0).to_owned(),
            ] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Accounts::Table)
                            .add_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
            manager
                .get_connection()
                .execute_unprepared(
                    "UPDATE accounts SET \
                     basis_units = acv_units + COALESCE(potential_acv_units, 0) \
                       + (acv_nanos + COALESCE(potential_acv_nanos, 0)) / 1000000000, \
                     basis_nanos = (acv_nanos + COALESCE(potential_acv_nanos, 0)) % 1000000000",
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(TierPolicies::Table)
                        .col(integer(TierPolicies::Version).primary_key())
                        .col(string_len(TierPolicies::CurrencyCode, 3))
                        .col(big_integer_null(TierPolicies::HighAboveUnits))
                        .col(integer_null(TierPolicies::HighAboveNanos))
                        .col(big_integer_null(TierPolicies::LowAboveUnits))
                        .col(integer_null(TierPolicies::LowAboveNanos))
                        .col(big_integer(TierPolicies::ApplyTimeUs))
                        .col(big_integer_null(TierPolicies::RemindedTimeUs))
                        .col(blob(TierPolicies::Body))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(TierChanges::Table)
                        .col(string_len(TierChanges::Id, 36).primary_key())
                        .col(string_len(TierChanges::AccountId, 36))
                        .col(big_integer(TierChanges::ChangeTimeUs))
                        .col(string_len(TierChanges::OldTier, 40))
                        .col(string_len(TierChanges::NewTier, 40))
                        .col(integer(TierChanges::PolicyVersion))
                        .col(string_len(TierChanges::Rule, 40))
                        .col(text(TierChanges::Actor))
                        .col(text(TierChanges::Reason))
                        .to_owned(),
                )
                .await?;
            // History of one account, newest first, and "as of" lookups.
            manager
                .create_index(
                    Index::create()
                        .name("idx_tier_changes_account")
                        .table(TierChanges::Table)
                        .col(TierChanges::AccountId)
                        .col(TierChanges::ChangeTimeUs)
                        .col(TierChanges::Id)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                TierChanges::Table.into_iden(),
                TierPolicies::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            for column in [Accounts::BasisUnits, Accounts::BasisNanos] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Accounts::Table)
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }
    }
}

/// Tier overrides: approved exceptions that last until the next re-baseline.
mod m20261125_000004_tier_overrides {
    use super::*;

    #[derive(DeriveIden)]
    enum TierOverrides {
        Table,
        Id,
        AccountId,
        Tier,
        PreviousTier,
        Reason,
        ApprovedBy,
        PolicyVersion,
        CreateTimeUs,
        ExpireTimeUs,
        State,
        EndTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000004_tier_overrides"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(TierOverrides::Table)
                        .col(string_len(TierOverrides::Id, 36).primary_key())
                        .col(string_len(TierOverrides::AccountId, 36))
                        .col(string_len(TierOverrides::Tier, 40))
                        .col(string_len(TierOverrides::PreviousTier, 40))
                        .col(text(TierOverrides::Reason))
                        .col(text(TierOverrides::ApprovedBy))
                        .col(integer(TierOverrides::PolicyVersion))
                        .col(big_integer(TierOverrides::CreateTimeUs))
                        .col(big_integer(TierOverrides::ExpireTimeUs))
                        .col(string_len(TierOverrides::State, 40))
                        .col(big_integer_null(TierOverrides::EndTimeUs))
                        .to_owned(),
                )
                .await?;
            // The active override of an account; the ones due to expire.
            for (name, columns) in [
                (
                    "idx_tier_overrides_account",
                    [TierOverrides::AccountId, TierOverrides::State],
                ),
                (
                    "idx_tier_overrides_due",
                    [TierOverrides::State, TierOverrides::ExpireTimeUs],
                ),
            ] {
                let mut index = Index::create();
                index.name(name).table(TierOverrides::Table);
                for column in columns {
                    index.col(column);
                }
                manager.create_index(index.to_owned()).await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(TierOverrides::Table).to_owned())
                .await
        }
    }
}

/// CSMs and their team memberships over time.
mod m20261125_000005_csms {
    use super::*;

    #[derive(DeriveIden)]
    enum Csms {
        Table,
        Id,
        DisplayName,
        TeamId,
        Tier,
        CapacityMin,
        CapacityMax,
        CreateTimeUs,
        UpdateTimeUs,
        Revision,
    }

    #[derive(DeriveIden)]
    enum CsmTeamMemberships {
        Table,
        Id,
        CsmId,
        TeamId,
        StartDate,
        EndDate,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000005_csms"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Csms::Table)
                        .col(string_len(Csms::Id, 128).primary_key())
                        .col(string_len(Csms::DisplayName, 200))
                        .col(string_len_null(Csms::TeamId, 128))
                        .col(string_len(Csms::Tier, 40))
                        .col(integer_null(Csms::CapacityMin))
                        .col(integer_null(Csms::CapacityMax))
                        .col(big_integer(Csms::CreateTimeUs))
                        .col(big_integer(Csms::UpdateTimeUs))
                        .col(big_integer(Csms::Revision))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(CsmTeamMemberships::Table)
                        .col(string_len(CsmTeamMemberships::Id, 36).primary_key())
                        .col(string_len(CsmTeamMemberships::CsmId, 128))
                        .col(string_len(CsmTeamMemberships::TeamId, 128))
                        .col(date(CsmTeamMemberships::StartDate))
                        .col(date_null(CsmTeamMemberships::EndDate))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_csm_team_memberships_csm")
                        .table(CsmTeamMemberships::Table)
                        .col(CsmTeamMemberships::CsmId)
                        .col(CsmTeamMemberships::StartDate)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                CsmTeamMemberships::Table.into_iden(),
                Csms::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// Touchpoints, each account's lifecycle changes with their times (so
/// coverage as of a past instant counts the accounts that were customers
/// then), and the account's web domain.
mod m20261125_000006_touchpoints {
    use super::*;

    #[derive(DeriveIden)]
    enum Accounts {
        Table,
        Domain,
    }

    #[derive(DeriveIden)]
    enum Touchpoints {
        Table,
        Id,
        AccountId,
        CsmId,
        Kind,
        OccurTimeUs,
        Note,
        ExternalId,
        CreateTimeUs,
    }

    #[derive(DeriveIden)]
    enum LifecycleChanges {
        Table,
        Id,
        AccountId,
        Status,
        ChangeTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000006_touchpoints"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Touchpoints::Table)
                        .col(string_len(Touchpoints::Id, 36).primary_key())
                        .col(string_len(Touchpoints::AccountId, 36))
                        .col(string_len_null(Touchpoints::CsmId, 128))
                        .col(string_len(Touchpoints::Kind, 40))
                        .col(big_integer(Touchpoints::OccurTimeUs))
                        .col(text(Touchpoints::Note))
                        .col(string_len_null(Touchpoints::ExternalId, 128).unique_key())
                        .col(big_integer(Touchpoints::CreateTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(LifecycleChanges::Table)
                        .col(string_len(LifecycleChanges::Id, 36).primary_key())
                        .col(string_len(LifecycleChanges::AccountId, 36))
                        .col(string_len(LifecycleChanges::Status, 40))
                        .col(big_integer(LifecycleChanges::ChangeTimeUs))
                        .to_owned(),
                )
                .await?;
            // Last touch per account; an account's lifecycle at an instant.
            manager
                .create_index(
                    Index::create()
                        .name("idx_touchpoints_account_time")
                        .table(Touchpoints::Table)
                        .col(Touchpoints::AccountId)
                        .col(Touchpoints::OccurTimeUs)
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_lifecycle_changes_account")
                        .table(LifecycleChanges::Table)
                        .col(LifecycleChanges::AccountId)
                        .col(LifecycleChanges::ChangeTimeUs)
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .add_column(string_len_null(Accounts::Domain, 253))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_accounts_domain")
                        .table(Accounts::Table)
                        .col(Accounts::Domain)
                        .to_owned(),
                )
                .await?;
            // Accounts that exist already: their status since their creation.
            manager
                .get_connection()
                .execute_unprepared(
                    "INSERT INTO lifecycle_changes (id, account_id, status, change_time_us) \
                     SELECT id, id, lifecycle_status, create_time_us FROM accounts",
                )
                .await?;
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                LifecycleChanges::Table.into_iden(),
                Touchpoints::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            manager
                .drop_index(
                    Index::drop()
                        .name("idx_accounts_domain")
                        .table(Accounts::Table)
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .drop_column(Accounts::Domain)
                        .to_owned(),
                )
                .await?;
            Ok(())
        }
    }
}

/// Each account's owner with the time it took over, so figures per CSM and
/// team as of a date count an account where it was then.
mod m20261125_000007_owner_changes {
    use super::*;

    #[derive(DeriveIden)]
    enum OwnerChanges {
        Table,
        Id,
        AccountId,
        OwnerCsmId,
        ChangeTimeUs,
    }

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261125_000007_owner_changes"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(OwnerChanges::Table)
                        .col(string_len(OwnerChanges::Id, 36).primary_key())
                        .col(string_len(OwnerChanges::AccountId, 36))
                        .col(string_len_null(OwnerChanges::OwnerCsmId, 128))
                        .col(big_integer(OwnerChanges::ChangeTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_owner_changes_account")
                        .table(OwnerChanges::Table)
                        .col(OwnerChanges::AccountId)
                        .col(OwnerChanges::ChangeTimeUs)
                        .to_owned(),
                )
                .await?;
            // Accounts that have an owner already: theirs since their creation.
            manager
                .get_connection()
                .execute_unprepared(
                    "INSERT INTO owner_changes (id, account_id, owner_csm_id, change_time_us) \
                     SELECT id, id, owner_csm_id, create_time_us FROM accounts \
                     WHERE owner_csm_id IS NOT NULL",
                )
                .await?;
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(OwnerChanges::Table).to_owned())
                .await
        }
    }
}

/// The lifecycle and owner histories are read by account and time, never by
/// a row's id: each table's primary key becomes (account_id, change_time_us,
/// id) and takes the place of its index by account, so writing a change costs
/// one B-tree entry instead of two. The id stays in the key, so two changes of
/// an account stamped with the same microsecond are both kept.
mod m20261203_000008_histories_keyed_by_account {
    use super::*;

    /// A history table: its name, its index by account, and the value it
    /// records with how that column is defined.
    struct History {
        table: &'static str,
        index: &'static str,
        value: &'static str,
        column: fn(&'static str) -> ColumnDef,
    }

    const HISTORIES: [History; 2] = [
        History {
            table: "lifecycle_changes",
            index: "idx_lifecycle_changes_account",
            value: "status",
            column: |name| string_len(name, 40),
        },
        History {
            table: "owner_changes",
            index: "idx_owner_changes_account",
            value: "owner_csm_id",
            column: |name| string_len_null(name, 128),
        },
    ];

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261203_000008_histories_keyed_by_account"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for history in &HISTORIES {
                let key = Index::create()
                    .col("account_id")
                    .col("change_time_us")
                    .col("id")
                    .to_owned();
                rebuild(manager, history, key).await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for history in &HISTORIES {
                rebuild(manager, history, Index::create().col("id").to_owned()).await?;
                manager
                    .create_index(
                        Index::create()
                            .name(history.index)
                            .table(history.table)
                            .col("account_id")
                            .col("change_time_us")
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }
    }

    /// Builds `history`'s table again with primary key `key` (SQLite cannot
    /// change a primary key in place).
    async fn rebuild(
        manager: &SchemaManager<'_>,
        history: &History,
        mut key: IndexCreateStatement,
    ) -> Result<(), DbErr> {
        themodel_platform::store::migration::rebuild_table(
            manager,
            history.table,
            Table::create()
                .col(string_len("id", 36))
                .col(string_len("account_id", 36))
                .col((history.column)(history.value))
                .col(big_integer("change_time_us"))
                .primary_key(&mut key)
                .to_owned(),
            &format!("id, account_id, {}, change_time_us", history.value),
        )
        .await
    }
}
