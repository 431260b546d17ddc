//! The relying party: its RP ID and the origins it accepts (§5.8.1,
//! §13.4.9 "Validating the origin of a credential").

use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// Which origins a relying party accepts in `clientDataJSON.origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origins {
    /// Exactly these strings (a deployment's configured public URLs).
    Exact(Vec<String>),
    /// Whatever [`origin_matches_rp_id`] accepts for the RP ID.
    RpIdScope,
}

/// A WebAuthn relying party as a verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    origins: Origins,
}

impl RelyingParty {
    /// A relying party that accepts exactly the listed origins (compared as
    /// strings, as browsers serialize them: `https://host[:port]`, no path,
    /// no trailing slash).
    pub fn new(id: impl Into<String>, origins: Vec<String>) -> Result<Self> {
        let id = checked_id(id.into())?;
        if origins.is_empty() {
            return Err(Error::RelyingParty(
                "at least one allowed origin is needed".into(),
            ));
        }
        Ok(RelyingParty {
            id,
            origins: Origins::Exact(origins),
        })
    }

    /// A relying party that accepts any origin the WebAuthn rule allows for
    /// its RP ID ([`origin_matches_rp_id`]): for offline verification, where
    /// the deployment's origin list is not at hand but the RP ID is.
    pub fn for_rp_id_scope(id: impl Into<String>) -> Result<Self> {
        Ok(RelyingParty {
            id: checked_id(id.into())?,
            origins: Origins::RpIdScope,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// SHA-256 of the RP ID: what authenticator data must carry.
    pub fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        match &self.origins {
            Origins::Exact(list) => list.iter().any(|allowed| allowed == origin),
            Origins::RpIdScope => origin_matches_rp_id(origin, &self.id),
        }
    }
}

fn checked_id(id: String) -> Result<String> {
    // An RP ID is a registrable domain suffix (or "localhost"): lowercase
    // LDH labels. Anything else can never match a browser's rpIdHash, so
    // it is a configuration mistake worth reporting early.
    let ok = !id.is_empty()
        && id.len() <= 253
        && id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(id)
    } else {
        Err(Error::RelyingParty(format!(
            "{id:?} is not a lowercase domain name"
        )))
    }
}

/// The WebAuthn origin rule for an RP ID, for when no list of origins is at
/// hand: the origin is `https://<host>[:port]` where host is the RP ID or a
/// subdomain of it, or, when the RP ID is `localhost`, also
/// `http://localhost[:port]` or `http://127.0.0.1[:port]` (browsers treat
/// those as secure contexts for development).
///
/// The origin must be in the form browsers serialize: lowercase scheme and
/// host, no user info, path, query or trailing slash, a decimal port without
/// leading zeros. Anything else is refused rather than normalized, since a
/// browser never sends it.
pub fn origin_matches_rp_id(origin: &str, rp_id: &str) -> bool {
    let (secure, rest) = if let Some(rest) = origin.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = origin.strip_prefix("http://") {
        (false, rest)
    } else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if let Some(port) = port {
        let canonical = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && !port.starts_with('0')
            && port.parse::<u32>().is_ok_and(|p| p <= 65535);
        if !canonical {
            return false;
        }
    }
    let host_ok = host.split('.').all(|label| !label.is_empty())
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !host_ok {
        return false;
    }
    if secure {
        host == rp_id
            || host
                .strip_suffix(rp_id)
                .is_some_and(|prefix| prefix.ends_with('.'))
    } else {
        rp_id == "localhost" && (host == "localhost" || host == "127.0.0.1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webauthn_origin_rule() {
        for (origin, rp_id, ok) in [
            ("https://example.org", "example.org", true),
            ("https://login.example.org", "example.org", true),
            ("https://a.b.example.org:8443", "example.org", true),
            ("https://example.org:443", "example.org", true),
            ("https://example.org/", "example.org", false),
            ("https://example.org/path", "example.org", false),
            ("https://user@example.org", "example.org", false),
            ("https://Example.org", "example.org", false),
            ("https://example.org:", "example.org", false),
            ("https://example.org:0443", "example.org", false),
            ("https://example.org:65536", "example.org", false),
            ("https://example.org.evil", "example.org", false),
            ("https://badexample.org", "example.org", false),
            ("https://.example.org", "example.org", false),
            ("http://example.org", "example.org", false),
            ("ftp://example.org", "example.org", false),
            ("example.org", "example.org", false),
            ("http://localhost:8080", "localhost", true),
            ("http://localhost", "localhost", true),
            ("http://127.0.0.1:3000", "localhost", true),
            ("https://localhost:8443", "localhost", true),
            ("http://localhost.evil:8080", "localhost", false),
            ("http://127.0.0.1:3000", "example.org", false),
            ("http://localhost:8080", "example.org", false),
        ] {
            assert_eq!(
                origin_matches_rp_id(origin, rp_id),
                ok,
                "{origin} for {rp_id}"
            );
        }
    }

    #[test]
    fn relying_party_configuration() {
        let rp = RelyingParty::new("example.org", vec!["https://example.org".into()]).unwrap();
        assert!(rp.allows_origin("https://example.org"));
        assert!(!rp.allows_origin("https://login.example.org"));
        assert_eq!(rp.id(), "example.org");
        assert!(matches!(
            RelyingParty::new("example.org", vec![]),
            Err(Error::RelyingParty(_))
        ));
        for bad in [
            "",
            "Example.org",
            "https://example.org",
            "example..org",
            "-x.org",
            "exa mple.org",
        ] {
            assert!(
                matches!(
                    RelyingParty::for_rp_id_scope(bad),
                    Err(Error::RelyingParty(_))
                ),
                "{bad:?}"
            );
        }
    }
}
