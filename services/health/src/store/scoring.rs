//! Scoring accounts: on request, and in the background from a queue that
//! ingest, subscription changes, a recompute request and a daily sweep fill.
//! Accounts are scored in batches, each batch in one unit of work that reads
//! what it needs in a few set-wise statements, keeps the scores and raises
//! or clears the alerts; reads are never blocked. A background score the
//! same as the latest kept (same scorecard version, score and measures) is
//! not kept again, so the history holds changes, not one row per sweep.

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use chrono::{Days, NaiveDate};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
    sea_query::{Alias, OnConflict, Query},
};
use themodel_platform::{
    accounts::{self, Account},
    jobs::{JobRunner, Schedule},
    store::{Begun, IdempotencyKey, Store, UnitOfWork},
};
use themodel_proto::health as pb;

use super::{
    adoption::{last_uses, seat_terms_of, uses_of},
    alerts::{apply, open_alerts, policy},
    entity::feature,
    now,
    scores::{
        StoredScore, card_for, cards_by_scope, keep_score, latest_scores, latest_sentiments,
        score_to_proto,
    },
};
use crate::{
    domain::{
        alerts::{Facts, evaluate},
        measures::{LOOKBACK_DAYS, observe, seats_on},
        scorecard::score,
    },
    error::{Error, Result},
};

/// The job that scores the queued accounts.
pub const QUEUE_JOB: &str = "score-queue";
/// The job that queues every account once a day.
pub const SWEEP_JOB: &str = "score-sweep";
/// Who the background scores are computed by.
pub const SYSTEM: &str = "system:health";
/// Accounts and products scored per unit of work.
const BATCH: usize = 200;

/// Rows per statement when queueing: well under either database's
/// parameter limit.
const QUEUE_ROWS: usize = 1000;

