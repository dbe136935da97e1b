//! Scorecards with their immutable versions, CSM sentiments (kept, never
//! changed: the audit trail) and the history of health scores.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use themodel_platform::store::{
    Begun, IdempotencyKey, Store, UnitOfWork, is_unique_violation, page,
};
use themodel_proto::health as pb;

use super::now;
use crate::{
    convert::{
        scores::{grade_to_proto, measure_to_proto, parts_to_proto, scorecard_to_proto},
        timestamp,
    },
    domain::scorecard::{
        Definition, Grade, Measure, Part, Score, Scorecard, Thresholds, etag, moved,
    },
    error::{Error, Result},
};

/// The tables of this module.
pub mod entity {
    /// The `scorecards` table: one row per scorecard, its scope and latest
    /// version.
    pub mod scorecard {
        use sea_orm::entity::prelude::*;

        /// One scorecard.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "scorecards")]
        pub struct Model {
            /// Its key.
            #[sea_orm(primary_key, auto_increment = false)]
            pub scorecard_key: String,
            /// Its scope (a tier's name); unique.
            pub tier: String,
            /// Its latest version.
            pub version: i64,
            /// Unix microseconds.
            pub create_time_us: i64,
            /// Unix microseconds.
            pub update_time_us: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// The `scorecard_versions` table: every version, never changed.
    pub mod version {
        use sea_orm::entity::prelude::*;

        /// One version.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "scorecard_versions")]
        pub struct Model {
            /// The scorecard.
            #[sea_orm(primary_key, auto_increment = false)]
            pub scorecard_key: String,
            /// The version.
            #[sea_orm(primary_key, auto_increment = false)]
            pub version: i64,
            /// Name to show.
            pub display_name: String,
            /// JSON `[["BREADTH", 60], ...]`.
            pub measures: String,
            /// Lowest A, basis points.
            pub a_min: i32,
            /// Lowest B.
            pub b_min: i32,
            /// Lowest C.
            pub c_min: i32,
            /// Lowest D.
            pub d_min: i32,
            /// Unix microseconds.
            pub create_time_us: i64,
            /// Who published it.
            pub created_by: String,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// The `sentiments` table: every sentiment recorded.
    pub mod sentiment {
        use sea_orm::entity::prelude::*;

        /// One sentiment.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "sentiments")]
        pub struct Model {
            /// Order of recording.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// The account.
            pub account_id: String,
            /// The product.
            pub product_key: String,
            /// 0 to 100.
            pub score: i32,
            /// Why.
            pub note: String,
            /// Who.
            pub author: String,
            /// Unix microseconds.
            pub record_time_us: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// The `health_scores` table: every score computed.
    pub mod health_score {
        use sea_orm::entity::prelude::*;

