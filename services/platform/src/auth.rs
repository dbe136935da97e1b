//! Authentication and the caller's identity.
//!
//! Callers send `authorization: Bearer <JWT>`. Tokens are EdDSA (Ed25519) or
//! ES256, verified against a public key file; locally a dev Ed25519 key pair is
//! generated on first run so that `themodel token` can mint tokens. Every
//! service verifies the token itself (the gateway checks too, but no service
//! relies on it) and decides what the [`Principal`] may do.

use std::{
    collections::HashSet,
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
pub use crate::identity::ServiceIdentity;

/// What a caller is. Each service decides what each role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum Role {
    /// Operates the suite; may do everything.
    Admin,
    /// Business operations: integration, data and KPIs across the flow.
    Bizops,
    /// Manages CS teams and policies.
    CsManager,
    /// Works a book of accounts.
    Csm,
    /// Post-sales team that works expansion opportunities.
    CustomerSales,
    /// A partner's user; sees only its own partner's data.
    PartnerUser,
    /// Another service of the suite or of the company.
    Service,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Role::Admin => "admin",
            Role::Bizops => "bizops",
            Role::CsManager => "cs_manager",
            Role::Csm => "csm",
            Role::CustomerSales => "customer_sales",
            Role::PartnerUser => "partner_user",
            Role::Service => "service",
        };
        f.write_str(name)
    }
}

/// The authenticated caller of a request, put in the request extensions by
/// [`AuthLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject (a user or service id).
    pub subject: String,
    /// The caller's role.
    pub role: Role,
    /// The caller's partner; set exactly when the role is `partner_user`.
    pub partner_id: Option<String>,
    /// The service of the suite making the call on the subject's behalf
    /// (RFC 8693 `act`), when the call comes from a service acting for a user.
    pub actor: Option<String>,
}

impl Principal {
    /// PERMISSION_DENIED unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(format!(
                "role {} may not do this; allowed: {}",
                self.role,
                roles
                    .iter()
                    .map(Role::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// The partner the caller is confined to, if any.
    pub fn partner_scope(&self) -> Option<&str> {
        self.partner_id.as_deref()
    }

    /// The principal of a request, as put there by [`AuthLayer`].
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Principal, ApiError> {
        request
            .extensions()
            .get::<Principal>()
            .ok_or_else(|| ApiError::Unauthenticated("missing bearer token".into()))
    }
}

/// The JWT claims the suite issues and accepts.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner_id: Option<String>,
    iss: String,
    aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    exp: u64,
    /// The acting party of a delegated token (RFC 8693 section 4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    act: Option<Actor>,
}

/// RFC 8693 `act`: who acts for the subject. A chain of actors (a nested
/// `act`) is not accepted.
#[derive(Debug, Serialize, Deserialize)]
struct Actor {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    act: Option<serde_json::Value>,
}

/// Where keys come from and which tokens are accepted.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// PEM key file. A private Ed25519 key (PKCS#8) both verifies and mints
    /// tokens; a public key (SPKI, Ed25519 or P-256) only verifies.
    #[arg(
        long,
        env = "AUTH_KEY_FILE",
        default_value = "data/dev-signing-key.pem"
    )]
    pub auth_key_file: PathBuf,
    /// Generate a dev Ed25519 key pair at AUTH_KEY_FILE when it does not exist.
    /// Turn off in production so a missing key is an error.
    #[arg(long, env = "AUTH_GENERATE_DEV_KEY", default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_generate_dev_key: bool,
    /// Required `iss` claim.
    #[arg(long, env = "AUTH_ISSUER", default_value = "themodel-dev")]
    pub auth_issuer: String,
    /// Required `aud` claim.
    #[arg(long, env = "AUTH_AUDIENCE", default_value = "themodel")]
    pub auth_audience: String,
    /// Longest token lifetime accepted, in seconds (`exp - iat`, or `exp - now`
    /// for a token without `iat`); longer-lived tokens are refused.
    #[arg(long, env = "AUTH_MAX_TOKEN_LIFETIME_SECS", default_value_t = 86_400)]
    pub auth_max_token_lifetime_secs: u64,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "AUTH_CLOCK_LEEWAY_SECS", default_value_t = 30)]
    pub auth_clock_leeway_secs: u64,
    /// This service's own private Ed25519 key (PKCS#8 PEM), with which it signs
    /// the short-lived tokens of the calls it makes to other services. Unset:
    /// AUTH_KEY_FILE, when that holds a private key (the dev setup).
    #[arg(long, env = "SERVICE_KEY_FILE")]
    pub service_key_file: Option<PathBuf>,
    /// Public keys (PEM files, comma-separated) of the suite's services: the
    /// tokens they sign are accepted, as a service's own or as a service's
    /// acting for a user, never as a plain user's.
    #[arg(long, env = "AUTH_SERVICE_PUBLIC_KEYS", value_delimiter = ',')]
    pub auth_service_public_keys: Vec<PathBuf>,
}

