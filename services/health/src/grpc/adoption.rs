//! Handler of the adoption series.

use std::collections::BTreeSet;

use themodel_platform::{Violations, auth::principal, client::CallContext, validate};
use themodel_proto::health as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::key,
    domain::adoption::{
        DEFAULT_WINDOW_DAYS, MAX_SERIES_DAYS, MAX_WINDOW_DAYS, basis_points, series,
    },
    error::{Error, Result},
    store::adoption::{seat_terms, use_rows},
};

impl Handler {
    pub(super) async fn get_adoption(
        &self,
        request: Request<pb::GetAdoptionRequest>,
    ) -> Result<pb::GetAdoptionResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let product_key = v.check("product_key", key(&req.product_key));
        let mut day = |field: &str, date: Option<&themodel_proto::common::Date>| match date {
            Some(d) => v.check(field, validate::date(d)),
            None => {
                v.add(field, "is required");
                None
            }
        };
        let first = day("start_date", req.start_date.as_ref());
        let last = day("end_date", req.end_date.as_ref());
        if let (Some(first), Some(last)) = (first, last)
            && (last < first || (last - first).num_days() >= MAX_SERIES_DAYS)
        {
            v.add(
                "end_date",
                format!("must be on or after start_date and within {MAX_SERIES_DAYS} days of it"),
            );
        }
        let window = match u32::try_from(req.window_days) {
            Ok(0) => Some(DEFAULT_WINDOW_DAYS),
            Ok(w) if w <= MAX_WINDOW_DAYS => Some(w),
            _ => {
                v.add(
                    "window_days",
                    format!("must be 0 (30) to {MAX_WINDOW_DAYS}"),
                );
                None
            }
        };
        let (Some(account_id), Some(product_key), Some(first), Some(last), Some(window), true) =
            (account_id, product_key, first, last, window, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.accounts
            .find(&CallContext::of(&request), &principal, &account_id)
            .await?
            .ok_or_else(|| {
                Error::Api(themodel_platform::ApiError::NotFound {
                    resource: "account",
                    id: account_id.clone(),
                })
            })?;
        let key_features: BTreeSet<String> = self
            .features
            .of_products(&[product_key.as_str()])
            .await?
            .into_iter()
            .filter(|f| f.fields.key_feature && !f.fields.retired)
            .map(|f| f.feature_key)
            .collect();
        let db = &self.usage.store().db;
        let from = first - chrono::Days::new(u64::from(window - 1));
        let rows = use_rows(db, &account_id, &product_key, from, last).await?;
        let terms = seat_terms(db, &account_id, &product_key).await?;
        let seats = |day: chrono::NaiveDate| {
            terms
                .iter()
                .filter(|(_, start, end)| *start <= day && end.is_none_or(|e| day < e))
                .map(|(quantity, _, _)| quantity)
                .sum()
        };
        let total_keys = key_features.len() as i64;
        let days = series(first, last, window, &rows, &key_features, seats)
            .into_iter()
            .map(|d| pb::AdoptionDay {
                date: Some(validate::date_to_proto(d.day)),
                active_users: d.active_users,
                features: d
                    .features
                    .into_iter()
                    .map(|f| pb::FeatureUse {
                        feature_key: f.feature_key,
                        uses: f.uses,
                        users: f.users,
                    })
                    .collect(),
                key_features_used: d.key_features_used,
                breadth_basis_points: basis_points(i64::from(d.key_features_used), total_keys),
                window_users: d.window_users,
                seats: d.seats,
                seat_use_basis_points: basis_points(d.window_users, d.seats),
            })
            .collect();
        Ok(pb::GetAdoptionResponse {
            days,
            key_features: i32::try_from(total_keys).unwrap_or(i32::MAX),
        })
    }
}
