//! What a service other than segmentation knows of the suite's accounts: a
//! local projection of segmentation's account events (id, partner, owner CSM,
//! tier, lifecycle), kept in the service's own database by a durable consumer,
//! with a client call to segmentation for an account the projection has not
//! heard of yet.
//!
//! A service adds [`migration`] to its migrator, builds an [`AccountDirectory`]
//! and starts its consumer; its handlers then ask the directory whether an
//! account exists, and its reports group by the projected columns.

use prost::Message as _;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::OnConflict,
};
use sea_orm_migration::{prelude::*, schema::*};
use themodel_proto::{
    events::Event,
    segmentation::{self as seg, segmentation_service_client::SegmentationServiceClient},
};
use tonic::Code;

use crate::{
    ApiError,
    client::{CallContext, Clients, Retry},
    consumer::{Consumer, EventHandler},
    jobs::JobRunner,
    registry,
    store::{Store, UnitOfWork},
};

/// The consumer's name, in `ListJobs` and dead letters.
pub const CONSUMER: &str = "account-projection";

/// An account as the projection knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id in segmentation.
    pub id: String,
    /// Its CRM id, if it has one.
    pub external_id: Option<String>,
    /// The company's name.
    pub name: String,
    /// Its web domain, normalised (lower case, no scheme or `www.`), if known.
    pub domain: Option<String>,
    /// The partner that sourced or serves it; decides what a partner user sees.
    pub partner_id: Option<String>,
    /// Its CSM.
    pub owner_csm_id: Option<String>,
    /// Its touch model.
    pub tier: seg::Tier,
    /// Where it is in its life.
    pub lifecycle_status: seg::LifecycleStatus,
}

impl Account {
    /// Whether `principal` may see it: staff see every account, a partner
    /// user only its own partner's.
    pub fn visible_to(&self, principal: &crate::auth::Principal) -> bool {
        principal
            .partner_scope()
            .is_none_or(|own| self.partner_id.as_deref() == Some(own))
    }
}

