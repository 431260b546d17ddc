//! Client data (§5.8.1, `CollectedClientData`), parsed from the exact
//! `clientDataJSON` bytes the browser produced.
//!
//! The signature covers SHA-256 of those bytes, so they are hashed as they
//! came and never re-serialized; this type only reads them. Unknown members
//! are ignored, as the specification requires (clients add members such as
//! `other_keys_can_be_added_here`); a member given twice is refused, since
//! two readers could disagree about which one counts.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::{b64, Error, Result};

const WHAT: &str = "clientDataJSON";

/// The members of client data this crate checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedClientData {
    /// `webauthn.create` or `webauthn.get`.
    pub ceremony_type: String,
    /// The challenge, base64url-decoded.
    pub challenge: Vec<u8>,
    pub origin: String,
    pub cross_origin: Option<bool>,
    pub top_origin: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(rename = "type")]
    ceremony_type: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
    #[serde(default)]
    top_origin: Option<String>,
}

impl CollectedClientData {
    /// Parse `clientDataJSON` bytes (UTF-8 JSON, a leading byte order mark
    /// stripped as the specification's UTF-8 decode does).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let json = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let raw: Raw = serde_json::from_slice(json)
            .map_err(|e| Error::malformed(WHAT, format!("not the expected JSON: {e}")))?;
        let challenge = b64::decode(&raw.challenge, WHAT)?;
        Ok(CollectedClientData {
            ceremony_type: raw.ceremony_type,
            challenge,
            origin: raw.origin,
            cross_origin: raw.cross_origin,
            top_origin: raw.top_origin,
        })
    }
}

/// SHA-256 of the client data bytes: what the authenticator signs after the
/// authenticator data.
pub fn client_data_hash(client_data_json: &[u8]) -> [u8; 32] {
    Sha256::digest(client_data_json).into()
}

/// The checks §7.1 steps 7–10 and §7.2 steps 11–14 make on client data,
/// shared by both ceremonies.
pub(crate) fn check(
    client_data: &CollectedClientData,
    expected_type: &'static str,
    expected_challenge: &[u8],
    relying_party: &crate::RelyingParty,
) -> Result<()> {
    if client_data.ceremony_type != expected_type {
        return Err(Error::WrongCeremony {
            expected: expected_type,
            found: client_data.ceremony_type.clone(),
        });
    }
    if !constant_time_eq(&client_data.challenge, expected_challenge) {
        return Err(Error::ChallengeMismatch);
    }
    if !relying_party.allows_origin(&client_data.origin) {
        return Err(Error::OriginNotAllowed(client_data.origin.clone()));
    }
    // Countersign's pages are never framed, so a ceremony run inside an
    // iframe of another origin is a page the relying party did not serve.
    if client_data.cross_origin == Some(true) || client_data.top_origin.is_some() {
        return Err(Error::CrossOrigin {
            top_origin: client_data.top_origin.clone(),
        });
    }
    Ok(())
}

/// Compare without an early exit on the first differing byte, so timing
/// says nothing about how much of a guessed challenge was right. Lengths are
/// not secret.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(json: &[u8]) -> String {
        match CollectedClientData::parse(json) {
            Err(Error::Malformed { reason, .. }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn parses_what_browsers_send() {
        let json = br#"{"type":"webauthn.get","challenge":"AQID","origin":"https://example.org","crossOrigin":false,"other_keys_can_be_added_here":"do not compare clientDataJSON against a template"}"#;
        let parsed = CollectedClientData::parse(json).unwrap();
        assert_eq!(parsed.ceremony_type, "webauthn.get");
        assert_eq!(parsed.challenge, vec![1, 2, 3]);
        assert_eq!(parsed.origin, "https://example.org");
        assert_eq!(parsed.cross_origin, Some(false));
        assert_eq!(parsed.top_origin, None);
        // A byte order mark is stripped before parsing.
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(json);
        assert_eq!(CollectedClientData::parse(&with_bom).unwrap(), parsed);
    }

    #[test]
    fn refuses_what_is_not_client_data() {
        assert!(reason(
            br#"{"type":"webauthn.get","type":"webauthn.create","challenge":"AQID","origin":"o"}"#
        )
        .contains("duplicate"));
        assert!(reason(br#"{"type":"webauthn.get","origin":"o"}"#).contains("challenge"));
        assert!(
            reason(br#"{"type":"webauthn.get","challenge":"AQ+D","origin":"o"}"#)
                .contains("base64url")
        );
        assert!(reason(
            br#"{"type":"webauthn.get","challenge":"AQID","origin":"o","crossOrigin":"no"}"#
        )
        .contains("JSON"));
        assert!(
            reason(b"{\"type\":\"webauthn.get\",\"challenge\":\"AQID\",\"origin\":\"\xff\"}")
                .contains("JSON")
        );
        assert!(reason(b"").contains("JSON"));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
