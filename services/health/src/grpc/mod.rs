//! gRPC handlers: authorize, validate and convert, call the repository,
//! convert back. Business rules live in `domain`, persistence in `store`.

mod adoption;
mod alerts;
mod features;
mod outcomes;
mod scores;
mod summary;
mod usage;

use themodel_platform::{accounts::AccountDirectory, client::Clients};
use themodel_proto::health::{self as pb, health_service_server::HealthService};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    error::Result,
    store::{
        Features, alerts::Alerts, outcomes::Outcomes, scores::Scores, scoring::Scorer, usage::Usage,
    },
};

/// The HealthService implementation.
#[derive(Debug, Clone)]
pub struct Handler {
    features: Features,
    usage: Usage,
    scores: Scores,
    scorer: Scorer,
    alerts: Alerts,
    outcomes: Outcomes,
    accounts: AccountDirectory,
    clients: Clients,
}

impl Handler {
    /// Handlers over the service's store, its view of the suite's accounts
    /// and its clients of the other services.
    pub fn new(
        store: &themodel_platform::store::Store,
        accounts: AccountDirectory,
        clients: Clients,
    ) -> Self {
        Self {
            features: Features::new(store.clone()),
            usage: Usage::new(store.clone()),
            scores: Scores::new(store.clone()),
            scorer: Scorer::new(store.clone()),
            alerts: Alerts::new(store.clone()),
            outcomes: Outcomes::new(store.clone()),
            accounts,
            clients,
        }
    }

    /// The background scorer.
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
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

    async fn create_scorecard(
        &self,
        request: Request<pb::CreateScorecardRequest>,
    ) -> Result<Response<pb::CreateScorecardResponse>, Status> {
        respond(Handler::create_scorecard(self, request).await)
    }

    async fn get_scorecard(
        &self,
        request: Request<pb::GetScorecardRequest>,
    ) -> Result<Response<pb::GetScorecardResponse>, Status> {
        respond(Handler::get_scorecard(self, request).await)
    }

    async fn list_scorecards(
        &self,
        request: Request<pb::ListScorecardsRequest>,
    ) -> Result<Response<pb::ListScorecardsResponse>, Status> {
        respond(Handler::list_scorecards(self, request).await)
    }

    async fn publish_scorecard_version(
        &self,
        request: Request<pb::PublishScorecardVersionRequest>,
    ) -> Result<Response<pb::PublishScorecardVersionResponse>, Status> {
        respond(Handler::publish_scorecard_version(self, request).await)
    }

    async fn record_sentiment(
        &self,
        request: Request<pb::RecordSentimentRequest>,
    ) -> Result<Response<pb::RecordSentimentResponse>, Status> {
        respond(Handler::record_sentiment(self, request).await)
    }

    async fn score_account(
        &self,
        request: Request<pb::ScoreAccountRequest>,
    ) -> Result<Response<pb::ScoreAccountResponse>, Status> {
        respond(Handler::score_account(self, request).await)
    }

    async fn get_health_score(
        &self,
        request: Request<pb::GetHealthScoreRequest>,
    ) -> Result<Response<pb::GetHealthScoreResponse>, Status> {
        respond(Handler::get_health_score(self, request).await)
    }

    async fn list_health_scores(
        &self,
        request: Request<pb::ListHealthScoresRequest>,
    ) -> Result<Response<pb::ListHealthScoresResponse>, Status> {
        respond(Handler::list_health_scores(self, request).await)
    }

    async fn recompute_scores(
        &self,
        request: Request<pb::RecomputeScoresRequest>,
    ) -> Result<Response<pb::RecomputeScoresResponse>, Status> {
        respond(Handler::recompute_scores(self, request).await)
    }

    async fn get_alert_policy(
        &self,
        request: Request<pb::GetAlertPolicyRequest>,
    ) -> Result<Response<pb::GetAlertPolicyResponse>, Status> {
        respond(Handler::get_alert_policy(self, request).await)
    }

    async fn update_alert_policy(
        &self,
        request: Request<pb::UpdateAlertPolicyRequest>,
    ) -> Result<Response<pb::UpdateAlertPolicyResponse>, Status> {
        respond(Handler::update_alert_policy(self, request).await)
    }

    async fn list_health_alerts(
        &self,
        request: Request<pb::ListHealthAlertsRequest>,
    ) -> Result<Response<pb::ListHealthAlertsResponse>, Status> {
        respond(Handler::list_health_alerts(self, request).await)
    }

    async fn import_outcomes(
        &self,
        request: Request<pb::ImportOutcomesRequest>,
    ) -> Result<Response<pb::ImportOutcomesResponse>, Status> {
        respond(Handler::import_outcomes(self, request).await)
    }

    async fn list_churn_retrospectives(
        &self,
        request: Request<pb::ListChurnRetrospectivesRequest>,
    ) -> Result<Response<pb::ListChurnRetrospectivesResponse>, Status> {
        respond(Handler::list_churn_retrospectives(self, request).await)
    }

    async fn backtest_scorecard(
        &self,
        request: Request<pb::BacktestScorecardRequest>,
    ) -> Result<Response<pb::BacktestScorecardResponse>, Status> {
        respond(Handler::backtest_scorecard(self, request).await)
    }

    async fn get_health_summary(
        &self,
        request: Request<pb::GetHealthSummaryRequest>,
    ) -> Result<Response<pb::GetHealthSummaryResponse>, Status> {
        respond(Handler::get_health_summary(self, request).await)
    }
}
