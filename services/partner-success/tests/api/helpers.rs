use themodel_partner_success::Application;
pub use themodel_platform::testing::{reason, violated_fields};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, TestDatabase, TestService},
};
use themodel_proto::{
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    partner_success::{self as pb, partner_success_service_client::PartnerSuccessServiceClient},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub type Client = PartnerSuccessServiceClient<InterceptedService<Channel, Bearer>>;

pub struct TestApp(TestService);

/// Starts the service on port 0 against a fresh database.
pub async fn spawn_app() -> TestApp {
    TestApp(TestService::start(TestDatabase::new().await, |_| {}, Application::build).await)
}

impl TestApp {
    /// A client acting as `role`; a partner user belongs to partner "p-1".
    pub fn client(&self, role: Role) -> Client {
        let partner = (role == Role::PartnerUser).then_some("p-1");
        self.client_with(Bearer::new(role, partner))
    }

    pub fn client_with(&self, bearer: Bearer) -> Client {
        PartnerSuccessServiceClient::with_interceptor(self.0.channel.clone(), bearer)
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
    }

    /// Every partner, across pages, as an admin sees them.
    pub async fn all_partners(&self) -> Vec<pb::Partner> {
        let mut client = self.admin();
        let mut partners = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_partners(pb::ListPartnersRequest {
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_inner();
            partners.extend(page.partners);
            if page.next_page_token.is_empty() {
                return partners;
            }
            page_token = page.next_page_token;
        }
    }

    /// Every event in the service's log, oldest first.
    pub async fn events(&self) -> Vec<ev::Event> {
        let mut feed = EventFeedServiceClient::with_interceptor(
            self.0.channel.clone(),
            Bearer::new(Role::Bizops, None),
        );
        let mut events = Vec::new();
        let mut after_sequence = 0;
        loop {
            let page = feed
                .list_events(ev::ListEventsRequest {
                    after_sequence,
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .expect("events")
                .into_inner();
            let Some(last) = page.events.last() else {
                return events;
            };
            after_sequence = last.sequence;
            events.extend(page.events);
        }
    }
}

/// An active resale partner whose customers the partner itself serves.
pub fn partner(partner_id: &str) -> pb::Partner {
    pb::Partner {
        partner_id: partner_id.into(),
        display_name: format!("Partner {partner_id}"),
        contract_form: pb::ContractForm::Resale as i32,
        cs_model: pb::CsModel::PartnerLed as i32,
        status: pb::PartnerStatus::Active as i32,
        ..Default::default()
    }
}

pub fn create(partner: pb::Partner) -> pb::CreatePartnerRequest {
    pb::CreatePartnerRequest {
        partner: Some(partner),
        request_id: String::new(),
    }
}

pub async fn create_ok(client: &mut Client, partner: pb::Partner) -> pb::Partner {
    client
        .create_partner(create(partner))
        .await
        .expect("create")
        .into_inner()
        .partner
        .expect("partner")
}

/// An update of `patch` (which carries the id) naming `paths`, without an
/// idempotency key.
pub fn update(patch: pb::Partner, paths: &[&str]) -> pb::UpdatePartnerRequest {
    pb::UpdatePartnerRequest {
        partner: Some(patch),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        request_id: String::new(),
    }
}

pub async fn update_ok(client: &mut Client, patch: pb::Partner, paths: &[&str]) -> pb::Partner {
    client
        .update_partner(update(patch, paths))
        .await
        .expect("update")
        .into_inner()
        .partner
        .expect("partner")
}

pub async fn get_ok(client: &mut Client, partner_id: &str) -> pb::Partner {
    client
        .get_partner(pb::GetPartnerRequest {
            partner_id: partner_id.into(),
        })
        .await
        .expect("get")
        .into_inner()
        .partner
        .expect("partner")
}
