//! The onboarding service's schema, after the platform's own tables.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration of this service's database, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = themodel_platform::store::migration::migrations();
        migrations.push(themodel_platform::accounts::migration());
        migrations.push(Box::new(
            m20261202_000002_playbooks_plans_signals::Migration,
        ));
        migrations.push(Box::new(m20261202_000003_stalls::Migration));
        migrations.push(Box::new(m20261202_000004_self_success::Migration));
        migrations.push(Box::new(m20261202_000005_day_numbers::Migration));
        migrations
    }
}

/// Playbooks with their versions, plans with their completed steps, and
/// usage signals.
mod m20261202_000002_playbooks_plans_signals {
    use super::*;

    #[derive(DeriveIden)]
    enum Playbooks {
        Table,
        PlaybookKey,
        ProductKey,
        Tier,
        Version,
        CreateTimeUs,
        UpdateTimeUs,
    }

    #[derive(DeriveIden)]
    enum PlaybookVersions {
        Table,
        PlaybookKey,
        Version,
        Definition,
        CreateTimeUs,
        CreatedBy,
    }

    #[derive(DeriveIden)]
    enum Plans {
        Table,
        Id,
        AccountId,
        ProductKey,
        PlaybookKey,
        PlaybookVersion,
        Tier,
        OwnerCsmId,
        PartnerId,
        ContractStart,
        Kickoff,
        AnchorDate,
        SetupDue,
        ValueDue,
        SetupTimeUs,
        ValueTimeUs,
        CancelTimeUs,
        CancelReason,
        CreateTimeUs,
        ProgressTimeUs,
        Revision,
        OpenSlot,
    }

    #[derive(DeriveIden)]
    enum PlanSteps {
        Table,
        PlanId,
        StepKey,
        DoneTimeUs,
        DoneBy,
        Note,
        SignedBy,
        SignedDate,
    }

    #[derive(DeriveIden)]
    enum Signals {
        Table,
        AccountId,
        ProductKey,
        SignalKey,
        Value,
        UpdateTimeUs,
    }

    /// This migration.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000002_playbooks_plans_signals"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Playbooks::Table)
                        .col(string_len(Playbooks::PlaybookKey, 64).primary_key())
                        .col(string_len(Playbooks::ProductKey, 64))
                        .col(string_len(Playbooks::Tier, 32))
                        .col(big_integer(Playbooks::Version))
                        .col(big_integer(Playbooks::CreateTimeUs))
                        .col(big_integer(Playbooks::UpdateTimeUs))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_playbooks_scope")
                        .table(Playbooks::Table)
                        .col(Playbooks::ProductKey)
                        .col(Playbooks::Tier)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(PlaybookVersions::Table)
                        .col(string_len(PlaybookVersions::PlaybookKey, 64))
                        .col(big_integer(PlaybookVersions::Version))
                        .col(text(PlaybookVersions::Definition))
                        .col(big_integer(PlaybookVersions::CreateTimeUs))
                        .col(string_len(PlaybookVersions::CreatedBy, 256))
                        .primary_key(
                            Index::create()
                                .col(PlaybookVersions::PlaybookKey)
                                .col(PlaybookVersions::Version),
                        )
                        .to_owned(),
                )
                .await?;
            // open_slot is "account/product" while the plan is open, NULL
            // once completed or cancelled: one open plan per account and
            // product.
            manager
                .create_table(
                    Table::create()
                        .table(Plans::Table)
                        .col(string_len(Plans::Id, 64).primary_key())
                        .col(string_len(Plans::AccountId, 64))
                        .col(string_len(Plans::ProductKey, 64))
                        .col(string_len(Plans::PlaybookKey, 64))
                        .col(big_integer(Plans::PlaybookVersion))
                        .col(string_len(Plans::Tier, 32))
                        .col(string_len_null(Plans::OwnerCsmId, 128))
                        .col(string_len_null(Plans::PartnerId, 64))
                        .col(string_len_null(Plans::ContractStart, 10))
                        .col(string_len_null(Plans::Kickoff, 10))
                        .col(string_len_null(Plans::AnchorDate, 10))
                        .col(string_len_null(Plans::SetupDue, 10))
                        .col(string_len_null(Plans::ValueDue, 10))
                        .col(big_integer_null(Plans::SetupTimeUs))
                        .col(big_integer_null(Plans::ValueTimeUs))
                        .col(big_integer_null(Plans::CancelTimeUs))
                        .col(string_len(Plans::CancelReason, 500))
                        .col(big_integer(Plans::CreateTimeUs))
                        .col(big_integer(Plans::ProgressTimeUs))
                        .col(big_integer(Plans::Revision))
                        .col(string_len_null(Plans::OpenSlot, 140).unique_key())
                        .to_owned(),
                )
                .await?;
            for (name, column) in [
                ("idx_plans_account", Plans::AccountId),
                ("idx_plans_setup_due", Plans::SetupDue),
                ("idx_plans_value_due", Plans::ValueDue),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(Plans::Table)
                            .col(column)
                            .to_owned(),
                    )
                    .await?;
            }
            manager
                .create_table(
                    Table::create()
                        .table(PlanSteps::Table)
                        .col(string_len(PlanSteps::PlanId, 64))
                        .col(string_len(PlanSteps::StepKey, 64))
                        .col(big_integer(PlanSteps::DoneTimeUs))
                        .col(string_len(PlanSteps::DoneBy, 256))
                        .col(text(PlanSteps::Note))
                        .col(string_len_null(PlanSteps::SignedBy, 200))
                        .col(string_len_null(PlanSteps::SignedDate, 10))
                        .primary_key(
                            Index::create()
                                .col(PlanSteps::PlanId)
                                .col(PlanSteps::StepKey),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Signals::Table)
                        .col(string_len(Signals::AccountId, 64))
                        .col(string_len(Signals::ProductKey, 64))
                        .col(string_len(Signals::SignalKey, 64))
                        .col(big_integer(Signals::Value))
                        .col(big_integer(Signals::UpdateTimeUs))
                        .primary_key(
                            Index::create()
                                .col(Signals::AccountId)
                                .col(Signals::ProductKey)
                                .col(Signals::SignalKey),
                        )
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                Signals::Table.into_iden(),
                PlanSteps::Table.into_iden(),
                Plans::Table.into_iden(),
                PlaybookVersions::Table.into_iden(),
                Playbooks::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// Stall alerts, and each plan's stall days.
mod m20261202_000003_stalls {
    use super::*;

    #[derive(DeriveIden)]
    enum Plans {
        Table,
        StallDays,
    }

    #[derive(DeriveIden)]
    enum StallAlerts {
        Table,
        AlertId,
        PlanId,
        AccountId,
        ProductKey,
        OwnerCsmId,
        PartnerId,
        Kind,
        Detail,
        RaiseTimeUs,
        ClearTimeUs,
        OpenSlot,
    }

    /// This migration.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000003_stalls"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .alter_table(
                    Table::alter()
                        .table(Plans::Table)
                        .add_column(integer(Plans::StallDays).default(14))
                        .to_owned(),
                )
                .await?;
            // open_slot is "plan/kind" while open, NULL once cleared.
            manager
                .create_table(
                    Table::create()
                        .table(StallAlerts::Table)
                        .col(string_len(StallAlerts::AlertId, 64).primary_key())
                        .col(string_len(StallAlerts::PlanId, 64))
                        .col(string_len(StallAlerts::AccountId, 64))
                        .col(string_len(StallAlerts::ProductKey, 64))
                        .col(string_len_null(StallAlerts::OwnerCsmId, 128))
                        .col(string_len_null(StallAlerts::PartnerId, 64))
                        .col(string_len(StallAlerts::Kind, 16))
                        .col(text(StallAlerts::Detail))
                        .col(big_integer(StallAlerts::RaiseTimeUs))
                        .col(big_integer_null(StallAlerts::ClearTimeUs))
                        .col(string_len_null(StallAlerts::OpenSlot, 100).unique_key())
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_stall_alerts_plan")
                        .table(StallAlerts::Table)
                        .col(StallAlerts::PlanId)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(StallAlerts::Table).to_owned())
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Plans::Table)
                        .drop_column(Plans::StallDays)
                        .to_owned(),
                )
                .await
        }
    }
}

