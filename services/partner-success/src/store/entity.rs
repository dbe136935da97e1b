//! The service's tables: `partners`, `partner_staff`, `certifications`,
//! `attributions`, `deals`, `tier_programs` and `partner_tier_changes`.

/// The `partners` table.
pub mod partner {
    use sea_orm::entity::prelude::*;

    /// One partner. Enums are stored by their protobuf names.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partners")]
    pub struct Model {
        /// The partner key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub partner_id: String,
        /// Name to show.
        pub display_name: String,
        /// How the partner sells with us.
        pub contract_form: String,
        /// Who runs customer success for its accounts.
        pub cs_model: String,
        /// Where the partnership stands.
        pub status: String,
        /// Name of its tier in the tier program; empty when none.
        pub tier: String,
        /// Increases with every change.
        pub revision: i64,
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

/// The `partner_staff` table.
pub mod staff {
    use sea_orm::entity::prelude::*;

    /// One staff member of a partner.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_staff")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The partner.
        pub partner_id: String,
        /// The person's name.
        pub name: String,
        /// E-mail as given.
        pub email: String,
        /// E-mail in lower case: unique per partner.
        pub email_key: String,
        /// Role at the partner.
        pub role: String,
        /// CRM id, unique.
        pub external_id: Option<String>,
        /// Protobuf name of the status.
        pub status: String,
        /// Increases with every change.
        pub revision: i64,
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

/// The `certifications` table.
pub mod certification {
    use sea_orm::entity::prelude::*;

    /// One certification.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "certifications")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The staff member.
        pub staff_id: String,
        /// Its partner.
        pub partner_id: String,
        /// The course.
        pub course_key: String,
        /// 1 to 3.
        pub level: i32,
        /// YYYY-MM-DD.
        pub earned_on: String,
        /// YYYY-MM-DD, last valid day.
        pub expires_on: Option<String>,
        /// Unix microseconds.
        pub create_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `attributions` table.
pub mod attribution {
    use sea_orm::entity::prelude::*;

    /// One attribution.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attributions")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// The partner.
        pub partner_id: String,
        /// Protobuf name of the kind.
        pub kind: String,
        /// YYYY-MM-DD.
        pub start_date: String,
        /// YYYY-MM-DD, exclusive.
        pub end_date: Option<String>,
        /// Increases with every change.
        pub revision: i64,
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

/// The `deals` table.
pub mod deal {
    use sea_orm::entity::prelude::*;

    /// One registered deal.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deals")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The registering partner.
        pub partner_id: String,
        /// Company name as given.
        pub company_name: String,
        /// Its comparison key.
        pub name_key: String,
        /// Normalised domain.
        pub domain: String,
        /// Contact person.
        pub contact_name: String,
        /// Contact e-mail.
        pub contact_email: String,
        /// ISO 4217.
        pub currency_code: String,
        /// Expected MRR, whole units.
        pub mrr_units: i64,
        /// Expected MRR, nano units.
        pub mrr_nanos: i32,
        /// Catalogue product key, empty when none.
        pub product_key: String,
        /// Free text.
        pub notes: String,
        /// Protobuf name of the status.
        pub status: String,
        /// Days of protection, 0 before approval.
        pub protection_days: i32,
        /// YYYY-MM-DD.
        pub approved_on: Option<String>,
        /// YYYY-MM-DD, first day without protection.
        pub expires_on: Option<String>,
        /// Why rejected.
        pub rejection_reason: String,
        /// Why a conflict was overridden.
        pub override_reason: String,
        /// `domain` or `company_name`; empty without a conflict.
        pub conflict_matched_on: String,
        /// The other partner's deal.
        pub conflict_deal_id: Option<String>,
        /// Its partner.
        pub conflict_partner_id: Option<String>,
        /// The existing account.
        pub conflict_account_id: Option<String>,
        /// Unix microseconds.
        pub submit_time_us: Option<i64>,
        /// Increases with every change.
        pub revision: i64,
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

/// The `tier_programs` table: every version of the tier program, never
/// changed.
pub mod tier_program {
    use sea_orm::entity::prelude::*;

    /// One version.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tier_programs")]
    pub struct Model {
        /// From 1.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// JSON: the tiers, highest first, with their criteria.
        pub tiers: String,
        /// ISO 4217 of the revenue criteria; empty when none.
        pub currency_code: String,
        /// Why it was made.
        pub reason: String,
        /// Token subject of its author.
        pub created_by: String,
        /// Unix microseconds.
        pub create_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `partner_tier_changes` table: every tier change, with the criteria
/// that caused it.
pub mod tier_change {
    use sea_orm::entity::prelude::*;

    /// One change.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_tier_changes")]
    pub struct Model {
        /// UUIDv7.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The partner.
        pub partner_id: String,
        /// Tier before; empty when none.
        pub previous_tier: String,
        /// Tier after.
        pub new_tier: String,
        /// The program version evaluated.
        pub program_version: i64,
        /// YYYY-MM-DD.
        pub evaluated_on: String,
        /// YYYY-MM-DD, first revenue month; none without revenue criteria.
        pub revenue_start_month: Option<String>,
        /// YYYY-MM-DD, last revenue month.
        pub revenue_end_month: Option<String>,
        /// ISO 4217 of the amounts; empty when none.
        pub currency_code: String,
        /// JSON: every criterion of every tier with its value and whether it
        /// held.
        pub criteria: String,
        /// Who evaluated.
        pub evaluated_by: String,
        /// Unix microseconds.
        pub change_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
