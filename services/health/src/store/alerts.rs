//! The alert policy and health alerts: raised and cleared by scoring, in the
//! score's unit of work, each change announced.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, Query},
};
use themodel_platform::{
    accounts,
    store::{Begun, IdempotencyKey, Store, UnitOfWork, page},
    validate::date_to_proto,
};
use themodel_proto::health as pb;

use super::now;
use crate::{
    convert::{scores::grade_to_proto, timestamp},
    domain::{
        alerts::{Action, Kind, Open, Policy},
        scorecard::Grade,
    },
    error::{Error, Result},
};

/// The tables of this module.
pub mod entity {
    /// The `alert_policy` table: one row, id 1, once the policy is changed.
    pub mod policy {
        use sea_orm::entity::prelude::*;

        /// The policy.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "alert_policy")]
        pub struct Model {
            /// Always 1.
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i32,
            /// 0 to 100; 0 is off.
            pub usage_drop_percent: i32,
            /// 0 to 365; 0 is off.
            pub no_usage_grace_days: i32,
            /// On or off.
            pub grade_drop: bool,
            /// Increases with every change.
            pub revision: i64,
            /// Unix microseconds.
            pub update_time_us: i64,
            /// Who changed it.
            pub updated_by: String,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// The `health_alerts` table: every alert, open or cleared.
    pub mod alert {
        use sea_orm::entity::prelude::*;

