//! The service's tables: `accounts` and their `lifecycle_changes` and
//! `owner_changes`; the
//! `tier_policies`, `tier_changes` and `tier_overrides` of the tier
//! policies; `csms` and their `csm_team_memberships`; `touchpoints`.

use sea_orm::entity::prelude::*;

/// One account row. Money is stored as units + nanos (never a float); the
/// potential ACV shares the ACV's currency.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    /// UUIDv7, also the listing order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// CRM id, unique when set.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    /// Company name.
    pub name: String,
    /// Industry label.
    pub industry: String,
    /// Employees.
    pub employee_count: i32,
    /// ISO 4217 code of acv and potential_acv.
    pub currency_code: String,
    /// ACV whole units.
    pub acv_units: i64,
    /// ACV nano units.
    pub acv_nanos: i32,
    /// Potential ACV whole units.
    pub potential_acv_units: Option<i64>,
    /// Potential ACV nano units.
    pub potential_acv_nanos: Option<i32>,
    /// Protobuf enum name, e.g. `CLOUD_LITERACY_HIGH`.
    pub cloud_literacy: String,
    /// Protobuf enum name.
    pub migration_source: String,
    /// First day of the contract.
    pub contract_start_date: Option<Date>,
    /// Next renewal.
    pub renewal_date: Option<Date>,
    /// Owning CSM.
    pub owner_csm_id: Option<String>,
    /// Sourcing or serving partner.
    pub partner_id: Option<String>,
    /// Protobuf enum name.
    pub lifecycle_status: String,
    /// Protobuf enum name.
    pub tier: String,
    /// Unix microseconds.
    pub create_time_us: i64,
    /// Unix microseconds.
    pub update_time_us: i64,
    /// Incremented by each change.
    pub revision: i64,
    /// Ranking basis (ACV + potential ACV) whole units.
    pub basis_units: i64,
    /// Ranking basis nano units.
    pub basis_nanos: i32,
    /// Normalised web domain.
    pub domain: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The `tier_policies` table: one row per applied version.
pub mod tier_policy {
    use sea_orm::entity::prelude::*;

    /// One policy version. The thresholds are columns because account writes
    /// read them; the rest of the version is its contract form in `body`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tier_policies")]
    pub struct Model {
        /// Version, from 1.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// Currency of the thresholds.
        pub currency_code: String,
        /// High-touch floor whole units; NULL lets every account in.
        pub high_above_units: Option<i64>,
        /// High-touch floor nano units.
        pub high_above_nanos: Option<i32>,
        /// Low-touch floor whole units; NULL lets every account in.
        pub low_above_units: Option<i64>,
        /// Low-touch floor nano units.
        pub low_above_nanos: Option<i32>,
        /// Unix microseconds.
        pub apply_time_us: i64,
        /// When the re-baseline reminder went out; NULL until it has.
        pub reminded_time_us: Option<i64>,
        /// The `themodel.segmentation.v1.TierPolicy` message.
        pub body: Vec<u8>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `tier_changes` table: every change of every account's tier.
pub mod tier_change {
    use sea_orm::entity::prelude::*;

    /// One change.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tier_changes")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// Unix microseconds.
        pub change_time_us: i64,
        /// Protobuf enum name.
        pub old_tier: String,
        /// Protobuf enum name.
        pub new_tier: String,
        /// Deciding policy version.
        pub policy_version: i32,
        /// Protobuf enum name of the deciding rule.
        pub rule: String,
        /// Token subject that caused it.
        pub actor: String,
        /// Why, in words.
        pub reason: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `tier_overrides` table.
pub mod tier_override {
    use sea_orm::entity::prelude::*;

    /// One override.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tier_overrides")]
    pub struct Model {
        /// UUIDv7, also the listing order.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// Protobuf enum name of the kept tier.
        pub tier: String,
        /// Protobuf enum name of the tier before.
        pub previous_tier: String,
        /// Why.
        pub reason: String,
        /// Approver's token subject.
        pub approved_by: String,
        /// Policy version in force at approval.
        pub policy_version: i32,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub expire_time_us: i64,
        /// Protobuf enum name of the state.
        pub state: String,
        /// Unix microseconds; NULL while active.
        pub end_time_us: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `csms` table.
pub mod csm {
    use sea_orm::entity::prelude::*;

    /// One CSM.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "csms")]
    pub struct Model {
        /// What `accounts.owner_csm_id` holds.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Name to show.
        pub display_name: String,
        /// Current team.
        pub team_id: Option<String>,
        /// Protobuf enum name of the tier served.
        pub tier: String,
        /// Fewest accounts; NULL takes the tier's default.
        pub capacity_min: Option<i32>,
        /// Most accounts; NULL takes the tier's default.
        pub capacity_max: Option<i32>,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub update_time_us: i64,
        /// Incremented by each change.
        pub revision: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `csm_team_memberships` table: who was in which team, from when to when.
pub mod team_membership {
    use sea_orm::entity::prelude::*;

    /// One membership.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "csm_team_memberships")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The CSM.
        pub csm_id: String,
        /// The team.
        pub team_id: String,
        /// First day in the team.
        pub start_date: Date,
        /// First day no longer in it; NULL while current.
        pub end_date: Option<Date>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `touchpoints` table.
pub mod touchpoint {
    use sea_orm::entity::prelude::*;

    /// One touchpoint.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "touchpoints")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// The CSM, when known.
        pub csm_id: Option<String>,
        /// Protobuf enum name of the kind.
        pub kind: String,
        /// Unix microseconds.
        pub occur_time_us: i64,
        /// Free text.
        pub note: String,
        /// Id in the source system, unique when set.
        #[sea_orm(unique)]
        pub external_id: Option<String>,
        /// Unix microseconds.
        pub create_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `lifecycle_changes` table: each account's status since each change.
pub mod lifecycle_change {
    use sea_orm::entity::prelude::*;

    /// One change (the first is the creation). Keyed by account and time, as
    /// the history is read; the id tells apart changes of the same instant.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lifecycle_changes")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// Unix microseconds.
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_time_us: i64,
        /// UUIDv7 (the account id for rows written by the migration).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Protobuf enum name of the status from then on.
        pub status: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `owner_changes` table: each account's owner since each change.
pub mod owner_change {
    use sea_orm::entity::prelude::*;

    /// One change (the first is the creation with an owner, or the first
    /// assignment). Keyed like [`super::lifecycle_change::Model`].
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "owner_changes")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// Unix microseconds.
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_time_us: i64,
        /// UUIDv7 (the account id for rows written by the migration).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The CSM from then on; none when the account was left unowned.
        pub owner_csm_id: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
