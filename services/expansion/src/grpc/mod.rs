//! gRPC handlers: authorize, validate and convert, call the repository,
//! convert back. Business rules live in `domain`, persistence in `store`.

use themodel_platform::{
    Violation, Violations,
    accounts::AccountDirectory,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::expansion::{self as pb, expansion_service_server::ExpansionService};
use tonic::{Request, Response, Status};

mod pipeline;
mod renewals;
mod revenue;
mod subscriptions;

use crate::{
    convert::{apply_mask, key, mask_paths, product_fields_from_proto, product_to_proto},
    domain::access::CATALOGUE_WRITERS,
    error::{Error, Result},
    store::{
        Products, pipeline::Pipeline, qbrs::Qbrs, renewals::Renewals, revenue::Revenue,
        subscriptions::Subscriptions,
    },
};

/// The ExpansionService implementation.
#[derive(Debug, Clone)]
pub struct Handler {
    products: Products,
    subscriptions: Subscriptions,
    revenue: Revenue,
    pipeline: Pipeline,
    renewals: Renewals,
    qbrs: Qbrs,
    accounts: AccountDirectory,
}

impl Handler {
    /// Handlers over the service's repositories and its view of the
    /// suite's accounts.
    pub fn new(
        products: Products,
        subscriptions: Subscriptions,
        revenue: Revenue,
        pipeline: Pipeline,
        renewals: Renewals,
        qbrs: Qbrs,
        accounts: AccountDirectory,
    ) -> Self {
        Self {
            products,
            subscriptions,
            revenue,
            pipeline,
            renewals,
            qbrs,
            accounts,
        }
    }

    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<pb::CreateProductResponse> {
        let principal = principal(&request)?;
        principal.require(CATALOGUE_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (product_key, fields) = match &req.product {
            Some(product) => (
                v.check("product.product_key", key(&product.product_key)),
                v.check("product", product_fields_from_proto(product)),
            ),
            None => {
                v.add("product", "is required");
                (None, None)
            }
        };
        let (Some(product_key), Some(fields), true) = (product_key, fields, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreateProduct", &req);
        self.products.create(idempotency, product_key, fields).await
    }

    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<pb::GetProductResponse> {
        principal(&request)?;
        let mut v = Violations::new();
        let product_key = v.check("product_key", key(&request.get_ref().product_key));
        let product_key = v.finish(|| product_key.unwrap_or_default())?;
        let product = self
            .products
            .get(&product_key)
            .await?
            .ok_or(Error::ProductNotFound(product_key))?;
        Ok(pb::GetProductResponse {
            product: Some(product_to_proto(&product)),
        })
    }

    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<pb::ListProductsResponse> {
        principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let after = v
            .check(
                "",
                page_token::decode::<String>(&req.page_token, &req.include_retired),
            )
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (products, more) = self
            .products
            .list(after.as_deref(), req.include_retired, page_size)
            .await?;
        let next_page_token = match products.last() {
            Some(last) if more => page_token::encode(&last.key, &req.include_retired),
            _ => String::new(),
        };
        Ok(pb::ListProductsResponse {
            products: products.iter().map(product_to_proto).collect(),
            next_page_token,
        })
    }

    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<pb::UpdateProductResponse> {
        let principal = principal(&request)?;
        principal.require(CATALOGUE_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.product else {
            return Err(Error::Invalid(vec![Violation::new(
                "product",
                "is required",
            )]));
        };
        let product_key = v.check("product.product_key", key(&patch.product_key));
        let etag = v
            .check("product.etag", validate::etag(&patch.etag))
            .flatten();
        let paths = v.check("", mask_paths(req.update_mask.as_ref()));
        let (Some(product_key), Some(paths), true) = (product_key, paths, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdateProduct", &req);
        self.products
            .update(idempotency, &product_key, etag, |current| {
                let mut merged = product_to_proto(current);
                apply_mask(&mut merged, patch, &paths);
                product_fields_from_proto(&merged).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("product")).collect())
                })
            })
            .await
    }
}

fn respond<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl ExpansionService for Handler {
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::CreateProductResponse>, Status> {
        respond(Handler::create_product(self, request).await)
    }

    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::GetProductResponse>, Status> {
        respond(Handler::get_product(self, request).await)
    }

    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        respond(Handler::list_products(self, request).await)
    }

    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::UpdateProductResponse>, Status> {
        respond(Handler::update_product(self, request).await)
    }

    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::CreateSubscriptionResponse>, Status> {
        respond(Handler::create_subscription(self, request).await)
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::GetSubscriptionResponse>, Status> {
        respond(Handler::get_subscription(self, request).await)
    }

    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        respond(Handler::list_subscriptions(self, request).await)
    }

    async fn change_subscription(
        &self,
        request: Request<pb::ChangeSubscriptionRequest>,
    ) -> Result<Response<pb::ChangeSubscriptionResponse>, Status> {
        respond(Handler::change_subscription(self, request).await)
    }

    async fn end_subscription(
        &self,
        request: Request<pb::EndSubscriptionRequest>,
    ) -> Result<Response<pb::EndSubscriptionResponse>, Status> {
        respond(Handler::end_subscription(self, request).await)
    }

    async fn get_holdings(
        &self,
        request: Request<pb::GetHoldingsRequest>,
    ) -> Result<Response<pb::GetHoldingsResponse>, Status> {
        respond(Handler::get_holdings(self, request).await)
    }

    async fn get_revenue_report(
        &self,
        request: Request<pb::GetRevenueReportRequest>,
    ) -> Result<Response<pb::GetRevenueReportResponse>, Status> {
        respond(Handler::get_revenue_report(self, request).await)
    }

    async fn create_csql(
        &self,
        request: Request<pb::CreateCsqlRequest>,
    ) -> Result<Response<pb::CreateCsqlResponse>, Status> {
        respond(Handler::create_csql(self, request).await)
    }

    async fn get_csql(
        &self,
        request: Request<pb::GetCsqlRequest>,
    ) -> Result<Response<pb::GetCsqlResponse>, Status> {
        respond(Handler::get_csql(self, request).await)
    }

    async fn list_csqls(
        &self,
        request: Request<pb::ListCsqlsRequest>,
    ) -> Result<Response<pb::ListCsqlsResponse>, Status> {
        respond(Handler::list_csqls(self, request).await)
    }

    async fn hand_off_csql(
        &self,
        request: Request<pb::HandOffCsqlRequest>,
    ) -> Result<Response<pb::HandOffCsqlResponse>, Status> {
        respond(Handler::hand_off_csql(self, request).await)
    }

    async fn accept_csql(
        &self,
        request: Request<pb::AcceptCsqlRequest>,
    ) -> Result<Response<pb::AcceptCsqlResponse>, Status> {
        respond(Handler::accept_csql(self, request).await)
    }

    async fn reject_csql(
        &self,
        request: Request<pb::RejectCsqlRequest>,
    ) -> Result<Response<pb::RejectCsqlResponse>, Status> {
        respond(Handler::reject_csql(self, request).await)
    }

    async fn get_opportunity(
        &self,
        request: Request<pb::GetOpportunityRequest>,
    ) -> Result<Response<pb::GetOpportunityResponse>, Status> {
        respond(Handler::get_opportunity(self, request).await)
    }

    async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        respond(Handler::list_opportunities(self, request).await)
    }

    async fn win_opportunity(
        &self,
        request: Request<pb::WinOpportunityRequest>,
    ) -> Result<Response<pb::WinOpportunityResponse>, Status> {
        respond(Handler::win_opportunity(self, request).await)
    }

    async fn lose_opportunity(
        &self,
        request: Request<pb::LoseOpportunityRequest>,
    ) -> Result<Response<pb::LoseOpportunityResponse>, Status> {
        respond(Handler::lose_opportunity(self, request).await)
    }

    async fn get_csql_report(
        &self,
        request: Request<pb::GetCsqlReportRequest>,
    ) -> Result<Response<pb::GetCsqlReportResponse>, Status> {
        respond(Handler::get_csql_report(self, request).await)
    }

    async fn list_renewals(
        &self,
        request: Request<pb::ListRenewalsRequest>,
    ) -> Result<Response<pb::ListRenewalsResponse>, Status> {
        respond(Handler::list_renewals(self, request).await)
    }

    async fn get_renewal(
        &self,
        request: Request<pb::GetRenewalRequest>,
    ) -> Result<Response<pb::GetRenewalResponse>, Status> {
        respond(Handler::get_renewal(self, request).await)
    }

    async fn set_closing_plan(
        &self,
        request: Request<pb::SetClosingPlanRequest>,
    ) -> Result<Response<pb::SetClosingPlanResponse>, Status> {
        respond(Handler::set_closing_plan(self, request).await)
    }

    async fn complete_closing_step(
        &self,
        request: Request<pb::CompleteClosingStepRequest>,
    ) -> Result<Response<pb::CompleteClosingStepResponse>, Status> {
        respond(Handler::complete_closing_step(self, request).await)
    }

    async fn review_renewal(
        &self,
        request: Request<pb::ReviewRenewalRequest>,
    ) -> Result<Response<pb::ReviewRenewalResponse>, Status> {
        respond(Handler::review_renewal(self, request).await)
    }

    async fn record_renewal_outcome(
        &self,
        request: Request<pb::RecordRenewalOutcomeRequest>,
    ) -> Result<Response<pb::RecordRenewalOutcomeResponse>, Status> {
        respond(Handler::record_renewal_outcome(self, request).await)
    }

    async fn schedule_qbr(
        &self,
        request: Request<pb::ScheduleQbrRequest>,
    ) -> Result<Response<pb::ScheduleQbrResponse>, Status> {
        respond(Handler::schedule_qbr(self, request).await)
    }

    async fn record_qbr(
        &self,
        request: Request<pb::RecordQbrRequest>,
    ) -> Result<Response<pb::RecordQbrResponse>, Status> {
        respond(Handler::record_qbr(self, request).await)
    }

    async fn get_qbr(
        &self,
        request: Request<pb::GetQbrRequest>,
    ) -> Result<Response<pb::GetQbrResponse>, Status> {
        respond(Handler::get_qbr(self, request).await)
    }

    async fn list_qbrs(
        &self,
        request: Request<pb::ListQbrsRequest>,
    ) -> Result<Response<pb::ListQbrsResponse>, Status> {
        respond(Handler::list_qbrs(self, request).await)
    }
}