/// The `projected_accounts` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One projected account.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projected_accounts")]
    pub struct Model {
        /// The account's id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// Its CRM id, empty when none.
        pub external_id: String,
        /// The company's name.
        pub name: String,
        /// Its normalised web domain, empty when none.
        pub domain: String,
        /// Its partner, empty when none.
        pub partner_id: String,
        /// Its CSM, empty when none.
        pub owner_csm_id: String,
        /// Protobuf enum name of its tier.
        pub tier: String,
        /// Protobuf enum name of its lifecycle status.
        pub lifecycle_status: String,
        /// Segmentation's update time of the state held, Unix microseconds: an
        /// older state never replaces a newer one.
        pub version_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The account a projection row holds.
pub fn to_account(row: entity::Model) -> Account {
    let optional = |s: String| (!s.is_empty()).then_some(s);
    Account {
        tier: seg::Tier::from_str_name(&row.tier).unwrap_or_default(),
        lifecycle_status: seg::LifecycleStatus::from_str_name(&row.lifecycle_status)
            .unwrap_or_default(),
        partner_id: optional(row.partner_id),
        owner_csm_id: optional(row.owner_csm_id),
        domain: optional(row.domain),
        external_id: optional(row.external_id),
        name: row.name,
        id: row.account_id,
    }
}

fn version(time: Option<&prost_types::Timestamp>) -> i64 {
    time.map_or(0, |t| {
        t.seconds.saturating_mul(1_000_000) + i64::from(t.nanos / 1000)
    })
}

/// Stores `account` unless the projection already holds a newer state of it.
async fn upsert(db: &impl ConnectionTrait, account: &seg::Account) -> Result<(), DbErr> {
    use entity::Column;
    let row = entity::ActiveModel {
        account_id: Set(account.id.clone()),
        external_id: Set(account.external_id.clone()),
        name: Set(account.name.clone()),
        domain: Set(account.domain.clone()),
        partner_id: Set(account.partner_id.clone()),
        owner_csm_id: Set(account.owner_csm_id.clone()),
        tier: Set(account.tier().as_str_name().to_owned()),
        lifecycle_status: Set(account.lifecycle_status().as_str_name().to_owned()),
        version_us: Set(version(account.update_time.as_ref())),
    };
    entity::Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::AccountId)
                .update_columns([
                    Column::ExternalId,
                    Column::Name,
                    Column::Domain,
                    Column::PartnerId,
                    Column::OwnerCsmId,
                    Column::Tier,
                    Column::LifecycleStatus,
                    Column::VersionUs,
                ])
                .action_and_where(
                    Expr::col((entity::Entity, Column::VersionUs))
                        .lte(Expr::cust("excluded.version_us")),
                )
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Applies segmentation's account events to the projection.
struct Projection;

#[tonic::async_trait]
impl EventHandler for Projection {
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()> {
        let tx = uow.tx();
        let payload = event
            .payload
            .as_ref()
            .map(|p| p.value.as_slice())
            .unwrap_or_default();
        let name = event.r#type.as_str();
        if name == <seg::AccountCreated as prost::Name>::full_name() {
            if let Some(account) = seg::AccountCreated::decode(payload)?.account {
                upsert(tx, &account).await?;
            }
        } else if name == <seg::AccountUpdated as prost::Name>::full_name() {
            if let Some(account) = seg::AccountUpdated::decode(payload)?.account {
                upsert(tx, &account).await?;
            }
        } else if name == <seg::TierAssigned as prost::Name>::full_name() {
            let assigned = seg::TierAssigned::decode(payload)?;
            let Some(change) = assigned.change else {
                return Ok(());
            };
            let at = version(change.change_time.as_ref());
            entity::Entity::update_many()
                .col_expr(
                    entity::Column::Tier,
                    Expr::value(change.new_tier().as_str_name()),
                )
                .col_expr(entity::Column::VersionUs, Expr::value(at))
                .filter(entity::Column::AccountId.eq(change.account_id))
                .filter(entity::Column::VersionUs.lte(at))
                .exec(tx)
                .await?;
        }
        Ok(())
    }
}

/// The accounts a service knows: its projection, and segmentation behind it.
#[derive(Debug, Clone)]
pub struct AccountDirectory {
    store: Store,
    clients: Clients,
}

impl AccountDirectory {
    /// The directory over `store`'s projection, asking segmentation through
    /// `clients` for what it does not hold.
    pub fn new(store: Store, clients: Clients) -> Self {
        Self { store, clients }
    }

    /// Keeps the projection up to date from segmentation's feed, on `jobs`.
    pub fn follow(&self, jobs: &JobRunner) {
        Consumer::new(
            CONSUMER,
            registry::SEGMENTATION.name,
            &self.store,
            Projection,
        )
        .start(jobs, self.clients.clone());
    }

    /// Account `id` as the caller in `ctx` may see it: from the projection,
    /// else from segmentation (asked on the caller's behalf, and then kept).
    /// `None` when it does not exist or the caller may not see it.
    pub async fn find(
        &self,
        ctx: &CallContext,
        principal: &crate::auth::Principal,
        id: &str,
    ) -> Result<Option<Account>, ApiError> {
        if let Some(row) = entity::Entity::find_by_id(id.to_owned())
            .one(&self.store.db)
            .await?
        {
            let account = to_account(row);
            return Ok(account.visible_to(principal).then_some(account));
        }
        let fetched = self
            .clients
            .call(
                ctx,
                registry::SEGMENTATION.name,
                "GetAccount",
                Retry::Safe,
                seg::GetAccountRequest { id: id.to_owned() },
                |channel, request| async move {
                    SegmentationServiceClient::new(channel)
                        .get_account(request)
                        .await
                },
            )
            .await
            .map(|response| response.account);
        self.keep(fetched, principal).await
    }

    /// The account whose CRM id is `external_id`, as [`Self::find`] does.
    pub async fn find_by_external_id(
        &self,
        ctx: &CallContext,
        principal: &crate::auth::Principal,
        external_id: &str,
    ) -> Result<Option<Account>, ApiError> {
        if let Some(row) = entity::Entity::find()
            .filter(entity::Column::ExternalId.eq(external_id))
            .one(&self.store.db)
            .await?
        {
            let account = to_account(row);
            return Ok(account.visible_to(principal).then_some(account));
        }
        let fetched = self
            .clients
            .call(
                ctx,
                registry::SEGMENTATION.name,
                "ListAccounts",
                Retry::Safe,
                seg::ListAccountsRequest {
                    external_id: external_id.to_owned(),
                    page_size: 1,
                    ..Default::default()
                },
                |channel, request| async move {
                    SegmentationServiceClient::new(channel)
                        .list_accounts(request)
                        .await
                },
            )
            .await
            .map(|response| response.accounts.into_iter().next());
        self.keep(fetched, principal).await
    }

    /// Keeps an account segmentation answered with in the projection; what
    /// the caller may see of it.
    async fn keep(
        &self,
        fetched: Result<Option<seg::Account>, tonic::Status>,
        principal: &crate::auth::Principal,
    ) -> Result<Option<Account>, ApiError> {
        let account = match fetched {
            Ok(account) => account,
            // Unknown, or not the caller's to see: both are "no such account".
            Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
                return Ok(None);
            }
            Err(status) => return Err(ApiError::from_peer(registry::SEGMENTATION.name, status)),
        };
        let Some(account) = account else {
            return Ok(None);
        };
        upsert(&self.store.db, &account).await?;
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let account = Account {
            id: account.id.clone(),
            external_id: optional(&account.external_id),
            name: account.name.clone(),
            domain: optional(&account.domain),
            partner_id: optional(&account.partner_id),
            owner_csm_id: optional(&account.owner_csm_id),
            tier: account.tier(),
            lifecycle_status: account.lifecycle_status(),
        };
        Ok(account.visible_to(principal).then_some(account))
    }
}

