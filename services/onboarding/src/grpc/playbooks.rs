//! Handlers of playbooks.

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
    onboarding as pb,
};
use tonic::{Code, Request};

use super::Handler;
use crate::{
    convert::{key, playbook::definition, playbook::playbook_to_proto, tier},
    domain::{access::PLAYBOOK_WRITERS, playbook::SELF_SUCCESS_SCOPE},
    error::{Error, Result},
};

impl Handler {
    /// NOT_FOUND unless the expansion service's catalogue has `product_key`.
    async fn ensure_product<T>(&self, request: &Request<T>, product_key: &str) -> Result<()> {
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

    pub(super) async fn create_playbook(
        &self,
        request: Request<pb::CreatePlaybookRequest>,
    ) -> Result<pb::CreatePlaybookResponse> {
        let principal = principal(&request)?;
        principal.require(PLAYBOOK_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(p) = &req.playbook else {
            return Err(Error::Invalid(vec![Violation::new(
                "playbook",
                "is required",
            )]));
        };
        let playbook_key = v.check("playbook.playbook_key", key(&p.playbook_key));
        let product_key = v.check("playbook.product_key", key(&p.product_key));
        let scope = if p.self_success {
            Some(SELF_SUCCESS_SCOPE.to_owned())
        } else {
            v.check("playbook.tier", tier(p.tier))
        };
        let def = v.check("playbook", definition(p));
        let (Some(playbook_key), Some(product_key), Some(scope), Some(def), true) =
            (playbook_key, product_key, scope, def, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.ensure_product(&request, &product_key).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreatePlaybook", req);
        self.playbooks
            .create(
                idempotency,
                playbook_key,
                product_key,
                scope,
                def,
                &principal.subject,
            )
            .await
    }

    pub(super) async fn get_playbook(
        &self,
        request: Request<pb::GetPlaybookRequest>,
    ) -> Result<pb::GetPlaybookResponse> {
        principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let playbook_key = v.check("playbook_key", key(&req.playbook_key));
        if req.version < 0 {
            v.add("version", "must be 0 (the latest) or a version");
        }
        let (Some(playbook_key), true) = (playbook_key, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let version = (req.version > 0).then_some(req.version);
        let found = self
            .playbooks
            .get(&playbook_key, version)
            .await?
            .ok_or_else(|| {
                Error::PlaybookNotFound(match version {
                    Some(n) => format!("{playbook_key} version {n}"),
                    None => playbook_key.clone(),
                })
            })?;
        Ok(pb::GetPlaybookResponse {
            playbook: Some(playbook_to_proto(&found)),
        })
    }

    pub(super) async fn list_playbooks(
        &self,
        request: Request<pb::ListPlaybooksRequest>,
    ) -> Result<pb::ListPlaybooksResponse> {
        principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let product_key = (!req.product_key.is_empty())
            .then(|| v.check("product_key", key(&req.product_key)))
            .flatten();
        let after = v
            .check(
                "",
                page_token::decode::<String>(&req.page_token, &req.product_key),
            )
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (found, more) = self
            .playbooks
            .list(product_key.as_deref(), after, page_size)
            .await?;
        let next_page_token = match found.last() {
            Some(last) if more => page_token::encode(&last.key, &req.product_key),
            _ => String::new(),
        };
        Ok(pb::ListPlaybooksResponse {
            playbooks: found.iter().map(playbook_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn publish_playbook_version(
        &self,
        request: Request<pb::PublishPlaybookVersionRequest>,
    ) -> Result<pb::PublishPlaybookVersionResponse> {
        let principal = principal(&request)?;
        principal.require(PLAYBOOK_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(p) = &req.playbook else {
            return Err(Error::Invalid(vec![Violation::new(
                "playbook",
                "is required",
            )]));
        };
        let playbook_key = v.check("playbook.playbook_key", key(&p.playbook_key));
        let etag = v.check("playbook.etag", validate::etag(&p.etag)).flatten();
        let def = v.check("playbook", definition(p));
        let (Some(playbook_key), Some(def), true) = (playbook_key, def, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency =
            IdempotencyKey::new(&principal, request_id, "PublishPlaybookVersion", req);
        self.playbooks
            .publish(idempotency, &playbook_key, etag, def, &principal.subject)
            .await
    }
}
