//! gRPC handlers: authorize, validate and convert, call the repository,
//! convert back. Business rules live in `domain`, persistence in `store`.

mod adoption;
mod features;
mod usage;

use themodel_platform::{accounts::AccountDirectory, client::Clients};
use themodel_proto::health::{self as pb, health_service_server::HealthService};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    error::Result,
    store::{Features, usage::Usage},
};

/// The HealthService implementation.
#[derive(Debug, Clone)]
pub struct Handler {
    features: Features,
    usage: Usage,
    accounts: AccountDirectory,
    clients: Clients,
}

impl Handler {
    /// Handlers over the service's repositories, its view of the suite's
    /// accounts and its clients of the other services.
    pub fn new(
        features: Features,
        usage: Usage,
        accounts: AccountDirectory,
        clients: Clients,
    ) -> Self {
        Self {
            features,
            usage,
            accounts,
            clients,
        }
    }
}

fn respond<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl HealthService for Handler {
    async fn create_feature(
        &self,
        request: Request<pb::CreateFeatureRequest>,
    ) -> Result<Response<pb::CreateFeatureResponse>, Status> {
        respond(Handler::create_feature(self, request).await)
    }

    async fn get_feature(
        &self,
        request: Request<pb::GetFeatureRequest>,
    ) -> Result<Response<pb::GetFeatureResponse>, Status> {
        respond(Handler::get_feature(self, request).await)
    }

    async fn list_features(
        &self,
        request: Request<pb::ListFeaturesRequest>,
    ) -> Result<Response<pb::ListFeaturesResponse>, Status> {
        respond(Handler::list_features(self, request).await)
    }

    async fn update_feature(
        &self,
        request: Request<pb::UpdateFeatureRequest>,
    ) -> Result<Response<pb::UpdateFeatureResponse>, Status> {
        respond(Handler::update_feature(self, request).await)
    }

    async fn ingest_usage(
        &self,
        request: Request<pb::IngestUsageRequest>,
    ) -> Result<Response<pb::IngestUsageResponse>, Status> {
        respond(Handler::ingest_usage(self, request).await)
    }

    async fn get_adoption(
        &self,
        request: Request<pb::GetAdoptionRequest>,
    ) -> Result<Response<pb::GetAdoptionResponse>, Status> {
        respond(Handler::get_adoption(self, request).await)
    }

    async fn stream_usage(
        &self,
        request: Request<Streaming<pb::StreamUsageRequest>>,
    ) -> Result<Response<pb::StreamUsageResponse>, Status> {
        respond(Handler::stream_usage(self, request).await)
    }
}
