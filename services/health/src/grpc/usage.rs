//! Handlers of usage ingestion. Every event is judged on its own: the valid
//! ones are stored and committed before the reply, a repeated event id is a
//! duplicate, and each refused event is listed with its index and reason.

use std::collections::{HashMap, VecDeque};

use themodel_platform::{
    Violations,
    accounts::Account,
    auth::{Principal, principal},
    client::CallContext,
    store::{Begun, IdempotencyKey},
    validate::{self, request_id_field},
};
use themodel_proto::{common::FieldViolation, health as pb};
use tokio_stream::StreamExt as _;
use tonic::{Request, Streaming};
use tracing::Instrument as _;

use super::Handler;
use crate::{
    convert::{instant, key},
    domain::{
        access::USAGE_SENDERS,
        usage::{
            INVALID_FIELD, MAX_EVENTS, RETIRED_FEATURE, SeenIds, UNKNOWN_ACCOUNT, UNKNOWN_FEATURE,
            UsageEvent, count, time_problem,
        },
    },
    error::{Error, Result},
    store::usage::{Stored, Usage, projected_accounts},
};

/// Most refused events a reply lists (the count covers them all).
const MAX_LISTED: usize = 1000;
/// Events a stream commits at a time. Larger chunks mean fewer commits (on
/// SQLite each rewrites the pages it touched) and fewer re-queued accounts
/// per event; each distinct account of a chunk is bound once, well under
/// SQLite's 32,766 parameters.
const STREAM_CHUNK: usize = 20_000;
/// Accounts one chunk may look up in segmentation when the projection has
/// not seen them yet; the others are refused as unknown.
const MAX_LOOKUPS: usize = 20;

/// An event that passed the field checks, its account still a reference.
struct Checked {
    index: i64,
    account_id: Option<String>,
    external_id: Option<String>,
    event: UsageEvent,
}

/// The events of a chunk to store, and their accounts' partners.
struct Judged {
    accepted: Vec<UsageEvent>,
    partners: HashMap<String, Option<String>>,
}

/// The running summary of a call or stream.
#[derive(Default)]
struct Tally(pb::IngestSummary);

impl Tally {
    fn count(&mut self, stored: &Stored) {
        self.0.accepted += stored.accepted as i64;
        self.0.duplicates += stored.duplicates as i64;
    }

    fn reject(
        &mut self,
        index: i64,
        reason: &str,
        violations: Vec<FieldViolation>,
        event_id: &str,
    ) {
        self.0.rejected += 1;
        if self.0.rejections.len() < MAX_LISTED {
            self.0.rejections.push(pb::RejectedEvent {
                index,
                reason: reason.to_owned(),
                violations,
                event_id: event_id.to_owned(),
            });
        }
    }
}

