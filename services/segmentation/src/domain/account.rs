//! The account: a customer company, the unit that is segmented, onboarded,
//! scored and renewed.

use chrono::{DateTime, NaiveDate, Utc};
use themodel_platform::validate::Money;
pub use themodel_platform::validate::normalise_domain;
pub use themodel_proto::segmentation::{CloudLiteracy, LifecycleStatus, MigrationSource, Tier};

/// Field names a caller may update, as they appear in the contract.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "external_id",
    "name",
    "industry",
    "employee_count",
    "acv",
    "potential_acv",
    "cloud_literacy",
    "migration_source",
    "contract_start_date",
    "renewal_date",
    "owner_csm_id",
    "partner_id",
    "lifecycle_status",
    "domain",
];

/// The three touch models in report order, high-touch first.
pub const TIERS: [Tier; 3] = [Tier::HighTouch, Tier::LowTouch, Tier::TechTouch];

/// Where `tier` stands in [`TIERS`]; `None` for `TIER_UNSPECIFIED`.
pub fn tier_slot(tier: Tier) -> Option<usize> {
    TIERS.iter().position(|t| *t == tier)
}

/// Fields the server computes; naming them in an update mask is an error.
pub const OUTPUT_ONLY_FIELDS: &[&str] = &["id", "tier", "create_time", "update_time", "etag"];

/// The fields a caller sets, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFields {
    /// CRM id, unique among accounts.
    pub external_id: Option<String>,
    /// Company name.
    pub name: String,
    /// Industry label ("" when unknown).
    pub industry: String,
    /// Employees; 0 when unknown.
    pub employee_count: u32,
    /// Annual contract value.
    pub acv: Money,
    /// Visible expansion potential, in the currency of `acv`.
    pub potential_acv: Option<Money>,
    /// How used the customer is to cloud tools.
    pub cloud_literacy: CloudLiteracy,
    /// What the customer migrates from.
    pub migration_source: MigrationSource,
    /// First day of the contract.
    pub contract_start_date: Option<NaiveDate>,
    /// Next renewal.
    pub renewal_date: Option<NaiveDate>,
    /// Owning CSM.
    pub owner_csm_id: Option<String>,
    /// Sourcing or serving partner.
    pub partner_id: Option<String>,
    /// Place in the customer life cycle.
    pub lifecycle_status: LifecycleStatus,
    /// Web domain, normalised.
    pub domain: Option<String>,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// UUIDv7.
    pub id: String,
    /// What callers set.
    pub fields: AccountFields,
    /// Assigned touch model.
    pub tier: Tier,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Incremented by every change; the etag is derived from it.
    pub revision: i64,
}

impl Account {
    /// The opaque version tag of this revision.
    pub fn etag(&self) -> String {
        etag(self.revision)
    }
}

/// The etag of a revision.
pub fn etag(revision: i64) -> String {
    format!("\"r{revision}\"")
}

/// Rules that involve more than one field. Returns (field, description) pairs.
pub fn cross_field_violations(fields: &AccountFields) -> Vec<(&'static str, String)> {
    let mut violations = Vec::new();
    if let Some(potential) = &fields.potential_acv
        && potential.currency_code != fields.acv.currency_code
    {
        violations.push((
            "potential_acv.currency_code",
            format!(
                "must be the currency of acv ({}), not {}",
                fields.acv.currency_code, potential.currency_code
            ),
        ));
    }
    if let (Some(start), Some(renewal)) = (fields.contract_start_date, fields.renewal_date)
        && renewal < start
    {
        violations.push((
            "renewal_date",
            format!("must not be before contract_start_date ({start})"),
        ));
    }
    violations
}

