//! The service's tables: `partners`.

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
