//! The service's database: the product catalogue here, subscriptions and
//! revenue in their modules.

pub mod entity;
pub mod migration;
pub mod pipeline;
pub mod qbrs;
pub mod renewals;
pub mod revenue;
pub mod subscriptions;

use std::collections::HashMap;

use chrono::DateTime;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use themodel_platform::{
    ApiError,
    store::{Begun, IdempotencyKey, Store, is_unique_violation, page},
    validate::Money,
};
use themodel_proto::expansion as pb;

use crate::{
    convert::product_to_proto,
    domain::catalogue::{
        BillingPeriod, Plan, Product, ProductFields, changed_fields, etag, plan_change_refusal,
    },
    error::{Error, Result},
};
use entity::{plan, product};

/// Products and their plans in the service's database.
#[derive(Debug, Clone)]
pub struct Products {
    store: Store,
}

impl Products {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Adds product `key`; ALREADY_EXISTS when the key is taken.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        key: String,
        fields: ProductFields,
    ) -> Result<pb::CreateProductResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if product::Entity::find_by_id(key.clone())
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(Error::ProductExists(key));
        }
        let now = now();
        let created = Product {
            key,
            fields,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        product::Entity::insert(product_row(&created))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| taken(err, &created.key))?;
        insert_plans(uow.tx(), &created).await?;
        let product = product_to_proto(&created);
        uow.emit(
            &created.key,
            &pb::ProductCreated {
                product: Some(product.clone()),
            },
        );
        let response = pb::CreateProductResponse {
            product: Some(product),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Product `key`, if it exists.
    pub async fn get(&self, key: &str) -> Result<Option<Product>> {
        let db = &self.store.db;
        let Some(row) = product::Entity::find_by_id(key.to_owned()).one(db).await? else {
            return Ok(None);
        };
        let mut plans = plans_of(db, &[key]).await?;
        Ok(Some(to_domain(row, plans.remove(key).unwrap_or_default())))
    }

    /// Up to `limit` products after key `after`, in key order, retired ones
    /// only when asked; and whether more follow.
    pub async fn list(
        &self,
        after: Option<&str>,
        include_retired: bool,
        limit: u64,
    ) -> Result<(Vec<Product>, bool)> {
        let db = &self.store.db;
        let mut query = product::Entity::find();
        if let Some(after) = after {
            query = query.filter(product::Column::ProductKey.gt(after));
        }
        if !include_retired {
            query = query.filter(product::Column::Retired.eq(false));
        }
        let (rows, more) = page(db, query.order_by_asc(product::Column::ProductKey), limit).await?;
        let keys: Vec<&str> = rows.iter().map(|r| r.product_key.as_str()).collect();
        let mut plans = plans_of(db, &keys).await?;
        let products = rows
            .into_iter()
            .map(|row| {
                let plans = plans.remove(&row.product_key).unwrap_or_default();
                to_domain(row, plans)
            })
            .collect();
        Ok((products, more))
    }

    /// The keys of the products on sale (not retired), in key order.
    pub async fn on_sale(&self) -> Result<Vec<String>> {
        Ok(product::Entity::find()
            .select_only()
            .column(product::Column::ProductKey)
            .filter(product::Column::Retired.eq(false))
            .order_by_asc(product::Column::ProductKey)
            .into_tuple()
            .all(&self.store.db)
            .await?)
    }

    /// Updates product `key`: `change` turns it into its new fields (or
    /// refuses). A stale `etag` and a plan removed or given another billing
    /// period are refused; nothing is written then.
    pub async fn update(
        &self,
        idempotency: Option<IdempotencyKey>,
        key: &str,
        etag_sent: Option<&str>,
        change: impl FnOnce(&Product) -> Result<ProductFields>,
    ) -> Result<pb::UpdateProductResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let row = product::Entity::find_by_id(key.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .ok_or_else(|| Error::ProductNotFound(key.to_owned()))?;
        let mut plans = plans_of(uow.tx(), &[key]).await?;
        let current = to_domain(row, plans.remove(key).unwrap_or_default());
        let current_etag = etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "product",
                id: key.to_owned(),
                current: current_etag,
            });
        }
        let fields = change(&current)?;
        if let Some(refusal) = plan_change_refusal(&current.fields.plans, &fields.plans) {
            return Err(Error::PlanChangeRefused(refusal));
        }
        let changed = changed_fields(&current.fields, &fields);
        if changed.is_empty() {
            let response = pb::UpdateProductResponse {
                product: Some(product_to_proto(&current)),
            };
            uow.commit(&response).await?;
            return Ok(response);
        }
        let updated = Product {
            fields,
            update_time: now(),
            revision: current.revision + 1,
            ..current
        };
        let mut active = product_row(&updated);
        active.create_time_us = sea_orm::ActiveValue::NotSet;
        product::Entity::update(active).exec(uow.tx()).await?;
        plan::Entity::delete_many()
            .filter(plan::Column::ProductKey.eq(key))
            .exec(uow.tx())
            .await?;
        insert_plans(uow.tx(), &updated).await?;
        let product = product_to_proto(&updated);
        uow.emit(
            key,
            &pb::ProductUpdated {
                product: Some(product.clone()),
                changed_fields: changed.into_iter().map(str::to_owned).collect(),
            },
        );
        let response = pb::UpdateProductResponse {
            product: Some(product),
        };
        uow.commit(&response).await?;
        Ok(response)
    }
}

