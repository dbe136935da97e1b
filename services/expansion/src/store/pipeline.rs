//! CSQLs and opportunities in the service's database. A won opportunity
//! changes the account's subscriptions in the same transaction, which is what
//! produces expansion MRR.

use chrono::{DateTime, NaiveDate};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use themodel_platform::{
    ApiError, accounts,
    store::{Begun, IdempotencyKey, PointReads, Store, UnitOfWork, page},
    validate::Money,
};
use themodel_proto::expansion as pb;

use super::{
    entity::{csql, opportunity},
    now,
    subscriptions::{account_subscriptions, change_in, create_in, partner_accounts},
};
use crate::{
    convert::pipeline::{csql_to_proto, opportunity_to_proto},
    domain::{
        pipeline::{
            Csql, CsqlFact, CsqlKind, CsqlStatus, Opportunity, OpportunityStage, check_kind, close,
            decide, hand_off,
        },
        subscription::{NewSubscription, Term, money, nanos},
    },
    error::{Error, Result},
};

/// What a won opportunity sold.
#[derive(Debug, Clone)]
pub enum Sale {
    /// A new term on the account's subscription `subscription_id`.
    Upsell {
        /// The subscription.
        subscription_id: String,
        /// The term.
        term: Term,
    },
    /// A new subscription.
    CrossSell(NewSubscription),
}

impl Sale {
    fn start(&self) -> Option<NaiveDate> {
        match self {
            Sale::Upsell { term, .. } => Some(term.start),
            Sale::CrossSell(new) => new.terms.first().map(|t| t.start),
        }
    }
}

/// Filters of a CSQL listing.
#[derive(Debug, Clone, Default)]
pub struct CsqlFilter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this status.
    pub status: Option<CsqlStatus>,
    /// Only this CSM.
    pub csm_id: Option<String>,
    /// Only accounts of this partner.
    pub partner_id: Option<String>,
}

/// Which column a CSQL report groups by.
#[derive(Debug, Clone, Copy)]
pub enum CsqlGroup {
    /// One group.
    Whole,
    /// The CSM.
    Csm,
    /// The CSM's team.
    Team,
    /// The account's tier.
    Tier,
    /// The account's partner, as the account projection holds it now.
    Partner,
}

/// CSQLs and opportunities.
#[derive(Debug, Clone)]
pub struct Pipeline {
    store: Store,
    csqls: PointReads<csql::Entity>,
    opportunities: PointReads<opportunity::Entity>,
}

