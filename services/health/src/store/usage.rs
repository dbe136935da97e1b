//! Usage events in the service's database: appended in bulk (binary `COPY`
//! on PostgreSQL) in the caller's unit of work, with their event ids recorded
//! so that a repeat is a duplicate, and each account's first use of each
//! feature recorded so that adoption is announced once.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
};

use sea_orm::{
    ConnectionTrait, DbErr, Statement, Value,
    sea_query::{Alias, OnConflict, Query},
};
use themodel_platform::store::{CopyRow, CopyTable, RowWriter, Store, UnitOfWork};
use themodel_proto::health as pb;

use super::scoring::queue;
use crate::{convert::timestamp, domain::usage::UsageEvent, error::Result};

/// Rows per statement of the adoption inserts: well under either
/// database's parameter limit.
const INSERT_ROWS: usize = 1000;

/// The columns a usage event is written with.
const USAGE_EVENTS: CopyTable = CopyTable {
    name: "usage_events",
    columns: &[
        "account_id",
        "user_id",
        "product_key",
        "feature_key",
        "occurred_at_us",
        "count",
        "event_id",
    ],
};

struct EventRow<'a>(&'a UsageEvent);

impl CopyRow for EventRow<'_> {
    fn write(&self, row: &mut RowWriter) {
        let e = self.0;
        row.text(&e.account_id);
        row.text(&e.user_id);
        row.text(&e.product_key);
        row.text(&e.feature_key);
        row.int8(e.occurred_at.timestamp_micros());
        row.int8(e.count);
        row.opt(e.event_id.as_deref(), RowWriter::text);
    }
}

/// Most first uses of a feature the service remembers as recorded; past
/// it the memory starts again (about 100 bytes each).
const MAX_REMEMBERED: usize = 1_000_000;

/// An account's first use of a product's feature.
type FirstUse = (String, String, String);

/// What storing a chunk did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Events stored.
    pub accepted: u64,
    /// Events whose id was accepted before.
    pub duplicates: u64,
    /// The first uses recorded once the unit of work commits.
    recorded: Vec<FirstUse>,
}

/// Usage events.
#[derive(Debug, Clone)]
pub struct Usage {
    store: Store,
    /// First uses known to be committed: a chunk does not ask the database
    /// about them again. Never wrong, as a first use is never deleted; a
    /// use another replica recorded is only asked about once more.
    recorded: Arc<Mutex<HashSet<FirstUse>>>,
}

impl Usage {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            recorded: Arc::default(),
        }
    }

    /// Remembers the first uses of `stored` once its unit of work has
    /// committed.
    pub fn committed(&self, stored: &mut Stored) {
        let mut recorded = self
            .recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recorded.len() + stored.recorded.len() > MAX_REMEMBERED {
            recorded.clear();
        }
        recorded.extend(stored.recorded.drain(..));
    }

    /// The service's store, for units of work that span a call.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores `events` (each already checked) in `uow`: an event whose id
    /// was accepted before, in an earlier unit of work or earlier in this
    /// one, is a duplicate and not stored again. `partners` gives each
    /// account's partner for the adoption events.
    pub async fn append(
        &self,
        uow: &mut UnitOfWork,
        events: Vec<UsageEvent>,
        partners: &HashMap<String, Option<String>>,
    ) -> Result<Stored> {
        let ids: Vec<&str> = events
            .iter()
            .filter_map(|e| e.event_id.as_deref())
            .collect();
        let fresh = record_ids(uow.tx(), &ids).await?;
        let (kept, duplicates): (Vec<UsageEvent>, Vec<UsageEvent>) = events
            .into_iter()
            .partition(|e| e.event_id.as_deref().is_none_or(|id| fresh.contains(id)));
        let rows: Vec<EventRow> = kept.iter().map(EventRow).collect();
        uow.append(&USAGE_EVENTS, rows).await?;
        // Each account's first use of each feature in this chunk.
        let mut firsts: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
        for e in &kept {
            let at = e.occurred_at.timestamp_micros();
            firsts
                .entry((&e.account_id, &e.product_key, &e.feature_key))
                .and_modify(|t| *t = (*t).min(at))
                .or_insert(at);
        }
        // The accounts used are scored again in the background.
        let used: BTreeSet<(&str, &str)> = firsts
            .keys()
            .map(|(account, product, _)| (*account, *product))
            .collect();
        queue(uow.tx(), &used).await?;
        let unknown: BTreeMap<(&str, &str, &str), i64> = {
            let recorded = self
                .recorded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            firsts
                .iter()
                .filter(|((a, p, f), _)| {
                    !recorded.contains(&((*a).to_owned(), (*p).to_owned(), (*f).to_owned()))
                })
                .map(|(k, at)| (*k, *at))
                .collect()
        };
        let adopted = record_adoptions(uow.tx(), &unknown).await?;
        let recorded = unknown
            .keys()
            .map(|(a, p, f)| ((*a).to_owned(), (*p).to_owned(), (*f).to_owned()))
            .collect();
        for (account, product, feature) in adopted {
            let at = firsts
                .get(&(account.as_str(), product.as_str(), feature.as_str()))
                .copied()
                .unwrap_or_default();
            let partner_id = partners
                .get(&account)
                .cloned()
                .flatten()
                .unwrap_or_default();
            uow.emit(
                &account,
                &pb::FeatureAdopted {
                    first_used_at: Some(timestamp(
                        chrono::DateTime::from_timestamp_micros(at).unwrap_or_default(),
                    )),
                    account_id: account.clone(),
                    product_key: product,
                    feature_key: feature,
                    partner_id,
                },
            );
        }
        Ok(Stored {
            accepted: kept.len() as u64,
            duplicates: duplicates.len() as u64,
            recorded,
        })
    }
}

