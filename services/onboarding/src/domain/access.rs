//! Who may do what in the onboarding service.

use themodel_platform::auth::Role;

/// May create playbooks and publish their versions. Every role reads them.
pub const PLAYBOOK_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May open, move and cancel plans. Every role reads them.
pub const PLAN_WRITERS: &[Role] = &[Role::Admin, Role::CsManager, Role::Csm];

/// May record usage signals: collectors, the warehouse and other services.
pub const SIGNAL_SENDERS: &[Role] = &[Role::Admin, Role::Bizops, Role::Service];

/// May read the completion report.
pub const REPORT_READERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager];
