//! Who may do what in the expansion service.

use themodel_platform::auth::Role;

/// May add products to the catalogue and change them. Every role may read it.
pub const CATALOGUE_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May record and change subscriptions: the billing or CRM sync, and the
/// customer-sales team that closes deals. Every role may read them, a
/// partner user only its own partner's.
pub const SUBSCRIPTION_WRITERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CustomerSales];
