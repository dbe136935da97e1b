//! Handlers of the headcount plan and the mix report.

use chrono::{Datelike, Months, NaiveDate, Utc};
use themodel_platform::{Violations, auth::principal, validate};
use themodel_proto::segmentation as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{
        plan::{mix_from_proto, mix_to_proto, tier_month_to_proto, workloads_from_proto},
        timestamp,
        touchpoint::instant,
    },
    domain::{
        access::POLICY_READERS,
        account::{Tier, tier_slot},
        coverage::{MAX_WINDOW_MONTHS, Target, window_start},
        plan::{DEFAULT_MIX_WINDOW_MONTHS, Mix, headcount, mix},
    },
    error::{Error, Result},
};

/// Longest plan, in months.
const MAX_PLAN_MONTHS: i32 = 60;
/// Most stages a mix path may have.
const MAX_STAGES: usize = 10;

/// The figure of `tier` among per-tier figures (high, low, tech).
fn of_tier(figures: &[u64; 3], tier: Tier) -> u64 {
    tier_slot(tier).map_or(0, |i| figures[i])
}

impl Handler {
    pub(super) async fn plan_headcount(
        &self,
        request: Request<pb::PlanHeadcountRequest>,
    ) -> Result<pb::PlanHeadcountResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let start = match &req.start_month {
            Some(d) => v
                .check("start_month", validate::date(d))
                .and_then(|d| d.with_day(1)),
            None => {
                let today = Utc::now().date_naive();
                today
                    .with_day(1)
                    .and_then(|d| d.checked_add_months(Months::new(1)))
            }
        };
        if !(1..=MAX_PLAN_MONTHS).contains(&req.months) {
            v.add("months", format!("must be 1 to {MAX_PLAN_MONTHS}"));
        }
        if !(1..=744).contains(&req.csm_hours_per_month) {
            v.add("csm_hours_per_month", "must be 1 to 744");
        }
        let workloads = v.check("", workloads_from_proto(&req.tiers));
        let (Some(start), Some(workloads), true) = (start, workloads, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (accounts, csms) = self.tiers.books().await?;
        let plan = headcount(
            &workloads,
            |tier| of_tier(&accounts, tier),
            |tier| of_tier(&csms, tier),
            req.csm_hours_per_month as u64,
            req.months as u32,
        );
        let month_of =
            |i: usize| -> Option<NaiveDate> { start.checked_add_months(Months::new(i as u32)) };
        let mut response = pb::PlanHeadcountResponse::default();
        for (i, tiers) in plan.iter().enumerate() {
            if response.first_short_month.is_none()
                && let Some(short) = tiers.iter().find(|t| t.short())
            {
                response.first_short_month = month_of(i).map(validate::date_to_proto);
                response.first_short_tier = short.tier as i32;
            }
            response.months.push(pb::HeadcountMonth {
                month: month_of(i).map(validate::date_to_proto),
                tiers: tiers.iter().map(tier_month_to_proto).collect(),
                csms_needed: tiers
                    .iter()
                    .map(|t| t.csms_needed)
                    .sum::<u64>()
                    .try_into()
                    .unwrap_or(i64::MAX),
                csms_available: tiers
                    .iter()
                    .map(|t| t.csms_available)
                    .sum::<u64>()
                    .try_into()
                    .unwrap_or(i32::MAX),
            });
        }
        Ok(response)
    }

    pub(super) async fn mix_report(
        &self,
        request: Request<pb::GetMixReportRequest>,
    ) -> Result<pb::GetMixReportResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let as_of = match &req.as_of {
            Some(t) => v.check("as_of", instant(t)),
            None => Some(Utc::now()),
        };
        let window = match u32::try_from(req.window_months) {
            Ok(0) => Some(DEFAULT_MIX_WINDOW_MONTHS),
            Ok(m) if m <= MAX_WINDOW_MONTHS => Some(m),
            _ => {
                v.add("window_months", format!("must be 0 to {MAX_WINDOW_MONTHS}"));
                None
            }
        };
        let target = match &req.target {
            Some(t) => v.check("target", mix_from_proto(t).map(Some)),
            None => Some(None),
        };
        if req.path.len() > MAX_STAGES {
            v.add("path", format!("must have at most {MAX_STAGES} stages"));
        }
        let path: Vec<Option<Mix>> = req
            .path
            .iter()
            .enumerate()
            .map(|(i, m)| v.check(&format!("path[{i}]"), mix_from_proto(m)))
            .collect();
        let (Some(as_of), Some(window), Some(target), true) = (as_of, window, target, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let path: Vec<Mix> = path.into_iter().flatten().collect();
        let target = match target {
            Some(target) => target,
            None => self.tiers.target_mix().await?,
        };
        let customers = self
            .touchpoints
            .customers(as_of, principal.partner_scope())
            .await?;
        let since = window_start(
            as_of,
            &Target {
                tier: Tier::TechTouch,
                window_months: window,
                target_percent: 0,
            },
        );
        let counts = mix(customers.iter().map(|c| {
            let touched = c.covered.last_touch.is_some_and(|t| t > since);
            (c.covered.tier, touched)
        }));
        let current = counts.mix();
        let distances: Vec<u64> = path.iter().map(|stage| current.distance(stage)).collect();
        // The nearest stage; on a tie the later one, further along the path.
        let nearest = distances
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(-1, |(i, _)| i as i32);
        let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(pb::GetMixReportResponse {
            as_of: Some(timestamp(as_of)),
            account_count: clamp(counts.high + counts.hybrid + counts.tech),
            high_touch_count: clamp(counts.high),
            hybrid_count: clamp(counts.hybrid),
            tech_touch_count: clamp(counts.tech),
            high_touch_basis_points: clamp(current.high),
            hybrid_basis_points: clamp(current.hybrid),
            tech_touch_basis_points: clamp(current.tech),
            target: Some(mix_to_proto(&target)),
            distance_to_target_basis_points: clamp(current.distance(&target)),
            path: path
                .iter()
                .zip(&distances)
                .map(|(stage, d)| pb::MixStage {
                    mix: Some(mix_to_proto(stage)),
                    distance_basis_points: clamp(*d),
                })
                .collect(),
            nearest_stage: nearest,
        })
    }
}
