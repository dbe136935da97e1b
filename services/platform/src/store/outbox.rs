//! The transactional outbox: each service's ordered log of domain events.
//!
//! Sequences are handed out from a one-row counter updated inside the writing
//! transaction. The row lock serialises writers until commit, so sequences
//! become visible strictly in order and without gaps: a reader that has seen
//! sequence N never later finds an event below N appear.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    prelude::Expr, sea_query::ExprTrait,
};
use themodel_proto::events::Event;

use super::copy::{CopyRow, CopyTable, RowWriter};

use tokio::sync::watch;

/// The outbox tables.
pub mod entity {
    /// The events.
    pub mod event {
        use sea_orm::entity::prelude::*;

        /// One committed event.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "outbox_events")]
        pub struct Model {
            /// Position in the log, from 1, gap-free.
            #[sea_orm(primary_key, auto_increment = false)]
            pub sequence: i64,
            /// UUIDv7, made as the event is appended (not indexed: nothing
            /// looks an event up by its id).
            pub event_id: String,
            /// Full protobuf name of the payload.
            pub event_type: String,
            /// The resource the event is about.
            pub subject_id: String,
            /// Encoded payload.
            pub payload: Vec<u8>,
            /// Commit time, Unix microseconds.
            pub occurred_at_us: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// The one-row sequence counter.
    pub mod head {
        use sea_orm::entity::prelude::*;

        /// The last sequence handed out.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "outbox_head")]
        pub struct Model {
            /// Always 1.
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i32,
            /// The last sequence handed out.
            pub last_sequence: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{event, head};

/// An event to be committed.
#[derive(Debug, Clone)]
pub struct NewEvent {
    event_type: String,
    subject_id: String,
    payload: Vec<u8>,
}

impl NewEvent {
    /// An event about `subject_id` with a typed payload.
    pub fn new<M: prost::Name>(subject_id: &str, payload: &M) -> Self {
        Self {
            event_type: M::full_name(),
            subject_id: subject_id.to_owned(),
            payload: payload.encode_to_vec(),
        }
    }
}

/// The columns an event is appended with.
const EVENTS: CopyTable = CopyTable {
    name: "outbox_events",
    columns: &[
        "sequence",
        "event_id",
        "event_type",
        "subject_id",
        "payload",
        "occurred_at_us",
    ],
};

/// An event with its place in the log.
struct EventRow {
    sequence: i64,
    occurred_at_us: i64,
    event: NewEvent,
}

impl CopyRow for EventRow {
    fn write(&self, row: &mut RowWriter) {
        let mut id = uuid::Uuid::encode_buffer();
        row.int8(self.sequence);
        row.text(uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id));
        row.text(&self.event.event_type);
        row.text(&self.event.subject_id);
        row.bytes(&self.event.payload);
        row.int8(self.occurred_at_us);
    }
}

/// A service's event log and the signal that tells watchers of new events.
#[derive(Debug)]
pub struct Outbox {
    source: &'static str,
    head: watch::Sender<i64>,
}

impl Outbox {
    /// Opens the log of `source`, reading its current head.
    pub async fn open(db: &impl ConnectionTrait, source: &'static str) -> Result<Self, DbErr> {
        let last = head::Entity::find_by_id(1)
            .one(db)
            .await?
            .map_or(0, |h| h.last_sequence);
        Ok(Self {
            source,
            head: watch::channel(last).0,
        })
    }

    /// The service name events carry.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Appends events inside the caller's transaction; returns the new head.
    pub async fn append(
        &self,
        tx: &super::Tx,
        events: Vec<NewEvent>,
    ) -> Result<Option<i64>, DbErr> {
        if events.is_empty() {
            return Ok(None);
        }
        let count = events.len() as i64;
        let last: i64 = tx
            .query_one(
                sea_orm::sea_query::Query::update()
                    .table(head::Entity)
                    .value(
                        head::Column::LastSequence,
                        Expr::col(head::Column::LastSequence).add(count),
                    )
                    .and_where(head::Column::Id.eq(1))
                    .returning_col(head::Column::LastSequence),
            )
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("outbox_head row".into()))?
            .try_get("", "last_sequence")?;
        let first = last - count + 1;
        let occurred_at_us = chrono::Utc::now().timestamp_micros();
        let rows = events
            .into_iter()
            .zip(first..)
            .map(|(event, sequence)| EventRow {
                sequence,
                occurred_at_us,
                event,
            });
        super::copy::append(tx, &EVENTS, rows).await?;
        Ok(Some(last))
    }

    /// Tells watchers that events up to `head` are committed.
    pub fn published(&self, head: Option<i64>) {
        if let Some(head) = head {
            self.head.send_if_modified(|current| {
                let newer = head > *current;
                if newer {
                    *current = head;
                }
                newer
            });
        }
    }

    /// A receiver that changes whenever new events are committed.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Up to `limit` events after `after`, oldest first.
    pub async fn list(
        &self,
        db: &impl ConnectionTrait,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Event>, DbErr> {
        let rows = event::Entity::find()
            .filter(event::Column::Sequence.gt(after))
            .order_by_asc(event::Column::Sequence)
            .limit(limit)
            .all(db)
            .await?;
        Ok(rows.into_iter().map(|row| self.to_proto(row)).collect())
    }

    /// The newest sequence in the log.
    pub async fn head(&self, db: &impl ConnectionTrait) -> Result<i64, DbErr> {
        Ok(head::Entity::find_by_id(1)
            .one(db)
            .await?
            .map_or(0, |h| h.last_sequence))
    }

    fn to_proto(&self, row: event::Model) -> Event {
        let seconds = row.occurred_at_us.div_euclid(1_000_000);
        let nanos = (row.occurred_at_us.rem_euclid(1_000_000) * 1000) as i32;
        Event {
            event_id: row.event_id,
            sequence: row.sequence,
            source: self.source.to_owned(),
            payload: Some(prost_types::Any {
                type_url: format!("type.googleapis.com/{}", row.event_type),
                value: row.payload,
            }),
            r#type: row.event_type,
            subject_id: row.subject_id,
            occurred_at: Some(prost_types::Timestamp { seconds, nanos }),
        }
    }
}
