//! Who may do what in the partner-success service.

use themodel_platform::auth::{Principal, Role};

/// May create partners and change them. Every role may read them, a partner
/// user only its own.
pub const PARTNER_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// Whether `principal` may see partner `partner_id`: a partner user sees its
/// own partner alone.
pub fn can_see(principal: &Principal, partner_id: &str) -> bool {
    principal
        .partner_scope()
        .is_none_or(|own| own == partner_id)
}