impl Default for AuthConfig {
    /// The local defaults: a dev key under `data/`, generated when missing.
    fn default() -> Self {
        Self {
            auth_key_file: PathBuf::from("data/dev-signing-key.pem"),
            auth_generate_dev_key: true,
            auth_issuer: "themodel-dev".into(),
            auth_audience: "themodel".into(),
            auth_max_token_lifetime_secs: 86_400,
            auth_clock_leeway_secs: 30,
            service_key_file: None,
            auth_service_public_keys: Vec::new(),
        }
    }
}

/// Which tokens are accepted, besides a valid signature.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Longest lifetime accepted.
    pub max_lifetime: Duration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

impl From<&AuthConfig> for TokenPolicy {
    fn from(config: &AuthConfig) -> Self {
        Self {
            issuer: config.auth_issuer.clone(),
            audience: config.auth_audience.clone(),
            max_lifetime: Duration::from_secs(config.auth_max_token_lifetime_secs),
            leeway: Duration::from_secs(config.auth_clock_leeway_secs),
        }
    }
}

/// Longest `authorization` value read; a longer one is refused unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Most verified tokens remembered; the cache is emptied when it is full.
const VERIFIED_CACHE_SIZE: usize = 10_000;

/// Verifies bearer tokens.
///
/// A signature check costs tens of microseconds, more than the rest of a
/// simple call, and a client sends the same token on every call until it
/// expires. Tokens that verified are therefore remembered (keyed by their
/// exact text, so any change to a token is checked afresh) until their `exp`.
pub struct Authenticator {
    verifiers: Vec<Verifier>,
    leeway: u64,
    max_lifetime: u64,
    verified: std::sync::RwLock<std::collections::HashMap<String, (Principal, u64)>>,
}

