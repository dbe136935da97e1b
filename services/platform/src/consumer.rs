//! Durable consumers of another service's event feed.
//!
//! A consumer follows `EventFeedService.WatchEvents` of a source service from
//! its cursor, as the service itself. Each event is handled inside the
//! consumer's own database transaction together with the cursor advance and
//! the record of its `event_id`, so its effect happens exactly once even
//! across crashes, and an event seen again (by id) is skipped. An event whose
//! handling keeps failing (a malformed payload, a bug) is parked in
//! `dead_letters` with its error, and the events after it flow on; the
//! operations service lists parked events and retries them.
//!
//! A consumer runs as a job (one replica at a time); each run follows the feed
//! for up to half a minute, and a run that loses the feed fails (visible in
//! `ListJobs` with the error) and is started again on the next tick.

use std::{sync::Arc, time::Duration};

use prost::Message as _;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use themodel_proto::{
    events::{
        Event, ListEventsRequest, WatchEventsRequest,
        event_feed_service_client::EventFeedServiceClient,
    },
    operations as pb,
};

use crate::{
    client::{CallContext, Clients},
    jobs::{JobRunner, Schedule},
    store::{Begun, Store, UnitOfWork, cursor},
};

/// How far behind its source a consumer is, in events; labels `service`, `consumer`.
pub const CONSUMER_LAG: &str = "consumer_lag_events";
/// Events a consumer parked; labels `service`, `consumer`.
pub const DEAD_LETTERS: &str = "consumer_dead_letters_total";
/// Tries of one event before it is parked.
const ATTEMPTS: u32 = 3;
/// How long one run follows the feed before it hands back to the job runner.
const RUN_FOR: Duration = Duration::from_secs(30);

/// What a consumer does with each event, inside its unit of work: whatever
/// it writes through `uow.tx()`, and the events it emits, commit with the
/// cursor, or not at all. An error rolls it all back; the event is tried
/// again, then parked.
#[tonic::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event`.
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()>;
}

/// The tables of consumed event ids and parked events.
pub mod entity {
    /// Ids of events a consumer applied.
    pub mod consumed {
        use sea_orm::entity::prelude::*;

        /// One applied event.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "consumed_events")]
        pub struct Model {
            /// The consumer.
            #[sea_orm(primary_key, auto_increment = false)]
            pub consumer: String,
            /// The event's id.
            #[sea_orm(primary_key, auto_increment = false)]
            pub event_id: String,
            /// When it was applied, Unix milliseconds.
            pub consumed_at_ms: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// Events a consumer parked.
    pub mod dead_letter {
        use sea_orm::entity::prelude::*;

        /// One parked event.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "dead_letters")]
        pub struct Model {
            /// The consumer.
            #[sea_orm(primary_key, auto_increment = false)]
            pub consumer: String,
            /// The event's id.
            #[sea_orm(primary_key, auto_increment = false)]
            pub event_id: String,
            /// Its source service.
            pub source: String,
            /// Its sequence in the source's log.
            pub sequence: i64,
            /// Its payload type.
            pub event_type: String,
            /// The encoded `themodel.events.v1.Event`.
            pub event: Vec<u8>,
            /// The last error.
            pub error: String,
            /// Tries so far.
            pub attempts: i32,
            /// When it was parked, Unix milliseconds.
            pub parked_at_ms: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{consumed, dead_letter};

/// One consumer: its name, its source and its handler.
#[derive(Clone)]
pub struct Consumer {
    name: &'static str,
    source: &'static str,
    handler: Arc<dyn EventHandler>,
    store: Store,
}

impl Consumer {
    /// The consumer called `name` of `source`'s events, applying them with
    /// `handler` in `store`'s database.
    pub fn new(
        name: &'static str,
        source: &'static str,
        store: &Store,
        handler: impl EventHandler,
    ) -> Self {
        Self {
            name,
            source,
            handler: Arc::new(handler),
            store: store.clone(),
        }
    }

    /// Runs the consumer on `jobs` (one replica at a time), reading the feed
    /// through `clients`.
    pub fn start(self, jobs: &JobRunner, clients: Clients) {
        jobs.register_consumer(self.clone());
        let consumer = Arc::new(self);
        jobs.every(
            consumer.name,
            Schedule::every(Duration::from_secs(1)).lease(Duration::from_secs(10)),
            move || {
                let consumer = consumer.clone();
                let clients = clients.clone();
                async move { consumer.follow(&clients).await }
            },
        );
    }

