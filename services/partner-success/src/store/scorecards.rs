//! Partner scorecards, built for a set of partners at once: what this
//! service counts itself from its own tables (accounts from its projection
//! of segmentation's accounts, attributions, certified staff), in a handful
//! of grouped statements, and what the health, expansion and onboarding
//! services report, in one call of each report (one per stage of the
//! onboarding completion report) whatever the number of partners. Nothing
//! is read from another service's database, and nothing is asked per
//! partner or per account.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use themodel_platform::{accounts, client::CallContext, store::Store, store::any_of};
use themodel_proto::{onboarding::Stage, partner_success as pb, segmentation::LifecycleStatus};

use super::{attributions::attributed_accounts, entity::staff, tiers::certified_staff};
use crate::{
    convert::scorecard::{Reported, scorecard_to_proto},
    domain::{
        attribution::AttributionKind,
        partner::Partner,
        scorecard::{OwnFigures, Period},
        staff::StaffStatus,
    },
    error::Result,
    health::Health,
    onboarding::Onboarding,
    revenue::Revenue,
};

/// Partner scorecards.
#[derive(Debug, Clone)]
pub struct Scorecards {
    store: Store,
    revenue: Revenue,
    health: Health,
    onboarding: Onboarding,
}

/// What a set of scorecards is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The period.
    pub period: Period,
    /// Only revenue in this currency.
    pub currency: Option<&'a str>,
    /// A partner user's own partner: only its own accounts count.
    pub scope: Option<&'a str>,
    /// The one partner asked for, when one is: the expansion service reports
    /// on its accounts alone.
    pub single: bool,
    /// Today (UTC).
    pub today: NaiveDate,
    /// The context the onboarding service is asked in: the caller's, or the
    /// service's own when the onboarding service would refuse the caller
    /// (see [`crate::onboarding::report_context`]).
    pub onboarding: &'a CallContext,
}

impl Scorecards {
    /// Scorecards over `store`, asking `revenue`, `health` and `onboarding`
    /// for the other services' reports.
    pub fn new(store: Store, revenue: Revenue, health: Health, onboarding: Onboarding) -> Self {
        Self {
            store,
            revenue,
            health,
            onboarding,
        }
    }

    /// The scorecards of `partners` (at most [`crate::health::MAX_PARTNERS`]),
    /// in their order. The other services are asked in `ctx` (so a partner
    /// user's scope goes along), the onboarding service in `ask.onboarding`,
    /// each report once (the completion report once per stage) and all at
    /// the same time; any of them failing fails the whole.
    pub async fn of(
        &self,
        ctx: &CallContext,
        partners: &[Partner],
        ask: Ask<'_>,
    ) -> Result<Vec<pb::PartnerScorecard>> {
        if partners.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = partners.iter().map(|p| p.id.clone()).collect();
        let only = ask.single.then(|| ids[0].as_str());
        let (start, end) = (ask.period.start, ask.period.end);
        let (mut health, revenue, mut csqls, mut setup, mut value, own) = tokio::try_join!(
            self.health.by_partner(ctx, &ids),
            self.revenue
                .report(ctx, ask.currency, ask.period.revenue_months(), only),
            self.revenue.csqls_by_partner(ctx, start, end),
            self.onboarding.completion_by_partner(
                ask.onboarding,
                Stage::SetupComplete,
                (start, end),
                &ids
            ),
            self.onboarding.completion_by_partner(
                ask.onboarding,
                Stage::ValueConfirmed,
                (start, end),
                &ids
            ),
            self.own_figures(&ids, ask.period.as_of(ask.today), ask.scope),
        )?;
        let mut retention: BTreeMap<String, _> = revenue
            .partners
            .into_iter()
            .filter_map(|(partner_id, group)| Some((partner_id, group.retention?)))
            .collect();
        let as_of = ask.period.as_of(ask.today);
        Ok(partners
            .iter()
            .map(|partner| {
                scorecard_to_proto(
                    partner,
                    &ask.period,
                    as_of,
                    own.get(&partner.id).copied().unwrap_or_default(),
                    Reported {
                        health: health.remove(&partner.id),
                        currency_code: &revenue.currency_code,
                        retention: retention.remove(&partner.id),
                        csqls: csqls.remove(&partner.id),
                        setup_completion: setup.remove(&partner.id),
                        value_completion: value.remove(&partner.id),
                    },
                )
            })
            .collect())
    }

    /// What this service counts of each of `ids` on `day`.
    async fn own_figures(
        &self,
        ids: &[String],
        day: NaiveDate,
        scope: Option<&str>,
    ) -> Result<BTreeMap<String, OwnFigures>> {
        let db = &self.store.db;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut figures: BTreeMap<String, OwnFigures> = BTreeMap::new();
        for (partner_id, status, n) in accounts_by_status(db, &ids).await? {
            let own = figures.entry(partner_id).or_default();
            if status == LifecycleStatus::Churned.as_str_name() {
                own.churned_accounts += n;
            } else {
                own.accounts += n;
            }
        }
        let sourced =
            attributed_accounts(db, Some(&ids), AttributionKind::Sourced, day, scope).await?;
        for (partner_id, n) in sourced {
            figures.entry(partner_id).or_default().sourced_accounts = n;
        }
        let influenced =
            attributed_accounts(db, Some(&ids), AttributionKind::Influenced, day, scope).await?;
        for (partner_id, n) in influenced {
            figures.entry(partner_id).or_default().influenced_accounts = n;
        }
        for (partner_id, levels) in certified_staff(db, Some(&ids), day).await? {
            figures.entry(partner_id).or_default().certified_staff = levels;
        }
        for (partner_id, n) in active_staff(db, &ids).await? {
            figures.entry(partner_id).or_default().active_staff = n;
        }
        Ok(figures)
    }
}

/// The projected accounts of partners `ids`, counted by partner and
/// lifecycle status.
async fn accounts_by_status(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<Vec<(String, String, i64)>> {
    use accounts::entity::{Column, Entity};
    Ok(Entity::find()
        .select_only()
        .column(Column::PartnerId)
        .column(Column::LifecycleStatus)
        .expr(Expr::cust("COUNT(*)"))
        .filter(any_of(db.get_database_backend(), Column::PartnerId, ids))
        .group_by(Column::PartnerId)
        .group_by(Column::LifecycleStatus)
        .into_tuple()
        .all(db)
        .await?)
}

/// The active staff of partners `ids`, by partner.
async fn active_staff(db: &impl ConnectionTrait, ids: &[&str]) -> Result<Vec<(String, i64)>> {
    use staff::Column as C;
    Ok(staff::Entity::find()
        .select_only()
        .column(C::PartnerId)
        .expr(Expr::cust("COUNT(*)"))
        .filter(C::Status.eq(StaffStatus::Active.as_str_name()))
        .filter(any_of(db.get_database_backend(), C::PartnerId, ids))
        .group_by(C::PartnerId)
        .into_tuple()
        .all(db)
        .await?)
}
