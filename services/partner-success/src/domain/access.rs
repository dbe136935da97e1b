//! Who may do what in the partner-success service.

use themodel_platform::{
    ApiError,
    auth::{Principal, Role},
};

/// May create partners and change them. Every role may read them, a partner
/// user only its own.
pub const PARTNER_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May add and change partner staff: the staff roles that manage partners,
/// and a partner user for its own partner.
pub const STAFF_WRITERS: &[Role] = &[
    Role::Admin,
    Role::Bizops,
    Role::CsManager,
    Role::PartnerUser,
];

/// May record certifications: issuing one is the company's call.
pub const CERTIFIERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager];

/// May record and end attributions: staff, and the services composing the
/// closed-won flow.
pub const ATTRIBUTION_WRITERS: &[Role] =
    &[Role::Admin, Role::Bizops, Role::CsManager, Role::Service];

/// May create and submit deals: staff for a partner, a partner user for its
/// own.
pub const DEAL_REGISTRARS: &[Role] = &[
    Role::Admin,
    Role::Bizops,
    Role::CsManager,
    Role::PartnerUser,
];

/// May approve, reject and close deals.
pub const DEAL_APPROVERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager];

/// May change the tier program, preview it and evaluate partners' tiers:
/// tiers are a commercial decision. Every role reads the program, and a
/// partner user its own partner's tier history.
pub const TIER_PROGRAM_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// Whether `principal` may see partner `partner_id`: a partner user sees its
/// own partner alone.
pub fn can_see(principal: &Principal, partner_id: &str) -> bool {
    principal
        .partner_scope()
        .is_none_or(|own| own == partner_id)
}

/// The partner a request names, as the caller may use it: a partner user's
/// own when it names none, PERMISSION_DENIED when it names another. `None`
/// for staff naming none (every partner).
pub fn scoped_partner(
    principal: &Principal,
    named: Option<String>,
) -> Result<Option<String>, ApiError> {
    match (principal.partner_scope(), named) {
        (Some(own), Some(named)) if named != own => Err(ApiError::PermissionDenied(format!(
            "a partner user may only name its own partner {own:?}"
        ))),
        (Some(own), _) => Ok(Some(own.to_owned())),
        (None, named) => Ok(named),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, partner: Option<&str>) -> Principal {
        Principal {
            subject: "u".into(),
            role,
            partner_id: partner.map(str::to_owned),
            actor: None,
        }
    }

    #[test]
    fn a_partner_user_is_held_to_its_own_partner() {
        let p1 = principal(Role::PartnerUser, Some("p-1"));
        assert_eq!(scoped_partner(&p1, None).ok(), Some(Some("p-1".into())));
        assert_eq!(
            scoped_partner(&p1, Some("p-1".into())).ok(),
            Some(Some("p-1".into()))
        );
        assert!(matches!(
            scoped_partner(&p1, Some("p-2".into())),
            Err(ApiError::PermissionDenied(_))
        ));
        let admin = principal(Role::Admin, None);
        assert_eq!(scoped_partner(&admin, None).ok(), Some(None));
        assert_eq!(
            scoped_partner(&admin, Some("p-2".into())).ok(),
            Some(Some("p-2".into()))
        );
        assert!(can_see(&admin, "p-2") && can_see(&p1, "p-1") && !can_see(&p1, "p-2"));
    }
}
