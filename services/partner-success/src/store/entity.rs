//! The service's tables: `partners`, `partner_staff`, `certifications`,
//! `attributions` and `deals`.

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
