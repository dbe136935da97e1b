//! The service's tables: `products` and their `product_plans`;
//! `subscriptions`, their `subscription_terms` and `revenue_accounts`;
//! `csqls` and their `opportunities`; `renewal_plans`; `qbrs`.

/// The `products` table.
pub mod product {
    use sea_orm::entity::prelude::*;

    /// One product.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        /// The product key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_key: String,
        /// Name to show.
        pub display_name: String,
        /// Free text.
        pub description: String,
        /// No longer sold.
        pub retired: bool,
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

/// The `product_plans` table: each product's plans in their order.
pub mod plan {
    use sea_orm::entity::prelude::*;

    /// One plan.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "product_plans")]
    pub struct Model {
        /// The product.
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_key: String,
        /// The plan's key within it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan_key: String,
        /// Place in the product's list, from 0.
        pub position: i32,
        /// Name to show.
        pub display_name: String,
        /// ISO 4217 code of the price.
        pub currency_code: String,
        /// Price whole units.
        pub price_units: i64,
        /// Price nano units.
        pub price_nanos: i32,
        /// Protobuf enum name of the billing period.
        pub billing_period: String,
        /// No longer sold.
        pub retired: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `subscriptions` table.
pub mod subscription {
    use sea_orm::entity::prelude::*;

    /// One subscription.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "subscriptions")]
    pub struct Model {
        /// Its id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Id in the billing system or CRM.
        pub external_id: Option<String>,
        /// The account.
        pub account_id: String,
        /// The product.
        pub product_key: String,
        /// The plan.
        pub plan_key: String,
        /// ISO 4217 code of every term's price.
        pub currency_code: String,
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

/// The `subscription_terms` table: each subscription's terms in order.
pub mod term {
    use sea_orm::entity::prelude::*;

    /// One term.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "subscription_terms")]
    pub struct Model {
        /// The subscription.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subscription_id: String,
        /// Place in the subscription's terms, from 0.
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        /// The subscription's account.
        pub account_id: String,
        /// The subscription's product.
        pub product_key: String,
        /// The price's currency.
        pub currency_code: String,
        /// Units bought.
        pub quantity: i64,
        /// Unit price whole units.
        pub price_units: i64,
        /// Unit price nano units.
        pub price_nanos: i32,
        /// Protobuf enum name of the billing period.
        pub billing_period: String,
        /// First day in force, `YYYY-MM-DD`.
        pub start_date: String,
        /// First day no longer in force, `YYYY-MM-DD`; none while open.
        pub end_date: Option<String>,
        /// The term's MRR in millionths of the currency unit (exact: MRR is
        /// rounded to at most three decimals).
        pub mrr_micros: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `revenue_accounts` table: whether each account with subscriptions
/// pays, what and until when, so that churn, reactivation and revenue
/// changes are announced once.
pub mod revenue_account {
    use sea_orm::entity::prelude::*;

    /// One account's revenue state.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revenue_accounts")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// `PENDING`, `ACTIVE` or `CHURNED`.
        pub state: String,
        /// Since when, `YYYY-MM-DD`.
        pub since: String,
        /// The next day the state may change by the calendar alone.
        pub next_check: Option<String>,
        /// The currency of `mrr_micros`.
        pub currency_code: String,
        /// MRR in force when last settled, millionths of the currency unit.
        pub mrr_micros: i64,
        /// Earliest end of a term in force when last settled, `YYYY-MM-DD`.
        pub next_renewal: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `csqls` table.
pub mod csql {
    use sea_orm::entity::prelude::*;

    /// One CSQL.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "csqls")]
    pub struct Model {
        /// Its id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// Protobuf enum name of its kind.
        pub kind: String,
        /// The product.
        pub product_key: String,
        /// The estimate's currency.
        pub currency_code: String,
        /// The estimate's whole units.
        pub estimated_units: i64,
        /// The estimate's nano units.
        pub estimated_nanos: i32,
        /// Why.
        pub reason: String,
        /// Who raised it.
        pub csm_id: String,
        /// The CSM's team then; empty when unknown.
        pub team_id: String,
        /// The account's tier then.
        pub tier: String,
        /// The QBR it came out of.
        pub qbr_id: Option<String>,
        /// Protobuf enum name of its status.
        pub status: String,
        /// Why it was rejected.
        pub rejection_reason: Option<String>,
        /// The opportunity opened for it.
        pub opportunity_id: Option<String>,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub hand_off_time_us: Option<i64>,
        /// Unix microseconds.
        pub decision_time_us: Option<i64>,
        /// Increases with every change.
        pub revision: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `opportunities` table.
pub mod opportunity {
    use sea_orm::entity::prelude::*;

    /// One opportunity.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "opportunities")]
    pub struct Model {
        /// Its id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The CSQL it came from.
        pub csql_id: String,
        /// The account.
        pub account_id: String,
        /// The product.
        pub product_key: String,
        /// The amounts' currency.
        pub currency_code: String,
        /// The estimate's whole units.
        pub estimated_units: i64,
        /// The estimate's nano units.
        pub estimated_nanos: i32,
        /// Who accepted the CSQL.
        pub owner_id: String,
        /// Protobuf enum name of its stage.
        pub stage: String,
        /// MRR the win added, whole units.
        pub won_units: Option<i64>,
        /// MRR the win added, nano units.
        pub won_nanos: Option<i32>,
        /// The subscription the win created or changed.
        pub subscription_id: Option<String>,
        /// Why it was lost.
        pub lost_reason: Option<String>,
        /// Won or lost on, `YYYY-MM-DD`.
        pub close_date: Option<String>,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub update_time_us: i64,
        /// Increases with every change.
        pub revision: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `renewal_plans` table: closing plans and recorded outcomes, keyed by
/// the term end they are for.
pub mod renewal_plan {
    use sea_orm::entity::prelude::*;

    /// One renewal's plan.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "renewal_plans")]
    pub struct Model {
        /// The subscription.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subscription_id: String,
        /// The renewal date, `YYYY-MM-DD`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub renewal_date: String,
        /// The account.
        pub account_id: String,
        /// Who owns winning it.
        pub owner_id: String,
        /// The steps, JSON.
        pub steps: String,
        /// Days between reviews.
        pub review_every_days: i32,
        /// The day the plan was first set, `YYYY-MM-DD`.
        pub created_on: String,
        /// The last review, `YYYY-MM-DD`.
        pub last_review_date: Option<String>,
        /// The last review's note.
        pub last_review_note: Option<String>,
        /// Protobuf enum name of the recorded outcome.
        pub outcome: Option<String>,
        /// Why the customer left.
        pub churn_reason: Option<String>,
        /// Increases with every change.
        pub revision: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `qbrs` table.
pub mod qbr {
    use sea_orm::entity::prelude::*;

    /// One QBR.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "qbrs")]
    pub struct Model {
        /// Its id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The account.
        pub account_id: String,
        /// Planned for, `YYYY-MM-DD`.
        pub scheduled_date: String,
        /// Agenda items, JSON array of strings.
        pub agenda: String,
        /// Protobuf enum name of its status.
        pub status: String,
        /// Held on, `YYYY-MM-DD`.
        pub held_date: Option<String>,
        /// Attendees, JSON.
        pub attendees: String,
        /// Proposals, JSON array of strings.
        pub proposals: String,
        /// Outcomes, JSON array of strings.
        pub outcomes: String,
        /// Unix microseconds.
        pub create_time_us: i64,
        /// Unix microseconds.
        pub update_time_us: i64,
        /// Increases with every change.
        pub revision: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
