//! Which playbook a new plan runs: the product's self-success playbook when
//! the self-success rule in force routes it there, else the playbook of the
//! account's tier, else the product's default one. The rule is versioned
//! (every version kept with its author) and each plan names the version it
//! was routed by.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use themodel_platform::{
    accounts::Account,
    store::{Begun, IdempotencyKey, Store},
};
use themodel_proto::onboarding as pb;

use super::{
    entity::{plan, rule, signal},
    latest_for_scope, now,
};
use crate::{
    convert::{tier_to_proto, timestamp},
    domain::{
        playbook::{DEFAULT_TIER, Playbook, SELF_SUCCESS_SCOPE},
        self_success::Rule,
    },
    error::{Error, Result},
};

/// The rule in force with its version (0 for the defaults), time and author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    /// The rule.
    pub rule: Rule,
    /// Its version.
    pub version: i64,
    /// When it was set.
    pub update_time: Option<DateTime<Utc>>,
    /// Who set it.
    pub updated_by: String,
}

/// The rule's etag.
pub fn rule_etag(version: i64) -> String {
    format!("v{version}")
}

/// The contract form of the rule.
pub fn rule_to_proto(r: &StoredRule) -> pb::SelfSuccessRule {
    pb::SelfSuccessRule {
        enabled: r.rule.enabled,
        tiers: r.rule.tiers.iter().map(|t| tier_to_proto(t)).collect(),
        max_products: r.rule.max_products,
        required_signals: r
            .rule
            .required
            .iter()
            .map(|(key, threshold)| pb::SignalCriterion {
                signal_key: key.clone(),
                threshold: *threshold,
            })
            .collect(),
        target_min_percent: r.rule.target_min,
        target_max_percent: r.rule.target_max,
        version: r.version,
        update_time: r.update_time.map(timestamp),
        updated_by: r.updated_by.clone(),
        etag: rule_etag(r.version),
    }
}

/// The rule in force, read on `db`.
pub async fn rule_in_force(db: &impl ConnectionTrait) -> Result<StoredRule> {
    let Some(row) = rule::Entity::find()
        .order_by_desc(rule::Column::Version)
        .one(db)
        .await?
    else {
        return Ok(StoredRule {
            rule: Rule::default(),
            version: 0,
            update_time: None,
            updated_by: String::new(),
        });
    };
    let parsed: Rule = serde_json::from_str(&row.definition).map_err(|_| {
        Error::Api(themodel_platform::ApiError::internal(anyhow::anyhow!(
            "stored self-success rule {} is malformed",
            row.version
        )))
    })?;
    Ok(StoredRule {
        rule: parsed,
        version: row.version,
        update_time: DateTime::from_timestamp_micros(row.create_time_us),
        updated_by: row.created_by,
    })
}

/// The playbook a new plan runs, and how it was chosen.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The playbook version.
    pub playbook: Playbook,
    /// Routed to self-success.
    pub self_success: bool,
    /// The rule's version when chosen; 0 for none.
    pub rule_version: i64,
}

/// The playbook a new plan of `account` for `product_key` runs, read on
/// `db`; none when the product has no playbook for it.
pub async fn choose(
    db: &impl ConnectionTrait,
    account: &Account,
    product_key: &str,
) -> Result<Option<Choice>> {
    let rule = rule_in_force(db).await?;
    let tier = account.tier.as_str_name();
    if rule.rule.enabled {
        let mut products: BTreeSet<String> = plan::Entity::find()
            .select_only()
            .column(plan::Column::ProductKey)
            .filter(plan::Column::AccountId.eq(account.id.as_str()))
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        products.insert(product_key.to_owned());
        let signals: HashMap<String, i64> = signal::Entity::find()
            .filter(signal::Column::AccountId.eq(account.id.as_str()))
            .filter(signal::Column::ProductKey.eq(product_key))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.signal_key, s.value))
            .collect();
        if rule.rule.routes(tier, products.len(), &signals)
            && let Some(playbook) = latest_for_scope(db, product_key, SELF_SUCCESS_SCOPE).await?
        {
            return Ok(Some(Choice {
                playbook,
                self_success: true,
                rule_version: rule.version,
            }));
        }
    }
    for scope in [tier, DEFAULT_TIER] {
        if let Some(playbook) = latest_for_scope(db, product_key, scope).await? {
            return Ok(Some(Choice {
                playbook,
                self_success: false,
                rule_version: rule.version,
            }));
        }
    }
    Ok(None)
}

/// The self-success rule.
#[derive(Debug, Clone)]
pub struct Routing {
    store: Store,
}

impl Routing {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The rule in force.
    pub async fn rule(&self) -> Result<StoredRule> {
        rule_in_force(&self.store.db).await
    }

    /// Sets `new` as the next version; a stale etag is refused.
    pub async fn update(
        &self,
        idempotency: Option<IdempotencyKey>,
        etag_sent: Option<&str>,
        new: Rule,
        author: &str,
    ) -> Result<pb::UpdateSelfSuccessRuleResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = rule_in_force(uow.tx()).await?;
        let tag = rule_etag(current.version);
        if let Some(sent) = etag_sent
            && sent != tag
        {
            return Err(Error::RuleEtagMismatch { current: tag });
        }
        let at = now();
        let stored = StoredRule {
            rule: new,
            version: current.version + 1,
            update_time: Some(at),
            updated_by: author.to_owned(),
        };
        rule::Entity::insert(rule::ActiveModel::from(rule::Model {
            version: stored.version,
            definition: serde_json::to_string(&stored.rule).unwrap_or_default(),
            create_time_us: at.timestamp_micros(),
            created_by: author.to_owned(),
        }))
        .exec_without_returning(uow.tx())
        .await?;
        let proto = rule_to_proto(&stored);
        uow.emit(
            "self-success-rule",
            &pb::SelfSuccessRuleUpdated {
                rule: Some(proto.clone()),
            },
        );
        let response = pb::UpdateSelfSuccessRuleResponse { rule: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Plans opened on the days [`from`, `to`], and how many of them were
    /// routed to self-success.
    pub async fn share(&self, from: NaiveDate, to: NaiveDate) -> Result<(u64, u64)> {
        let start = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp_micros())
        };
        let end = to.succ_opt().map_or(i64::MAX, start);
        let opened = || {
            plan::Entity::find()
                .filter(plan::Column::CreateTimeUs.gte(start(from)))
                .filter(plan::Column::CreateTimeUs.lt(end))
        };
        let all = opened().count(&self.store.db).await?;
        let routed = opened()
            .filter(plan::Column::SelfSuccess.eq(true))
            .count(&self.store.db)
            .await?;
        Ok((all, routed))
    }
}
