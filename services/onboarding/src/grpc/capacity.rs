//! Handler of the capacity forecast.

use std::collections::{BTreeSet, HashMap};

use themodel_platform::{Violations, auth::principal};
use themodel_proto::onboarding as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::tier,
    domain::{
        access::REPORT_READERS,
        capacity::{Cohort, forecast},
        playbook::DEFAULT_TIER,
    },
    error::Result,
};

/// Most bookings a forecast takes.
const MAX_BOOKINGS: usize = 1200;

impl Handler {
    pub(super) async fn forecast_capacity(
        &self,
        request: Request<pb::ForecastCapacityRequest>,
    ) -> Result<pb::ForecastCapacityResponse> {
        principal(&request)?.require(REPORT_READERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let mut efforts: HashMap<String, (i64, u32)> = HashMap::new();
        for (i, e) in req.efforts.iter().enumerate() {
            let Some(scope) = v.check(&format!("efforts[{i}].tier"), tier(e.tier)) else {
                continue;
            };
            if !(1..=1000).contains(&e.hours_per_onboarding) {
                v.add(
                    format!("efforts[{i}].hours_per_onboarding"),
                    "must be 1 to 1000",
                );
            }
            if !(0..=12).contains(&e.months) {
                v.add(format!("efforts[{i}].months"), "must be 0 (1) or 1 to 12");
            }
            let months = u32::try_from(e.months.max(1)).unwrap_or(1);
            if efforts
                .insert(scope.clone(), (i64::from(e.hours_per_onboarding), months))
                .is_some()
            {
                v.add(
                    format!("efforts[{i}].tier"),
                    format!("{scope} is listed twice"),
                );
            }
        }
        if req.bookings.is_empty() || req.bookings.len() > MAX_BOOKINGS {
            v.add("bookings", format!("must hold 1 to {MAX_BOOKINGS} entries"));
        }
        let mut seen = BTreeSet::new();
        let mut cohorts = Vec::with_capacity(req.bookings.len());
        for (i, b) in req.bookings.iter().enumerate() {
            let at = format!("bookings[{i}]");
            if !(2000..=2999).contains(&b.year) {
                v.add(format!("{at}.year"), "must be 2000 to 2999");
            }
            if !(1..=12).contains(&b.month) {
                v.add(format!("{at}.month"), "must be 1 to 12");
            }
            if !(0..=100_000).contains(&b.contracts) {
                v.add(format!("{at}.contracts"), "must be 0 to 100000");
            }
            let Some(scope) = v.check(&format!("{at}.tier"), tier(b.tier)) else {
                continue;
            };
            if !seen.insert((b.year, b.month, scope.clone())) {
                v.add(format!("{at}.tier"), "this month and tier are listed twice");
            }
            let Some((hours, months)) = efforts
                .get(&scope)
                .or_else(|| efforts.get(DEFAULT_TIER))
                .copied()
            else {
                v.add(
                    format!("{at}.tier"),
                    format!("no effort given for {scope} (nor for TIER_UNSPECIFIED)"),
                );
                continue;
            };
            cohorts.push(Cohort {
                month: (b.year, u32::try_from(b.month).unwrap_or(1)),
                contracts: i64::from(b.contracts),
                hours,
                months,
            });
        }
        if !(0..=10_000).contains(&req.onboarding_csms) {
            v.add("onboarding_csms", "must be 0 to 10000");
        }
        if !(1..=744).contains(&req.hours_per_csm_per_month) {
            v.add("hours_per_csm_per_month", "must be 1 to 744");
        }
        v.finish(|| ())?;
        let months = forecast(
            &cohorts,
            i64::from(req.onboarding_csms),
            i64::from(req.hours_per_csm_per_month),
        );
        let first = months.iter().position(|m| m.over());
        Ok(pb::ForecastCapacityResponse {
            first_breaking_index: first.map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MAX)),
            months: months
                .into_iter()
                .map(|m| pb::CapacityMonth {
                    year: m.month.0,
                    month: i32::try_from(m.month.1).unwrap_or(1),
                    hours_needed: m.needed,
                    hours_available: m.available,
                    utilisation_basis_points: m.utilisation,
                    csms_needed: m.csms,
                    over_capacity: m.over(),
                })
                .collect(),
        })
    }
}