        /// One alert.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "health_alerts")]
        pub struct Model {
            /// UUIDv7, so ids order by raise time.
            #[sea_orm(primary_key, auto_increment = false)]
            pub alert_id: String,
            /// The account.
            pub account_id: String,
            /// The product.
            pub product_key: String,
            /// `USAGE_DROP`, `GRADE_DROP`, `NO_USAGE`.
            pub kind: String,
            /// What was seen.
            pub detail: String,
            /// Unix microseconds.
            pub raise_time_us: i64,
            /// Unix microseconds; none while open.
            pub clear_time_us: Option<i64>,
            /// USAGE_DROP figures.
            pub recent_users: i64,
            /// USAGE_DROP figures.
            pub baseline_users: i64,
            /// GRADE_DROP from.
            pub grade_before: Option<String>,
            /// GRADE_DROP to.
            pub grade_after: Option<String>,
            /// NO_USAGE: `YYYY-MM-DD`.
            pub since_date: Option<String>,
            /// The account's partner when raised.
            pub partner_id: Option<String>,
            /// `account/product/kind` while open, unique; none once cleared.
            pub open_slot: Option<String>,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{alert, policy};

/// The policy's one row.
const POLICY_ID: i32 = 1;

/// The policy with its revision (0 for the defaults), last change and author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// The rules.
    pub policy: Policy,
    /// 0 while the defaults apply.
    pub revision: i64,
    /// When it last changed.
    pub update_time: Option<DateTime<Utc>>,
    /// Who changed it.
    pub updated_by: String,
}

/// The policy's etag.
pub fn policy_etag(revision: i64) -> String {
    format!("r{revision}")
}

/// The contract form of the policy.
pub fn policy_to_proto(p: &StoredPolicy) -> pb::AlertPolicy {
    pb::AlertPolicy {
        usage_drop_percent: p.policy.usage_drop_percent,
        no_usage_grace_days: p.policy.no_usage_grace_days,
        grade_drop: p.policy.grade_drop,
        update_time: p.update_time.map(timestamp),
        updated_by: p.updated_by.clone(),
        etag: policy_etag(p.revision),
    }
}

/// The policy in force.
pub async fn policy(db: &impl ConnectionTrait) -> Result<StoredPolicy> {
    Ok(match policy::Entity::find_by_id(POLICY_ID).one(db).await? {
        Some(row) => StoredPolicy {
            policy: Policy {
                usage_drop_percent: row.usage_drop_percent,
                no_usage_grace_days: row.no_usage_grace_days,
                grade_drop: row.grade_drop,
            },
            revision: row.revision,
            update_time: DateTime::from_timestamp_micros(row.update_time_us),
            updated_by: row.updated_by,
        },
        None => StoredPolicy {
            policy: Policy::default(),
            revision: 0,
            update_time: None,
            updated_by: String::new(),
        },
    })
}

fn grade_name(grade: Option<Grade>) -> Option<String> {
    grade.map(|g| g.name().to_owned())
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The contract form of a stored alert.
pub fn alert_to_proto(row: &alert::Model) -> pb::HealthAlert {
    let grade = |g: &Option<String>| grade_to_proto(g.as_deref().and_then(Grade::from_name)) as i32;
    let kind = match Kind::from_name(&row.kind) {
        Some(Kind::UsageDrop) => pb::AlertKind::UsageDrop,
        Some(Kind::GradeDrop) => pb::AlertKind::GradeDrop,
        Some(Kind::NoUsage) => pb::AlertKind::NoUsage,
        None => pb::AlertKind::Unspecified,
    };
    pb::HealthAlert {
        alert_id: row.alert_id.clone(),
        account_id: row.account_id.clone(),
        product_key: row.product_key.clone(),
        kind: kind as i32,
        detail: row.detail.clone(),
        raise_time: Some(timestamp(time(row.raise_time_us))),
        clear_time: row.clear_time_us.map(|us| timestamp(time(us))),
        recent_active_users: row.recent_users,
        baseline_active_users: row.baseline_users,
        grade_before: grade(&row.grade_before),
        grade_after: grade(&row.grade_after),
        since_date: row
            .since_date
            .as_deref()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .map(date_to_proto),
        partner_id: row.partner_id.clone().unwrap_or_default(),
    }
}

/// The alerts open on each (account, product) of `account_ids`.
pub async fn open_alerts(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
) -> Result<HashMap<(String, String), Vec<Open>>> {
    let mut open: HashMap<(String, String), Vec<Open>> = HashMap::new();
    if account_ids.is_empty() {
        return Ok(open);
    }
    let rows = alert::Entity::find()
        .filter(alert::Column::AccountId.is_in(account_ids.iter().copied()))
        .filter(alert::Column::OpenSlot.is_not_null())
        .all(db)
        .await?;
    for row in rows {
        let Some(kind) = Kind::from_name(&row.kind) else {
            continue;
        };
        open.entry((row.account_id, row.product_key))
            .or_default()
            .push(Open {
                id: row.alert_id,
                kind,
                grade_before: row.grade_before.as_deref().and_then(Grade::from_name),
            });
    }
    Ok(open)
}

/// Does `actions` to the alerts of `account_id` and `product_key` in `uow`,
/// announcing each.
pub async fn apply(
    uow: &mut UnitOfWork,
    account_id: &str,
    product_key: &str,
    partner_id: Option<&str>,
    actions: Vec<Action>,
    at: DateTime<Utc>,
) -> Result<()> {
    let at_us = at.timestamp_micros();
    for action in actions {
        match action {
            Action::Raise(r) => {
                let row = alert::Model {
                    alert_id: uuid::Uuid::now_v7().to_string(),
                    account_id: account_id.to_owned(),
                    product_key: product_key.to_owned(),
                    kind: r.kind.name().to_owned(),
                    detail: r.detail,
                    raise_time_us: at_us,
                    clear_time_us: None,
                    recent_users: r.recent_users,
                    baseline_users: r.baseline_users,
                    grade_before: grade_name(r.grade_before),
                    grade_after: grade_name(r.grade_after),
                    since_date: r.since.map(|d| d.to_string()),
                    partner_id: partner_id.map(str::to_owned),
                    open_slot: Some(format!("{account_id}/{product_key}/{}", r.kind.name())),
                };
                alert::Entity::insert(alert::ActiveModel::from(row.clone()))
                    .exec_without_returning(uow.tx())
                    .await?;
                uow.emit(
                    account_id,
                    &pb::HealthAlertRaised {
                        alert: Some(alert_to_proto(&row)),
                    },
                );
            }
            Action::Clear(id) => {
                let Some(row) = alert::Entity::find_by_id(id).one(uow.tx()).await? else {
                    continue;
                };
                let cleared = alert::Model {
                    clear_time_us: Some(at_us),
                    open_slot: None,
                    ..row
                };
                alert::Entity::update(alert::ActiveModel {
                    alert_id: Set(cleared.alert_id.clone()),
                    clear_time_us: Set(cleared.clear_time_us),
                    open_slot: Set(None),
                    ..Default::default()
                })
                .exec(uow.tx())
                .await?;
                uow.emit(
                    account_id,
                    &pb::HealthAlertCleared {
                        alert: Some(alert_to_proto(&cleared)),
                    },
                );
            }
        }
    }
    Ok(())
}

/// The alerts of `account_id` open at the start of `day`: raised before it
/// and not cleared by then.
pub async fn open_on(
    db: &impl ConnectionTrait,
    account_id: &str,
    day: NaiveDate,
) -> Result<Vec<alert::Model>> {
    let start = day
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros());
    Ok(alert::Entity::find()
        .filter(alert::Column::AccountId.eq(account_id))
        .filter(alert::Column::RaiseTimeUs.lt(start))
        .filter(
            alert::Column::ClearTimeUs
                .is_null()
                .or(alert::Column::ClearTimeUs.gte(start)),
        )
        .order_by_asc(alert::Column::ProductKey)
        .order_by_asc(alert::Column::AlertId)
        .all(db)
        .await?)
}

/// What a listing of alerts keeps to.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only this product's.
    pub product_key: Option<String>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Open ones only.
    pub open_only: bool,
    /// Only the accounts of this partner (a partner user's scope).
    pub partner_id: Option<String>,
}

/// Alerts and the policy.
#[derive(Debug, Clone)]
pub struct Alerts {
    store: Store,
}

impl Alerts {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The policy in force.
    pub async fn policy(&self) -> Result<StoredPolicy> {
        policy(&self.store.db).await
    }

