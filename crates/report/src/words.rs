//! Log records in plain words, for readers who are not engineers.

use countersign_proto::governance::{
    AuthContext, Delegation, Effect, ExceptionState, PolicyAction, PolicyDecision,
};
use countersign_proto::model::{
    Assurance, AssuranceBasis, Credential, CredentialKind, Decision, IdentityKind, IdentityStatus,
    KeyAlgorithm, RequestState,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A moment, for the page: machine form for `<time datetime>`, and words.
#[derive(Clone, Debug)]
pub(crate) struct Moment {
    pub iso: String,
    pub text: String,
}

/// `2026-03-02 10:04:05 UTC` (seconds matter to an auditor comparing
/// records; the domain's `describe::when` stops at minutes).
pub(crate) fn moment(t: OffsetDateTime) -> Moment {
    let u = t.to_offset(time::UtcOffset::UTC);
    Moment {
        iso: u.format(&Rfc3339).unwrap_or_else(|_| u.to_string()),
        text: format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            u.year(),
            u8::from(u.month()),
            u.day(),
            u.hour(),
            u.minute(),
            u.second()
        ),
    }
}

pub(crate) fn when(t: OffsetDateTime) -> String {
    moment(t).text
}

/// The request's state, as the outcome of the request.
pub(crate) fn state(s: RequestState) -> &'static str {
    match s {
        RequestState::Pending => "pending",
        RequestState::Approved => "approved",
        RequestState::Rejected => "rejected",
        RequestState::Expired => "expired",
        RequestState::Withdrawn => "withdrawn",
        RequestState::Voided => "voided",
    }
}

/// The CSS tone of a state: good, bad or neutral.
pub(crate) fn state_tone(s: RequestState) -> &'static str {
    match s {
        RequestState::Approved => "good",
        RequestState::Rejected | RequestState::Voided => "bad",
        RequestState::Pending | RequestState::Expired | RequestState::Withdrawn => "neutral",
    }
}

pub(crate) fn decision(d: Decision) -> &'static str {
    match d {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
    }
}

pub(crate) fn identity_kind(k: IdentityKind) -> &'static str {
    match k {
        IdentityKind::Human => "a person",
        IdentityKind::Service => "a service account",
        IdentityKind::Workload => "a workload (CI job or service)",
    }
}

pub(crate) fn identity_status(s: IdentityStatus) -> &'static str {
    match s {
        IdentityStatus::Active => "active",
        IdentityStatus::Suspended => "suspended",
        IdentityStatus::Terminated => "terminated",
    }
}

pub(crate) fn credential_kind(c: &Credential) -> &'static str {
    match c.kind {
        CredentialKind::Key => "enrolled signing key",
        CredentialKind::Certificate => "short-lived workload certificate",
        CredentialKind::Passkey => "passkey (WebAuthn)",
    }
}

pub(crate) fn algorithm(a: KeyAlgorithm) -> &'static str {
    match a {
        KeyAlgorithm::Ed25519 => "Ed25519",
        KeyAlgorithm::Es256 => "ECDSA P-256 (ES256)",
        KeyAlgorithm::Rs256 => "RSA (RS256)",
    }
}

pub(crate) fn assurance(a: Assurance) -> &'static str {
    match a {
        Assurance::Software => "software",
        Assurance::Hardware => "hardware",
    }
}

/// Where the assurance label comes from, as a sentence.
pub(crate) fn basis(c: &Credential) -> String {
    match c.assurance_basis {
        AssuranceBasis::Declared => match c.assurance {
            Assurance::Hardware => "declared: whoever enrolled the key chose the label, so it counts only as a software key".to_string(),
            Assurance::Software => "declared: whoever enrolled the key chose the label".to_string(),
        },
        AssuranceBasis::Vouched => match &c.vouch {
            Some(v) => format!(
                "vouched: {} vouched for the label on {} ({})",
                v.by,
                when(v.at),
                v.reason
            ),
            None => "vouched: an administrator vouched for the label".to_string(),
        },
        AssuranceBasis::Attestation => {
            "attestation: the passkey's WebAuthn attestation verified to a trusted root".to_string()
        }
        AssuranceBasis::Authenticator => {
            "authenticator: no trusted attestation; the authenticator's own flags are the evidence"
                .to_string()
        }
        AssuranceBasis::Issued => {
            "issued: Countersign's workload CA issued it after a verified token exchange".to_string()
        }
    }
}

