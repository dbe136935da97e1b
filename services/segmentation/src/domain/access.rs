//! Who may do what with accounts. Partner users are confined to their own
//! partner's accounts: another partner's account does not exist for them.

use themodel_platform::{
    ApiError,
    auth::{Principal, Role},
};

use super::account::{Account, AccountFields};

/// Roles that may create and update accounts one at a time.
pub const WRITERS: &[Role] = &[
    Role::Admin,
    Role::Bizops,
    Role::CsManager,
    Role::Csm,
    Role::PartnerUser,
    Role::Service,
];

/// Roles that may bulk-upsert accounts (CRM sync).
pub const BULK_WRITERS: &[Role] = &[Role::Admin, Role::Bizops, Role::Service];

/// Roles that may preview tier policies.
pub const POLICY_PREVIEWERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager, Role::Service];

/// Roles that may apply tier policies: the decision is CS management's.
pub const POLICY_APPLIERS: &[Role] = &[Role::Admin, Role::CsManager];

/// Roles that may create and update CSMs.
pub const CSM_WRITERS: &[Role] = POLICY_PREVIEWERS;

/// Roles that may assign accounts to CSMs.
pub const ASSIGNERS: &[Role] = &[Role::Admin, Role::CsManager, Role::Service];

/// Roles that may approve tier overrides.
pub const OVERRIDE_APPROVERS: &[Role] = POLICY_APPLIERS;

/// Roles that may read tier policies, CSMs and books. Not partner users: a
/// policy's figures and a CSM's book span every partner's accounts.
pub const POLICY_READERS: &[Role] = &[
    Role::Admin,
    Role::Bizops,
    Role::CsManager,
    Role::Csm,
    Role::CustomerSales,
    Role::Service,
];

/// True when the caller may see `account`.
pub fn can_see(principal: &Principal, account: &Account) -> bool {
    can_see_partner(principal, account.fields.partner_id.as_deref())
}

/// True when the caller may see an account of `partner` (`None`: direct).
pub fn can_see_partner(principal: &Principal, partner: Option<&str>) -> bool {
    principal
        .partner_scope()
        .is_none_or(|own| partner == Some(own))
}

/// NOT_FOUND (never PERMISSION_DENIED, which would confirm it exists) when the
/// caller may not see `account`.
pub fn ensure_visible(principal: &Principal, account: &Account) -> Result<(), ApiError> {
    if can_see(principal, account) {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            resource: "account",
            id: account.id.clone(),
        })
    }
}

/// Confines new or changed account fields to the caller's partner: a partner
/// user's account always belongs to its partner, and a partner user never
/// sets or changes the `external_id`. That is the company CRM's id, written by
/// CRM sync; were partners to write it, whether a value is taken would tell
/// them about other partners' accounts. `current` is the account before the
/// change (`None` for a new one).
pub fn scope_fields(
    principal: &Principal,
    current: Option<&AccountFields>,
    fields: &mut AccountFields,
) -> Result<(), ApiError> {
    let Some(partner) = principal.partner_scope() else {
        return Ok(());
    };
    let current_external_id = current.and_then(|c| c.external_id.as_deref());
    if fields.external_id.as_deref() != current_external_id {
        return Err(ApiError::PermissionDenied(
            "partner users may not set or change external_id (the CRM id); CRM sync sets it".into(),
        ));
    }
    match fields.partner_id.as_deref() {
        None => {
            fields.partner_id = Some(partner.to_owned());
            Ok(())
        }
        Some(p) if p == partner => Ok(()),
        Some(_) => Err(ApiError::PermissionDenied(
            "partner users may only assign accounts to their own partner".into(),
        )),
    }
}

/// The partner a listing is confined to: the caller's own for partner users
/// (naming another is PERMISSION_DENIED), the requested one otherwise.
pub fn list_partner_filter(
    principal: &Principal,
    requested: Option<String>,
) -> Result<Option<String>, ApiError> {
    match (principal.partner_scope(), requested) {
        (None, requested) => Ok(requested),
        (Some(own), None) => Ok(Some(own.to_owned())),
        (Some(own), Some(requested)) if requested == own => Ok(Some(requested)),
        (Some(_), Some(_)) => Err(ApiError::PermissionDenied(
            "partner users may only list their own partner's accounts".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::tests::fields;

    fn partner(p: &str) -> Principal {
        Principal {
            subject: "u".into(),
            role: Role::PartnerUser,
            partner_id: Some(p.into()),
            actor: None,
        }
    }

    fn admin() -> Principal {
        Principal {
            subject: "a".into(),
            role: Role::Admin,
            partner_id: None,
            actor: None,
        }
    }

    /// Fields as a partner user sends them: without the CRM id.
    fn partner_fields() -> AccountFields {
        AccountFields {
            external_id: None,
            ..fields()
        }
    }

    #[test]
    fn partner_users_are_confined_to_their_partner() {
        let mut f = partner_fields();
        scope_fields(&partner("p1"), None, &mut f).expect("own partner");
        assert_eq!(f.partner_id.as_deref(), Some("p1"));
        let mut other = AccountFields {
            partner_id: Some("p2".into()),
            ..partner_fields()
        };
        assert!(scope_fields(&partner("p1"), None, &mut other).is_err());
        assert!(scope_fields(&admin(), None, &mut other).is_ok());
        assert_eq!(
            list_partner_filter(&partner("p1"), None)
                .ok()
                .flatten()
                .as_deref(),
            Some("p1")
        );
        assert!(list_partner_filter(&partner("p1"), Some("p2".into())).is_err());
        assert_eq!(list_partner_filter(&admin(), None).ok().flatten(), None);
    }

    #[test]
    fn partner_users_never_write_the_crm_id() {
        let with_crm_id = |id: Option<&str>| AccountFields {
            external_id: id.map(str::to_owned),
            ..partner_fields()
        };
        // Setting one on a new account, or changing or clearing one, is refused.
        assert!(scope_fields(&partner("p1"), None, &mut with_crm_id(Some("SF-1"))).is_err());
        let current = with_crm_id(Some("SF-1"));
        assert!(
            scope_fields(
                &partner("p1"),
                Some(&current),
                &mut with_crm_id(Some("SF-2"))
            )
            .is_err()
        );
        assert!(scope_fields(&partner("p1"), Some(&current), &mut with_crm_id(None)).is_err());
        // Keeping it as it is, is not a change.
        assert!(
            scope_fields(
                &partner("p1"),
                Some(&current),
                &mut with_crm_id(Some("SF-1"))
            )
            .is_ok()
        );
        assert!(scope_fields(&admin(), None, &mut with_crm_id(Some("SF-1"))).is_ok());
    }

    #[test]
    fn another_partners_account_is_not_found() {
        let account = Account {
            id: "a1".into(),
            fields: AccountFields {
                partner_id: Some("p2".into()),
                ..fields()
            },
            tier: super::super::account::Tier::Unspecified,
            create_time: chrono::Utc::now(),
            update_time: chrono::Utc::now(),
            revision: 1,
        };
        assert!(matches!(
            ensure_visible(&partner("p1"), &account),
            Err(ApiError::NotFound { .. })
        ));
        assert!(ensure_visible(&partner("p2"), &account).is_ok());
        assert!(ensure_visible(&admin(), &account).is_ok());
    }
}
