//! Reads of one row by its primary key, coalesced: the keys asked for while a
//! statement runs are read together by the next one.
//!
//! A statement costs far more than the row it returns: on SQLite the driver
//! hands each statement to the connection's thread and the rows back (a
//! thread wake-up and switch each way, about 30% of a `GetAccount`'s CPU when
//! each call ran its own), on PostgreSQL it is a round trip. Under concurrent
//! load, callers asking for one row each share a statement; a caller alone
//! has its statement started at once. A read runs after it was asked for, so
//! it sees every write committed before that, the caller's own among them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use sea_orm::{
    ColumnTrait as _, ColumnType, ConnectionTrait as _, DbErr, EntityTrait, Iterable as _,
    ModelTrait as _, PrimaryKeyToColumn as _, QueryFilter as _, Value,
};
use tokio::sync::oneshot;

use super::{Db, any_of};

/// Keys one statement reads at most (well under SQLite's parameter limit).
const MAX_KEYS: usize = 256;

type Reply<M> = oneshot::Sender<Result<Option<M>, DbErr>>;

/// Coalesced reads of `E`'s rows by its primary key, a single text column.
pub struct PointReads<E: EntityTrait> {
    db: Db,
    key: E::Column,
    queue: Arc<Mutex<Queue<E::Model>>>,
}

/// The keys waiting for a statement, and whether a reader is running.
struct Queue<M> {
    waiting: Vec<(String, Reply<M>)>,
    reading: bool,
}

impl<E> PointReads<E>
where
    E: EntityTrait,
    E::Model: Clone + Send + Sync + 'static,
{
    /// Reads of `E` on `db`. `E`'s primary key must be one text column: any
    /// other is a programming error, refused here when the service starts.
    pub fn new(db: Db) -> Self {
        let mut keys = E::PrimaryKey::iter().map(|key| key.into_column());
        let (Some(key), None) = (keys.next(), keys.next()) else {
            panic!("PointReads needs a primary key of one column");
        };
        // Not `CHAR(n)`: PostgreSQL pads its values, so a row would come back
        // under a key other than the one asked for.
        assert!(
            matches!(
                key.def().get_column_type(),
                ColumnType::String(_) | ColumnType::Text
            ),
            "PointReads needs a text primary key"
        );
        Self {
            db,
            key,
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                reading: false,
            })),
        }
    }

    /// The row whose primary key is `key`, if there is one.
    pub async fn get(&self, key: &str) -> Result<Option<E::Model>, DbErr> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = lock(&self.queue);
            queue.waiting.push((key.to_owned(), reply));
            !std::mem::replace(&mut queue.reading, true)
        };
        if start {
            let reader = Reader::<E> {
                db: self.db.clone(),
                key: self.key,
                queue: self.queue.clone(),
                done: false,
            };
            tokio::spawn(reader.run());
        }
        answer
            .await
            .map_err(|_| DbErr::Custom("the read stopped before it answered".into()))?
    }
}

/// Clones share one queue.
impl<E: EntityTrait> Clone for PointReads<E> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            key: self.key,
            queue: self.queue.clone(),
        }
    }
}

impl<E: EntityTrait> std::fmt::Debug for PointReads<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointReads")
            .field("table", &E::default().table_name())
            .finish_non_exhaustive()
    }
}

/// The task that reads what is queued, a statement at a time, until nothing is.
struct Reader<E: EntityTrait> {
    db: Db,
    key: E::Column,
    queue: Arc<Mutex<Queue<E::Model>>>,
    /// Set when it stopped because nothing was queued.
    done: bool,
}

impl<E> Reader<E>
where
    E: EntityTrait,
    E::Model: Clone + Send + Sync + 'static,
{
    async fn run(mut self) {
        loop {
            let mut batch: Vec<(String, Reply<E::Model>)> = {
                let mut queue = lock(&self.queue);
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    drop(queue);
                    self.done = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_KEYS);
                queue.waiting.drain(..take).collect()
            };
            // In key order: the statement's keys without repeats, and below
            // each caller of a key next to the others.
            batch.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut keys: Vec<&str> = batch.iter().map(|(key, _)| key.as_str()).collect();
            keys.dedup();
            let filter = any_of(self.db.get_database_backend(), self.key, &keys);
            match E::find().filter(filter).all(&self.db).await {
                Ok(rows) => {
                    let mut found: HashMap<String, E::Model> = rows
                        .into_iter()
                        .filter_map(|row| match row.get(self.key) {
                            Value::String(Some(key)) => Some((key, row)),
                            _ => None,
                        })
                        .collect();
                    // A row goes to the last caller asking for it and a copy
                    // to each one before.
                    let mut callers = batch.into_iter().peekable();
                    while let Some((key, reply)) = callers.next() {
                        let row = match callers.peek() {
                            Some((next, _)) if *next == key => found.get(&key).cloned(),
                            _ => found.remove(&key),
                        };
                        let _ = reply.send(Ok(row));
                    }
                }
                Err(err) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }
    }
}

impl<E: EntityTrait> Drop for Reader<E> {
    /// A reader that stops other than by finding the queue empty (a panic, a
    /// runtime shutting down) fails what waits and lets the next caller start
    /// another.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut queue = lock(&self.queue);
        queue.reading = false;
        queue.waiting.clear();
    }
}

/// The queue, even after a panic elsewhere held its lock: it stays consistent
/// (each change to it is one push or drain).
fn lock<M>(queue: &Mutex<Queue<M>>) -> MutexGuard<'_, Queue<M>> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