/// One key tokens may be signed with.
struct Verifier {
    key: DecodingKey,
    validation: Validation,
    /// A service's key: its tokens are a service's own or delegated ones.
    service_only: bool,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

/// Mints tokens with a private key (the dev key, or a service's own).
pub struct TokenIssuer {
    key: EncodingKey,
    /// The public key, PEM.
    verifying: String,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The keys loaded from [`AuthConfig`].
#[derive(Debug, Clone)]
pub struct Keys {
    /// Verifies tokens.
    pub authenticator: Arc<Authenticator>,
    /// Mints tokens; only when AUTH_KEY_FILE holds a private key.
    pub issuer: Option<Arc<TokenIssuer>>,
    /// Signs this service's own tokens (SERVICE_KEY_FILE, else `issuer`).
    service_issuer: Option<Arc<TokenIssuer>>,
}

impl Keys {
    /// Loads the key file, generating a dev key pair first when allowed.
    pub fn load(config: &AuthConfig) -> anyhow::Result<Keys> {
        let path = &config.auth_key_file;
        if !path.exists() {
            anyhow::ensure!(
                config.auth_generate_dev_key,
                "auth key file {} does not exist (and AUTH_GENERATE_DEV_KEY is false)",
                path.display()
            );
            generate_dev_key(path)?;
        }
        let pem = std::fs::read(path)
            .with_context(|| format!("reading auth key file {}", path.display()))?;
        let policy = TokenPolicy::from(config);
        let mut keys = Self::from_pem(&pem, &policy)
            .with_context(|| format!("AUTH_KEY_FILE {}", path.display()))?;
        let mut service_keys = Vec::new();
        for path in &config.auth_service_public_keys {
            let pem = std::fs::read(path)
                .with_context(|| format!("AUTH_SERVICE_PUBLIC_KEYS: reading {}", path.display()))?;
            service_keys.push(
                public_key(&pem, &policy)
                    .with_context(|| format!("AUTH_SERVICE_PUBLIC_KEYS: {}", path.display()))?,
            );
        }
        // Just built, so not shared yet.
        if let Some(authenticator) = Arc::get_mut(&mut keys.authenticator) {
            authenticator
                .verifiers
                .extend(service_keys.into_iter().map(|(key, validation)| Verifier {
                    key,
                    validation,
                    service_only: true,
                }));
        }
        keys.service_issuer = match &config.service_key_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("SERVICE_KEY_FILE: reading {}", path.display()))?;
                Some(Arc::new(
                    TokenIssuer::from_private_pem(&pem, &policy)
                        .with_context(|| format!("SERVICE_KEY_FILE: {}", path.display()))?,
                ))
            }
            None => keys.issuer.clone(),
        };
        Ok(keys)
    }

    /// Builds the keys from a PEM private (Ed25519) or public (Ed25519, P-256) key.
    pub fn from_pem(pem: &[u8], policy: &TokenPolicy) -> anyhow::Result<Keys> {
        let text = std::str::from_utf8(pem).context("key file is not PEM text")?;
        let issuer = if text.contains("PRIVATE KEY") {
            Some(Arc::new(TokenIssuer::from_private_pem(pem, policy)?))
        } else {
            None
        };
        let (key, validation) = match &issuer {
            Some(issuer) => (
                issuer.verifying_key()?,
                validation(Algorithm::EdDSA, policy),
            ),
            None => public_key(pem, policy)?,
        };
        Ok(Keys {
            authenticator: Arc::new(Authenticator::new(key, validation, policy)),
            service_issuer: issuer.clone(),
            issuer,
        })
    }

    /// This service's identity for the calls it makes to others: `name`
    /// signing with SERVICE_KEY_FILE (or the private AUTH_KEY_FILE).
    pub fn service_identity(&self, name: &'static str) -> anyhow::Result<ServiceIdentity> {
        let issuer = self.service_issuer.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "{name} needs a private key to call other services: set SERVICE_KEY_FILE"
            )
        })?;
        Ok(ServiceIdentity::new(name, issuer))
    }
}

/// What a token signed with `alg` must satisfy besides its signature.
fn validation(alg: Algorithm, policy: &TokenPolicy) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[policy.issuer.as_str()]);
    v.set_audience(&[policy.audience.as_str()]);
    v.required_spec_claims = HashSet::from(["exp", "iss", "aud", "sub"].map(String::from));
    v.validate_nbf = true;
    v.leeway = policy.leeway.as_secs();
    v
}

/// A public key (Ed25519 or P-256) and the validation of its tokens.
fn public_key(pem: &[u8], policy: &TokenPolicy) -> anyhow::Result<(DecodingKey, Validation)> {
    match DecodingKey::from_ed_pem(pem) {
        Ok(key) => Ok((key, validation(Algorithm::EdDSA, policy))),
        Err(_) => Ok((
            DecodingKey::from_ec_pem(pem).context("neither an Ed25519 nor a P-256 public key")?,
            validation(Algorithm::ES256, policy),
        )),
    }
}

