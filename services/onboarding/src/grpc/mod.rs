//! gRPC handlers: authorize, validate and convert, call the repository,
//! convert back. Business rules live in `domain`, persistence in `store`.

mod capacity;
mod plans;
mod playbooks;
mod report;
mod self_success;
mod signals;
mod stalls;

use themodel_platform::{accounts::AccountDirectory, client::Clients, store::Store};
use themodel_proto::onboarding::{self as pb, onboarding_service_server::OnboardingService};
use tonic::{Request, Response, Status};

use crate::{
    error::Result,
    store::{Playbooks, plans::Plans, routing::Routing, stalls::Stalls},
};

/// The OnboardingService implementation.
#[derive(Debug, Clone)]
pub struct Handler {
    playbooks: Playbooks,
    plans: Plans,
    stalls: Stalls,
    routing: Routing,
    store: Store,
    accounts: AccountDirectory,
    clients: Clients,
}

impl Handler {
    /// Handlers over the service's store, its view of the suite's accounts
    /// and its clients of the other services.
    pub fn new(store: &Store, accounts: AccountDirectory, clients: Clients) -> Self {
        Self {
            playbooks: Playbooks::new(store.clone()),
            plans: Plans::new(store.clone()),
            stalls: Stalls::new(store.clone()),
            routing: Routing::new(store.clone()),
            store: store.clone(),
            accounts,
            clients,
        }
    }
}

fn respond<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

macro_rules! rpcs {
    ($($method:ident: $request:ident => $response:ident),* $(,)?) => {
        #[tonic::async_trait]
        impl OnboardingService for Handler {
            $(
                async fn $method(
                    &self,
                    request: Request<pb::$request>,
                ) -> Result<Response<pb::$response>, Status> {
                    respond(Handler::$method(self, request).await)
                }
            )*
        }
    };
}

rpcs! {
    create_playbook: CreatePlaybookRequest => CreatePlaybookResponse,
    get_playbook: GetPlaybookRequest => GetPlaybookResponse,
    list_playbooks: ListPlaybooksRequest => ListPlaybooksResponse,
    publish_playbook_version: PublishPlaybookVersionRequest => PublishPlaybookVersionResponse,
    open_plan: OpenPlanRequest => OpenPlanResponse,
    get_plan: GetPlanRequest => GetPlanResponse,
    list_plans: ListPlansRequest => ListPlansResponse,
    complete_step: CompleteStepRequest => CompleteStepResponse,
    record_kickoff: RecordKickoffRequest => RecordKickoffResponse,
    cancel_plan: CancelPlanRequest => CancelPlanResponse,
    record_signals: RecordSignalsRequest => RecordSignalsResponse,
    detect_stalls: DetectStallsRequest => DetectStallsResponse,
    list_alerts: ListAlertsRequest => ListAlertsResponse,
    forecast_capacity: ForecastCapacityRequest => ForecastCapacityResponse,
    get_self_success_rule: GetSelfSuccessRuleRequest => GetSelfSuccessRuleResponse,
    update_self_success_rule: UpdateSelfSuccessRuleRequest => UpdateSelfSuccessRuleResponse,
    get_self_success_report: GetSelfSuccessReportRequest => GetSelfSuccessReportResponse,
    get_completion_report: GetCompletionReportRequest => GetCompletionReportResponse,
}