impl Pipeline {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            csqls: PointReads::new(store.db.clone()),
            opportunities: PointReads::new(store.db.clone()),
            store,
        }
    }

    /// Raises `csql` on `account`; an upsell must name a product the account
    /// holds today, a cross-sell one it does not.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        csql: Csql,
        account: &accounts::Account,
        today: NaiveDate,
    ) -> Result<pb::CreateCsqlResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let holds = account_subscriptions(uow.tx(), &account.id)
            .await?
            .iter()
            .any(|s| {
                s.fields.product_key == csql.product_key
                    && s.fields.terms.iter().any(|t| t.in_force(today))
            });
        check_kind(csql.kind, &csql.product_key, holds)?;
        csql::Entity::insert(csql_row(&csql))
            .exec_without_returning(uow.tx())
            .await?;
        let proto = csql_to_proto(&csql);
        uow.emit(
            &account.id,
            &pb::CsqlCreated {
                csql: Some(proto.clone()),
                partner_id: partner(account),
            },
        );
        let response = pb::CreateCsqlResponse { csql: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// CSQL `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Csql>> {
        self.csqls.get(id).await?.map(csql_from_row).transpose()
    }

    /// Up to `limit` CSQLs after id `after` matching `filter`, in creation
    /// order; and whether more follow.
    pub async fn list(
        &self,
        filter: &CsqlFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Csql>, bool)> {
        use csql::Column as C;
        let mut query = csql::Entity::find();
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        if let Some(account_id) = &filter.account_id {
            query = query.filter(C::AccountId.eq(account_id.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(C::Status.eq(status.as_str_name()));
        }
        if let Some(csm_id) = &filter.csm_id {
            query = query.filter(C::CsmId.eq(csm_id.as_str()));
        }
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::AccountId.in_subquery(partner_accounts(partner_id)));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let csqls = rows.into_iter().map(csql_from_row).collect::<Result<_>>()?;
        Ok((csqls, more))
    }

    /// Hands CSQL `id` to customer sales.
    pub async fn hand_off(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        etag: Option<&str>,
    ) -> Result<pb::HandOffCsqlResponse> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut csql = locked_csql(&uow, id, etag).await?;
        hand_off(&csql)?;
        csql.status = CsqlStatus::HandedOff;
        csql.hand_off_time = Some(now());
        csql.revision += 1;
        let proto = save_csql(&uow, &csql).await?;
        let response = pb::HandOffCsqlResponse { csql: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Accepts CSQL `id` of `account` for customer-sales user `owner_id`,
    /// opening its opportunity.
    pub async fn accept(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        id: &str,
        etag: Option<&str>,
        owner_id: &str,
    ) -> Result<pb::AcceptCsqlResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut csql = locked_csql(&uow, id, etag).await?;
        decide(&csql)?;
        let time = now();
        let opportunity = Opportunity {
            id: uuid::Uuid::now_v7().to_string(),
            csql_id: csql.id.clone(),
            account_id: csql.account_id.clone(),
            product_key: csql.product_key.clone(),
            estimated_mrr: csql.estimated_mrr.clone(),
            owner_id: owner_id.to_owned(),
            stage: OpportunityStage::Open,
            won_mrr: None,
            subscription_id: None,
            lost_reason: None,
            close_date: None,
            create_time: time,
            update_time: time,
            revision: 1,
        };
        opportunity::Entity::insert(opportunity_row(&opportunity))
            .exec_without_returning(uow.tx())
            .await?;
        csql.status = CsqlStatus::Accepted;
        csql.decision_time = Some(time);
        csql.opportunity_id = Some(opportunity.id.clone());
        csql.revision += 1;
        let csql = save_csql(&uow, &csql).await?;
        let opportunity = opportunity_to_proto(&opportunity);
        uow.emit(
            &account.id,
            &pb::CsqlAccepted {
                csql: Some(csql.clone()),
                opportunity: Some(opportunity.clone()),
                partner_id: partner(account),
            },
        );
        let response = pb::AcceptCsqlResponse {
            csql: Some(csql),
            opportunity: Some(opportunity),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Rejects CSQL `id` of `account` with `reason`.
    pub async fn reject(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        id: &str,
        etag: Option<&str>,
        reason: String,
    ) -> Result<pb::RejectCsqlResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut csql = locked_csql(&uow, id, etag).await?;
        decide(&csql)?;
        csql.status = CsqlStatus::Rejected;
        csql.decision_time = Some(now());
        csql.rejection_reason = Some(reason);
        csql.revision += 1;
        let proto = save_csql(&uow, &csql).await?;
        uow.emit(
            &account.id,
            &pb::CsqlRejected {
                csql: Some(proto.clone()),
                partner_id: partner(account),
            },
        );
        let response = pb::RejectCsqlResponse { csql: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Opportunity `id`, if it exists.
    pub async fn get_opportunity(&self, id: &str) -> Result<Option<Opportunity>> {
        self.opportunities
            .get(id)
            .await?
            .map(opportunity_from_row)
            .transpose()
    }

    /// Up to `limit` opportunities after id `after`, in creation order;
    /// and whether more follow.
    pub async fn list_opportunities(
        &self,
        account_id: Option<&str>,
        stage: Option<OpportunityStage>,
        partner_id: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Opportunity>, bool)> {
        use opportunity::Column as C;
        let mut query = opportunity::Entity::find();
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        if let Some(account_id) = account_id {
            query = query.filter(C::AccountId.eq(account_id));
        }
        if let Some(stage) = stage {
            query = query.filter(C::Stage.eq(stage.as_str_name()));
        }
        if let Some(partner_id) = partner_id {
            query = query.filter(C::AccountId.in_subquery(partner_accounts(partner_id)));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let opportunities = rows
            .into_iter()
            .map(opportunity_from_row)
            .collect::<Result<_>>()?;
        Ok((opportunities, more))
    }

    /// Wins opportunity `id` of `account` with `sale`, changing the account's
    /// subscriptions in the same transaction; the win must add MRR.
    pub async fn win(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        id: &str,
        etag: Option<&str>,
        sale: Sale,
        today: NaiveDate,
    ) -> Result<pb::WinOpportunityResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut opp = locked_opportunity(&uow, id, etag).await?;
        close(&opp)?;
        let day = sale.start().unwrap_or(today);
        let mrr_on = |subs: &[crate::domain::subscription::Subscription]| -> i128 {
            subs.iter().map(|s| s.mrr_on(day)).sum()
        };
        let before = mrr_on(&account_subscriptions(uow.tx(), &account.id).await?);
        let subscription = match sale {
            Sale::Upsell {
                subscription_id,
                term,
            } => {
                change_in(&mut uow, account, &subscription_id, None, |current| {
                    if current.fields.product_key != opp.product_key {
                        return Err(Error::Invalid(vec![themodel_platform::Violation::new(
                            "subscription_id",
                            format!(
                                "is a subscription of {}, not of the opportunity's product {}",
                                current.fields.product_key, opp.product_key
                            ),
                        )]));
                    }
                    Ok(crate::domain::subscription::with_term(
                        &current.fields.terms,
                        term,
                    )?)
                })
                .await?
            }
            Sale::CrossSell(new) => create_in(&mut uow, new, account).await?,
        };
        let after = mrr_on(&account_subscriptions(uow.tx(), &account.id).await?);
        let gained = after - before;
        if gained <= 0 {
            return Err(Error::NoMrrGained(format!(
                "the term sold leaves the account's MRR on {day} at {} (it was {}); a won opportunity adds MRR",
                money(&opp.estimated_mrr.currency_code, after).units,
                money(&opp.estimated_mrr.currency_code, before).units,
            )));
        }
        opp.stage = OpportunityStage::Won;
        opp.won_mrr = Some(money(&opp.estimated_mrr.currency_code, gained));
        opp.subscription_id = Some(subscription.id.clone());
        opp.close_date = Some(today);
        opp.update_time = now();
        opp.revision += 1;
        let opportunity = save_opportunity(&uow, &opp).await?;
        uow.emit(
            &account.id,
            &pb::OpportunityWon {
                opportunity: Some(opportunity.clone()),
                subscription: Some(subscription.clone()),
                partner_id: partner(account),
            },
        );
        let response = pb::WinOpportunityResponse {
            opportunity: Some(opportunity),
            subscription: Some(subscription),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Loses opportunity `id` of `account` with `reason`.
    pub async fn lose(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        id: &str,
        etag: Option<&str>,
        reason: String,
        today: NaiveDate,
    ) -> Result<pb::LoseOpportunityResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut opp = locked_opportunity(&uow, id, etag).await?;
        close(&opp)?;
        opp.stage = OpportunityStage::Lost;
        opp.lost_reason = Some(reason);
        opp.close_date = Some(today);
        opp.update_time = now();
        opp.revision += 1;
        let opportunity = save_opportunity(&uow, &opp).await?;
        uow.emit(
            &account.id,
            &pb::OpportunityLost {
                opportunity: Some(opportunity.clone()),
                partner_id: partner(account),
            },
        );
        let response = pb::LoseOpportunityResponse {
            opportunity: Some(opportunity),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// What the KPI report needs of every CSQL raised in
    /// [`from_us`, `until_us`) on accounts of `partner_id` (all when none),
    /// labelled by `group`; and the currencies of their estimates.
    pub async fn facts(
        &self,
        from_us: i64,
        until_us: i64,
        group: CsqlGroup,
        partner_id: Option<&str>,
    ) -> Result<(Vec<CsqlFact>, Vec<String>)> {
        use csql::Column as C;
        let mut query = csql::Entity::find()
            .filter(C::CreateTimeUs.gte(from_us))
            .filter(C::CreateTimeUs.lt(until_us));
        if let Some(partner_id) = partner_id {
            query = query.filter(C::AccountId.in_subquery(partner_accounts(partner_id)));
        }
        // The partners of the accounts CSQLs were raised on, read with one
        // statement over the same CSQLs (not an id list that grows with
        // them).
        let partners: std::collections::HashMap<String, String> = match group {
            CsqlGroup::Partner => {
                use accounts::entity::{Column as A, Entity as Projected};
                let raised_on = query
                    .clone()
                    .select_only()
                    .column(C::AccountId)
                    .into_query();
                Projected::find()
                    .select_only()
                    .columns([A::AccountId, A::PartnerId])
                    .filter(A::AccountId.in_subquery(raised_on))
                    .into_tuple::<(String, String)>()
                    .all(&self.store.db)
                    .await?
                    .into_iter()
                    .collect()
            }
            _ => Default::default(),
        };
        let rows = query.all(&self.store.db).await?;
        let ids: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.opportunity_id.as_deref())
            .collect();
        let stages: std::collections::HashMap<String, String> = if ids.is_empty() {
            Default::default()
        } else {
            opportunity::Entity::find()
                .select_only()
                .columns([opportunity::Column::Id, opportunity::Column::Stage])
                .filter(opportunity::Column::Id.is_in(ids))
                .into_tuple::<(String, String)>()
                .all(&self.store.db)
                .await?
                .into_iter()
                .collect()
        };
        let mut currencies: Vec<String> = rows.iter().map(|r| r.currency_code.clone()).collect();
        currencies.sort();
        currencies.dedup();
        let facts = rows
            .into_iter()
            .map(|row| {
                let stage = row
                    .opportunity_id
                    .as_ref()
                    .and_then(|id| stages.get(id))
                    .and_then(|s| OpportunityStage::from_str_name(s));
                let csql = csql_from_row(row)?;
                Ok(CsqlFact {
                    group: match group {
                        CsqlGroup::Whole => String::new(),
                        CsqlGroup::Csm => csql.csm_id,
                        CsqlGroup::Team => csql.team_id,
                        CsqlGroup::Tier => csql.tier,
                        // An account the projection does not hold has no
                        // partner known here.
                        CsqlGroup::Partner => {
                            partners.get(&csql.account_id).cloned().unwrap_or_default()
                        }
                    },
                    status: csql.status,
                    stage,
                    estimated: nanos(&csql.estimated_mrr),
                })
            })
            .collect::<Result<_>>()?;
        Ok((facts, currencies))
    }
}

fn partner(account: &accounts::Account) -> String {
    account.partner_id.clone().unwrap_or_default()
}

/// CSQL `id` locked for a change; its etag, when sent, must be current.
async fn locked_csql(uow: &UnitOfWork, id: &str, etag: Option<&str>) -> Result<Csql> {
    let row = csql::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(uow.tx())
        .await?
        .ok_or_else(|| Error::CsqlNotFound(id.to_owned()))?;
    let csql = csql_from_row(row)?;
    check_etag("csql", id, csql.revision, etag)?;
    Ok(csql)
}

/// Opportunity `id` locked for a change; its etag, when sent, must be
/// current.
async fn locked_opportunity(uow: &UnitOfWork, id: &str, etag: Option<&str>) -> Result<Opportunity> {
    let row = opportunity::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(uow.tx())
        .await?
        .ok_or_else(|| Error::OpportunityNotFound(id.to_owned()))?;
    let opp = opportunity_from_row(row)?;
    check_etag("opportunity", id, opp.revision, etag)?;
    Ok(opp)
}

fn check_etag(resource: &'static str, id: &str, revision: i64, sent: Option<&str>) -> Result<()> {
    let current = crate::domain::subscription::etag(revision);
    match sent {
        Some(sent) if sent != current => Err(Error::EtagMismatch {
            resource,
            id: id.to_owned(),
            current,
        }),
        _ => Ok(()),
    }
}

async fn save_csql(uow: &UnitOfWork, csql: &Csql) -> Result<pb::Csql> {
    let mut row = csql_row(csql);
    row.create_time_us = sea_orm::ActiveValue::NotSet;
    csql::Entity::update(row).exec(uow.tx()).await?;
    Ok(csql_to_proto(csql))
}

async fn save_opportunity(uow: &UnitOfWork, opp: &Opportunity) -> Result<pb::Opportunity> {
    let mut row = opportunity_row(opp);
    row.create_time_us = sea_orm::ActiveValue::NotSet;
    opportunity::Entity::update(row).exec(uow.tx()).await?;
    Ok(opportunity_to_proto(opp))
}

fn corrupt(table: &str, column: &str, value: &str) -> Error {
    Error::Api(ApiError::internal(anyhow::anyhow!(
        "{table}.{column} holds unknown value {value:?}"
    )))
}

fn time(us: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn csql_row(c: &Csql) -> csql::ActiveModel {
    csql::ActiveModel {
        id: Set(c.id.clone()),
        account_id: Set(c.account_id.clone()),
        kind: Set(c.kind.as_str_name().to_owned()),
        product_key: Set(c.product_key.clone()),
        currency_code: Set(c.estimated_mrr.currency_code.clone()),
        estimated_units: Set(c.estimated_mrr.units),
        estimated_nanos: Set(c.estimated_mrr.nanos),
        reason: Set(c.reason.clone()),
        csm_id: Set(c.csm_id.clone()),
        team_id: Set(c.team_id.clone()),
        tier: Set(c.tier.clone()),
        qbr_id: Set(c.qbr_id.clone()),
        status: Set(c.status.as_str_name().to_owned()),
        rejection_reason: Set(c.rejection_reason.clone()),
        opportunity_id: Set(c.opportunity_id.clone()),
        create_time_us: Set(c.create_time.timestamp_micros()),
        hand_off_time_us: Set(c.hand_off_time.map(|t| t.timestamp_micros())),
        decision_time_us: Set(c.decision_time.map(|t| t.timestamp_micros())),
        revision: Set(c.revision),
    }
}

fn csql_from_row(row: csql::Model) -> Result<Csql> {
    Ok(Csql {
        kind: CsqlKind::from_str_name(&row.kind)
            .ok_or_else(|| corrupt("csqls", "kind", &row.kind))?,
        status: CsqlStatus::from_str_name(&row.status)
            .ok_or_else(|| corrupt("csqls", "status", &row.status))?,
        estimated_mrr: Money {
            currency_code: row.currency_code,
            units: row.estimated_units,
            nanos: row.estimated_nanos,
        },
        create_time: time(row.create_time_us),
        hand_off_time: row.hand_off_time_us.map(time),
        decision_time: row.decision_time_us.map(time),
        id: row.id,
        account_id: row.account_id,
        product_key: row.product_key,
        reason: row.reason,
        csm_id: row.csm_id,
        team_id: row.team_id,
        tier: row.tier,
        qbr_id: row.qbr_id,
        rejection_reason: row.rejection_reason,
        opportunity_id: row.opportunity_id,
        revision: row.revision,
    })
}

fn opportunity_row(o: &Opportunity) -> opportunity::ActiveModel {
    opportunity::ActiveModel {
        id: Set(o.id.clone()),
        csql_id: Set(o.csql_id.clone()),
        account_id: Set(o.account_id.clone()),
        product_key: Set(o.product_key.clone()),
        currency_code: Set(o.estimated_mrr.currency_code.clone()),
        estimated_units: Set(o.estimated_mrr.units),
        estimated_nanos: Set(o.estimated_mrr.nanos),
        owner_id: Set(o.owner_id.clone()),
        stage: Set(o.stage.as_str_name().to_owned()),
        won_units: Set(o.won_mrr.as_ref().map(|m| m.units)),
        won_nanos: Set(o.won_mrr.as_ref().map(|m| m.nanos)),
        subscription_id: Set(o.subscription_id.clone()),
        lost_reason: Set(o.lost_reason.clone()),
        close_date: Set(o.close_date.map(|d| d.to_string())),
        create_time_us: Set(o.create_time.timestamp_micros()),
        update_time_us: Set(o.update_time.timestamp_micros()),
        revision: Set(o.revision),
    }
}

fn opportunity_from_row(row: opportunity::Model) -> Result<Opportunity> {
    let close_date = match &row.close_date {
        Some(text) => Some(
            text.parse()
                .map_err(|_| corrupt("opportunities", "close_date", text))?,
        ),
        None => None,
    };
    let won_mrr = match (row.won_units, row.won_nanos) {
        (Some(units), Some(nanos)) => Some(Money {
            currency_code: row.currency_code.clone(),
            units,
            nanos,
        }),
        _ => None,
    };
    Ok(Opportunity {
        stage: OpportunityStage::from_str_name(&row.stage)
            .ok_or_else(|| corrupt("opportunities", "stage", &row.stage))?,
        estimated_mrr: Money {
            currency_code: row.currency_code,
            units: row.estimated_units,
            nanos: row.estimated_nanos,
        },
        won_mrr,
        close_date,
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        id: row.id,
        csql_id: row.csql_id,
        account_id: row.account_id,
        product_key: row.product_key,
        owner_id: row.owner_id,
        subscription_id: row.subscription_id,
        lost_reason: row.lost_reason,
        revision: row.revision,
    })
}
