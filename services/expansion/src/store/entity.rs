//! The service's tables: `products` and their `product_plans`.

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
