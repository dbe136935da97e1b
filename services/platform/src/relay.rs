//! The NATS JetStream relay: publishes a service's event log to JetStream so
//! that consumers outside the suite can follow it without gRPC.
//!
//! Each event goes to the subject `themodel.<source>.<EventType>` (e.g.
//! `themodel.segmentation.AccountCreated`) of the stream `THEMODEL_<SOURCE>`,
//! as the encoded `themodel.events.v1.Event` envelope, with `Nats-Msg-Id` set
//! to its event id. The relay runs as a scheduled job (one replica at a time)
//! and keeps its cursor in the service's database, advancing it only past
//! events JetStream acknowledged; an event published again after a crash
//! between the acknowledgement and the cursor update is dropped by JetStream's
//! de-duplication on `Nats-Msg-Id`. A NATS outage delays events, never loses
//! them: each run resumes from the cursor.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use prost::Message as _;
use tokio::sync::Mutex;

use crate::{
    jobs::{JobRunner, Schedule},
    store::{Store, cursor},
};

/// The relay's name: its job and its cursor.
pub const RELAY: &str = "nats-relay";
/// Events read from the log at a time.
const BATCH: u64 = 500;
/// How long JetStream keeps message ids to drop duplicates: far longer than a
/// relay takes to come back after a crash.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

/// The JetStream subject of an event of `source` with protobuf type `event_type`.
pub fn subject(source: &str, event_type: &str) -> String {
    let short = event_type.rsplit('.').next().unwrap_or(event_type);
    format!("themodel.{source}.{short}")
}

/// The JetStream stream holding the events of `source`.
pub fn stream_name(source: &str) -> String {
    format!("THEMODEL_{}", source.to_uppercase().replace('-', "_"))
}

/// Schedules the relay of `store`'s event log to the NATS server at `url`.
pub fn schedule(store: &Store, jobs: &JobRunner, url: &str) {
    let relay = Arc::new(Relay {
        store: store.clone(),
        url: url.to_owned(),
        jetstream: Mutex::new(None),
    });
    jobs.every(
        RELAY,
        // Every quarter second; a replica that dies hands over within 5 s.
        Schedule::every(Duration::from_millis(250)).lease(Duration::from_secs(5)),
        move || {
            let relay = relay.clone();
            async move { relay.run().await }
        },
    );
}

struct Relay {
    store: Store,
    url: String,
    /// The connection, made on the first run and again after a failure.
    jetstream: Mutex<Option<jetstream::Context>>,
}

impl Relay {
    async fn run(&self) -> anyhow::Result<String> {
        let mut connection = self.jetstream.lock().await;
        let js = match connection.as_ref() {
            Some(js) => js.clone(),
            None => {
                let js = self.connect().await?;
                *connection = Some(js.clone());
                js
            }
        };
        let published = self.publish_pending(&js).await;
        if published.is_err() {
            // Connect afresh next time.
            *connection = None;
        }
        published.map(|n| format!("{n} events published"))
    }

    async fn connect(&self) -> anyhow::Result<jetstream::Context> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.url.as_str())
            .await
            .with_context(|| format!("connecting to NATS at {}", self.url))?;
        let js = jetstream::new(client);
        let source = self.store.outbox.source();
        js.get_or_create_stream(stream::Config {
            name: stream_name(source),
            subjects: vec![format!("themodel.{source}.>")],
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .context("creating the JetStream stream")?;
        Ok(js)
    }

    /// Publishes every event after the cursor; returns how many.
    async fn publish_pending(&self, js: &jetstream::Context) -> anyhow::Result<u64> {
        let db = &self.store.db;
        let mut position = cursor::position(db, RELAY).await?;
        let mut published = 0;
        loop {
            let events = self.store.outbox.list(db, position, BATCH).await?;
            let caught_up = (events.len() as u64) < BATCH;
            let mut acks = Vec::with_capacity(events.len());
            for event in &events {
                let message = PublishMessage::build()
                    .message_id(&event.event_id)
                    .payload(event.encode_to_vec().into());
                let subject = subject(&event.source, &event.r#type);
                acks.push((event.sequence, js.send_publish(subject, message).await));
            }
            // Advance past the events acknowledged in order, up to the first
            // that was not.
            let mut failure = None;
            for (sequence, sent) in acks {
                let acked = match sent {
                    Ok(ack) => ack.await.map(|_| ()).map_err(anyhow::Error::from),
                    Err(err) => Err(err.into()),
                };
                match acked {
                    Ok(()) if failure.is_none() => {
                        position = sequence;
                        published += 1;
                    }
                    Ok(()) => {}
                    Err(err) => {
                        failure.get_or_insert(err.context(format!("publishing event {sequence}")));
                    }
                }
            }
            cursor::advance(db, RELAY, position).await?;
            metrics::gauge!("relay_position", "service" => self.store.outbox.source())
                .set(position as f64);
            if let Some(err) = failure {
                return Err(err);
            }
            if caught_up {
                return Ok(published);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_source_and_the_short_event_type() {
        assert_eq!(
            subject("segmentation", "themodel.segmentation.v1.AccountCreated"),
            "themodel.segmentation.AccountCreated"
        );
        assert_eq!(stream_name("partner-success"), "THEMODEL_PARTNER_SUCCESS");
    }
}