/// Writes a new Ed25519 private key, readable by the owner only.
fn generate_dev_key(path: &Path) -> anyhow::Result<()> {
    let seed: [u8; 32] = rand::random();
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding dev key: {e}"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write a unique temporary file, then link it into place: linking fails
    // when the key already exists, so among processes or threads starting
    // together exactly one key wins and nobody reads a half-written one.
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7()));
    std::fs::write(&tmp, pem.as_bytes()).with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => tracing::info!(path = %path.display(), "generated a dev signing key"),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err).with_context(|| format!("writing {}", path.display())),
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Authenticator {
    fn new(key: DecodingKey, validation: Validation, policy: &TokenPolicy) -> Self {
        Self {
            verifiers: vec![Verifier {
                key,
                validation,
                service_only: false,
            }],
            leeway: policy.leeway.as_secs(),
            max_lifetime: policy.max_lifetime.as_secs(),
            verified: Default::default(),
        }
    }

    /// Verifies a bearer token and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// Verifies a bearer token; returns its principal and the Unix second after
    /// which it is no longer accepted (`exp` plus the leeway).
    pub fn verify_until(&self, token: &str) -> Result<(Principal, u64), ApiError> {
        let now = unix_now();
        let valid_until = |exp: u64| exp.saturating_add(self.leeway);
        if let Ok(cache) = self.verified.read()
            && let Some((principal, exp)) = cache.get(token).filter(|(_, exp)| now < *exp)
        {
            return Ok((principal.clone(), valid_until(*exp)));
        }
        let (principal, exp) = self.verify_signature(token, now).map_err(|refusal| {
            // The caller learns the short reason; the log keeps the detail.
            tracing::info!(reason = refusal.reason, detail = %refusal.detail, "bearer token refused");
            ApiError::Unauthenticated(format!("invalid bearer token: {}", refusal.reason))
        })?;
        if let Ok(mut cache) = self.verified.write() {
            if cache.len() >= VERIFIED_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(token.to_owned(), (principal.clone(), exp));
        }
        Ok((principal, valid_until(exp)))
    }

    fn verify_signature(&self, token: &str, now: u64) -> Result<(Principal, u64), Refusal> {
        use jsonwebtoken::errors::ErrorKind;
        // The first key whose signature matches decides; a token no key signed
        // is refused with the first key's answer.
        let mut decoded = None;
        for verifier in &self.verifiers {
            match jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation) {
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm
                    ) =>
                {
                    decoded.get_or_insert((Err(e), verifier.service_only));
                }
                result => {
                    decoded = Some((result, verifier.service_only));
                    break;
                }
            }
        }
        let (decoded, service_only) =
            decoded.ok_or_else(|| Refusal::new("no key configured", "no verifier"))?;
        let data = decoded.map_err(|e| {
            let reason = match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not valid yet (nbf)",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    "algorithm not accepted"
                }
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "malformed",
            };
            Refusal::new(reason, e)
        })?;
        // No extension is understood, so a token that marks one critical
        // (RFC 7515 section 4.1.11) must be refused.
        if let Some(crit) = &data.header.crit {
            return Err(Refusal::new(
                "critical header extensions are not supported",
                format!("crit: {crit:?}"),
            ));
        }
        let claims = data.claims;
        let issued = claims.iat.unwrap_or(now);
        if claims.exp.saturating_sub(issued) > self.max_lifetime {
            return Err(Refusal::new(
                "lifetime exceeds the maximum accepted",
                format!(
                    "exp - iat = {} s, maximum {} s",
                    claims.exp.saturating_sub(issued),
                    self.max_lifetime
                ),
            ));
        }
        let exp = claims.exp;
        let actor = match claims.act {
            None => None,
            Some(Actor { act: Some(_), .. }) => {
                return Err(Refusal::new(
                    "chained actors are not accepted",
                    "nested act",
                ));
            }
            Some(Actor { sub, .. }) if sub.is_empty() || claims.role == Role::Service => {
                return Err(Refusal::new(
                    "a delegated token needs an actor and a user's role",
                    format!("act.sub {sub:?}, role {}", claims.role),
                ));
            }
            Some(Actor { sub, .. }) => Some(sub),
        };
        if service_only && actor.is_none() && claims.role != Role::Service {
            return Err(Refusal::new(
                "a service's key signs only service and delegated tokens",
                format!("role {} without act", claims.role),
            ));
        }
        let principal = match (claims.role, &claims.partner_id) {
            (Role::PartnerUser, None) => Err(Refusal::new(
                "partner_user without partner_id",
                "missing partner_id",
            )),
            (Role::PartnerUser, Some(p)) if p.is_empty() => {
                Err(Refusal::new("empty partner_id", "empty partner_id"))
            }
            (role, Some(_)) if role != Role::PartnerUser => Err(Refusal::new(
                "partner_id on a non-partner role",
                format!("role {role}"),
            )),
            _ => Ok(Principal {
                subject: claims.sub,
                role: claims.role,
                partner_id: claims.partner_id,
                actor,
            }),
        }?;
        Ok((principal, exp))
    }

    /// Verifies the `authorization` header of a request (`Bearer <token>`, the
    /// scheme in any case, RFC 7235); returns the principal and the Unix second
    /// after which the token is no longer accepted.
    pub fn verify_header(&self, headers: &http::HeaderMap) -> Result<(Principal, u64), ApiError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthenticated("missing bearer token".into()))?;
        if value.len() > MAX_TOKEN_LEN {
            return Err(ApiError::Unauthenticated(format!(
                "authorization is longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthenticated("authorization must be \"Bearer <token>\"".into())
            })?;
        self.verify_until(token)
    }
}

