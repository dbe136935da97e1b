//! Opaque page tokens (AIP-158): the position after the last item returned plus
//! a fingerprint of the request's filters, so a token cannot be replayed against
//! a different query.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::error::Violation;

#[derive(Serialize, Deserialize)]
struct Envelope<P> {
    /// Where the next page starts.
    p: P,
    /// First bytes of SHA-256 over the query's filters, hex.
    f: String,
}

/// Longest page token accepted; the suite's own tokens are far shorter.
pub const MAX_PAGE_TOKEN_LEN: usize = 512;

/// A fingerprint of the filters a listing was made with.
pub fn fingerprint(filters: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(filters).unwrap_or_default();
    let digest = Sha256::digest(bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes the position of the next page for a query with `filters`.
pub fn encode<P: Serialize>(position: &P, filters: &impl Serialize) -> String {
    let envelope = Envelope {
        p: position,
        f: fingerprint(filters),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).unwrap_or_default())
}

/// Decodes a page token; `None` for an empty token (the first page). A token
/// that is malformed or was made for other filters is a `page_token` violation.
pub fn decode<P: DeserializeOwned>(
    token: &str,
    filters: &impl Serialize,
) -> Result<Option<P>, Vec<Violation>> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() > MAX_PAGE_TOKEN_LEN {
        return Err(vec![Violation::new(
            "page_token",
            format!("must be at most {MAX_PAGE_TOKEN_LEN} characters"),
        )]);
    }
    let invalid = || {
        vec![Violation::new(
            "page_token",
            "is not a token this listing returned",
        )]
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let envelope: Envelope<P> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if envelope.f != fingerprint(filters) {
        return Err(vec![Violation::new(
            "page_token",
            "was issued for different filters; repeat the same filters or start over",
        )]);
    }
    Ok(Some(envelope.p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_to_filters() {
        let token = encode(&"0190-abc", &("tier", 1));
        assert_eq!(
            decode::<String>(&token, &("tier", 1)),
            Ok(Some("0190-abc".to_owned()))
        );
        assert!(decode::<String>(&token, &("tier", 2)).is_err());
        assert!(decode::<String>("garbage!", &("tier", 1)).is_err());
        assert_eq!(decode::<String>("", &()), Ok(None));
    }
}