/// A unique violation on insert is a concurrent create of the same key.
fn taken(err: sea_orm::DbErr, key: &str) -> Error {
    if is_unique_violation(&err) {
        Error::ProductExists(key.to_owned())
    } else {
        err.into()
    }
}

async fn insert_plans(db: &impl sea_orm::ConnectionTrait, product: &Product) -> Result<()> {
    let rows = product
        .fields
        .plans
        .iter()
        .enumerate()
        .map(|(position, p)| plan::ActiveModel {
            product_key: Set(product.key.clone()),
            plan_key: Set(p.key.clone()),
            position: Set(position as i32),
            display_name: Set(p.display_name.clone()),
            currency_code: Set(p.list_price.currency_code.clone()),
            price_units: Set(p.list_price.units),
            price_nanos: Set(p.list_price.nanos),
            billing_period: Set(p.period.as_str_name().to_owned()),
            retired: Set(p.retired),
        });
    plan::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The plans of the products `keys`, each in its order.
async fn plans_of(
    db: &impl sea_orm::ConnectionTrait,
    keys: &[&str],
) -> Result<HashMap<String, Vec<Plan>>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = plan::Entity::find()
        .filter(plan::Column::ProductKey.is_in(keys.iter().copied()))
        .order_by_asc(plan::Column::ProductKey)
        .order_by_asc(plan::Column::Position)
        .all(db)
        .await?;
    let mut by_product: HashMap<String, Vec<Plan>> = HashMap::new();
    for row in rows {
        let period = BillingPeriod::from_str_name(&row.billing_period).ok_or_else(|| {
            Error::Api(ApiError::internal(anyhow::anyhow!(
                "product_plans.billing_period holds unknown value {:?}",
                row.billing_period
            )))
        })?;
        by_product.entry(row.product_key).or_default().push(Plan {
            key: row.plan_key,
            display_name: row.display_name,
            list_price: Money {
                currency_code: row.currency_code,
                units: row.price_units,
                nanos: row.price_nanos,
            },
            period,
            retired: row.retired,
        });
    }
    Ok(by_product)
}

fn product_row(p: &Product) -> product::ActiveModel {
    product::ActiveModel {
        product_key: Set(p.key.clone()),
        display_name: Set(p.fields.display_name.clone()),
        description: Set(p.fields.description.clone()),
        retired: Set(p.fields.retired),
        revision: Set(p.revision),
        create_time_us: Set(p.create_time.timestamp_micros()),
        update_time_us: Set(p.update_time.timestamp_micros()),
    }
}

fn to_domain(row: product::Model, plans: Vec<Plan>) -> Product {
    let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    Product {
        fields: ProductFields {
            display_name: row.display_name,
            description: row.description,
            plans,
            retired: row.retired,
        },
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        key: row.product_key,
    }
}

pub(crate) use themodel_platform::store::now;
