//! The expansion pipeline: CSQLs raised by CS and handed to customer sales,
//! the opportunities customer sales works from them, and CS's KPIs on them.

use chrono::{DateTime, NaiveDate, Utc};
use themodel_platform::validate::Money;
pub use themodel_proto::expansion::{CsqlKind, CsqlStatus, OpportunityStage};

use super::revenue::ratio_bp;

/// A CSQL as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csql {
    /// Its id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// Upsell or cross-sell.
    pub kind: CsqlKind,
    /// The product.
    pub product_key: String,
    /// The MRR the CSM expects.
    pub estimated_mrr: Money,
    /// Why.
    pub reason: String,
    /// Who raised it.
    pub csm_id: String,
    /// The CSM's team then.
    pub team_id: String,
    /// The account's tier then.
    pub tier: String,
    /// The QBR it came out of.
    pub qbr_id: Option<String>,
    /// Where it stands.
    pub status: CsqlStatus,
    /// Why customer sales rejected it.
    pub rejection_reason: Option<String>,
    /// The opportunity opened for it.
    pub opportunity_id: Option<String>,
    /// Raised at.
    pub create_time: DateTime<Utc>,
    /// Handed off at.
    pub hand_off_time: Option<DateTime<Utc>>,
    /// Accepted or rejected at.
    pub decision_time: Option<DateTime<Utc>>,
    /// Increases with every change.
    pub revision: i64,
}

/// An opportunity as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opportunity {
    /// Its id.
    pub id: String,
    /// The CSQL it came from.
    pub csql_id: String,
    /// The account.
    pub account_id: String,
    /// The product.
    pub product_key: String,
    /// The CSQL's estimate.
    pub estimated_mrr: Money,
    /// Who accepted the CSQL.
    pub owner_id: String,
    /// Where it stands.
    pub stage: OpportunityStage,
    /// The MRR the win added, nano units.
    pub won_mrr: Option<Money>,
    /// The subscription the win created or changed.
    pub subscription_id: Option<String>,
    /// Why it was lost.
    pub lost_reason: Option<String>,
    /// Won or lost on.
    pub close_date: Option<NaiveDate>,
    /// Opened at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change.
    pub revision: i64,
}

/// Why a step of the pipeline is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Customer sales decides only what was handed off.
    NotHandedOff(String),
    /// Accepted or rejected already.
    AlreadyDecided(String),
    /// Handed off already.
    NotOpen(String),
    /// Won or lost already.
    Closed(String),
    /// An upsell of a product the account does not hold.
    ProductNotHeld(String),
    /// A cross-sell of a product the account holds.
    ProductHeld(String),
}

/// Whether a CSQL of `kind` fits what the account holds of its product.
pub fn check_kind(kind: CsqlKind, product: &str, holds: bool) -> Result<(), Refusal> {
    match (kind, holds) {
        (CsqlKind::Upsell, false) => Err(Refusal::ProductNotHeld(format!(
            "an upsell grows a product the account holds, and it does not hold {product}; raise a cross-sell"
        ))),
        (CsqlKind::CrossSell, true) => Err(Refusal::ProductHeld(format!(
            "a cross-sell adds a product the account does not hold, and it holds {product}; raise an upsell"
        ))),
        _ => Ok(()),
    }
}

fn status_name(status: CsqlStatus) -> &'static str {
    status.as_str_name().trim_start_matches("CSQL_STATUS_")
}

/// CS hands an open CSQL to customer sales.
pub fn hand_off(csql: &Csql) -> Result<(), Refusal> {
    match csql.status {
        CsqlStatus::Open => Ok(()),
        status => Err(Refusal::NotOpen(format!(
            "CSQL {} is {}, not OPEN: it was handed off already",
            csql.id,
            status_name(status)
        ))),
    }
}

/// Customer sales accepts or rejects a handed-off CSQL, once.
pub fn decide(csql: &Csql) -> Result<(), Refusal> {
    match csql.status {
        CsqlStatus::HandedOff => Ok(()),
        CsqlStatus::Accepted | CsqlStatus::Rejected => Err(Refusal::AlreadyDecided(format!(
            "CSQL {} was {} already",
            csql.id,
            status_name(csql.status)
        ))),
        _ => Err(Refusal::NotHandedOff(format!(
            "CSQL {} has not been handed off to customer sales",
            csql.id
        ))),
    }
}

/// An open opportunity is won or lost, once.
pub fn close(opportunity: &Opportunity) -> Result<(), Refusal> {
    match opportunity.stage {
        OpportunityStage::Open => Ok(()),
        stage => Err(Refusal::Closed(format!(
            "opportunity {} is {} already",
            opportunity.id,
            stage.as_str_name().trim_start_matches("OPPORTUNITY_STAGE_")
        ))),
    }
}

/// What the CSQL report needs of one CSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsqlFact {
    /// Its group label.
    pub group: String,
    /// Its status.
    pub status: CsqlStatus,
    /// Its opportunity's stage, if accepted.
    pub stage: Option<OpportunityStage>,
    /// Its estimate, nano units.
    pub estimated: i128,
}