impl AccountDirectory {
    /// The team of CSM `csm_id` in segmentation, asked for the caller in
    /// `ctx`: `None` when segmentation does not manage that CSM.
    pub async fn csm_team(
        &self,
        ctx: &CallContext,
        csm_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let fetched = self
            .clients
            .call(
                ctx,
                registry::SEGMENTATION.name,
                "GetCsm",
                Retry::Safe,
                seg::GetCsmRequest {
                    id: csm_id.to_owned(),
                },
                |channel, request| async move {
                    SegmentationServiceClient::new(channel)
                        .get_csm(request)
                        .await
                },
            )
            .await;
        match fetched {
            Ok(response) => Ok(response.csm.map(|csm| csm.team_id)),
            Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
                Ok(None)
            }
            Err(status) => Err(ApiError::from_peer(registry::SEGMENTATION.name, status)),
        }
    }
}

/// The projected accounts among `ids`, whatever their visibility.
pub async fn projected(db: &impl ConnectionTrait, ids: &[&str]) -> Result<Vec<Account>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = entity::Entity::find()
        .filter(entity::Column::AccountId.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_account).collect())
}

#[derive(DeriveIden)]
enum ProjectedAccounts {
    Table,
    AccountId,
    ExternalId,
    Name,
    Domain,
    PartnerId,
    OwnerCsmId,
    Tier,
    LifecycleStatus,
    VersionUs,
}

/// The projection's table, for a service's migrator (after the platform's).
pub fn migration() -> Box<dyn MigrationTrait> {
    Box::new(ProjectedAccountsTable)
}

struct ProjectedAccountsTable;

impl MigrationName for ProjectedAccountsTable {
    fn name(&self) -> &str {
        "m20261202_000001_projected_accounts"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for ProjectedAccountsTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProjectedAccounts::Table)
                    .col(string_len(ProjectedAccounts::AccountId, 64).primary_key())
                    .col(string_len(ProjectedAccounts::ExternalId, 128))
                    .col(string_len(ProjectedAccounts::Name, 200))
                    .col(string_len(ProjectedAccounts::Domain, 300))
                    .col(string_len(ProjectedAccounts::PartnerId, 64))
                    .col(string_len(ProjectedAccounts::OwnerCsmId, 64))
                    .col(string_len(ProjectedAccounts::Tier, 40))
                    .col(string_len(ProjectedAccounts::LifecycleStatus, 40))
                    .col(big_integer(ProjectedAccounts::VersionUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_projected_accounts_partner")
                    .table(ProjectedAccounts::Table)
                    .col(ProjectedAccounts::PartnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_projected_accounts_external_id")
                    .table(ProjectedAccounts::Table)
                    .col(ProjectedAccounts::ExternalId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_projected_accounts_domain")
                    .table(ProjectedAccounts::Table)
                    .col(ProjectedAccounts::Domain)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProjectedAccounts::Table).to_owned())
            .await
    }
}
