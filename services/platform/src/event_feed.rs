//! `themodel.events.v1.EventFeedService` over a service's outbox; every service
//! mounts it as is.

use std::{pin::Pin, time::Duration};

use futures::Stream;
use themodel_proto::events::{
    ListEventsRequest, ListEventsResponse, WatchEventsRequest, WatchEventsResponse,
    event_feed_service_server::{EventFeedService, EventFeedServiceServer},
};
use tonic::{Request, Response, Status};

use crate::{
    auth::{Principal, Role},
    error::{ApiError, Violations, respond},
    page_token, validate,
};

/// Roles allowed to read a feed: it spans every partner's data.
const READERS: &[Role] = &[Role::Admin, Role::Bizops, Role::Service];
/// How many events a watch reads from the database at a time.
const WATCH_BATCH: u64 = 500;
/// How often a watcher re-reads the log even without a local signal, so that
/// events committed by another replica of the service reach it too.
const WATCH_POLL: Duration = Duration::from_secs(1);

/// The event feed of one service.
#[derive(Clone)]
pub struct EventFeed {
    store: crate::store::Store,
    domain: &'static str,
}

impl EventFeed {
    /// The feed of `store`; errors carry ErrorInfo in `domain`.
    pub fn new(store: crate::store::Store, domain: &'static str) -> Self {
        Self { store, domain }
    }

    /// The tonic service to mount.
    pub fn into_server(self) -> EventFeedServiceServer<Self> {
        EventFeedServiceServer::new(self)
    }

    fn db(&self) -> &crate::store::Db {
        &self.store.db
    }
}

fn non_negative_cursor(after: i64, violations: &mut Violations) {
    if after < 0 {
        violations.add("after_sequence", "must not be negative");
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventFeedService for EventFeed {
    async fn list_events(
        &self,
        request: Request<ListEventsRequest>,
    ) -> Result<Response<ListEventsResponse>, Status> {
        let domain = self.domain;
        let result = async {
            Principal::of(&request)?.require(READERS)?;
            let req = request.get_ref();
            let mut violations = Violations::new();
            non_negative_cursor(req.after_sequence, &mut violations);
            let page_size = violations.check("page_size", validate::page_size(req.page_size));
            let token = match page_token::decode::<i64>(&req.page_token, &()) {
                Ok(token) => token,
                Err(v) => {
                    violations.extend_prefixed("", v);
                    None
                }
            };
            let page_size = violations
                .finish(|| page_size.unwrap_or_default())
                .map_err(ApiError::InvalidArgument)?;
            let after = token.unwrap_or(req.after_sequence);
            let head = self.store.outbox.head(self.db()).await?;
            let events = self.store.outbox.list(self.db(), after, page_size).await?;
            let last = events.last().map_or(after, |e| e.sequence);
            let next_page_token = if last < head {
                page_token::encode(&last, &())
            } else {
                String::new()
            };
            Ok::<_, ApiError>(ListEventsResponse {
                events,
                next_page_token,
                head_sequence: head,
            })
        }
        .await;
        respond(result, domain)
    }

    type WatchEventsStream = WatchStream;

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let domain = self.domain;
        let check = || {
            Principal::of(&request)?.require(READERS)?;
            let mut violations = Violations::new();
            non_negative_cursor(request.get_ref().after_sequence, &mut violations);
            violations.finish(|| ()).map_err(ApiError::InvalidArgument)
        };
        check().map_err(|e| e.into_status(domain))?;
        let mut cursor = request.get_ref().after_sequence;
        let feed = self.clone();
        let mut signal = self.store.outbox.subscribe();
        let stream = async_stream(move |tx| async move {
            loop {
                let batch = match feed.store.outbox.list(feed.db(), cursor, WATCH_BATCH).await {
                    Ok(batch) => batch,
                    Err(err) => {
                        let _ = tx.send(Err(ApiError::from(err).into_status(domain))).await;
                        return;
                    }
                };
                let caught_up = (batch.len() as u64) < WATCH_BATCH;
                for event in batch {
                    cursor = event.sequence;
                    if tx
                        .send(Ok(WatchEventsResponse { event: Some(event) }))
                        .await
                        .is_err()
                    {
                        return; // the caller went away
                    }
                }
                if caught_up {
                    tokio::select! {
                        changed = signal.changed() => if changed.is_err() { return },
                        _ = tokio::time::sleep(WATCH_POLL) => {}
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// A stream fed by a task through a small channel, so a slow reader applies
/// back-pressure to the database reads.
fn async_stream<F, Fut>(producer: F) -> WatchStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<WatchEventsResponse, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(producer(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
