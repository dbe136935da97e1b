//! The accounts every bulk scenario writes: the same rows for the suite and for
//! the raw-database baselines.

use chrono::NaiveDate;
use themodel_proto::{
    common::{Date, Money},
    segmentation as pb,
};

/// Columns of the `accounts` table, in the order the baselines write them
/// (the order the service itself appends new accounts in).
pub const COLUMNS: &[&str] = themodel_segmentation::store::ACCOUNTS.columns;

/// Row `i` as the suite receives it.
pub fn account(i: u64) -> pb::Account {
    pb::Account {
        external_id: format!("SF-{i:08}"),
        name: format!("Account {i}"),
        industry: ["Manufacturing", "Retail", "IT", "Finance"][(i % 4) as usize].into(),
        employee_count: (i % 5000) as i32,
        acv: Some(Money {
            currency_code: "JPY".into(),
            units: 600_000 + (i % 1000) as i64 * 10_000,
            nanos: 0,
        }),
        potential_acv: None,
        cloud_literacy: pb::CloudLiteracy::Medium as i32,
        migration_source: pb::MigrationSource::SimilarTool as i32,
        contract_start_date: Some(Date {
            year: 2026,
            month: 4,
            day: 1,
        }),
        renewal_date: Some(Date {
            year: 2027,
            month: 3,
            day: 31,
        }),
        owner_csm_id: format!("csm-{}", i % 50),
        partner_id: String::new(),
        lifecycle_status: pb::LifecycleStatus::Onboarding as i32,
        ..Default::default()
    }
}

/// Row `i` as the table stores it.
pub struct StoredRow {
    pub id: String,
    pub external_id: String,
    pub name: String,
    pub industry: String,
    pub employee_count: i32,
    pub acv_units: i64,
    pub owner_csm_id: String,
    pub start: NaiveDate,
    pub renewal: NaiveDate,
    pub time_us: i64,
}

/// Row `i` as the table stores it, with a fresh id.
pub fn stored(i: u64) -> StoredRow {
    let a = account(i);
    StoredRow {
        id: uuid::Uuid::now_v7().to_string(),
        external_id: a.external_id,
        name: a.name,
        industry: a.industry,
        employee_count: a.employee_count,
        acv_units: a.acv.map_or(0, |m| m.units),
        owner_csm_id: a.owner_csm_id,
        start: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default(),
        renewal: NaiveDate::from_ymd_opt(2027, 3, 31).unwrap_or_default(),
        time_us: chrono::Utc::now().timestamp_micros(),
    }
}

/// The stored row as the store's bulk-append primitive writes it, column for
/// column as the raw COPY baseline does.
impl themodel_platform::store::CopyRow for StoredRow {
    fn write(&self, row: &mut themodel_platform::store::RowWriter) {
        row.text(&self.id);
        row.text(&self.external_id);
        row.text(&self.name);
        row.text(&self.industry);
        row.int4(self.employee_count);
        row.text("JPY");
        row.int8(self.acv_units);
        row.int4(0);
        row.null();
        row.null();
        row.text("CLOUD_LITERACY_MEDIUM");
        row.text("MIGRATION_SOURCE_SIMILAR_TOOL");
        row.date(self.start);
        row.date(self.renewal);
        row.text(&self.owner_csm_id);
        row.null();
        row.text("LIFECYCLE_STATUS_ONBOARDING");
        row.text("TIER_UNSPECIFIED");
        row.int8(self.time_us);
        row.int8(self.time_us);
        row.int8(1);
        // The ranking basis (ACV + potential ACV) and no web domain.
        row.int8(self.acv_units);
        row.int4(0);
        row.null();
    }
}
