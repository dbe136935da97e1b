//! Idempotency records (AIP-155): the first response to each `request_id`,
//! stored in the same transaction as the change it made.
//!
//! A key belongs to the caller that sent it (its subject and partner, as
//! Stripe scopes keys per account): the same `request_id` from another caller
//! is an independent request, and nothing about one caller's keys ever
//! reaches another. Records written before keys were scoped carry
//! [`LEGACY_CALLER`]; they are honoured, until they expire, for a request
//! identical to the one that made them, and the service re-checks the
//! caller's access before replaying any record.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, prelude::Expr,
};
use sha2::{Digest, Sha256};

use crate::{
    auth::Principal,
    error::{ApiError, reason},
};

/// The caller of records written before keys were scoped to their caller.
pub const LEGACY_CALLER: &str = "";

/// The table of idempotency records.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One caller's request_id and the response it got.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        /// Who sent the key: SHA-256 (hex) of its subject and partner.
        #[sea_orm(primary_key, auto_increment = false)]
        pub caller: String,
        /// The caller's key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        /// The RPC the key was used with.
        pub method: String,
        /// SHA-256 of the request.
        pub fingerprint: Vec<u8>,
        /// The encoded response; empty while the request is in flight.
        pub response: Vec<u8>,
        /// When the key was first used, Unix milliseconds.
        pub created_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A request's idempotency key: its caller, the key, and the fingerprint of
/// the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    caller: String,
    request_id: String,
    method: &'static str,
    fingerprint: Vec<u8>,
}

impl IdempotencyKey {
    /// The key `principal` sent with `request` to `method`, or `None` when it
    /// sent no key.
    pub fn new(
        principal: &Principal,
        request_id: Option<String>,
        method: &'static str,
        request: &impl prost::Message,
    ) -> Option<Self> {
        let request_id = request_id?;
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update(request.encode_to_vec());
        Some(Self {
            caller: caller_of(principal),
            request_id,
            method,
            fingerprint: hasher.finalize().to_vec(),
        })
    }
}

/// The caller a key belongs to: its subject and partner scope, hashed to a
/// fixed length (subjects are as long as their issuer makes them).
fn caller_of(principal: &Principal) -> String {
    let mut hasher = Sha256::new();
    hasher.update(principal.subject.as_bytes());
    hasher.update([0]);
    hasher.update(principal.partner_scope().unwrap_or_default().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stored record, checked against the key it was looked up with.
pub struct Stored {
    record: entity::Model,
    key: IdempotencyKey,
}

impl Stored {
    /// The stored response, or FAILED_PRECONDITION when the key was used for a
    /// different request.
    pub fn replay<R: prost::Message + Default>(self) -> Result<R, ApiError> {
        if self.record.method != self.key.method || self.record.fingerprint != self.key.fingerprint
        {
            return Err(ApiError::FailedPrecondition {
                reason: reason::IDEMPOTENCY_KEY_REUSED,
                message: format!(
                    "request_id {:?} was already used by you for a different request",
                    self.key.request_id
                ),
                metadata: vec![
                    ("request_id", self.key.request_id.clone()),
                    ("first_method", self.record.method.clone()),
                ],
            });
        }
        R::decode(self.record.response.as_slice()).map_err(ApiError::internal)
    }
}

/// Looks up the caller's record of a key, or else a legacy record of the
/// same request.
pub async fn find(
    db: &impl ConnectionTrait,
    key: &IdempotencyKey,
) -> Result<Option<Stored>, DbErr> {
    let records = entity::Entity::find()
        .filter(entity::Column::RequestId.eq(key.request_id.as_str()))
        .filter(entity::Column::Caller.is_in([key.caller.as_str(), LEGACY_CALLER]))
        .all(db)
        .await?;
    let (own, legacy): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.caller == key.caller);
    let record = own.into_iter().next().or_else(|| {
        // A legacy record's caller is unknown: it answers only the very same
        // request, and never reveals that a key was used otherwise.
        legacy
            .into_iter()
            .find(|r| r.method == key.method && r.fingerprint == key.fingerprint)
    });
    Ok(record.map(|record| Stored {
        record,
        key: key.clone(),
    }))
}

/// Inserts the key before the change is made; a concurrent request with the same
/// key then blocks on it (PostgreSQL) or waits for the write lock (SQLite).
pub async fn reserve(db: &impl ConnectionTrait, key: &IdempotencyKey) -> Result<(), DbErr> {
    entity::Entity::insert(entity::ActiveModel {
        caller: Set(key.caller.clone()),
        request_id: Set(key.request_id.clone()),
        method: Set(key.method.to_owned()),
        fingerprint: Set(key.fingerprint.clone()),
        response: Set(Vec::new()),
        created_at_ms: Set(chrono::Utc::now().timestamp_millis()),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Stores the response of a reserved key.
pub async fn complete(
    db: &impl ConnectionTrait,
    key: &IdempotencyKey,
    response: &impl prost::Message,
) -> Result<(), DbErr> {
    entity::Entity::update_many()
        .col_expr(
            entity::Column::Response,
            Expr::value(response.encode_to_vec()),
        )
        .filter(entity::Column::Caller.eq(key.caller.as_str()))
        .filter(entity::Column::RequestId.eq(key.request_id.as_str()))
        .exec(db)
        .await
        .map(|_| ())
}

/// Deletes records older than `max_age`; keys are honoured at least that long.
pub async fn purge(db: &impl ConnectionTrait, max_age: std::time::Duration) -> Result<u64, DbErr> {
    let cutoff = chrono::Utc::now().timestamp_millis() - max_age.as_millis() as i64;
    let result = entity::Entity::delete_many()
        .filter(entity::Column::CreatedAtMs.lt(cutoff))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