/// Why a token was refused: a short reason for the caller, the detail for the log.
struct Refusal {
    reason: &'static str,
    detail: String,
}

impl Refusal {
    fn new(reason: &'static str, detail: impl fmt::Display) -> Self {
        Self {
            reason,
            detail: detail.to_string(),
        }
    }
}

impl TokenIssuer {
    /// An issuer signing with a private Ed25519 key (PKCS#8 PEM).
    fn from_private_pem(pem: &[u8], policy: &TokenPolicy) -> anyhow::Result<Self> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let text = std::str::from_utf8(pem).context("key file is not PEM text")?;
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 private key: {e}"))?;
        Ok(Self {
            key: EncodingKey::from_ed_pem(pem)?,
            verifying: signing
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("encoding public key: {e}"))?,
            issuer: policy.issuer.clone(),
            audience: policy.audience.clone(),
        })
    }

    /// The public half of the key, for verifying what this issuer signs.
    fn verifying_key(&self) -> anyhow::Result<DecodingKey> {
        Ok(DecodingKey::from_ed_pem(self.verifying.as_bytes())?)
    }

    /// Signs arbitrary claims with an EdDSA header changed by `header`: tokens
    /// a well-behaved issuer would not mint, for tests of their refusal.
    #[cfg(feature = "testing")]
    pub fn sign_raw(
        &self,
        header: impl FnOnce(&mut Header),
        claims: &serde_json::Value,
    ) -> anyhow::Result<String> {
        let mut h = Header::new(Algorithm::EdDSA);
        header(&mut h);
        Ok(jsonwebtoken::encode(&h, claims, &self.key)?)
    }

    /// Mints a token for `subject` with `role` (and `partner_id` for partner users).
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        partner_id: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        anyhow::ensure!(
            (role == Role::PartnerUser) == partner_id.is_some(),
            "a partner id is required for partner_user and not allowed for other roles"
        );
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        self.sign(Claims {
            sub: subject.to_owned(),
            role,
            partner_id: partner_id.map(str::to_owned),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: Some(now),
            nbf: None,
            exp: now + ttl.as_secs(),
            act: None,
        })
    }

    /// Mints a token for `principal` (its subject, role and partner, nothing
    /// wider) with `actor` acting for it, expiring at `exp`.
    pub(crate) fn mint_delegated(
        &self,
        principal: &Principal,
        actor: &str,
        exp: u64,
    ) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        self.sign(Claims {
            sub: principal.subject.clone(),
            role: principal.role,
            partner_id: principal.partner_id.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: Some(now),
            nbf: None,
            exp,
            act: Some(Actor {
                sub: actor.to_owned(),
                act: None,
            }),
        })
    }

    fn sign(&self, claims: Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &self.key,
        )?)
    }
}

/// The Unix second after which the caller's token is no longer accepted; put
/// in the request extensions next to the [`Principal`], so that a stream can
/// end when its token does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpiry(pub u64);

/// gRPC paths that need no token: health checks and reflection.
pub fn is_public_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The gate that verifies the bearer token of every non-public call and puts
/// the [`Principal`] and its [`TokenExpiry`] in the request extensions;
/// UNAUTHENTICATED otherwise.
#[derive(Clone)]
pub struct Authenticate {
    authenticator: Arc<Authenticator>,
    domain: &'static str,
}

