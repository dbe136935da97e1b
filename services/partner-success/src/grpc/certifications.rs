//! Handlers of the certification RPCs.

use themodel_platform::{
    Violation, Violations,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::partner_success as pb;
use tonic::Request;

use super::{Handler, optional_partner};
use crate::{
    convert::{
        certification::certification_to_proto, certification::new_certification, optional_date,
    },
    domain::access::{CERTIFIERS, scoped_partner},
    error::{Error, Result},
    store::{certifications::CertificationFilter, today},
};

impl Handler {
    pub(super) async fn record_certification(
        &self,
        request: Request<pb::RecordCertificationRequest>,
    ) -> Result<pb::RecordCertificationResponse> {
        let principal = principal(&request)?;
        principal.require(CERTIFIERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(certification) = &req.certification else {
            return Err(Error::Invalid(vec![Violation::new(
                "certification",
                "is required",
            )]));
        };
        let new = v.check("certification", new_certification(certification));
        let (Some(new), true) = (new, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordCertification", req);
        self.certifications.record(idempotency, new).await
    }

    pub(super) async fn list_certifications(
        &self,
        request: Request<pb::ListCertificationsRequest>,
    ) -> Result<pb::ListCertificationsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        let staff_id = if req.staff_id.is_empty() {
            Some(None)
        } else {
            v.check("staff_id", validate::resource_id(&req.staff_id))
                .map(Some)
        };
        let (Some(page_size), Some(named), Some(staff_id), true) =
            (page_size, named, staff_id, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let filter = CertificationFilter {
            partner_id: scoped_partner(&principal, named)?,
            staff_id,
        };
        let after = page_token::decode::<String>(&req.page_token, &filter)?;
        let (list, more) = self
            .certifications
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match list.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListCertificationsResponse {
            certifications: list.iter().map(certification_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn get_certified_headcount(
        &self,
        request: Request<pb::GetCertifiedHeadcountRequest>,
    ) -> Result<pb::GetCertifiedHeadcountResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        if principal.partner_scope().is_none() && req.partner_id.is_empty() {
            v.add("partner_id", "is required");
        }
        let day = optional_date(req.as_of.as_ref(), "as_of", &mut v);
        let (Some(named), Some(day), true) = (named, day, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let partner_id = scoped_partner(&principal, named)?.unwrap_or_default();
        let day = day.unwrap_or_else(today);
        if self.partners.get(&partner_id).await?.is_none() {
            return Err(Error::PartnerNotFound(partner_id));
        }
        let counted = self.certifications.headcount(&partner_id, day).await?;
        Ok(pb::GetCertifiedHeadcountResponse {
            partner_id,
            as_of: Some(validate::date_to_proto(day)),
            levels: counted
                .levels
                .into_iter()
                .map(|(level, staff)| pb::LevelHeadcount {
                    level,
                    staff_count: i32::try_from(staff).unwrap_or(i32::MAX),
                })
                .collect(),
            active_staff: i32::try_from(counted.active_staff).unwrap_or(i32::MAX),
        })
    }
}