        /// One score.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "health_scores")]
        pub struct Model {
            /// Order of computing.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// The account.
            pub account_id: String,
            /// The product.
            pub product_key: String,
            /// The scorecard used.
            pub scorecard_key: String,
            /// Its version.
            pub scorecard_version: i64,
            /// Basis points; none without data.
            pub score: Option<i32>,
            /// `A` to `E`; none without a score.
            pub grade: Option<String>,
            /// Score minus the previous one.
            pub trend: Option<i32>,
            /// JSON of the parts.
            pub parts: String,
            /// Unix microseconds.
            pub compute_time_us: i64,
            /// Who asked.
            pub computed_by: String,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{health_score, scorecard, sentiment, version};

/// The scope of the default scorecard.
pub const DEFAULT_SCOPE: &str = "TIER_UNSPECIFIED";

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn corrupt(what: &str) -> Error {
    Error::Api(themodel_platform::ApiError::internal(anyhow::anyhow!(
        "stored {what} is malformed"
    )))
}

fn to_card(head: &scorecard::Model, row: version::Model) -> Result<Scorecard> {
    let named: Vec<(String, i32)> =
        serde_json::from_str(&row.measures).map_err(|_| corrupt("scorecard measures"))?;
    let measures = named
        .into_iter()
        .map(|(name, w)| Measure::from_name(&name).map(|m| (m, w)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| corrupt("scorecard measure"))?;
    Ok(Scorecard {
        key: row.scorecard_key,
        tier: head.tier.clone(),
        definition: Definition {
            display_name: row.display_name,
            measures,
            thresholds: Thresholds {
                a: row.a_min,
                b: row.b_min,
                c: row.c_min,
                d: row.d_min,
            },
        },
        version: row.version,
        create_time: time(row.create_time_us),
        created_by: row.created_by,
        latest: head.version,
    })
}

fn version_model(key: &str, version: i64, d: &Definition, at: i64, by: &str) -> version::Model {
    let named: Vec<(&str, i32)> = d.measures.iter().map(|(m, w)| (m.name(), *w)).collect();
    version::Model {
        scorecard_key: key.to_owned(),
        version,
        display_name: d.display_name.clone(),
        measures: serde_json::to_string(&named).unwrap_or_default(),
        a_min: d.thresholds.a,
        b_min: d.thresholds.b,
        c_min: d.thresholds.c,
        d_min: d.thresholds.d,
        create_time_us: at,
        created_by: by.to_owned(),
    }
}

fn version_row(m: &version::Model) -> version::ActiveModel {
    version::ActiveModel {
        scorecard_key: Set(m.scorecard_key.clone()),
        version: Set(m.version),
        display_name: Set(m.display_name.clone()),
        measures: Set(m.measures.clone()),
        a_min: Set(m.a_min),
        b_min: Set(m.b_min),
        c_min: Set(m.c_min),
        d_min: Set(m.d_min),
        create_time_us: Set(m.create_time_us),
        created_by: Set(m.created_by.clone()),
    }
}

/// A stored score with what it was computed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScore {
    /// The account.
    pub account_id: String,
    /// The product.
    pub product_key: String,
    /// The score.
    pub score: Score,
    /// The scorecard.
    pub scorecard_key: String,
    /// Its version.
    pub scorecard_version: i64,
    /// Score minus the previous one.
    pub trend: Option<i32>,
    /// When.
    pub compute_time: DateTime<Utc>,
    /// Who asked.
    pub computed_by: String,
    /// Its place in the history.
    pub id: i64,
}

/// A stored score from its row.
pub fn to_score(row: health_score::Model) -> Result<StoredScore> {
    let parts: Vec<Part> = serde_json::from_str(&row.parts).map_err(|_| corrupt("score parts"))?;
    Ok(StoredScore {
        score: Score {
            score: row.score,
            grade: row.grade.as_deref().and_then(Grade::from_name),
            parts,
        },
        account_id: row.account_id,
        product_key: row.product_key,
        scorecard_key: row.scorecard_key,
        scorecard_version: row.scorecard_version,
        trend: row.trend,
        compute_time: time(row.compute_time_us),
        computed_by: row.computed_by,
        id: row.id,
    })
}

/// The contract form of a stored score.
pub fn score_to_proto(s: &StoredScore) -> pb::HealthScore {
    pb::HealthScore {
        account_id: s.account_id.clone(),
        product_key: s.product_key.clone(),
        score: s.score.score,
        grade: grade_to_proto(s.score.grade) as i32,
        measures: parts_to_proto(&s.score.parts),
        scorecard_key: s.scorecard_key.clone(),
        scorecard_version: s.scorecard_version,
        trend: s.trend,
        compute_time: Some(timestamp(s.compute_time)),
        computed_by: s.computed_by.clone(),
    }
}

/// Scorecards, sentiments and scores.
#[derive(Debug, Clone)]
pub struct Scores {
    store: Store,
}

impl Scores {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates scorecard `key` for scope `tier` at version 1.
    pub async fn create_scorecard(
        &self,
        idempotency: Option<IdempotencyKey>,
        key: String,
        tier: String,
        definition: Definition,
        author: &str,
    ) -> Result<pb::CreateScorecardResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if scorecard::Entity::find_by_id(key.clone())
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(Error::ScorecardExists {
                field: "scorecard_key",
                value: key,
            });
        }
        let scope_taken = || Error::ScorecardExists {
            field: "tier",
            value: tier.clone(),
        };
        if scorecard::Entity::find()
            .filter(scorecard::Column::Tier.eq(tier.as_str()))
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(scope_taken());
        }
        let at = now().timestamp_micros();
        let head = scorecard::Model {
            scorecard_key: key.clone(),
            tier: tier.clone(),
            version: 1,
            create_time_us: at,
            update_time_us: at,
        };
        scorecard::Entity::insert(scorecard::ActiveModel {
            scorecard_key: Set(head.scorecard_key.clone()),
            tier: Set(head.tier.clone()),
            version: Set(1),
            create_time_us: Set(at),
            update_time_us: Set(at),
        })
        .exec_without_returning(uow.tx())
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                scope_taken()
            } else {
                err.into()
            }
        })?;
        let row = version_model(&key, 1, &definition, at, author);
        version::Entity::insert(version_row(&row))
            .exec_without_returning(uow.tx())
            .await?;
        let card = to_card(&head, row)?;
        let proto = scorecard_to_proto(&card);
        uow.emit(
            &key,
            &pb::ScorecardPublished {
                scorecard: Some(proto.clone()),
            },
        );
        let response = pb::CreateScorecardResponse {
            scorecard: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Publishes a new version of scorecard `key`; a stale etag is refused.
    pub async fn publish(
        &self,
        idempotency: Option<IdempotencyKey>,
        key: &str,
        etag_sent: Option<&str>,
        definition: Definition,
        author: &str,
    ) -> Result<pb::PublishScorecardVersionResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let head = scorecard::Entity::find_by_id(key.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .ok_or_else(|| Error::ScorecardNotFound(key.to_owned()))?;
        let current = etag(head.version);
        if let Some(sent) = etag_sent
            && sent != current
        {
            return Err(Error::ScorecardEtagMismatch {
                id: key.to_owned(),
                current,
            });
        }
        let at = now().timestamp_micros();
        let next = head.version + 1;
        scorecard::Entity::update(scorecard::ActiveModel {
            scorecard_key: Set(key.to_owned()),
            version: Set(next),
            update_time_us: Set(at),
            tier: NotSet,
            create_time_us: NotSet,
        })
        .exec(uow.tx())
        .await?;
        let row = version_model(key, next, &definition, at, author);
        version::Entity::insert(version_row(&row))
            .exec_without_returning(uow.tx())
            .await?;
        let head = scorecard::Model {
            version: next,
            update_time_us: at,
            ..head
        };
        let proto = scorecard_to_proto(&to_card(&head, row)?);
        uow.emit(
            key,
            &pb::ScorecardPublished {
                scorecard: Some(proto.clone()),
            },
        );
        let response = pb::PublishScorecardVersionResponse {
            scorecard: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Scorecard `key` at `version` (its latest when none).
    pub async fn scorecard(&self, key: &str, version: Option<i64>) -> Result<Option<Scorecard>> {
        let db = &self.store.db;
        let Some(head) = scorecard::Entity::find_by_id(key.to_owned())
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let wanted = version.unwrap_or(head.version);
        match version::Entity::find_by_id((key.to_owned(), wanted))
            .one(db)
            .await?
        {
            Some(row) => Ok(Some(to_card(&head, row)?)),
            None => Ok(None),
        }
    }

    /// The latest version of the scorecard for scope `tier`, else of the
    /// default one.
    pub async fn scorecard_for(&self, tier: &str) -> Result<Option<Scorecard>> {
        for scope in [tier, DEFAULT_SCOPE] {
            if let Some(head) = scorecard::Entity::find()
                .filter(scorecard::Column::Tier.eq(scope))
                .one(&self.store.db)
                .await?
            {
                return self.scorecard(&head.scorecard_key, None).await;
            }
        }
        Ok(None)
    }

    /// Up to `limit` scorecards after key `after`, at their latest versions;
    /// and whether more follow.
    pub async fn list_scorecards(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> Result<(Vec<Scorecard>, bool)> {
        let mut query = scorecard::Entity::find();
        if let Some(after) = after {
            query = query.filter(scorecard::Column::ScorecardKey.gt(after));
        }
        let query = query.order_by_asc(scorecard::Column::ScorecardKey);
        let (heads, more) = page(&self.store.db, query, limit).await?;
        let mut cards = Vec::with_capacity(heads.len());
        for head in heads {
            let row = version::Entity::find_by_id((head.scorecard_key.clone(), head.version))
                .one(&self.store.db)
                .await?
                .ok_or_else(|| corrupt("scorecard version"))?;
            cards.push(to_card(&head, row)?);
        }
        Ok((cards, more))
    }

    /// Records a sentiment (0 to 100) and announces it.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_sentiment(
        &self,
        idempotency: Option<IdempotencyKey>,
        account_id: &str,
        partner_id: Option<&str>,
        product_key: &str,
        score: i32,
        note: String,
        author: &str,
    ) -> Result<pb::RecordSentimentResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let at = now();
        sentiment::Entity::insert(sentiment::ActiveModel {
            id: NotSet,
            account_id: Set(account_id.to_owned()),
            product_key: Set(product_key.to_owned()),
            score: Set(score),
            note: Set(note.clone()),
            author: Set(author.to_owned()),
            record_time_us: Set(at.timestamp_micros()),
        })
        .exec_without_returning(uow.tx())
        .await?;
        let recorded = pb::Sentiment {
            account_id: account_id.to_owned(),
            product_key: product_key.to_owned(),
            score,
            note,
            author: author.to_owned(),
            record_time: Some(timestamp(at)),
        };
        uow.emit(
            account_id,
            &pb::SentimentRecorded {
                sentiment: Some(recorded.clone()),
                partner_id: partner_id.unwrap_or_default().to_owned(),
            },
        );
        let response = pb::RecordSentimentResponse {
            sentiment: Some(recorded),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// The latest score of `account_id` for `product_key`.
    pub async fn latest_score(
        &self,
        account_id: &str,
        product_key: &str,
    ) -> Result<Option<StoredScore>> {
        latest(&self.store.db, account_id, product_key).await
    }

    /// Up to `limit` scores of `account_id` for `product_key` before history
    /// place `before`, newest first; and whether more follow.
    pub async fn list_scores(
        &self,
        account_id: &str,
        product_key: &str,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<StoredScore>, bool)> {
        use health_score::Column as C;
        let mut query = health_score::Entity::find()
            .filter(C::AccountId.eq(account_id))
            .filter(C::ProductKey.eq(product_key));
        if let Some(before) = before {
            query = query.filter(C::Id.lt(before));
        }
        let (rows, more) = page(&self.store.db, query.order_by_desc(C::Id), limit).await?;
        let scores = rows.into_iter().map(to_score).collect::<Result<Vec<_>>>()?;
        Ok((scores, more))
    }
}

async fn latest(
    db: &impl ConnectionTrait,
    account_id: &str,
    product_key: &str,
) -> Result<Option<StoredScore>> {
    use health_score::Column as C;
    health_score::Entity::find()
        .filter(C::AccountId.eq(account_id))
        .filter(C::ProductKey.eq(product_key))
        .order_by_desc(C::Id)
        .limit(1)
        .one(db)
        .await?
        .map(to_score)
        .transpose()
}

/// Keeps `score` of `account_id` and `product_key` computed with `card` in
/// the history in `uow`, with its trend against `previous` (the latest score
/// kept, read in the same unit of work); announces a change of score or
/// grade with the measures that moved it.
#[allow(clippy::too_many_arguments)]
pub async fn keep_score(
    uow: &mut UnitOfWork,
    account_id: &str,
    partner_id: Option<&str>,
    product_key: &str,
    card: &Scorecard,
    score: Score,
    previous: Option<&StoredScore>,
    computed_by: &str,
    at: DateTime<Utc>,
) -> Result<StoredScore> {
    let trend = match (previous, score.score) {
        (Some(p), Some(now)) => p.score.score.map(|before| now - before),
        _ => None,
    };
    let parts = serde_json::to_string(&score.parts).unwrap_or_default();
    let inserted = health_score::Entity::insert(health_score::ActiveModel {
        id: NotSet,
        account_id: Set(account_id.to_owned()),
        product_key: Set(product_key.to_owned()),
        scorecard_key: Set(card.key.clone()),
        scorecard_version: Set(card.version),
        score: Set(score.score),
        grade: Set(score.grade.map(|g| g.name().to_owned())),
        trend: Set(trend),
        parts: Set(parts),
        compute_time_us: Set(at.timestamp_micros()),
        computed_by: Set(computed_by.to_owned()),
    })
    .exec(uow.tx())
    .await?;
    let stored = StoredScore {
        account_id: account_id.to_owned(),
        product_key: product_key.to_owned(),
        scorecard_key: card.key.clone(),
        scorecard_version: card.version,
        trend,
        compute_time: at,
        computed_by: computed_by.to_owned(),
        id: inserted.last_insert_id,
        score,
    };
    let (before_score, before_grade, before_parts) = match previous {
        Some(p) => (p.score.score, p.score.grade, p.score.parts.as_slice()),
        None => (None, None, &[][..]),
    };
    if previous.is_none()
        || before_score != stored.score.score
        || before_grade != stored.score.grade
    {
        let changes = moved(before_parts, &stored.score.parts)
            .into_iter()
            .map(|(name, before, after)| pb::MeasureChange {
                measure: measure_to_proto(&name) as i32,
                contribution_before: before,
                contribution_after: after,
            })
            .collect();
        uow.emit(
            account_id,
            &pb::HealthChanged {
                score: Some(score_to_proto(&stored)),
                score_before: before_score,
                grade_before: grade_to_proto(before_grade) as i32,
                changes,
                partner_id: partner_id.unwrap_or_default().to_owned(),
            },
        );
    }
    Ok(stored)
}

/// A subquery of the ids of the latest rows of `table` per (account,
/// product) among `account_ids`, of rows whose `time_column` is before
/// `before_us` when given.
fn latest_ids(
    table: &str,
    time_column: &str,
    account_ids: &[&str],
    before_us: Option<i64>,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let mut query = Query::select();
    query
        .expr(Expr::col(Alias::new("id")).max())
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("account_id")).is_in(account_ids.iter().copied()))
        .add_group_by([
            Expr::col(Alias::new("account_id")),
            Expr::col(Alias::new("product_key")),
        ]);
    if let Some(before) = before_us {
        query.and_where(Expr::col(Alias::new(time_column)).lt(before));
    }
    query
}

/// The latest score of each product of each of `account_ids` (computed
/// before `before_us` when given), by (account, product).
pub async fn latest_scores(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
    before_us: Option<i64>,
) -> Result<HashMap<(String, String), StoredScore>> {
    if account_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = latest_ids("health_scores", "compute_time_us", account_ids, before_us);
    health_score::Entity::find()
        .filter(health_score::Column::Id.in_subquery(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|row| to_score(row).map(|s| ((s.account_id.clone(), s.product_key.clone()), s)))
        .collect()
}

/// The latest sentiment (0 to 100) of each product of each of
/// `account_ids` (recorded before `before_us` when given), by (account,
/// product).
pub async fn latest_sentiments(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
    before_us: Option<i64>,
) -> Result<HashMap<(String, String), i32>> {
    if account_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = latest_ids("sentiments", "record_time_us", account_ids, before_us);
    Ok(sentiment::Entity::find()
        .filter(sentiment::Column::Id.in_subquery(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|row| ((row.account_id, row.product_key), row.score))
        .collect())
}

/// The latest version of every scorecard, by scope.
pub async fn cards_by_scope(db: &impl ConnectionTrait) -> Result<HashMap<String, Scorecard>> {
    let heads = scorecard::Entity::find().all(db).await?;
    let mut cards = HashMap::with_capacity(heads.len());
    for head in heads {
        let row = version::Entity::find_by_id((head.scorecard_key.clone(), head.version))
            .one(db)
            .await?
            .ok_or_else(|| corrupt("scorecard version"))?;
        cards.insert(head.tier.clone(), to_card(&head, row)?);
    }
    Ok(cards)
}

/// The card of scope `tier`, else the default one, among `cards`.
pub fn card_for<'a>(cards: &'a HashMap<String, Scorecard>, tier: &str) -> Option<&'a Scorecard> {
    cards.get(tier).or_else(|| cards.get(DEFAULT_SCOPE))
}
