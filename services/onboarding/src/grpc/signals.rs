//! Handler of usage signals: each judged on its own.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use themodel_platform::{
    Violations,
    accounts::{self, Account},
    auth::principal,
    client::CallContext,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::{common::FieldViolation, onboarding as pb};
use tonic::Request;

use super::Handler;
use crate::{
    convert::{key, signal_key},
    domain::access::SIGNAL_SENDERS,
    error::Result,
    store::plans::NewSignal,
};

/// Most signals per call.
const MAX_SIGNALS: usize = 10_000;
/// Accounts a call may look up in segmentation when the projection has not
/// seen them yet; the others are refused as unknown.
const MAX_LOOKUPS: usize = 20;
/// Highest value of a signal.
const MAX_VALUE: i64 = 1_000_000_000_000;

/// A signal whose fields are valid, its account still a reference.
struct Checked {
    index: i32,
    account: Result<String, String>,
    product_key: String,
    signal_key: String,
    value: i64,
}

fn check(index: i32, s: &pb::Signal) -> Result<Checked, Violations> {
    let mut v = Violations::new();
    let account = match (s.account_id.is_empty(), s.account_external_id.is_empty()) {
        (false, _) => v
            .check("account_id", validate::resource_id(&s.account_id))
            .map(Ok),
        (true, false) => v
            .check(
                "account_external_id",
                validate::external_id(&s.account_external_id),
            )
            .map(Err),
        (true, true) => {
            v.add("account_id", "is required (or account_external_id)");
            None
        }
    };
    let product_key = v.check("product_key", key(&s.product_key));
    let signal = v.check("signal_key", signal_key(&s.signal_key));
    if !(0..=MAX_VALUE).contains(&s.value) {
        v.add("value", format!("must be 0 to {MAX_VALUE}"));
    }
    match (account, product_key, signal, v.is_empty()) {
        (Some(account), Some(product_key), Some(signal_key), true) => Ok(Checked {
            index,
            account,
            product_key,
            signal_key,
            value: s.value,
        }),
        _ => Err(v),
    }
}

fn rejected(index: i32, reason: &str, violations: Vec<FieldViolation>) -> pb::RejectedSignal {
    pb::RejectedSignal {
        index,
        reason: reason.to_owned(),
        violations,
    }
}

impl Handler {
    pub(super) async fn record_signals(
        &self,
        request: Request<pb::RecordSignalsRequest>,
    ) -> Result<pb::RecordSignalsResponse> {
        let principal = principal(&request)?;
        principal.require(SIGNAL_SENDERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        if req.signals.is_empty() || req.signals.len() > MAX_SIGNALS {
            v.add("signals", format!("must hold 1 to {MAX_SIGNALS} signals"));
        }
        v.finish(|| ())?;
        let mut rejections = Vec::new();
        let mut checked = Vec::with_capacity(req.signals.len());
        for (i, s) in req.signals.iter().enumerate() {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            match check(index, s) {
                Ok(c) => checked.push(c),
                Err(v) => rejections.push(rejected(
                    index,
                    "INVALID_FIELD",
                    v.into_vec()
                        .into_iter()
                        .map(|v| FieldViolation {
                            field: v.field,
                            description: v.description,
                        })
                        .collect(),
                )),
            }
        }
        // Accounts from the projection, by id and by CRM id; a few not seen
        // yet are asked of segmentation.
        let db = &self.store.db;
        let ids: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.account.as_ref().ok().map(String::as_str))
            .collect();
        let externals: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.account.as_ref().err().map(String::as_str))
            .collect();
        let mut by_id: HashMap<String, Account> = accounts::projected(db, &ids)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let mut by_external: HashMap<String, Account> = HashMap::new();
        if !externals.is_empty() {
            let found: Vec<String> = accounts::entity::Entity::find()
                .filter(accounts::entity::Column::ExternalId.is_in(externals.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|r| r.account_id)
                .collect();
            let found: Vec<&str> = found.iter().map(String::as_str).collect();
            for a in accounts::projected(db, &found).await? {
                if let Some(external) = a.external_id.clone() {
                    by_external.insert(external, a);
                }
            }
        }
        let ctx = CallContext::of(&request);
        let mut lookups = 0;
        for c in &checked {
            if lookups >= MAX_LOOKUPS {
                break;
            }
            match &c.account {
                Ok(id) if !by_id.contains_key(id) => {
                    lookups += 1;
                    if let Some(a) = self.accounts.find(&ctx, &principal, id).await? {
                        by_id.insert(id.clone(), a);
                    }
                }
                Err(external) if !by_external.contains_key(external) => {
                    lookups += 1;
                    if let Some(a) = self
                        .accounts
                        .find_by_external_id(&ctx, &principal, external)
                        .await?
                    {
                        by_external.insert(external.clone(), a);
                    }
                }
                _ => {}
            }
        }
        let mut signals = Vec::with_capacity(checked.len());
        for c in checked {
            let account = match &c.account {
                Ok(id) => by_id.get(id),
                Err(external) => by_external.get(external),
            };
            let Some(account) = account else {
                let field = if c.account.is_ok() {
                    "account_id"
                } else {
                    "account_external_id"
                };
                rejections.push(rejected(
                    c.index,
                    "UNKNOWN_ACCOUNT",
                    vec![FieldViolation {
                        field: field.into(),
                        description: "is not an account of the suite".into(),
                    }],
                ));
                continue;
            };
            signals.push(NewSignal {
                account_id: account.id.clone(),
                product_key: c.product_key,
                signal_key: c.signal_key,
                value: c.value,
            });
        }
        rejections.sort_by_key(|r| r.index);
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordSignals", req);
        self.plans
            .record_signals(idempotency, signals, rejections)
            .await
    }
}
