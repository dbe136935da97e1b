//! The service's tables read through the ORM: `features` and `seat_terms`.
//! Usage tables are written in bulk and read with SQL.

/// The `features` table.
pub mod feature {
    use sea_orm::entity::prelude::*;

    /// One feature.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "features")]
    pub struct Model {
        /// The product.
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_key: String,
        /// The feature's key within it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub feature_key: String,
        /// Name to show.
        pub display_name: String,
        /// One of the product's key features.
        pub key_feature: bool,
        /// Takes no more usage.
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

/// The `seat_terms` table: the terms of the expansion service's
/// subscriptions, kept from its events, for licensed seats.
pub mod seat_term {
    use sea_orm::entity::prelude::*;

    /// One term.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "seat_terms")]
    pub struct Model {
        /// The subscription.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subscription_id: String,
        /// Place in its terms.
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        /// The account.
        pub account_id: String,
        /// The product.
        pub product_key: String,
        /// Seats bought.
        pub quantity: i64,
        /// First day in force, `YYYY-MM-DD`.
        pub start_date: String,
        /// First day out of force, `YYYY-MM-DD`; none while open.
        pub end_date: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
