//! Follows the expansion service, the source of truth for revenue and churn,
//! so that the accounts held here agree with the revenue record: an account
//! whose last subscription ended is CHURNED (ACTIVE again when it comes
//! back), its renewal date is its next renewal, and its ACV is 12 x its MRR
//! while it pays, which re-tiers it by the policy in force like any other ACV
//! change. Each change is an ordinary account update: audited under the
//! expansion service's name and announced as `AccountUpdated`.

use anyhow::Context as _;
use chrono::NaiveDate;
use prost::{Message as _, Name};
use themodel_platform::{
    auth::{Principal, Role},
    client::Clients,
    consumer::{Consumer, EventHandler},
    jobs::JobRunner,
    registry,
    store::{Store, UnitOfWork},
    validate::{self, Money},
};
use themodel_proto::{events::Event, expansion as exp};

use super::change_account;
use crate::{domain::account::LifecycleStatus, error::Error};

/// The consumer's name, in `ListJobs` and dead letters.
pub const CONSUMER: &str = "expansion-revenue";

/// Starts following the expansion service's revenue events on `jobs`.
pub fn follow(store: &Store, jobs: &JobRunner, clients: Clients) {
    Consumer::new(CONSUMER, registry::EXPANSION.name, store, RevenueFollower).start(jobs, clients);
}

/// Applies expansion's revenue events to the accounts.
struct RevenueFollower;

/// What an event changes on an account.
enum Change {
    Revenue {
        mrr: Money,
        next_renewal: Option<NaiveDate>,
    },
    Lifecycle(LifecycleStatus),
}

fn decode(event: &Event) -> anyhow::Result<Option<(String, Change)>> {
    let payload = event
        .payload
        .as_ref()
        .map(|p| p.value.as_slice())
        .unwrap_or_default();
    let kind = event.r#type.as_str();
    Ok(Some(if kind == exp::AccountRevenueChanged::full_name() {
        let e = exp::AccountRevenueChanged::decode(payload)?;
        let mrr = e.mrr.context("AccountRevenueChanged without mrr")?;
        let next_renewal = e
            .next_renewal_date
            .as_ref()
            .map(validate::date)
            .transpose()
            .map_err(|_| anyhow::anyhow!("AccountRevenueChanged with a bad next_renewal_date"))?;
        let mrr = Money {
            currency_code: mrr.currency_code,
            units: mrr.units,
            nanos: mrr.nanos,
        };
        (e.account_id, Change::Revenue { mrr, next_renewal })
    } else if kind == exp::AccountChurned::full_name() {
        let e = exp::AccountChurned::decode(payload)?;
        (e.account_id, Change::Lifecycle(LifecycleStatus::Churned))
    } else if kind == exp::AccountReactivated::full_name() {
        let e = exp::AccountReactivated::decode(payload)?;
        (e.account_id, Change::Lifecycle(LifecycleStatus::Active))
    } else {
        return Ok(None);
    }))
}

/// 12 x `mrr`, exactly.
fn annual(mrr: &Money) -> Option<Money> {
    const NANOS: i128 = 1_000_000_000;
    let total = (i128::from(mrr.units) * NANOS + i128::from(mrr.nanos)) * 12;
    Some(Money {
        currency_code: mrr.currency_code.clone(),
        units: i64::try_from(total / NANOS).ok()?,
        nanos: i32::try_from(total % NANOS).ok()?,
    })
}

#[tonic::async_trait]
impl EventHandler for RevenueFollower {
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()> {
        let Some((account_id, change)) = decode(event)? else {
            return Ok(());
        };
        let principal = Principal {
            subject: registry::EXPANSION.name.to_owned(),
            role: Role::Service,
            partner_id: None,
            actor: None,
        };
        let result = change_account(uow, &principal, &account_id, None, |current| {
            let mut fields = current.fields.clone();
            match &change {
                Change::Revenue { mrr, next_renewal } => {
                    fields.renewal_date = *next_renewal;
                    let paying = mrr.units > 0 || mrr.nanos > 0;
                    if paying {
                        if mrr.currency_code != fields.acv.currency_code {
                            return Err(Error::Api(themodel_platform::ApiError::internal(
                                anyhow::anyhow!(
                                    "the account's revenue is in {} but its ACV in {}",
                                    mrr.currency_code,
                                    fields.acv.currency_code
                                ),
                            )));
                        }
                        fields.acv = annual(mrr).ok_or_else(|| {
                            Error::Api(themodel_platform::ApiError::internal(anyhow::anyhow!(
                                "12 x MRR is beyond the range of an amount"
                            )))
                        })?;
                    }
                }
                Change::Lifecycle(status) => fields.lifecycle_status = *status,
            }
            Ok(fields)
        })
        .await;
        match result {
            Ok(_) => Ok(()),
            // An account removed here has nothing to follow.
            Err(Error::AccountNotFound(_)) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acv_is_twelve_times_mrr_exactly() {
        let mrr = Money {
            currency_code: "USD".into(),
            units: 166,
            nanos: 670_000_000,
        };
        let acv = annual(&mrr).expect("acv");
        assert_eq!((acv.units, acv.nanos), (2000, 40_000_000));
    }
}