/// The self-success rule's versions, and each plan's routing.
mod m20261202_000004_self_success {
    use super::*;

    #[derive(DeriveIden)]
    enum Plans {
        Table,
        SelfSuccess,
        RuleVersion,
    }

    #[derive(DeriveIden)]
    enum SelfSuccessRules {
        Table,
        Version,
        Definition,
        CreateTimeUs,
        CreatedBy,
    }

    /// This migration.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000004_self_success"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // One column per statement: SQLite alters one at a time.
            manager
                .alter_table(
                    Table::alter()
                        .table(Plans::Table)
                        .add_column(boolean(Plans::SelfSuccess).default(false))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Plans::Table)
                        .add_column(big_integer(Plans::RuleVersion).default(0))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(SelfSuccessRules::Table)
                        .col(big_integer(SelfSuccessRules::Version).primary_key())
                        .col(text(SelfSuccessRules::Definition))
                        .col(big_integer(SelfSuccessRules::CreateTimeUs))
                        .col(string_len(SelfSuccessRules::CreatedBy, 256))
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table(SelfSuccessRules::Table).to_owned())
                .await?;
            for column in [Plans::RuleVersion, Plans::SelfSuccess] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Plans::Table)
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }
    }
}

/// Each plan's anchor and target dates also as day numbers (days since
/// 1970-01-01), so the completion report counts days and compares times with
/// integers instead of converting date text once per plan.
mod m20261202_000005_day_numbers {
    use super::*;

    #[derive(DeriveIden)]
    enum Plans {
        Table,
        AnchorDay,
        SetupDueDay,
        ValueDueDay,
    }

    /// The date columns each day number is derived from.
    const COLUMNS: [(Plans, &str, &str); 3] = [
        (Plans::AnchorDay, "anchor_day", "anchor_date"),
        (Plans::SetupDueDay, "setup_due_day", "setup_due"),
        (Plans::ValueDueDay, "value_due_day", "value_due"),
    ];

    /// This migration.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000005_day_numbers"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let db = manager.get_connection();
            for (column, name, date) in COLUMNS {
                // One column per statement: SQLite alters one at a time.
                manager
                    .alter_table(
                        Table::alter()
                            .table(Plans::Table)
                            .add_column(big_integer_null(column))
                            .to_owned(),
                    )
                    .await?;
                let day = match manager.get_database_backend() {
                    sea_orm::DatabaseBackend::Postgres => {
                        format!("({date}::date - DATE '1970-01-01')")
                    }
                    _ => format!("CAST(julianday({date}) - 2440587.5 AS INTEGER)"),
                };
                db.execute_unprepared(&format!(
                    "UPDATE plans SET {name} = {day} WHERE {date} IS NOT NULL"
                ))
                .await?;
            }
            // The report counts the open plans not dated yet.
            manager
                .create_index(
                    Index::create()
                        .name("idx_plans_anchor_day")
                        .table(Plans::Table)
                        .col(Plans::AnchorDay)
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_index(
                    Index::drop()
                        .name("idx_plans_anchor_day")
                        .table(Plans::Table)
                        .to_owned(),
                )
                .await?;
            for (column, _, _) in COLUMNS {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Plans::Table)
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
            Ok(())
        }
    }
}
