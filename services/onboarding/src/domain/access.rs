//! Who may do what in the onboarding service.

use themodel_platform::auth::Role;

/// May create playbooks and publish their versions. Every role reads them.
pub const PLAYBOOK_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];

/// May open, move and cancel plans. Every role reads them.
pub const PLAN_WRITERS: &[Role] = &[Role::Admin, Role::CsManager, Role::Csm];

/// May record usage signals: collectors, the warehouse and other services.
pub const SIGNAL_SENDERS: &[Role] = &[Role::Admin, Role::Bizops, Role::Service];

/// May read the reports, check for stalls and forecast capacity.
pub const REPORT_READERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager];

/// May read the completion report: the report readers, and other services
/// (partner success builds its partner scorecards from it).
pub const COMPLETION_READERS: &[Role] =
    &[Role::Admin, Role::Bizops, Role::CsManager, Role::Service];
