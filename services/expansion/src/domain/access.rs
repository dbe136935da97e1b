//! Who may do what in the expansion service.

use themodel_platform::auth::Role;

/// May add products to the catalogue and change them. Every role may read it.
pub const CATALOGUE_WRITERS: &[Role] = &[Role::Admin, Role::Bizops];