    /// The consumer's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Follows the feed from the cursor for one run.
    async fn follow(&self, clients: &Clients) -> anyhow::Result<String> {
        let db = &self.store.db;
        let mut position = cursor::position(db, self.name).await?;
        let source = self.source;
        let channel = clients
            .channel(source)
            .map_err(|s| anyhow::anyhow!("{source} feed: {}", s.message()))?;
        let ctx = CallContext::background();
        let mut head_request = clients.prepare_stream(
            &ctx,
            ListEventsRequest {
                page_size: 1,
                ..Default::default()
            },
        )?;
        let mut watch = clients.prepare_stream(
            &ctx,
            WatchEventsRequest {
                after_sequence: position,
            },
        )?;
        for request in [head_request.metadata_mut(), watch.metadata_mut()] {
            // Lets the feed be read through the gateway as well.
            request.insert(
                "x-themodel-source",
                source.parse().map_err(|_| anyhow::anyhow!("source name"))?,
            );
        }
        let mut client = EventFeedServiceClient::new(channel);
        let mut head = client
            .list_events(head_request)
            .await
            .map_err(|s| anyhow::anyhow!("{source} feed: {}", s.message()))?
            .into_inner()
            .head_sequence;
        let mut stream = client
            .watch_events(watch)
            .await
            .map_err(|s| anyhow::anyhow!("{source} feed: {}", s.message()))?
            .into_inner();
        let until = tokio::time::Instant::now() + RUN_FOR;
        let mut applied = 0;
        loop {
            self.report_lag(head - position);
            let next = tokio::select! {
                next = stream.message() => next,
                _ = tokio::time::sleep_until(until) => return Ok(format!("{applied} events applied")),
            };
            let event = match next {
                Ok(Some(response)) => match response.event {
                    Some(event) => event,
                    None => continue,
                },
                Ok(None) => return Ok(format!("{applied} events applied; the feed closed")),
                Err(status) => anyhow::bail!("{source} feed: {}", status.message()),
            };
            if event.sequence <= position {
                continue;
            }
            self.apply(&event).await?;
            position = event.sequence;
            head = head.max(position);
            applied += 1;
        }
    }

    fn report_lag(&self, lag: i64) {
        metrics::gauge!(CONSUMER_LAG, "service" => self.store.outbox.source(), "consumer" => self.name)
            .set(lag.max(0) as f64);
    }

