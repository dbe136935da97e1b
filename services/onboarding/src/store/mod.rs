//! The service's database: playbooks here, plans and signals in their
//! modules.

pub mod entity;
pub mod follow;
pub mod migration;
pub mod plans;
pub mod report;
pub mod routing;
pub mod stalls;

use chrono::DateTime;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use themodel_platform::store::{Begun, IdempotencyKey, Store, is_unique_violation, page};
use themodel_proto::onboarding as pb;

use crate::{
    convert::playbook::playbook_to_proto,
    domain::playbook::{Definition, Playbook, etag},
    error::{Error, Result},
};
use entity::{playbook, version};

pub(crate) use themodel_platform::store::now;

fn corrupt(what: &str) -> Error {
    Error::Api(themodel_platform::ApiError::internal(anyhow::anyhow!(
        "stored {what} is malformed"
    )))
}

fn to_playbook(head: &playbook::Model, row: version::Model) -> Result<Playbook> {
    let definition: Definition =
        serde_json::from_str(&row.definition).map_err(|_| corrupt("playbook definition"))?;
    Ok(Playbook {
        key: row.playbook_key,
        product_key: head.product_key.clone(),
        tier: head.tier.clone(),
        definition,
        version: row.version,
        create_time: DateTime::from_timestamp_micros(row.create_time_us).unwrap_or_default(),
        created_by: row.created_by,
        latest: head.version,
    })
}

fn version_row(key: &str, version: i64, d: &Definition, at: i64, by: &str) -> version::Model {
    version::Model {
        playbook_key: key.to_owned(),
        version,
        definition: serde_json::to_string(d).unwrap_or_default(),
        create_time_us: at,
        created_by: by.to_owned(),
    }
}

/// Playbook `key` at `version` (its latest when none), read on `db`.
pub async fn playbook_at(
    db: &impl ConnectionTrait,
    key: &str,
    version: Option<i64>,
) -> Result<Option<Playbook>> {
    let Some(head) = playbook::Entity::find_by_id(key.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let wanted = version.unwrap_or(head.version);
    match version::Entity::find_by_id((key.to_owned(), wanted))
        .one(db)
        .await?
    {
        Some(row) => Ok(Some(to_playbook(&head, row)?)),
        None => Ok(None),
    }
}

/// The latest version of the playbook of `product_key` for `scope` (a
/// tier's name, `TIER_UNSPECIFIED` or `SELF_SUCCESS`), read on `db`.
pub async fn latest_for_scope(
    db: &impl ConnectionTrait,
    product_key: &str,
    scope: &str,
) -> Result<Option<Playbook>> {
    match playbook::Entity::find()
        .filter(playbook::Column::ProductKey.eq(product_key))
        .filter(playbook::Column::Tier.eq(scope))
        .one(db)
        .await?
    {
        Some(head) => playbook_at(db, &head.playbook_key, None).await,
        None => Ok(None),
    }
}

/// Playbooks and their versions.
#[derive(Debug, Clone)]
pub struct Playbooks {
    store: Store,
}

impl Playbooks {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates playbook `key` of `product_key` for `tier` at version 1.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        key: String,
        product_key: String,
        tier: String,
        definition: Definition,
        author: &str,
    ) -> Result<pb::CreatePlaybookResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if playbook::Entity::find_by_id(key.clone())
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(Error::PlaybookExists {
                field: "playbook_key",
                value: key,
            });
        }
        let scope_taken = || Error::PlaybookExists {
            field: "tier",
            value: format!("{product_key}/{tier}"),
        };
        if playbook::Entity::find()
            .filter(playbook::Column::ProductKey.eq(product_key.as_str()))
            .filter(playbook::Column::Tier.eq(tier.as_str()))
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(scope_taken());
        }
        let at = now().timestamp_micros();
        let head = playbook::Model {
            playbook_key: key.clone(),
            product_key: product_key.clone(),
            tier: tier.clone(),
            version: 1,
            create_time_us: at,
            update_time_us: at,
        };
        playbook::Entity::insert(playbook::ActiveModel::from(head.clone()))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    scope_taken()
                } else {
                    err.into()
                }
            })?;
        let row = version_row(&key, 1, &definition, at, author);
        version::Entity::insert(version::ActiveModel::from(row.clone()))
            .exec_without_returning(uow.tx())
            .await?;
        let proto = playbook_to_proto(&to_playbook(&head, row)?);
        uow.emit(
            &key,
            &pb::PlaybookPublished {
                playbook: Some(proto.clone()),
            },
        );
        let response = pb::CreatePlaybookResponse {
            playbook: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Publishes a new version of playbook `key`; a stale etag is refused.
    pub async fn publish(
        &self,
        idempotency: Option<IdempotencyKey>,
        key: &str,
        etag_sent: Option<&str>,
        definition: Definition,
        author: &str,
    ) -> Result<pb::PublishPlaybookVersionResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let head = playbook::Entity::find_by_id(key.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .ok_or_else(|| Error::PlaybookNotFound(key.to_owned()))?;
        let current = etag(head.version);
        if let Some(sent) = etag_sent
            && sent != current
        {
            return Err(Error::PlaybookEtagMismatch {
                id: key.to_owned(),
                current,
            });
        }
        let at = now().timestamp_micros();
        let next = head.version + 1;
        playbook::Entity::update(playbook::ActiveModel {
            playbook_key: Set(key.to_owned()),
            version: Set(next),
            update_time_us: Set(at),
            product_key: NotSet,
            tier: NotSet,
            create_time_us: NotSet,
        })
        .exec(uow.tx())
        .await?;
        let row = version_row(key, next, &definition, at, author);
        version::Entity::insert(version::ActiveModel::from(row.clone()))
            .exec_without_returning(uow.tx())
            .await?;
        let head = playbook::Model {
            version: next,
            update_time_us: at,
            ..head
        };
        let proto = playbook_to_proto(&to_playbook(&head, row)?);
        uow.emit(
            key,
            &pb::PlaybookPublished {
                playbook: Some(proto.clone()),
            },
        );
        let response = pb::PublishPlaybookVersionResponse {
            playbook: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Playbook `key` at `version` (its latest when none).
    pub async fn get(&self, key: &str, version: Option<i64>) -> Result<Option<Playbook>> {
        playbook_at(&self.store.db, key, version).await
    }

    /// Up to `limit` playbooks (of `product_key` when given) after key
    /// `after`, at their latest versions; and whether more follow.
    pub async fn list(
        &self,
        product_key: Option<&str>,
        after: Option<String>,
        limit: u64,
    ) -> Result<(Vec<Playbook>, bool)> {
        let mut query = playbook::Entity::find();
        if let Some(product) = product_key {
            query = query.filter(playbook::Column::ProductKey.eq(product));
        }
        if let Some(after) = after {
            query = query.filter(playbook::Column::PlaybookKey.gt(after));
        }
        let query = query.order_by_asc(playbook::Column::PlaybookKey);
        let (heads, more) = page(&self.store.db, query, limit).await?;
        let mut out = Vec::with_capacity(heads.len());
        for head in heads {
            let row = version::Entity::find_by_id((head.playbook_key.clone(), head.version))
                .one(&self.store.db)
                .await?
                .ok_or_else(|| corrupt("playbook version"))?;
            out.push(to_playbook(&head, row)?);
        }
        Ok((out, more))
    }
}