/// Queues the (account, product) pairs `pairs` to be scored, in `db` (the
/// caller's unit of work). A pair queued already takes the new time, so that
/// a batch scoring it meanwhile leaves it queued.
pub async fn queue(db: &impl ConnectionTrait, pairs: &BTreeSet<(&str, &str)>) -> Result<()> {
    let at = now().timestamp_micros();
    let pairs: Vec<_> = pairs.iter().collect();
    for chunk in pairs.chunks(QUEUE_ROWS) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("score_queue")).columns([
            Alias::new("account_id"),
            Alias::new("product_key"),
            Alias::new("queued_at_us"),
        ]);
        for (account, product) in chunk {
            insert
                .values([
                    Value::from(*account).into(),
                    Value::from(*product).into(),
                    at.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert.on_conflict(
            OnConflict::columns([Alias::new("account_id"), Alias::new("product_key")])
                .update_column(Alias::new("queued_at_us"))
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Scores accounts and products.
#[derive(Debug, Clone)]
pub struct Scorer {
    store: Store,
}

/// One (account, product) to score.
pub struct Target<'a> {
    /// The account.
    pub account: &'a Account,
    /// The product.
    pub product_key: &'a str,
}

impl Scorer {
    /// The scorer over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Scores `account` with `product_key` now and keeps the score;
    /// FAILED_PRECONDITION NO_SCORECARD when no scorecard applies.
    pub async fn score_one(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &Account,
        product_key: &str,
        computed_by: &str,
    ) -> Result<pb::ScoreAccountResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let target = Target {
            account,
            product_key,
        };
        let today = now().date_naive();
        let scored = self
            .score_in(&mut uow, &[target], today, computed_by, true)
            .await?;
        let stored = scored
            .into_iter()
            .next()
            .flatten()
            .ok_or_else(|| Error::NoScorecard(account.tier.as_str_name().to_owned()))?;
        let response = pb::ScoreAccountResponse {
            score: Some(score_to_proto(&stored)),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Scores `targets` on `today` in `uow`: each score kept with its trend
    /// and announced (unless `always_keep` is false and it is the latest
    /// kept score again), each alert raised or cleared. None for a target no
    /// scorecard applies to.
    pub async fn score_in(
        &self,
        uow: &mut UnitOfWork,
        targets: &[Target<'_>],
        today: NaiveDate,
        computed_by: &str,
        always_keep: bool,
    ) -> Result<Vec<Option<StoredScore>>> {
        let ids: Vec<&str> = targets
            .iter()
            .map(|t| t.account.id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Scores of one account are kept one after the other: the accounts'
        // rows in the projection are locked (on PostgreSQL; SQLite's write
        // transaction is exclusive already), so the latest scores and open
        // alerts read below are the ones committed last.
        accounts::entity::Entity::find()
            .filter(accounts::entity::Column::AccountId.is_in(ids.iter().copied()))
            .lock_exclusive()
            .all(uow.tx())
            .await?;
        let tx = uow.tx();
        let policy = policy(tx).await?.policy;
        let cards = cards_by_scope(tx).await?;
        let products: Vec<&str> = targets
            .iter()
            .map(|t| t.product_key)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut key_features: HashMap<String, BTreeSet<String>> = HashMap::new();
        for f in feature::Entity::find()
            .filter(feature::Column::ProductKey.is_in(products.iter().copied()))
            .filter(feature::Column::KeyFeature.eq(true))
            .filter(feature::Column::Retired.eq(false))
            .all(tx)
            .await?
        {
            key_features
                .entry(f.product_key)
                .or_default()
                .insert(f.feature_key);
        }
        let from = today
            .checked_sub_days(Days::new(u64::try_from(LOOKBACK_DAYS - 1).unwrap_or(0)))
            .unwrap_or(today);
        let uses = uses_of(tx, &ids, None, from, today).await?;
        let terms = seat_terms_of(tx, &ids).await?;
        let sentiments = latest_sentiments(tx, &ids, None).await?;
        let previous = latest_scores(tx, &ids, None).await?;
        let open = open_alerts(tx, &ids).await?;
        let last_use = last_uses(tx, &ids).await?;
        let no_features = BTreeSet::new();
        let at = now();
        let mut scored = Vec::with_capacity(targets.len());
        for t in targets {
            let key = (t.account.id.clone(), t.product_key.to_owned());
            let Some(card) = card_for(&cards, t.account.tier.as_str_name()) else {
                scored.push(None);
                continue;
            };
            let pair_terms = terms.get(&key).map(Vec::as_slice).unwrap_or_default();
            let seen = observe(
                uses.get(&key).map(Vec::as_slice).unwrap_or_default(),
                today,
                key_features.get(t.product_key).unwrap_or(&no_features),
                seats_on(pair_terms, today),
                sentiments.get(&key).copied(),
            );
            let computed = score(
                &card.definition.measures,
                &seen.inputs.values(&card.definition.measures),
                &card.definition.thresholds,
            );
            let before = previous.get(&key);
            let facts = Facts {
                today,
                recent_users: seen.recent_users,
                baseline_users: seen.baseline_users,
                grade_before: before.and_then(|p| p.score.grade),
                grade_after: computed.grade,
                first_start: pair_terms.iter().map(|(_, start, _)| *start).min(),
                last_use: last_use.get(&key).copied(),
            };
            let actions = evaluate(
                &policy,
                &facts,
                open.get(&key).map(Vec::as_slice).unwrap_or_default(),
            );
            let partner = t.account.partner_id.as_deref();
            let unchanged = before.filter(|p| {
                !always_keep
                    && p.scorecard_key == card.key
                    && p.scorecard_version == card.version
                    && p.score == computed
            });
            if let Some(same) = unchanged {
                apply(uow, &t.account.id, t.product_key, partner, actions, at).await?;
                scored.push(Some(same.clone()));
                continue;
            }
            let stored = keep_score(
                uow,
                &t.account.id,
                partner,
                t.product_key,
                card,
                computed,
                before,
                computed_by,
                at,
            )
            .await?;
            apply(uow, &t.account.id, t.product_key, partner, actions, at).await?;
            scored.push(Some(stored));
        }
        Ok(scored)
    }

    /// Queues every account and product that has usage, seats or a score;
    /// how many were queued anew, and how many wait in all.
    pub async fn queue_all(
        &self,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<pb::RecomputeScoresResponse> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let at = now().timestamp_micros();
        // The WHERE makes SQLite read ON CONFLICT as the upsert clause.
        let sql = format!(
            "INSERT INTO score_queue (account_id, product_key, queued_at_us) \
             SELECT account_id, product_key, {at} FROM ( \
               SELECT DISTINCT account_id, product_key FROM usage_events \
               UNION SELECT account_id, product_key FROM seat_terms \
               UNION SELECT account_id, product_key FROM health_scores \
             ) AS pairs WHERE true \
             ON CONFLICT (account_id, product_key) DO NOTHING"
        );
        let backend = uow.tx().get_database_backend();
        let queued = uow
            .tx()
            .execute_raw(Statement::from_string(backend, sql))
            .await?
            .rows_affected();
        let pending = pending(uow.tx()).await?;
        let response = pb::RecomputeScoresResponse {
            queued: i64::try_from(queued).unwrap_or(i64::MAX),
            pending,
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Scores the accounts and products queued `settle` ago or longer, a
    /// batch per unit of work, until none is left; how many were scored.
    /// Usage streaming in queues its accounts again with every chunk, so an
    /// account is scored once its usage has paused for `settle`, not once
    /// per chunk over its whole history.
    pub async fn drain(&self, settle: Duration) -> Result<u64> {
        let mut scored = 0;
        loop {
            let settled_before =
                now().timestamp_micros() - i64::try_from(settle.as_micros()).unwrap_or(i64::MAX);
            let batch: Vec<(String, String, i64)> = queue_entity::Entity::find()
                .select_only()
                .column(queue_entity::Column::AccountId)
                .column(queue_entity::Column::ProductKey)
                .column(queue_entity::Column::QueuedAtUs)
                .filter(queue_entity::Column::QueuedAtUs.lte(settled_before))
                .order_by_asc(queue_entity::Column::QueuedAtUs)
                .limit(BATCH as u64)
                .into_tuple()
                .all(&self.store.db)
                .await?;
            if batch.is_empty() {
                return Ok(scored);
            }
            let mut uow = match self.store.begin::<pb::ScoreAccountResponse>(None).await? {
                Begun::Fresh(uow) => uow,
                Begun::Replay(_) => return Ok(scored),
            };
            let ids: Vec<&str> = batch.iter().map(|(a, _, _)| a.as_str()).collect();
            let known: HashMap<String, Account> = accounts::projected(uow.tx(), &ids)
                .await?
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect();
            let targets: Vec<Target> = batch
                .iter()
                .filter_map(|(a, p, _)| {
                    known.get(a).map(|account| Target {
                        account,
                        product_key: p,
                    })
                })
                .collect();
            let done = self
                .score_in(&mut uow, &targets, now().date_naive(), SYSTEM, false)
                .await?;
            scored += done.iter().flatten().count() as u64;
            // A pair queued again while this batch ran keeps its place. Rows
            // are deleted in key order, the order ingest upserts them in, so
            // the two never wait on each other in a cycle.
            let mut batch = batch;
            batch.sort_unstable();
            for (account, product, queued_at) in &batch {
                queue_entity::Entity::delete_many()
                    .filter(queue_entity::Column::AccountId.eq(account.as_str()))
                    .filter(queue_entity::Column::ProductKey.eq(product.as_str()))
                    .filter(queue_entity::Column::QueuedAtUs.eq(*queued_at))
                    .exec(uow.tx())
                    .await?;
            }
            uow.commit(&pb::ScoreAccountResponse::default()).await?;
        }
    }

    /// Scores the queue every `interval` (what has settled for as long),
    /// and queues every account once a day.
    pub fn schedule(&self, jobs: &JobRunner, interval: Duration) {
        let this = self.clone();
        jobs.every(QUEUE_JOB, Schedule::every(interval), move || {
            let this = this.clone();
            async move { Ok(format!("{} scored", this.drain(interval).await?)) }
        });
        let this = self.clone();
        jobs.every(
            SWEEP_JOB,
            Schedule::every(Duration::from_secs(24 * 3600)),
            move || {
                let this = this.clone();
                async move {
                    let queued = this.queue_all(None).await?;
                    Ok(format!("{} queued", queued.queued))
                }
            },
        );
    }
}

/// How many accounts and products wait to be scored.
async fn pending(db: &impl ConnectionTrait) -> Result<i64> {
    let count = queue_entity::Entity::find().count(db).await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

/// The `score_queue` table.
pub mod queue_entity {
    use sea_orm::entity::prelude::*;

    /// One (account, product) waiting to be scored.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "score_queue")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// The product.
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_key: String,
        /// When it was last queued, Unix microseconds.
        pub queued_at_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