    /// Changes the policy to `new`; a stale etag is refused.
    pub async fn update_policy(
        &self,
        idempotency: Option<IdempotencyKey>,
        etag_sent: Option<&str>,
        change: impl FnOnce(&mut Policy) -> std::result::Result<(), Error>,
        author: &str,
    ) -> Result<pb::UpdateAlertPolicyResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = policy(uow.tx()).await?;
        let tag = policy_etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != tag
        {
            return Err(Error::PolicyEtagMismatch { current: tag });
        }
        let mut next = current.policy;
        change(&mut next)?;
        let at = now();
        let stored = StoredPolicy {
            policy: next,
            revision: current.revision + 1,
            update_time: Some(at),
            updated_by: author.to_owned(),
        };
        let row = policy::ActiveModel {
            id: Set(POLICY_ID),
            usage_drop_percent: Set(next.usage_drop_percent),
            no_usage_grace_days: Set(next.no_usage_grace_days),
            grade_drop: Set(next.grade_drop),
            revision: Set(stored.revision),
            update_time_us: Set(at.timestamp_micros()),
            updated_by: Set(author.to_owned()),
        };
        if current.revision == 0 {
            policy::Entity::insert(row)
                .exec_without_returning(uow.tx())
                .await?;
        } else {
            policy::Entity::update(row).exec(uow.tx()).await?;
        }
        let proto = policy_to_proto(&stored);
        uow.emit(
            "alert-policy",
            &pb::AlertPolicyUpdated {
                policy: Some(proto.clone()),
            },
        );
        let response = pb::UpdateAlertPolicyResponse {
            policy: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` alerts kept to `filter` raised before alert `before`,
    /// newest first; and whether more follow.
    pub async fn list(
        &self,
        filter: &AlertFilter,
        before: Option<String>,
        limit: u64,
    ) -> Result<(Vec<alert::Model>, bool)> {
        use alert::Column as C;
        let mut query = alert::Entity::find();
        if let Some(account) = &filter.account_id {
            query = query.filter(C::AccountId.eq(account.as_str()));
        }
        if let Some(product) = &filter.product_key {
            query = query.filter(C::ProductKey.eq(product.as_str()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(C::Kind.eq(kind.name()));
        }
        if filter.open_only {
            query = query.filter(C::OpenSlot.is_not_null());
        }
        if let Some(partner) = &filter.partner_id {
            let partner_accounts = Query::select()
                .column(accounts::entity::Column::AccountId)
                .from(accounts::entity::Entity)
                .and_where(Expr::col(accounts::entity::Column::PartnerId).eq(partner.as_str()))
                .to_owned();
            query = query.filter(C::AccountId.in_subquery(partner_accounts));
        }
        if let Some(before) = before {
            query = query.filter(C::AlertId.lt(before));
        }
        let query = query.order_by_desc(C::AlertId);
        Ok(page(&self.store.db, query, limit).await?)
    }
}