/// Records the event ids `ids`; the ones that were not recorded before.
/// One statement whatever their number: the ids go as one JSON array the
/// database unpacks, not as a bound value each.
async fn record_ids(db: &impl ConnectionTrait, ids: &[&str]) -> Result<HashSet<String>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    // In one order whatever the events' order: two chunks committing at once
    // then lock the ids they share in the same order and never deadlock.
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let now = chrono::Utc::now().timestamp_millis();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "INSERT INTO usage_event_ids (event_id, accepted_at_ms) \
             SELECT value, $1 FROM json_array_elements_text($2::json) \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        }
        // `WHERE true` tells SQLite's parser the ON CONFLICT is the upsert's.
        _ => {
            "INSERT INTO usage_event_ids (event_id, accepted_at_ms) \
             SELECT value, ? FROM json_each(?) WHERE true \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        }
    };
    let ids = serde_json::to_string(&ids).map_err(|e| DbErr::Custom(e.to_string()))?;
    let stmt = Statement::from_sql_and_values(backend, sql, [now.into(), ids.into()]);
    let mut fresh = HashSet::new();
    for row in db.query_all_raw(stmt).await? {
        fresh.insert(row.try_get::<String>("", "event_id")?);
    }
    Ok(fresh)
}

/// Records each (account, product, feature) first use in `firsts`; the ones
/// that were not recorded before.
async fn record_adoptions(
    db: &impl ConnectionTrait,
    firsts: &BTreeMap<(&str, &str, &str), i64>,
) -> Result<Vec<(String, String, String)>> {
    let rows: Vec<_> = firsts.iter().collect();
    let mut adopted = Vec::new();
    for chunk in rows.chunks(INSERT_ROWS) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("feature_adoptions")).columns([
            Alias::new("account_id"),
            Alias::new("product_key"),
            Alias::new("feature_key"),
            Alias::new("first_used_us"),
        ]);
        for ((account, product, feature), at) in chunk {
            insert
                .values([
                    Value::from(*account).into(),
                    Value::from(*product).into(),
                    Value::from(*feature).into(),
                    Value::from(**at).into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert
            .on_conflict(
                OnConflict::columns([
                    Alias::new("account_id"),
                    Alias::new("product_key"),
                    Alias::new("feature_key"),
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning(Query::returning().columns([
                Alias::new("account_id"),
                Alias::new("product_key"),
                Alias::new("feature_key"),
            ]));
        let stmt = db.get_database_backend().build(&insert);
        for row in db.query_all_raw(stmt).await? {
            adopted.push((
                row.try_get::<String>("", "account_id")?,
                row.try_get::<String>("", "product_key")?,
                row.try_get::<String>("", "feature_key")?,
            ));
        }
    }
    Ok(adopted)
}

/// The projected accounts among `ids` and `external_ids`, by id and by
/// external id.
pub async fn projected_accounts(
    db: &impl ConnectionTrait,
    ids: &[&str],
    external_ids: &[&str],
) -> Result<(
    HashMap<String, themodel_platform::accounts::Account>,
    HashMap<String, themodel_platform::accounts::Account>,
)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use themodel_platform::accounts::{self, entity};
    let by_id = accounts::projected(db, ids)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut by_external = HashMap::new();
    if !external_ids.is_empty() {
        let rows = entity::Entity::find()
            .filter(entity::Column::ExternalId.is_in(external_ids.iter().copied()))
            .all(db)
            .await?;
        let found: Vec<&str> = rows.iter().map(|r| r.account_id.as_str()).collect();
        for account in accounts::projected(db, &found).await? {
            if let Some(external) = account.external_id.clone() {
                by_external.insert(external, account);
            }
        }
    }
    Ok((by_id, by_external))
}