impl AccountFields {
    /// Names of the fields whose value differs from `other`, in contract order.
    pub fn changed_fields(&self, other: &AccountFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                changed.push(name);
            }
        };
        check("external_id", self.external_id != other.external_id);
        check("name", self.name != other.name);
        check("industry", self.industry != other.industry);
        check(
            "employee_count",
            self.employee_count != other.employee_count,
        );
        check("acv", self.acv != other.acv);
        check("potential_acv", self.potential_acv != other.potential_acv);
        check(
            "cloud_literacy",
            self.cloud_literacy != other.cloud_literacy,
        );
        check(
            "migration_source",
            self.migration_source != other.migration_source,
        );
        check(
            "contract_start_date",
            self.contract_start_date != other.contract_start_date,
        );
        check("renewal_date", self.renewal_date != other.renewal_date);
        check("owner_csm_id", self.owner_csm_id != other.owner_csm_id);
        check("partner_id", self.partner_id != other.partner_id);
        check(
            "lifecycle_status",
            self.lifecycle_status != other.lifecycle_status,
        );
        check("domain", self.domain != other.domain);
        changed
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn fields() -> AccountFields {
        AccountFields {
            external_id: Some("SF-001".into()),
            name: "Acme".into(),
            industry: "Manufacturing".into(),
            employee_count: 120,
            acv: Money {
                currency_code: "JPY".into(),
                units: 1_200_000,
                nanos: 0,
            },
            potential_acv: None,
            cloud_literacy: CloudLiteracy::High,
            migration_source: MigrationSource::SimilarTool,
            contract_start_date: NaiveDate::from_ymd_opt(2026, 4, 1),
            renewal_date: NaiveDate::from_ymd_opt(2027, 4, 1),
            owner_csm_id: None,
            partner_id: None,
            lifecycle_status: LifecycleStatus::Onboarding,
            domain: Some("acme.example".into()),
        }
    }

    #[test]
    fn renewal_before_start_and_mixed_currencies_are_violations() {
        let mut f = fields();
        f.renewal_date = NaiveDate::from_ymd_opt(2026, 3, 31);
        f.potential_acv = Some(Money {
            currency_code: "USD".into(),
            units: 1,
            nanos: 0,
        });
        let names: Vec<_> = cross_field_violations(&f)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["potential_acv.currency_code", "renewal_date"]);
        assert!(cross_field_violations(&fields()).is_empty());
    }

    #[test]
    fn every_updatable_field_is_diffed() {
        // Changing each field in turn is reported under exactly its own name.
        let base = fields();
        let variants: Vec<(&str, AccountFields)> = vec![
            (
                "external_id",
                AccountFields {
                    external_id: None,
                    ..base.clone()
                },
            ),
            (
                "name",
                AccountFields {
                    name: "B".into(),
                    ..base.clone()
                },
            ),
            (
                "industry",
                AccountFields {
                    industry: "".into(),
                    ..base.clone()
                },
            ),
            (
                "employee_count",
                AccountFields {
                    employee_count: 1,
                    ..base.clone()
                },
            ),
            (
                "acv",
                AccountFields {
                    acv: Money {
                        units: 1,
                        ..base.acv.clone()
                    },
                    ..base.clone()
                },
            ),
            (
                "potential_acv",
                AccountFields {
                    potential_acv: Some(base.acv.clone()),
                    ..base.clone()
                },
            ),
            (
                "cloud_literacy",
                AccountFields {
                    cloud_literacy: CloudLiteracy::Low,
                    ..base.clone()
                },
            ),
            (
                "migration_source",
                AccountFields {
                    migration_source: MigrationSource::Unknown,
                    ..base.clone()
                },
            ),
            (
                "contract_start_date",
                AccountFields {
                    contract_start_date: None,
                    ..base.clone()
                },
            ),
            (
                "renewal_date",
                AccountFields {
                    renewal_date: None,
                    ..base.clone()
                },
            ),
            (
                "owner_csm_id",
                AccountFields {
                    owner_csm_id: Some("c".into()),
                    ..base.clone()
                },
            ),
            (
                "partner_id",
                AccountFields {
                    partner_id: Some("p".into()),
                    ..base.clone()
                },
            ),
            (
                "lifecycle_status",
                AccountFields {
                    lifecycle_status: LifecycleStatus::Active,
                    ..base.clone()
                },
            ),
            (
                "domain",
                AccountFields {
                    domain: None,
                    ..base.clone()
                },
            ),
        ];
        let names: Vec<_> = variants.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, UPDATABLE_FIELDS);
        for (name, variant) in variants {
            assert_eq!(variant.changed_fields(&base), [name]);
        }
    }

    proptest! {
        #[test]
        fn diff_is_empty_exactly_when_equal(units in 0i64..1_000_000, count in 0u32..10_000, name in "[a-z]{1,8}") {
            let a = fields();
            let b = AccountFields { acv: Money { units, ..a.acv.clone() }, employee_count: count, name, ..a.clone() };
            prop_assert_eq!(a.changed_fields(&b).is_empty(), a == b);
            prop_assert_eq!(a.changed_fields(&b), b.changed_fields(&a));
        }
    }
}