/// How the actor was authenticated, as the log recorded it: the method is
/// `+`-joined parts such as `credential:key+oidc:https://idp.example`.
pub(crate) fn auth_method(a: &AuthContext) -> String {
    const SCHEMES: [&str; 4] = ["credential:", "oidc:", "session:", "uv"];
    // A `+` inside a part (an issuer URL may hold one) does not start a part.
    let mut parts: Vec<String> = Vec::new();
    for piece in a.method.split('+') {
        match parts.last_mut() {
            Some(last) if !SCHEMES.iter().any(|s| piece.starts_with(s)) => {
                last.push('+');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_string()),
        }
    }
    let mut said: Vec<String> = Vec::new();
    for p in &parts {
        let words = match p.as_str() {
            "credential:key" => "the signing key".to_string(),
            "credential:certificate" => "the workload certificate".to_string(),
            "credential:passkey" => "the passkey".to_string(),
            "uv" => {
                if let Some(last) = said.last_mut() {
                    last.push_str(" with user verification (PIN or biometrics)");
                    continue;
                }
                "user verification (PIN or biometrics)".to_string()
            }
            other => match other.split_once(':') {
                Some(("oidc", issuer)) => {
                    format!("a sign-in with the identity provider {issuer}")
                }
                Some(("session", what)) => format!("a web session ({what})"),
                _ => other.to_string(),
            },
        };
        said.push(words);
    }
    format!("{} ({})", said.join(" and "), a.method)
}

pub(crate) fn aal(level: u8) -> String {
    let words = match level {
        1 => "single-factor or low assurance",
        2 => "two factors, or a strong single factor",
        3 => "hardware-based, phishing-resistant",
        _ => "not a NIST level",
    };
    format!("AAL{level} ({words})")
}

pub(crate) fn policy_action(a: PolicyAction) -> &'static str {
    match a {
        PolicyAction::CreateRequest => "create a request",
        PolicyAction::Sign => "sign",
        PolicyAction::Delegate => "delegate",
        PolicyAction::ApproveException => "approve an exception",
    }
}

/// `allowed by p1, p2` or `refused by p3` or `refused: no policy permits it`.
pub(crate) fn policy_outcome(d: &PolicyDecision) -> String {
    let ids = d.policies.join(", ");
    match (d.effect, d.policies.is_empty()) {
        (Effect::Allow, false) => format!("allowed, by policy {ids}"),
        (Effect::Allow, true) => "allowed".to_string(),
        (Effect::Deny, false) => format!("refused, by policy {ids}"),
        (Effect::Deny, true) => "refused: no policy permits it".to_string(),
    }
}

pub(crate) fn exception_state(s: ExceptionState) -> &'static str {
    match s {
        ExceptionState::Requested => "requested, not yet decided",
        ExceptionState::Approved => "approved",
        ExceptionState::Denied => "denied",
        ExceptionState::Used => "used",
        ExceptionState::Expired => "expired",
    }
}

/// What a delegation lets the delegate sign.
pub(crate) fn scope(d: &Delegation) -> String {
    let kinds = if d.scope.event_kinds.is_empty() {
        "every kind of business event".to_string()
    } else {
        d.scope
            .event_kinds
            .iter()
            .map(|k| countersign_domain::describe::event(*k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let requests = if d.scope.requests.is_empty() {
        String::new()
    } else {
        format!(", only request {}", d.scope.requests.join(", "))
    };
    format!(
        "{kinds}, up to {}{requests}",
        countersign_domain::describe::impact(d.scope.max_impact)
    )
}

/// `1 check`, `2 checks`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A byte count for people: `58 bytes`, `12.4 kB`.
pub(crate) fn size(bytes: u64) -> String {
    if bytes < 1000 {
        plural(bytes as usize, "byte", "bytes")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB ({bytes} bytes)", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB ({bytes} bytes)", bytes as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(method: &str) -> AuthContext {
        AuthContext {
            aal: 2,
            auth_time: None,
            method: method.to_string(),
        }
    }

    #[test]
    fn authentication_methods_read_as_words() {
        assert_eq!(
            auth_method(&auth("credential:key+oidc:https://idp.example/a+b")),
            "the signing key and a sign-in with the identity provider https://idp.example/a+b (credential:key+oidc:https://idp.example/a+b)"
        );
        assert_eq!(
            auth_method(&auth("credential:passkey+uv")),
            "the passkey with user verification (PIN or biometrics) (credential:passkey+uv)"
        );
        assert_eq!(
            auth_method(&auth("something-new")),
            "something-new (something-new)"
        );
        assert_eq!(auth_method(&auth("")), " ()");
    }

    #[test]
    fn small_words() {
        assert_eq!(size(58), "58 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(12_400), "12.4 kB (12400 bytes)");
        assert_eq!(
            moment(time::macros::datetime!(2026-03-02 10:04:05 +01:00)).text,
            "2026-03-02 09:04:05 UTC"
        );
        assert_eq!(aal(3), "AAL3 (hardware-based, phishing-resistant)");
    }
}
