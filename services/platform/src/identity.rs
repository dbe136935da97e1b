//! A service's identity for the calls it makes to other services.
//!
//! - As itself (periodic work, event consumers): a short-lived `service` token
//!   with subject `service:<name>`, signed with the service's own key and
//!   minted afresh shortly before it expires.
//! - For a user (a request that fans out): a delegated token with the user's
//!   subject, role and partner, and the service as actor (RFC 8693 `act`). It
//!   is built from the caller's principal alone, so the scope travels with the
//!   call and can only be the user's own: a partner user's fan-out stays
//!   confined to that partner in every service it reaches. It expires no later
//!   than the user's own token.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::auth::{Principal, Role, TokenIssuer};

/// Lifetime of a service's own token.
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);
/// A cached token is replaced when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// Longest lifetime of a delegated token.
const DELEGATED_TOKEN_TTL: Duration = Duration::from_secs(300);

/// Mints the tokens a service calls other services with.
pub struct ServiceIdentity {
    name: &'static str,
    issuer: Arc<TokenIssuer>,
    /// The current service token and its `exp`.
    cached: Mutex<Option<(String, u64)>>,
}

impl std::fmt::Debug for ServiceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceIdentity")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ServiceIdentity {
    pub(crate) fn new(name: &'static str, issuer: Arc<TokenIssuer>) -> Self {
        Self {
            name,
            issuer,
            cached: Mutex::new(None),
        }
    }

    /// The subject of this service's own tokens, and its name as an actor.
    pub fn subject(&self) -> String {
        format!("service:{}", self.name)
    }

    /// A bearer token for a call this service makes as itself.
    pub fn token(&self) -> anyhow::Result<String> {
        let now = unix_now();
        if let Ok(cached) = self.cached.lock()
            && let Some((token, exp)) = cached.as_ref()
            && now + RENEW_BEFORE.as_secs() < *exp
        {
            return Ok(token.clone());
        }
        let token = self
            .issuer
            .mint(&self.subject(), Role::Service, None, SERVICE_TOKEN_TTL)?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((token.clone(), now + SERVICE_TOKEN_TTL.as_secs()));
        }
        Ok(token)
    }

    /// A bearer token for a call this service makes on behalf of `principal`,
    /// whose own token is accepted until `valid_until` (Unix seconds). A
    /// service caller is served as this service itself.
    pub fn token_for(&self, principal: &Principal, valid_until: u64) -> anyhow::Result<String> {
        if principal.role == Role::Service {
            return self.token();
        }
        let now = unix_now();
        anyhow::ensure!(valid_until > now, "the caller's token has expired");
        let exp = valid_until.min(now + DELEGATED_TOKEN_TTL.as_secs());
        self.issuer.mint_delegated(principal, &self.subject(), exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Keys;

    fn keys() -> Keys {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::auth::AuthConfig {
            auth_key_file: dir.path().join("key.pem"),
            ..Default::default()
        };
        Keys::load(&config).expect("keys")
    }

    fn partner_user() -> Principal {
        Principal {
            subject: "user-7".into(),
            role: Role::PartnerUser,
            partner_id: Some("p-1".into()),
            actor: None,
        }
    }

    #[test]
    fn a_service_calls_as_itself_with_a_short_lived_cached_token() {
        let keys = keys();
        let identity = keys.service_identity("onboarding").expect("identity");
        let token = identity.token().expect("token");
        assert_eq!(identity.token().expect("cached"), token);
        let principal = keys.authenticator.verify(&token).expect("valid");
        assert_eq!(principal.role, Role::Service);
        assert_eq!(principal.subject, "service:onboarding");
        assert_eq!(principal.actor, None);
    }

    #[test]
    fn a_delegated_token_carries_the_users_scope_and_no_more() {
        let keys = keys();
        let identity = keys.service_identity("onboarding").expect("identity");
        let user = partner_user();
        let token = identity
            .token_for(&user, unix_now() + 3600)
            .expect("delegated");
        let (principal, valid_until) = keys.authenticator.verify_until(&token).expect("valid");
        assert_eq!(principal.subject, "user-7");
        assert_eq!(principal.role, Role::PartnerUser);
        assert_eq!(principal.partner_scope(), Some("p-1"));
        assert_eq!(principal.actor.as_deref(), Some("service:onboarding"));
        // Never longer than the user's own token.
        let soon = unix_now() + 10;
        let token = identity.token_for(&user, soon).expect("delegated");
        let (_, until) = keys.authenticator.verify_until(&token).expect("valid");
        assert!(until <= soon + 30, "{until} > {soon}");
        assert!(valid_until > until);
        assert!(identity.token_for(&user, unix_now() - 1).is_err());
    }
}
