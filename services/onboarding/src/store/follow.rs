//! What onboarding learns from the other services' events: the health
//! service's first use of each feature becomes a usage signal, and the
//! expansion service's first subscription of an account to a product opens
//! its onboarding plan.

use prost::Name as _;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use themodel_platform::{
    accounts,
    client::Clients,
    consumer::{Consumer, EventHandler},
    jobs::JobRunner,
    registry,
    store::{Store, UnitOfWork},
    validate,
};
use themodel_proto::{events::Event, expansion as exp, health};

use super::{
    entity::plan,
    now,
    plans::{NewSignal, open_in, signals_in},
    routing::choose,
};

/// The consumer of the health service's adoption events.
pub const ADOPTION_CONSUMER: &str = "health-adoption";
/// The consumer of the expansion service's subscription events.
pub const PURCHASE_CONSUMER: &str = "expansion-purchases";

/// The signal a feature's first use raises: `feature:<feature_key>` = 1.
pub fn feature_signal(feature_key: &str) -> String {
    format!("feature:{feature_key}")
}

fn decode<M: prost::Message + Default>(event: &Event) -> anyhow::Result<M> {
    let payload = event
        .payload
        .as_ref()
        .map(|p| p.value.as_slice())
        .unwrap_or_default();
    Ok(M::decode(payload)?)
}

/// Turns `FeatureAdopted` into the signal `feature:<key>` of 1.
struct Adoption;

#[tonic::async_trait]
impl EventHandler for Adoption {
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()> {
        if event.r#type != health::FeatureAdopted::full_name() {
            return Ok(());
        }
        let adopted: health::FeatureAdopted = decode(event)?;
        let signal = NewSignal {
            account_id: adopted.account_id,
            product_key: adopted.product_key,
            signal_key: feature_signal(&adopted.feature_key),
            value: 1,
        };
        signals_in(uow, &[signal], now()).await?;
        Ok(())
    }
}

/// Opens a plan for an account's first subscription to a product.
struct Purchases;

#[tonic::async_trait]
impl EventHandler for Purchases {
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()> {
        if event.r#type != exp::SubscriptionChanged::full_name() {
            return Ok(());
        }
        let Some(sub) = decode::<exp::SubscriptionChanged>(event)?.subscription else {
            return Ok(());
        };
        // Only a product new to the account: renewals and changes of a
        // product it has (or had) a plan for open nothing.
        let known = plan::Entity::find()
            .filter(plan::Column::AccountId.eq(sub.account_id.as_str()))
            .filter(plan::Column::ProductKey.eq(sub.product_key.as_str()))
            .count(uow.tx())
            .await?;
        if known > 0 {
            return Ok(());
        }
        let Some(account) = accounts::projected(uow.tx(), &[sub.account_id.as_str()])
            .await?
            .into_iter()
            .next()
        else {
            // Tried again, then parked for a retry, until segmentation's
            // account event has arrived.
            anyhow::bail!("account {} is not known here yet", sub.account_id);
        };
        let Some(choice) = choose(uow.tx(), &account, &sub.product_key).await? else {
            tracing::info!(
                account = %account.id,
                product = %sub.product_key,
                "no playbook onboards this product: no plan opened"
            );
            return Ok(());
        };
        let start = sub
            .terms
            .iter()
            .filter_map(|t| t.start_date.as_ref())
            .filter_map(|d| validate::date(d).ok())
            .min();
        open_in(uow, &account, &sub.product_key, start, choice, now()).await?;
        Ok(())
    }
}

/// Follows the health service's adoption and the expansion service's
/// subscriptions on `jobs`.
pub fn follow(store: &Store, jobs: &JobRunner, clients: Clients) {
    Consumer::new(ADOPTION_CONSUMER, registry::HEALTH.name, store, Adoption)
        .start(jobs, clients.clone());
    Consumer::new(
        PURCHASE_CONSUMER,
        registry::EXPANSION.name,
        store,
        Purchases,
    )
    .start(jobs, clients);
}
