//! Handlers of the feature catalogue RPCs.

use themodel_platform::{
    Violation, Violations,
    auth::principal,
    client::{CallContext, Retry},
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::{
    expansion::{GetProductRequest, expansion_service_client::ExpansionServiceClient},
    health as pb,
};
use tonic::{Code, Request};

use super::Handler;
use crate::{
    convert::{apply_mask, feature_fields, feature_to_proto, key, mask_paths},
    domain::access::CATALOGUE_WRITERS,
    error::{Error, Result},
};

impl Handler {
    /// NOT_FOUND unless the expansion service's catalogue has `product_key`.
    pub(super) async fn ensure_product<T>(
        &self,
        request: &Request<T>,
        product_key: &str,
    ) -> Result<()> {
        let found = self
            .clients
            .call(
                &CallContext::of(request),
                themodel_platform::registry::EXPANSION.name,
                "GetProduct",
                Retry::Safe,
                GetProductRequest {
                    product_key: product_key.to_owned(),
                },
                |channel, request| async move {
                    ExpansionServiceClient::new(channel)
                        .get_product(request)
                        .await
                },
            )
            .await;
        match found {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => {
                Err(Error::ProductNotFound(product_key.to_owned()))
            }
            Err(status) => Err(Error::Api(themodel_platform::ApiError::from_peer(
                themodel_platform::registry::EXPANSION.name,
                status,
            ))),
        }
    }

    pub(super) async fn create_feature(
        &self,
        request: Request<pb::CreateFeatureRequest>,
    ) -> Result<pb::CreateFeatureResponse> {
        let principal = principal(&request)?;
        principal.require(CATALOGUE_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(feature) = &req.feature else {
            return Err(Error::Invalid(vec![Violation::new(
                "feature",
                "is required",
            )]));
        };
        let product_key = v.check("feature.product_key", key(&feature.product_key));
        let feature_key = v.check("feature.feature_key", key(&feature.feature_key));
        let fields = v.check("feature", feature_fields(feature));
        let (Some(product_key), Some(feature_key), Some(fields), true) =
            (product_key, feature_key, fields, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.ensure_product(&request, &product_key).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreateFeature", req);
        self.features
            .create(idempotency, product_key, feature_key, fields)
            .await
    }

    pub(super) async fn get_feature(
        &self,
        request: Request<pb::GetFeatureRequest>,
    ) -> Result<pb::GetFeatureResponse> {
        principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let product_key = v.check("product_key", key(&req.product_key));
        let feature_key = v.check("feature_key", key(&req.feature_key));
        let (Some(product_key), Some(feature_key), true) = (product_key, feature_key, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let feature = self
            .features
            .get(&product_key, &feature_key)
            .await?
            .ok_or_else(|| Error::FeatureNotFound(format!("{product_key}/{feature_key}")))?;
        Ok(pb::GetFeatureResponse {
            feature: Some(feature_to_proto(&feature)),
        })
    }

    pub(super) async fn list_features(
        &self,
        request: Request<pb::ListFeaturesRequest>,
    ) -> Result<pb::ListFeaturesResponse> {
        principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let product_key = (!req.product_key.is_empty())
            .then(|| v.check("product_key", key(&req.product_key)))
            .flatten();
        let filters = (&req.product_key, req.include_retired);
        let after = v
            .check(
                "",
                page_token::decode::<(String, String)>(&req.page_token, &filters),
            )
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (features, more) = self
            .features
            .list(
                product_key.as_deref(),
                req.include_retired,
                after,
                page_size,
            )
            .await?;
        let next_page_token = match features.last() {
            Some(last) if more => page_token::encode(
                &(last.product_key.clone(), last.feature_key.clone()),
                &filters,
            ),
            _ => String::new(),
        };
        Ok(pb::ListFeaturesResponse {
            features: features.iter().map(feature_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_feature(
        &self,
        request: Request<pb::UpdateFeatureRequest>,
    ) -> Result<pb::UpdateFeatureResponse> {
        let principal = principal(&request)?;
        principal.require(CATALOGUE_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.feature else {
            return Err(Error::Invalid(vec![Violation::new(
                "feature",
                "is required",
            )]));
        };
        let product_key = v.check("feature.product_key", key(&patch.product_key));
        let feature_key = v.check("feature.feature_key", key(&patch.feature_key));
        let etag = v
            .check("feature.etag", validate::etag(&patch.etag))
            .flatten();
        let paths = v.check("", mask_paths(req.update_mask.as_ref()));
        let (Some(product_key), Some(feature_key), Some(paths), true) =
            (product_key, feature_key, paths, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdateFeature", &req);
        self.features
            .update(idempotency, &product_key, &feature_key, etag, |current| {
                let mut merged = feature_to_proto(current);
                apply_mask(&mut merged, patch, &paths);
                feature_fields(&merged).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("feature")).collect())
                })
            })
            .await
    }
}
