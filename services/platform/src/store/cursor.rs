//! Cursors of the readers of event logs (the NATS relay, consumers): the last
//! sequence each one processed, kept in the service's own database.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// The cursor table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One reader's position.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "feed_cursors")]
    pub struct Model {
        /// The reader, e.g. `nats-relay`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// The last sequence it processed; 0 before the first.
        pub position: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The position of reader `name` (0 when it has none yet).
pub async fn position(db: &impl ConnectionTrait, name: &str) -> Result<i64, DbErr> {
    Ok(entity::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .map_or(0, |c| c.position))
}

/// Moves reader `name` to `position`.
pub async fn advance(db: &impl ConnectionTrait, name: &str, position: i64) -> Result<(), DbErr> {
    entity::Entity::insert(entity::ActiveModel {
        name: Set(name.to_owned()),
        position: Set(position),
    })
    .on_conflict(
        OnConflict::column(entity::Column::Name)
            .update_column(entity::Column::Position)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map(|_| ())
}