/// One group's KPIs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsqlStats {
    /// The group.
    pub group: String,
    /// Raised.
    pub created: u64,
    /// Handed off (whatever happened next).
    pub handed_off: u64,
    /// Accepted.
    pub accepted: u64,
    /// Rejected.
    pub rejected: u64,
    /// Won.
    pub won: u64,
    /// Lost.
    pub lost: u64,
    /// Estimated MRR of open opportunities, nano units.
    pub pipeline: i128,
}

impl CsqlStats {
    /// accepted / decided, basis points.
    pub fn acceptance_rate_bp(&self) -> Option<i64> {
        ratio_bp(
            i128::from(self.accepted),
            i128::from(self.accepted + self.rejected),
        )
    }

    /// won / closed, basis points.
    pub fn win_rate_bp(&self) -> Option<i64> {
        ratio_bp(i128::from(self.won), i128::from(self.won + self.lost))
    }
}

/// The KPIs of `facts`, per group in group order.
pub fn csql_stats(facts: impl IntoIterator<Item = CsqlFact>) -> Vec<CsqlStats> {
    let mut groups: std::collections::BTreeMap<String, CsqlStats> = Default::default();
    for fact in facts {
        let stats = groups
            .entry(fact.group.clone())
            .or_insert_with(|| CsqlStats {
                group: fact.group.clone(),
                ..Default::default()
            });
        stats.created += 1;
        match fact.status {
            CsqlStatus::HandedOff => stats.handed_off += 1,
            CsqlStatus::Accepted => {
                stats.handed_off += 1;
                stats.accepted += 1;
            }
            CsqlStatus::Rejected => {
                stats.handed_off += 1;
                stats.rejected += 1;
            }
            _ => {}
        }
        match fact.stage {
            Some(OpportunityStage::Won) => stats.won += 1,
            Some(OpportunityStage::Lost) => stats.lost += 1,
            Some(OpportunityStage::Open) => stats.pipeline += fact.estimated,
            _ => {}
        }
    }
    groups.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csql(status: CsqlStatus) -> Csql {
        Csql {
            id: "c".into(),
            account_id: "a".into(),
            kind: CsqlKind::Upsell,
            product_key: "p".into(),
            estimated_mrr: Money {
                currency_code: "USD".into(),
                units: 100,
                nanos: 0,
            },
            reason: "r".into(),
            csm_id: "csm".into(),
            team_id: String::new(),
            tier: String::new(),
            qbr_id: None,
            status,
            rejection_reason: None,
            opportunity_id: None,
            create_time: Utc::now(),
            hand_off_time: None,
            decision_time: None,
            revision: 1,
        }
    }

    #[test]
    fn a_csql_is_handed_off_once_and_decided_once() {
        assert!(hand_off(&csql(CsqlStatus::Open)).is_ok());
        assert!(matches!(
            hand_off(&csql(CsqlStatus::HandedOff)),
            Err(Refusal::NotOpen(_))
        ));
        assert!(matches!(
            decide(&csql(CsqlStatus::Open)),
            Err(Refusal::NotHandedOff(_))
        ));
        assert!(decide(&csql(CsqlStatus::HandedOff)).is_ok());
        for decided in [CsqlStatus::Accepted, CsqlStatus::Rejected] {
            assert!(matches!(
                decide(&csql(decided)),
                Err(Refusal::AlreadyDecided(_))
            ));
        }
    }

    #[test]
    fn upsells_grow_held_products_and_cross_sells_add_new_ones() {
        assert!(check_kind(CsqlKind::Upsell, "p", true).is_ok());
        assert!(check_kind(CsqlKind::CrossSell, "p", false).is_ok());
        assert!(matches!(
            check_kind(CsqlKind::Upsell, "p", false),
            Err(Refusal::ProductNotHeld(_))
        ));
        assert!(matches!(
            check_kind(CsqlKind::CrossSell, "p", true),
            Err(Refusal::ProductHeld(_))
        ));
    }

    #[test]
    fn rates_count_decided_and_closed_csqls_only() {
        let fact = |status, stage| CsqlFact {
            group: "csm-1".into(),
            status,
            stage,
            estimated: 100,
        };
        let stats = csql_stats([
            fact(CsqlStatus::Open, None),
            fact(CsqlStatus::HandedOff, None),
            fact(CsqlStatus::Rejected, None),
            fact(CsqlStatus::Accepted, Some(OpportunityStage::Won)),
            fact(CsqlStatus::Accepted, Some(OpportunityStage::Lost)),
            fact(CsqlStatus::Accepted, Some(OpportunityStage::Open)),
        ]);
        let s = &stats[0];
        assert_eq!(
            (
                s.created,
                s.handed_off,
                s.accepted,
                s.rejected,
                s.won,
                s.lost
            ),
            (6, 5, 3, 1, 1, 1)
        );
        assert_eq!(s.acceptance_rate_bp(), Some(7_500));
        assert_eq!(s.win_rate_bp(), Some(5_000));
        assert_eq!(s.pipeline, 100);
        assert_eq!(csql_stats([])[..], []);
    }
}