impl Authenticate {
    /// Verifies with `authenticator`; errors carry ErrorInfo in `domain`.
    pub fn new(authenticator: Arc<Authenticator>, domain: &'static str) -> Self {
        Self {
            authenticator,
            domain,
        }
    }
}

impl crate::gate::Gate for Authenticate {
    type Pass = ();

    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<(), crate::gate::Response> {
        if is_public_path(request.uri().path()) {
            return Ok(());
        }
        let (principal, valid_until) = self
            .authenticator
            .verify_header(request.headers())
            .map_err(|err| err.into_status(self.domain).into_http())?;
        request.extensions_mut().insert(principal);
        request.extensions_mut().insert(TokenExpiry(valid_until));
        Ok(())
    }
}

/// The caller of `request`, owned, for a handler that keeps it across awaits.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, ApiError> {
    Principal::of(request).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        generate_dev_key(&path).expect("generate");
        let pem = std::fs::read(&path).expect("read");
        Keys::from_pem(&pem, &policy()).expect("keys")
    }

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: "iss".into(),
            audience: "aud".into(),
            max_lifetime: Duration::from_secs(3600),
            leeway: Duration::from_secs(30),
        }
    }

    /// Signs arbitrary claims (and header) with the key of `keys`.
    fn sign(keys: &Keys, header: Header, claims: serde_json::Value) -> String {
        let issuer = keys.issuer.as_ref().expect("issuer");
        jsonwebtoken::encode(&header, &claims, &issuer.key).expect("sign")
    }

    fn claims(extra: serde_json::Value) -> serde_json::Value {
        let now = unix_now();
        let mut claims = serde_json::json!({
            "sub": "u1", "role": "admin", "iss": "iss", "aud": "aud",
            "iat": now, "exp": now + 600,
        });
        if let (Some(base), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        claims
    }

    fn refusal(keys: &Keys, token: &str) -> String {
        match keys.authenticator.verify(token) {
            Err(ApiError::Unauthenticated(message)) => message,
            other => panic!("expected UNAUTHENTICATED, got {other:?}"),
        }
    }

    #[test]
    fn tokens_not_valid_yet_are_refused() {
        let keys = keys();
        let later = unix_now() + 300;
        let token = sign(
            &keys,
            Header::new(Algorithm::EdDSA),
            claims(serde_json::json!({"nbf": later})),
        );
        assert!(refusal(&keys, &token).contains("not valid yet"));
        let now = sign(
            &keys,
            Header::new(Algorithm::EdDSA),
            claims(serde_json::json!({"nbf": unix_now()})),
        );
        assert!(keys.authenticator.verify(&now).is_ok());
    }

    #[test]
    fn critical_header_extensions_are_refused() {
        let keys = keys();
        let mut header = Header::new(Algorithm::EdDSA);
        header.crit = Some(vec!["exp-ext".into()]);
        let token = sign(&keys, header, claims(serde_json::json!({})));
        assert!(refusal(&keys, &token).contains("critical"));
    }

    #[test]
    fn tokens_living_longer_than_the_maximum_are_refused() {
        let keys = keys();
        let now = unix_now();
        let century = sign(
            &keys,
            Header::new(Algorithm::EdDSA),
            claims(serde_json::json!({"exp": now + 100 * 365 * 86_400})),
        );
        assert!(refusal(&keys, &century).contains("lifetime"));
        // Without iat the lifetime counts from now.
        let mut no_iat = claims(serde_json::json!({"exp": now + 7200}));
        no_iat.as_object_mut().map(|c| c.remove("iat"));
        let no_iat = sign(&keys, Header::new(Algorithm::EdDSA), no_iat);
        assert!(refusal(&keys, &no_iat).contains("lifetime"));
        let within = sign(
            &keys,
            Header::new(Algorithm::EdDSA),
            claims(serde_json::json!({"exp": now + 3000})),
        );
        assert!(keys.authenticator.verify(&within).is_ok());
    }

    #[test]
    fn delegated_tokens_need_one_actor_and_a_users_role() {
        let keys = keys();
        let header = || Header::new(Algorithm::EdDSA);
        let ok = sign(
            &keys,
            header(),
            claims(serde_json::json!({"role": "csm", "act": {"sub": "service:health"}})),
        );
        let principal = keys.authenticator.verify(&ok).expect("delegated");
        assert_eq!(principal.actor.as_deref(), Some("service:health"));
        for bad in [
            serde_json::json!({"act": {"sub": "service:a", "act": {"sub": "service:b"}}}),
            serde_json::json!({"role": "service", "act": {"sub": "service:a"}}),
            serde_json::json!({"act": {"sub": ""}}),
        ] {
            let token = sign(&keys, header(), claims(bad));
            assert!(keys.authenticator.verify(&token).is_err());
        }
    }

    #[test]
    fn refusals_are_short_and_name_no_library_internals() {
        let keys = keys();
        let bad_role = sign(
            &keys,
            Header::new(Algorithm::EdDSA),
            claims(serde_json::json!({"role": "none"})),
        );
        let message = refusal(&keys, &bad_role);
        assert_eq!(message, "invalid bearer token: malformed");
        let message = refusal(&keys, "not.a.token");
        assert_eq!(message, "invalid bearer token: malformed");
    }

    #[test]
    fn the_scheme_is_matched_in_any_case() {
        let keys = keys();
        let token = keys
            .issuer
            .as_ref()
            .expect("issuer")
            .mint("u1", Role::Admin, None, Duration::from_secs(60))
            .expect("mint");
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let mut headers = http::HeaderMap::new();
            let value = http::HeaderValue::from_str(&format!("{scheme} {token}")).expect("header");
            headers.insert(http::header::AUTHORIZATION, value);
            assert!(
                keys.authenticator.verify_header(&headers).is_ok(),
                "{scheme}"
            );
        }
        for bad in ["Basic abc", "Bearer", "Bearer ", &token] {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(bad).expect("header"),
            );
            assert!(keys.authenticator.verify_header(&headers).is_err(), "{bad}");
        }
        let mut headers = http::HeaderMap::new();
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN));
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&huge).expect("header"),
        );
        assert!(keys.authenticator.verify_header(&headers).is_err());
    }

    #[test]
    fn minted_tokens_verify_and_carry_the_partner() {
        let keys = keys();
        let issuer = keys.issuer.expect("private key mints");
        let token = issuer
            .mint("u1", Role::PartnerUser, Some("p1"), Duration::from_secs(60))
            .expect("mint");
        let principal = keys.authenticator.verify(&token).expect("valid");
        assert_eq!(principal.role, Role::PartnerUser);
        assert_eq!(principal.partner_scope(), Some("p1"));
    }

    #[test]
    fn tokens_from_another_key_or_tampered_are_rejected() {
        let a = keys();
        let b = keys();
        let token = a
            .issuer
            .expect("issuer")
            .mint("u1", Role::Admin, None, Duration::from_secs(60))
            .expect("mint");
        assert!(matches!(
            b.authenticator.verify(&token),
            Err(ApiError::Unauthenticated(_))
        ));
        let tampered = format!("{token}x");
        assert!(a.authenticator.verify(&tampered).is_err());
        // A token that verified is remembered; a tampered copy still is not accepted.
        assert!(a.authenticator.verify(&token).is_ok());
        assert!(a.authenticator.verify(&token).is_ok());
        assert!(a.authenticator.verify(&tampered).is_err());
    }

    #[test]
    fn concurrent_key_generation_agrees_on_one_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        generate_dev_key(&path).expect("generate");
                        std::fs::read(&path).expect("read")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn partner_id_only_for_partner_users() {
        let keys = keys();
        let issuer = keys.issuer.expect("issuer");
        assert!(
            issuer
                .mint("u", Role::Csm, Some("p"), Duration::from_secs(5))
                .is_err()
        );
        assert!(
            issuer
                .mint("u", Role::PartnerUser, None, Duration::from_secs(5))
                .is_err()
        );
    }

    #[test]
    fn roles_are_enforced() {
        let p = Principal {
            subject: "u".into(),
            role: Role::Csm,
            partner_id: None,
            actor: None,
        };
        assert!(p.require(&[Role::Csm, Role::Admin]).is_ok());
        assert!(matches!(
            p.require(&[Role::Admin]),
            Err(ApiError::PermissionDenied(_))
        ));
    }
}
