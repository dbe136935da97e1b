//! Backtests read the kept usage, seats, sentiments and outcomes a few
//! hundred accounts at a time and replay a scorecard version on each as_of
//! day with the same rules that score accounts today.

use std::collections::{BTreeSet, HashMap};

use chrono::{Days, NaiveDate};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement, Value,
};
use themodel_platform::{accounts, validate::date_to_proto};
use themodel_proto::health as pb;

use super::{
    adoption::{day_start_us, seat_terms_of, uses_of},
    entity::feature,
    outcomes::turns,
    scores::{DEFAULT_SCOPE, entity::sentiment},
};
use crate::{
    convert::scores::grade_to_proto,
    domain::{
        backtest::{MAX_MISSED, Matrix, churn_within, churned_on},
        measures::{LOOKBACK_DAYS, observe, seats_on},
        scorecard::{Grade, Scorecard, score},
    },
    error::Result,
};

/// Accounts read per round.
const CHUNK: usize = 500;

/// What to replay.
pub struct Backtest<'a> {
    /// The scorecard version.
    pub card: &'a Scorecard,
    /// The product.
    pub product_key: &'a str,
    /// The as_of days, in order (at least one).
    pub days: &'a [NaiveDate],
    /// Days after as_of a churn counts in.
    pub horizon_days: i32,
    /// The grade from which down a score predicts churn.
    pub churn_grade: Grade,
}

/// The accounts that used or licensed `product_key` between `from` and
/// `to`, in id order.
async fn candidates(
    db: &impl ConnectionTrait,
    product_key: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<String>> {
    let backend = db.get_database_backend();
    let p = |n: usize| match backend {
        sea_orm::DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let sql = format!(
        "SELECT DISTINCT account_id FROM usage_events WHERE product_key = {} \
         AND occurred_at_us >= {} AND occurred_at_us < {} \
         UNION SELECT account_id FROM seat_terms WHERE product_key = {} ORDER BY 1",
        p(1),
        p(2),
        p(3),
        p(4)
    );
    let values: Vec<Value> = vec![
        product_key.into(),
        day_start_us(from).into(),
        (day_start_us(to) + 86_400_000_000).into(),
        product_key.into(),
    ];
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "account_id").map_err(Into::into))
        .collect()
}

/// Replays `t` over the accounts its scorecard scores (those of its tier,
/// every account for the default scorecard).
pub async fn run(db: &impl ConnectionTrait, t: &Backtest<'_>) -> Result<pb::BacktestResult> {
    let (Some(first), Some(last)) = (t.days.first(), t.days.last()) else {
        return Ok(pb::BacktestResult::default());
    };
    let from = first
        .checked_sub_days(Days::new(u64::try_from(LOOKBACK_DAYS - 1).unwrap_or(0)))
        .unwrap_or(*first);
    let key_features: BTreeSet<String> = feature::Entity::find()
        .filter(feature::Column::ProductKey.eq(t.product_key))
        .filter(feature::Column::KeyFeature.eq(true))
        .filter(feature::Column::Retired.eq(false))
        .all(db)
        .await?
        .into_iter()
        .map(|f| f.feature_key)
        .collect();
    let all = candidates(db, t.product_key, from, *last).await?;
    let measures = &t.card.definition.measures;
    let mut matrix = Matrix::default();
    let mut missed = Vec::new();
    for chunk in all.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let scored: Vec<String> = accounts::projected(db, &ids)
            .await?
            .into_iter()
            .filter(|a| t.card.tier == DEFAULT_SCOPE || a.tier.as_str_name() == t.card.tier)
            .map(|a| a.id)
            .collect();
        let ids: Vec<&str> = scored.iter().map(String::as_str).collect();
        let uses = uses_of(db, &ids, Some(t.product_key), from, *last).await?;
        let terms = seat_terms_of(db, &ids).await?;
        let turns = turns(db, Some(&ids)).await?;
        let mut sentiments: HashMap<String, Vec<(i64, i32)>> = HashMap::new();
        for row in sentiment::Entity::find()
            .filter(sentiment::Column::AccountId.is_in(ids.iter().copied()))
            .filter(sentiment::Column::ProductKey.eq(t.product_key))
            .order_by_asc(sentiment::Column::Id)
            .all(db)
            .await?
        {
            sentiments
                .entry(row.account_id)
                .or_default()
                .push((row.record_time_us, row.score));
        }
        for id in &scored {
            let key = (id.clone(), t.product_key.to_owned());
            let rows = uses.get(&key).map(Vec::as_slice).unwrap_or_default();
            let account_terms = terms.get(&key).map(Vec::as_slice).unwrap_or_default();
            let account_turns = turns.get(id).map(Vec::as_slice).unwrap_or_default();
            for day in t.days {
                let seats = seats_on(account_terms, *day);
                let window_from = day
                    .checked_sub_days(Days::new(u64::try_from(LOOKBACK_DAYS - 1).unwrap_or(0)))
                    .unwrap_or(*day);
                let used = rows.iter().any(|r| r.day >= window_from && r.day <= *day);
                if churned_on(account_turns, *day) || (seats == 0 && !used) {
                    continue;
                }
                let end_of_day = day_start_us(*day) + 86_400_000_000;
                let sentiment = sentiments.get(id).and_then(|all| {
                    all.iter()
                        .take_while(|(at, _)| *at < end_of_day)
                        .last()
                        .map(|(_, s)| *s)
                });
                let seen = observe(rows, *day, &key_features, seats, sentiment);
                let computed = score(
                    measures,
                    &seen.inputs.values(measures),
                    &t.card.definition.thresholds,
                );
                let churn = churn_within(account_turns, *day, t.horizon_days);
                if matrix.count(computed.grade, t.churn_grade, churn.is_some())
                    && missed.len() < MAX_MISSED
                {
                    missed.push(pb::MissedChurn {
                        account_id: id.clone(),
                        as_of: Some(date_to_proto(*day)),
                        score: computed.score.unwrap_or_default(),
                        grade: grade_to_proto(computed.grade) as i32,
                        churn_date: churn.map(date_to_proto),
                    });
                }
            }
        }
    }
    missed.sort_by(|a, b| {
        let day = |m: &pb::MissedChurn| m.as_of.as_ref().map(|d| (d.year, d.month, d.day));
        day(a)
            .cmp(&day(b))
            .then_with(|| a.account_id.cmp(&b.account_id))
    });
    Ok(pb::BacktestResult {
        scorecard_key: t.card.key.clone(),
        scorecard_version: t.card.version,
        product_key: t.product_key.to_owned(),
        as_of_dates: t.days.iter().copied().map(date_to_proto).collect(),
        horizon_days: t.horizon_days,
        churn_grade: grade_to_proto(Some(t.churn_grade)) as i32,
        observations: matrix.observations(),
        true_positives: matrix.true_positives,
        false_positives: matrix.false_positives,
        false_negatives: matrix.false_negatives,
        true_negatives: matrix.true_negatives,
        unscored: matrix.unscored,
        precision_basis_points: matrix.precision(),
        recall_basis_points: matrix.recall(),
        missed_churns: missed,
    })
}
