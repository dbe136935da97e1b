//! The service's database: the feature catalogue here, usage in its module.

pub mod adoption;
pub mod alerts;
pub mod backtest;
pub mod entity;
pub mod migration;
pub mod outcomes;
pub mod scores;
pub mod scoring;
pub mod summary;
pub mod usage;

use chrono::DateTime;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Condition,
};
use themodel_platform::store::{Begun, IdempotencyKey, Store, is_unique_violation, page};
use themodel_proto::health as pb;

use crate::{
    convert::feature_to_proto,
    domain::feature::{Feature, FeatureFields, changed_fields, etag},
    error::{Error, Result},
};
use entity::feature;

/// The feature catalogue.
#[derive(Debug, Clone)]
pub struct Features {
    store: Store,
}

fn id(product_key: &str, feature_key: &str) -> String {
    format!("{product_key}/{feature_key}")
}

impl Features {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Adds feature `feature_key` to `product_key`; ALREADY_EXISTS when the
    /// product has it.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        product_key: String,
        feature_key: String,
        fields: FeatureFields,
    ) -> Result<pb::CreateFeatureResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let taken = || Error::FeatureExists(id(&product_key, &feature_key));
        if feature::Entity::find_by_id((product_key.clone(), feature_key.clone()))
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(taken());
        }
        let now = now();
        let created = Feature {
            product_key: product_key.clone(),
            feature_key: feature_key.clone(),
            fields,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        feature::Entity::insert(row(&created))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    taken()
                } else {
                    err.into()
                }
            })?;
        let proto = feature_to_proto(&created);
        uow.emit(
            &id(&product_key, &feature_key),
            &pb::FeatureCreated {
                feature: Some(proto.clone()),
            },
        );
        let response = pb::CreateFeatureResponse {
            feature: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Feature `feature_key` of `product_key`, if it exists.
    pub async fn get(&self, product_key: &str, feature_key: &str) -> Result<Option<Feature>> {
        Ok(
            feature::Entity::find_by_id((product_key.to_owned(), feature_key.to_owned()))
                .one(&self.store.db)
                .await?
                .map(to_domain),
        )
    }

    /// Every feature of the products `product_keys`, retired ones included.
    pub async fn of_products(&self, product_keys: &[&str]) -> Result<Vec<Feature>> {
        if product_keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(feature::Entity::find()
            .filter(feature::Column::ProductKey.is_in(product_keys.iter().copied()))
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    /// Up to `limit` features after (`product`, `feature`) key `after`, in key
    /// order; and whether more follow.
    pub async fn list(
        &self,
        product_key: Option<&str>,
        include_retired: bool,
        after: Option<(String, String)>,
        limit: u64,
    ) -> Result<(Vec<Feature>, bool)> {
        use feature::Column as C;
        let mut query = feature::Entity::find();
        if let Some(product_key) = product_key {
            query = query.filter(C::ProductKey.eq(product_key));
        }
        if !include_retired {
            query = query.filter(C::Retired.eq(false));
        }
        if let Some((product, key)) = after {
            query = query.filter(
                Condition::any().add(C::ProductKey.gt(product.clone())).add(
                    Condition::all()
                        .add(C::ProductKey.eq(product))
                        .add(C::FeatureKey.gt(key)),
                ),
            );
        }
        let query = query
            .order_by_asc(C::ProductKey)
            .order_by_asc(C::FeatureKey);
        let (rows, more) = page(&self.store.db, query, limit).await?;
        Ok((rows.into_iter().map(to_domain).collect(), more))
    }

    /// Updates feature `feature_key` of `product_key` with `change`; a stale
    /// etag is refused.
    pub async fn update(
        &self,
        idempotency: Option<IdempotencyKey>,
        product_key: &str,
        feature_key: &str,
        etag_sent: Option<&str>,
        change: impl FnOnce(&Feature) -> Result<FeatureFields>,
    ) -> Result<pb::UpdateFeatureResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let key = id(product_key, feature_key);
        let current = feature::Entity::find_by_id((product_key.to_owned(), feature_key.to_owned()))
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .map(to_domain)
            .ok_or_else(|| Error::FeatureNotFound(key.clone()))?;
        let current_etag = etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                id: key,
                current: current_etag,
            });
        }
        let fields = change(&current)?;
        let changed = changed_fields(&current.fields, &fields);
        if changed.is_empty() {
            let response = pb::UpdateFeatureResponse {
                feature: Some(feature_to_proto(&current)),
            };
            uow.commit(&response).await?;
            return Ok(response);
        }
        let updated = Feature {
            fields,
            update_time: now(),
            revision: current.revision + 1,
            ..current
        };
        let mut active = row(&updated);
        active.create_time_us = sea_orm::ActiveValue::NotSet;
        feature::Entity::update(active).exec(uow.tx()).await?;
        let proto = feature_to_proto(&updated);
        uow.emit(
            &key,
            &pb::FeatureUpdated {
                feature: Some(proto.clone()),
                changed_fields: changed.into_iter().map(str::to_owned).collect(),
            },
        );
        let response = pb::UpdateFeatureResponse {
            feature: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }
}

fn row(f: &Feature) -> feature::ActiveModel {
    feature::ActiveModel {
        product_key: Set(f.product_key.clone()),
        feature_key: Set(f.feature_key.clone()),
        display_name: Set(f.fields.display_name.clone()),
        key_feature: Set(f.fields.key_feature),
        retired: Set(f.fields.retired),
        revision: Set(f.revision),
        create_time_us: Set(f.create_time.timestamp_micros()),
        update_time_us: Set(f.update_time.timestamp_micros()),
    }
}

fn to_domain(row: feature::Model) -> Feature {
    let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    Feature {
        fields: FeatureFields {
            display_name: row.display_name,
            key_feature: row.key_feature,
            retired: row.retired,
        },
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        product_key: row.product_key,
        feature_key: row.feature_key,
    }
}

pub(crate) use themodel_platform::store::now;
