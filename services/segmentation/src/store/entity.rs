//! The `accounts` table.

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
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
