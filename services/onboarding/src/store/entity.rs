//! The service's tables.

/// The `playbooks` table: one row per playbook, its scope and latest
/// version.
pub mod playbook {
    use sea_orm::entity::prelude::*;

    /// One playbook.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "playbooks")]
    pub struct Model {
        /// Its key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub playbook_key: String,
        /// The product.
        pub product_key: String,
        /// The tier's name; `TIER_UNSPECIFIED` for the default.
        pub tier: String,
        /// The latest version.
        pub version: i64,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub update_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `playbook_versions` table: every version, never changed.
pub mod version {
    use sea_orm::entity::prelude::*;

    /// One version.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "playbook_versions")]
    pub struct Model {
        /// The playbook.
        #[sea_orm(primary_key, auto_increment = false)]
        pub playbook_key: String,
        /// The version.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// The definition, JSON.
        pub definition: String,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Who published it.
        pub created_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `plans` table.
pub mod plan {
    use sea_orm::entity::prelude::*;

    /// One plan.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plans")]
    pub struct Model {
        /// UUIDv7, so ids order by opening.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// The product.
        pub product_key: String,
        /// The playbook.
        pub playbook_key: String,
        /// Its version.
        pub playbook_version: i64,
        /// The account's tier at opening.
        pub tier: String,
        /// The owner.
        pub owner_csm_id: Option<String>,
        /// The account's partner at opening.
        pub partner_id: Option<String>,
        /// `YYYY-MM-DD`.
        pub contract_start: Option<String>,
        /// `YYYY-MM-DD`.
        pub kickoff: Option<String>,
        /// `YYYY-MM-DD`, once known.
        pub anchor_date: Option<String>,
        /// `YYYY-MM-DD`, once the anchor is known.
        pub setup_due: Option<String>,
        /// `YYYY-MM-DD`, once the anchor is known.
        pub value_due: Option<String>,
        /// Unix microseconds.
        pub setup_time_us: Option<i64>,
        /// Unix microseconds.
        pub value_time_us: Option<i64>,
        /// Unix microseconds.
        pub cancel_time_us: Option<i64>,
        /// Why it was cancelled.
        pub cancel_reason: String,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub progress_time_us: i64,
        /// Increases with every change.
        pub revision: i64,
        /// `account/product` while open.
        pub open_slot: Option<String>,
        /// Days without progress before it stalls.
        pub stall_days: i32,
        /// Routed to self-success.
        pub self_success: bool,
        /// The self-success rule's version at opening; 0 for none.
        pub rule_version: i64,
        /// `anchor_date` as days since 1970-01-01.
        pub anchor_day: Option<i64>,
        /// `setup_due` as days since 1970-01-01.
        pub setup_due_day: Option<i64>,
        /// `value_due` as days since 1970-01-01.
        pub value_due_day: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `plan_steps` table: the completed steps.
pub mod plan_step {
    use sea_orm::entity::prelude::*;

    /// One completed step.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_steps")]
    pub struct Model {
        /// The plan.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan_id: String,
        /// The step.
        #[sea_orm(primary_key, auto_increment = false)]
        pub step_key: String,
        /// Unix microseconds.
        pub done_time_us: i64,
        /// Who.
        pub done_by: String,
        /// The note.
        pub note: String,
        /// Who signed off.
        pub signed_by: Option<String>,
        /// `YYYY-MM-DD`.
        pub signed_date: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `signals` table: each signal's highest value.
pub mod signal {
    use sea_orm::entity::prelude::*;

    /// One signal.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signals")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// The product.
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_key: String,
        /// The signal.
        #[sea_orm(primary_key, auto_increment = false)]
        pub signal_key: String,
        /// The highest value reported.
        pub value: i64,
        /// Unix microseconds.
        pub update_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `stall_alerts` table.
pub mod stall_alert {
    use sea_orm::entity::prelude::*;

    /// One alert.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stall_alerts")]
    pub struct Model {
        /// UUIDv7, so ids order by raise time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub alert_id: String,
        /// The plan.
        pub plan_id: String,
        /// Its account.
        pub account_id: String,
        /// Its product.
        pub product_key: String,
        /// Its owner.
        pub owner_csm_id: Option<String>,
        /// Its account's partner.
        pub partner_id: Option<String>,
        /// `NO_PROGRESS` or `SETUP_OVERDUE`.
        pub kind: String,
        /// What was seen.
        pub detail: String,
        /// Unix microseconds.
        pub raise_time_us: i64,
        /// Unix microseconds; none while open.
        pub clear_time_us: Option<i64>,
        /// `plan/kind` while open.
        pub open_slot: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `self_success_rules` table: every version of the rule.
pub mod rule {
    use sea_orm::entity::prelude::*;

    /// One version.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "self_success_rules")]
    pub struct Model {
        /// The version.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// The rule, JSON.
        pub definition: String,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Who set it.
        pub created_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
