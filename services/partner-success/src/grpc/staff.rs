//! Handlers of the partner staff RPCs.

use themodel_platform::{
    ApiError, Violation, Violations,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::partner_success as pb;
use tonic::Request;

use super::{Handler, optional_partner, resource_id};
use crate::{
    convert::staff::{apply_staff_mask, staff_fields_from_proto, staff_mask_paths, staff_to_proto},
    domain::{
        access::{STAFF_WRITERS, can_see, scoped_partner},
        staff::StaffStatus,
    },
    error::{Error, Result},
    store::staff::StaffFilter,
};

/// PERMISSION_DENIED: a partner user never writes the CRM's id.
fn no_external_id() -> Error {
    Error::Api(ApiError::PermissionDenied(
        "a partner user may not set external_id: it is the company CRM's id".into(),
    ))
}

impl Handler {
    pub(super) async fn create_partner_staff(
        &self,
        request: Request<pb::CreatePartnerStaffRequest>,
    ) -> Result<pb::CreatePartnerStaffResponse> {
        let principal = principal(&request)?;
        principal.require(STAFF_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(staff) = &req.staff else {
            return Err(Error::Invalid(vec![Violation::new("staff", "is required")]));
        };
        let named = optional_partner(&staff.partner_id, "staff.partner_id", &mut v);
        if principal.partner_scope().is_none() && staff.partner_id.is_empty() {
            v.add("staff.partner_id", "is required");
        }
        // A new staff member is active unless told otherwise.
        let mut staff = staff.clone();
        if staff.status == StaffStatus::Unspecified as i32 {
            staff.status = StaffStatus::Active as i32;
        }
        let fields = v.check("staff", staff_fields_from_proto(&staff));
        let (Some(named), Some(fields), true) = (named, fields, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let partner_id = scoped_partner(&principal, named)?.unwrap_or_default();
        if principal.partner_scope().is_some() && fields.external_id.is_some() {
            return Err(no_external_id());
        }
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreatePartnerStaff", req);
        self.staff.create(idempotency, partner_id, fields).await
    }

    pub(super) async fn get_partner_staff(
        &self,
        request: Request<pb::GetPartnerStaffRequest>,
    ) -> Result<pb::GetPartnerStaffResponse> {
        let principal = principal(&request)?;
        let id = resource_id(&request.get_ref().id, "id")?;
        let staff = self
            .staff
            .get(&id)
            .await?
            .filter(|s| can_see(&principal, &s.partner_id))
            .ok_or(Error::NotFound {
                resource: "staff",
                id,
            })?;
        Ok(pb::GetPartnerStaffResponse {
            staff: Some(staff_to_proto(&staff)),
        })
    }

    pub(super) async fn list_partner_staff(
        &self,
        request: Request<pb::ListPartnerStaffRequest>,
    ) -> Result<pb::ListPartnerStaffResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        let status = v.check("status", validate::known_enum::<StaffStatus>(req.status));
        let (Some(page_size), Some(named), Some(status), true) =
            (page_size, named, status, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let filter = StaffFilter {
            partner_id: scoped_partner(&principal, named)?,
            status: (status != StaffStatus::Unspecified).then_some(status as i32),
        };
        let after = page_token::decode::<String>(&req.page_token, &filter)?;
        let (staff, more) = self
            .staff
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match staff.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListPartnerStaffResponse {
            staff: staff.iter().map(staff_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_partner_staff(
        &self,
        request: Request<pb::UpdatePartnerStaffRequest>,
    ) -> Result<pb::UpdatePartnerStaffResponse> {
        let principal = principal(&request)?;
        principal.require(STAFF_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.staff else {
            return Err(Error::Invalid(vec![Violation::new("staff", "is required")]));
        };
        let id = v.check("staff.id", validate::resource_id(&patch.id));
        let etag = v.check("staff.etag", validate::etag(&patch.etag)).flatten();
        let paths = v.check("", staff_mask_paths(req.update_mask.as_ref()));
        let (Some(id), Some(paths), true) = (id, paths, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        if principal.partner_scope().is_some() && paths.contains(&"external_id") {
            return Err(no_external_id());
        }
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdatePartnerStaff", req);
        self.staff
            .update(
                idempotency,
                &id,
                principal.partner_scope(),
                etag,
                |current| {
                    let mut merged = staff_to_proto(current);
                    apply_staff_mask(&mut merged, patch, &paths);
                    staff_fields_from_proto(&merged).map_err(|vs| {
                        Error::Invalid(vs.into_iter().map(|v| v.prefixed("staff")).collect())
                    })
                },
            )
            .await
    }
}