    /// Applies one event exactly once, or parks it.
    async fn apply(&self, event: &Event) -> anyhow::Result<()> {
        let mut last_error = None;
        for attempt in 1..=ATTEMPTS {
            match self.try_apply(event).await {
                Ok(()) => return Ok(()),
                Err(Failure::Database(err)) => return Err(err),
                Err(Failure::Handler(err)) => {
                    tracing::warn!(
                        consumer = self.name,
                        sequence = event.sequence,
                        attempt,
                        error = format!("{err:#}"),
                        "event handling failed"
                    );
                    last_error = Some(err);
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
            }
        }
        let error = last_error.map(|e| format!("{e:#}")).unwrap_or_default();
        self.park(event, &error, ATTEMPTS as i32).await?;
        Ok(())
    }

    /// A unit of work with no idempotency key: the consumed-event record is
    /// the consumer's.
    async fn begin(&self) -> Result<UnitOfWork, Failure> {
        match self.store.begin::<()>(None).await {
            Ok(Begun::Fresh(uow)) => Ok(uow),
            Ok(Begun::Replay(())) => {
                Err(Failure::Database(anyhow::anyhow!("replay without a key")))
            }
            Err(err) => Err(Failure::Database(err.into())),
        }
    }

    /// One try: the handler, its events, the id record and the cursor in one
    /// transaction.
    async fn try_apply(&self, event: &Event) -> Result<(), Failure> {
        let mut uow = self.begin().await?;
        let seen = consumed::Entity::find_by_id((self.name.to_owned(), event.event_id.clone()))
            .one(uow.tx())
            .await?
            .is_some();
        if !seen {
            // Dropping the unit of work rolls back whatever the handler wrote.
            self.handler
                .handle(&mut uow, event)
                .await
                .map_err(Failure::Handler)?;
            record_consumed(uow.tx(), self.name, &event.event_id).await?;
        }
        cursor::advance(uow.tx(), self.name, event.sequence).await?;
        uow.commit(&())
            .await
            .map_err(|err| Failure::Database(err.into()))?;
        Ok(())
    }

    /// Parks `event` and moves the cursor past it, in one transaction.
    async fn park(&self, event: &Event, error: &str, attempts: i32) -> Result<(), DbErr> {
        let tx = self.store.begin_write().await?;
        dead_letter::Entity::insert(dead_letter::ActiveModel {
            consumer: Set(self.name.to_owned()),
            event_id: Set(event.event_id.clone()),
            source: Set(self.source.to_owned()),
            sequence: Set(event.sequence),
            event_type: Set(event.r#type.clone()),
            event: Set(event.encode_to_vec()),
            error: Set(crate::error::truncate(error, 2000).into_owned()),
            attempts: Set(attempts),
            parked_at_ms: Set(chrono::Utc::now().timestamp_millis()),
        })
        .exec_without_returning(&tx)
        .await?;
        cursor::advance(&tx, self.name, event.sequence).await?;
        tx.commit().await?;
        tracing::error!(
            consumer = self.name,
            sequence = event.sequence,
            error,
            "event parked"
        );
        metrics::counter!(DEAD_LETTERS, "service" => self.store.outbox.source(), "consumer" => self.name)
            .increment(1);
        Ok(())
    }

    /// Handles a parked event again: `Ok(None)` when it was handled and left
    /// the list, `Ok(Some(letter))` when it failed again, `Err` NOT_FOUND when
    /// it is not parked.
    pub(crate) async fn retry(
        &self,
        event_id: &str,
    ) -> Result<Option<pb::DeadLetter>, crate::ApiError> {
        let not_found = || crate::ApiError::NotFound {
            resource: "dead letter",
            id: event_id.to_owned(),
        };
        let mut uow = match self.store.begin::<()>(None).await? {
            Begun::Fresh(uow) => uow,
            Begun::Replay(()) => return Err(not_found()),
        };
        let letter = dead_letter::Entity::find_by_id((self.name.to_owned(), event_id.to_owned()))
            .one(uow.tx())
            .await?
            .ok_or_else(not_found)?;
        let event = Event::decode(letter.event.as_slice()).map_err(crate::ApiError::internal)?;
        match self.handler.handle(&mut uow, &event).await {
            Ok(()) => {
                record_consumed(uow.tx(), self.name, event_id).await?;
                dead_letter::Entity::delete_by_id((self.name.to_owned(), event_id.to_owned()))
                    .exec(uow.tx())
                    .await?;
                uow.commit(&()).await?;
                Ok(None)
            }
            Err(err) => {
                // Nothing the handler wrote survives; the letter records the try.
                drop(uow);
                let error = crate::error::truncate(&format!("{err:#}"), 2000).into_owned();
                let attempts = letter.attempts + 1;
                dead_letter::Entity::update_many()
                    .col_expr(
                        dead_letter::Column::Error,
                        sea_orm::prelude::Expr::value(error.clone()),
                    )
                    .col_expr(
                        dead_letter::Column::Attempts,
                        sea_orm::prelude::Expr::value(attempts),
                    )
                    .filter(dead_letter::Column::Consumer.eq(self.name))
                    .filter(dead_letter::Column::EventId.eq(event_id))
                    .exec(&self.store.db)
                    .await?;
                Ok(Some(to_proto(dead_letter::Model {
                    error,
                    attempts,
                    ..letter
                })))
            }
        }
    }
}

/// Why one try failed.
enum Failure {
    /// The handler refused the event: try again, then park it.
    Handler(anyhow::Error),
    /// The consumer's own database failed: stop this run.
    Database(anyhow::Error),
}

impl From<DbErr> for Failure {
    fn from(err: DbErr) -> Self {
        Failure::Database(err.into())
    }
}

async fn record_consumed(
    tx: &impl ConnectionTrait,
    consumer: &str,
    event_id: &str,
) -> Result<(), DbErr> {
    consumed::Entity::insert(consumed::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event_id.to_owned()),
        consumed_at_ms: Set(chrono::Utc::now().timestamp_millis()),
    })
    .exec_without_returning(tx)
    .await
    .map(|_| ())
}

/// Forgets the ids of events applied longer than `max_age` ago: the cursor
/// already keeps those from being applied again, the ids only guard against
/// a feed delivering an event twice under different sequences.
pub async fn purge_consumed(db: &impl ConnectionTrait, max_age: Duration) -> Result<u64, DbErr> {
    let cutoff = chrono::Utc::now().timestamp_millis()
        - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    Ok(consumed::Entity::delete_many()
        .filter(consumed::Column::ConsumedAtMs.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

/// A page of parked events after `after` (consumer, sequence), oldest first.
pub(crate) async fn list_dead_letters(
    db: &impl ConnectionTrait,
    consumer: Option<&str>,
    after: Option<(String, i64)>,
    limit: u64,
) -> Result<(Vec<pb::DeadLetter>, Option<(String, i64)>), DbErr> {
    let mut query = dead_letter::Entity::find()
        .order_by_asc(dead_letter::Column::Consumer)
        .order_by_asc(dead_letter::Column::Sequence)
        .limit(limit + 1);
    if let Some(consumer) = consumer {
        query = query.filter(dead_letter::Column::Consumer.eq(consumer));
    }
    if let Some((after_consumer, after_sequence)) = after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(dead_letter::Column::Consumer.gt(after_consumer.clone()))
                .add(
                    sea_orm::Condition::all()
                        .add(dead_letter::Column::Consumer.eq(after_consumer))
                        .add(dead_letter::Column::Sequence.gt(after_sequence)),
                ),
        );
    }
    let mut rows = query.all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|r| (r.consumer.clone(), r.sequence)))
        .flatten();
    Ok((rows.into_iter().map(to_proto).collect(), next))
}

fn to_proto(row: dead_letter::Model) -> pb::DeadLetter {
    pb::DeadLetter {
        consumer: row.consumer,
        source: row.source,
        sequence: row.sequence,
        event_id: row.event_id,
        r#type: row.event_type,
        error: row.error,
        attempts: row.attempts,
        park_time: Some(crate::jobs::timestamp(row.parked_at_ms)),
    }
}
