//! Who may do what in the expansion service.

use themodel_platform::auth::Role;

/// May add products to the catalogue and change them. Every role may read it.
pub const CATALOGUE_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May record and change subscriptions: the billing or CRM sync, and the
/// customer-sales team that closes deals. Every role may read them, a
/// partner user only its own partner's.
pub const SUBSCRIPTION_WRITERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CustomerSales];

/// May raise CSQLs and hand them off: CS.
pub const CSQL_RAISERS: &[Role] = &[Role::Admin, Role::CsManager, Role::Csm];

/// May accept or reject CSQLs and win or lose their opportunities: customer
/// sales.
pub const CSQL_DECIDERS: &[Role] = &[Role::Admin, Role::CustomerSales];

/// May plan renewals, mark closing steps done and record outcomes: CS and
/// customer sales.
pub const RENEWAL_OWNERS: &[Role] = &[Role::Admin, Role::CsManager, Role::Csm, Role::CustomerSales];

/// May review a renewal's closing plan: managers.
pub const RENEWAL_REVIEWERS: &[Role] = &[Role::Admin, Role::CsManager];
