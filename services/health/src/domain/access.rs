//! Who may do what in the health service.

use themodel_platform::auth::Role;

/// May change the feature catalogue. Every role reads it.
pub const CATALOGUE_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May send usage: collectors and the data warehouse, never partner users.
pub const USAGE_SENDERS: &[Role] = &[Role::Admin, Role::Bizops, Role::Service];

/// May create scorecards and publish their versions, change the alert
/// policy, recompute every score and import outcomes. Every role reads
/// scorecards and the policy.
pub const RULE_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May backtest scorecards.
pub const BACKTESTERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager];

/// May record sentiment and score accounts.
pub const SCORERS: &[Role] = &[Role::Admin, Role::CsManager, Role::Csm];