/// Checks one event's fields.
fn check(
    index: i64,
    e: &pb::UsageEvent,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Checked, Violations> {
    let mut v = Violations::new();
    let (account_id, external_id) =
        match (e.account_id.is_empty(), e.account_external_id.is_empty()) {
            (false, _) => (
                v.check("account_id", validate::resource_id(&e.account_id)),
                None,
            ),
            (true, false) => (
                None,
                v.check(
                    "account_external_id",
                    validate::external_id(&e.account_external_id),
                ),
            ),
            (true, true) => {
                v.add("account_id", "is required (or account_external_id)");
                (None, None)
            }
        };
    let user_id = v.check("user_id", validate::person_id(&e.user_id));
    let product_key = v.check("product_key", key(&e.product_key));
    let feature_key = v.check("feature_key", key(&e.feature_key));
    let occurred_at = match &e.occurred_at {
        Some(t) => v
            .check("occurred_at", instant(t))
            .filter(|at| match time_problem(*at, now) {
                Some(problem) => {
                    v.add("occurred_at", problem);
                    false
                }
                None => true,
            }),
        None => {
            v.add("occurred_at", "is required");
            None
        }
    };
    let count = match count(e.count) {
        Ok(n) => Some(n),
        Err(problem) => {
            v.add("count", problem);
            None
        }
    };
    let event_id = (!e.event_id.is_empty())
        .then(|| v.check("event_id", validate::external_id(&e.event_id)))
        .flatten();
    match (
        user_id,
        product_key,
        feature_key,
        occurred_at,
        count,
        v.is_empty(),
    ) {
        (
            Some(user_id),
            Some(product_key),
            Some(feature_key),
            Some(occurred_at),
            Some(count),
            true,
        ) => Ok(Checked {
            index,
            account_id,
            external_id,
            event: UsageEvent {
                account_id: String::new(),
                user_id,
                product_key,
                feature_key,
                occurred_at,
                count,
                event_id,
            },
        }),
        _ => Err(v),
    }
}

impl Handler {
    /// The accounts among `ids` and `external_ids` (by id, by external id)
    /// from the projection; accounts created a moment ago may not have
    /// reached it: a few are asked of segmentation, the rest left out.
    pub(super) async fn resolve_accounts<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        ids: &[&str],
        externals: &[&str],
    ) -> Result<(HashMap<String, Account>, HashMap<String, Account>)> {
        let (mut by_id, mut by_external) =
            projected_accounts(&self.usage.store().db, ids, externals).await?;
        let missing = |refs: &[&str], known: &HashMap<String, Account>| {
            let mut missing: Vec<String> = refs
                .iter()
                .filter(|r| !known.contains_key(**r))
                .map(|r| (*r).to_owned())
                .collect();
            missing.sort();
            missing.dedup();
            missing
        };
        let unknown_ids = missing(ids, &by_id);
        let unknown_externals = missing(externals, &by_external);
        let ctx = CallContext::of(request);
        let mut lookups = MAX_LOOKUPS;
        for id in unknown_ids {
            let Some(left) = lookups.checked_sub(1) else {
                break;
            };
            lookups = left;
            if let Some(account) = self.accounts.find(&ctx, principal, &id).await? {
                by_id.insert(id, account);
            }
        }
        for external in unknown_externals {
            let Some(left) = lookups.checked_sub(1) else {
                break;
            };
            lookups = left;
            if let Some(account) = self
                .accounts
                .find_by_external_id(&ctx, principal, &external)
                .await?
            {
                by_external.insert(external, account);
            }
        }
        Ok((by_id, by_external))
    }

    /// Judges one chunk of events, numbered from `first`: the ones to store
    /// and their accounts' partners. Refusals and in-call repeats go to
    /// `tally`. It reads (and may fill the account projection), so it runs
    /// before the unit of work that stores the chunk.
    async fn judge<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        events: &[pb::UsageEvent],
        first: i64,
        seen: &mut SeenIds,
        tally: &mut Tally,
    ) -> Result<Judged> {
        let now = chrono::Utc::now();
        let mut checked = Vec::with_capacity(events.len());
        for (offset, e) in events.iter().enumerate() {
            let index = first + offset as i64;
            match check(index, e, now) {
                Ok(c) => checked.push(c),
                Err(v) => {
                    let violations = v
                        .into_vec()
                        .into_iter()
                        .map(|v| FieldViolation {
                            field: v.field,
                            description: v.description,
                        })
                        .collect();
                    tally.reject(index, INVALID_FIELD, violations, &e.event_id);
                }
            }
        }
        // Each account once: a chunk binds its distinct accounts, not one
        // value per event.
        let mut ids: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.account_id.as_deref())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut externals: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.external_id.as_deref())
            .collect();
        externals.sort_unstable();
        externals.dedup();
        let (by_id, by_external) = self
            .resolve_accounts(request, principal, &ids, &externals)
            .await?;
        let mut products: Vec<&str> = checked
            .iter()
            .map(|c| c.event.product_key.as_str())
            .collect();
        products.sort_unstable();
        products.dedup();
        let features: HashMap<(String, String), bool> = self
            .features
            .of_products(&products)
            .await?
            .into_iter()
            .map(|f| ((f.product_key, f.feature_key), f.fields.retired))
            .collect();
        let mut accepted = Vec::with_capacity(checked.len());
        let mut partners: HashMap<String, Option<String>> = HashMap::new();
        for c in checked {
            let event_id = c.event.event_id.clone().unwrap_or_default();
            let account: Option<&Account> = match (&c.account_id, &c.external_id) {
                (Some(id), _) => by_id.get(id),
                (None, Some(external)) => by_external.get(external),
                (None, None) => None,
            };
            let Some(account) = account.filter(|a| a.visible_to(principal)) else {
                let field = if c.account_id.is_some() {
                    "account_id"
                } else {
                    "account_external_id"
                };
                tally.reject(
                    c.index,
                    UNKNOWN_ACCOUNT,
                    vec![FieldViolation {
                        field: field.into(),
                        description: "is not an account of the suite".into(),
                    }],
                    &event_id,
                );
                continue;
            };
            let feature = (c.event.product_key.clone(), c.event.feature_key.clone());
            match features.get(&feature) {
                None => {
                    tally.reject(
                        c.index,
                        UNKNOWN_FEATURE,
                        vec![FieldViolation {
                            field: "feature_key".into(),
                            description: format!(
                                "product {} has no feature {}",
                                feature.0, feature.1
                            ),
                        }],
                        &event_id,
                    );
                    continue;
                }
                Some(true) => {
                    tally.reject(
                        c.index,
                        RETIRED_FEATURE,
                        vec![FieldViolation {
                            field: "feature_key".into(),
                            description: format!("feature {} is retired", feature.1),
                        }],
                        &event_id,
                    );
                    continue;
                }
                Some(false) => {}
            }
            if c.event
                .event_id
                .as_deref()
                .is_some_and(|id| seen.repeat(id))
            {
                tally.0.duplicates += 1;
                continue;
            }
            partners.insert(account.id.clone(), account.partner_id.clone());
            accepted.push(UsageEvent {
                account_id: account.id.clone(),
                ..c.event
            });
        }
        Ok(Judged { accepted, partners })
    }

    pub(super) async fn ingest_usage(
        &self,
        request: Request<pb::IngestUsageRequest>,
    ) -> Result<pb::IngestUsageResponse> {
        let principal = principal(&request)?;
        principal.require(USAGE_SENDERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        if req.events.is_empty() || req.events.len() > MAX_EVENTS {
            v.add("events", format!("must hold 1 to {MAX_EVENTS} events"));
        }
        v.finish(|| ())?;
        let mut tally = Tally::default();
        let mut seen = SeenIds::default();
        let judged = self
            .judge(&request, &principal, &req.events, 0, &mut seen, &mut tally)
            .await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "IngestUsage", req);
        let mut uow = match self.usage.store().begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut stored = self
            .usage
            .append(&mut uow, judged.accepted, &judged.partners)
            .await?;
        tally.count(&stored);
        let response = pb::IngestUsageResponse {
            summary: Some(tally.0),
        };
        uow.commit(&response).await?;
        self.usage.committed(&mut stored);
        Ok(response)
    }

    pub(super) async fn stream_usage(
        &self,
        request: Request<Streaming<pb::StreamUsageRequest>>,
    ) -> Result<pb::StreamUsageResponse> {
        let principal = principal(&request)?;
        principal.require(USAGE_SENDERS)?;
        let mut tally = Tally::default();
        let mut seen = SeenIds::default();
        let mut pending: Vec<pb::UsageEvent> = Vec::new();
        let mut next_index: i64 = 0;
        let (metadata, extensions, mut stream) = request.into_parts();
        let context = Request::from_parts(metadata, extensions, ());
        // The chunks being committed, oldest first, while the next one is
        // read and judged: as many as the database commits at once.
        let writers = self.usage.store().concurrent_writers();
        let mut committing: VecDeque<Commit> = VecDeque::with_capacity(writers);
        let outcome: Result<()> = async {
            loop {
                let done = match stream.next().await {
                    Some(Ok(message)) => {
                        if message.events.len() > MAX_EVENTS {
                            return Err(Error::Invalid(vec![themodel_platform::Violation::new(
                                "events",
                                format!("a message holds at most {MAX_EVENTS} events"),
                            )]));
                        }
                        pending.extend(message.events);
                        false
                    }
                    Some(Err(status)) => {
                        return Err(Error::Api(themodel_platform::ApiError::from_peer(
                            "caller's stream",
                            status,
                        )));
                    }
                    None => true,
                };
                // A full chunk is judged, then committed in the background
                // once fewer than `writers` chunks are committing; the next
                // message is read only then, so a fast sender waits on the
                // stream's flow control and at most `writers + 1` chunks are
                // held. Chunks committing together share rows (the score
                // queue, first uses, repeated ids) and lock them in one order,
                // so the later waits for the earlier and neither deadlocks.
                while pending.len() >= STREAM_CHUNK || (done && !pending.is_empty()) {
                    let take = pending.len().min(STREAM_CHUNK);
                    let chunk: Vec<pb::UsageEvent> = pending.drain(..take).collect();
                    let judged = self
                        .judge(
                            &context, &principal, &chunk, next_index, &mut seen, &mut tally,
                        )
                        .await?;
                    next_index += chunk.len() as i64;
                    if committing.len() >= writers
                        && let Some(oldest) = committing.pop_front()
                    {
                        tally.count(&oldest.finish().await?);
                    }
                    committing.push_back(Commit::start(self.usage.clone(), judged));
                }
                if done {
                    return Ok(());
                }
            }
        }
        .await;
        // Whatever ends the stream, the chunks in flight settle before the
        // reply, so that what the reply counts is committed.
        let mut failed = outcome.err();
        for commit in committing {
            match commit.finish().await {
                Ok(stored) => tally.count(&stored),
                Err(err) => failed = failed.or(Some(err)),
            }
        }
        if let Some(err) = failed {
            return Err(err);
        }
        Ok(pb::StreamUsageResponse {
            summary: Some(tally.0),
        })
    }
}

/// One judged chunk being stored and committed in its own task.
struct Commit(tokio::task::JoinHandle<Result<Stored>>);

impl Commit {
    fn start(usage: Usage, judged: Judged) -> Self {
        let span = tracing::Span::current();
        Self(tokio::spawn(
            async move {
                let mut uow = match usage.store().begin::<()>(None).await? {
                    Begun::Fresh(uow) => uow,
                    // Without a key there is nothing to replay.
                    Begun::Replay(()) => return Ok(Stored::default()),
                };
                let mut stored = usage
                    .append(&mut uow, judged.accepted, &judged.partners)
                    .await?;
                uow.commit(&()).await?;
                usage.committed(&mut stored);
                Ok(stored)
            }
            .instrument(span),
        ))
    }

    async fn finish(self) -> Result<Stored> {
        self.0
            .await
            .map_err(|e| Error::Api(themodel_platform::ApiError::internal(e)))?
    }
}
