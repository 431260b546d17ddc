//! Personal data in log entries: which fields are personal, and the
//! openings that reveal them.
//!
//! An append-only log can never forget, so personal values (names,
//! e-mails, free text, URLs, and signed statements, whose reasons are free
//! text) never enter it. In the entry each such field holds a *commitment*
//! `commitment:sha256:<hex>` to a salted value; the salt and the value (the
//! *opening*) are kept in a table that can be erased. The commitment is
//! `SHA-256(COMMITMENT_DOMAIN ‖ salt ‖ value)` over the value's UTF-8 bytes
//! with a random 32-byte salt (computed in `countersign-attest`, since this
//! crate does no cryptography), so without the opening a commitment reveals
//! nothing, not even to someone guessing likely e-mail addresses.
//!
//! The table below is the one place that says which fields are personal;
//! the ledger commits them when it writes an entry and the verifier opens
//! them from an evidence bundle's openings. A field listed here holds a
//! commitment in every entry written with it, so a string there is never
//! mistaken for a value.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a commitment string starts with.
pub const COMMITMENT_PREFIX: &str = "commitment:sha256:";

/// The domain separator hashed before the salt.
pub const COMMITMENT_DOMAIN: &[u8] = b"countersign personal-data commitment v1\n";

/// The length of a salt, in bytes.
pub const SALT_LEN: usize = 32;

/// The salt and the value behind one commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// Standard base64 of the 32-byte salt.
    pub salt: String,
    /// The value as it was before it was committed.
    pub value: String,
}

/// What an erased value is shown as, where a field must hold a string.
pub const ERASED: &str = "(erased)";

/// Whom a personal field is about or by: the entry field naming that
/// identity's handle, so erasing a person finds their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The handle at this path of the entry.
    At(&'static [&'static str]),
    /// Nobody in particular (a webhook URL): never erased with a person.
    None,
}

/// The retention class of an entry's personal values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionClass {
    /// Who someone is: names, e-mails, reasons for status changes, tokens.
    Identity,
    /// What was approved and why: purposes, signed statements, refusals,
    /// delegations, policy exceptions.
    Approval,
    /// Reconciliation and control exceptions.
    Control,
    /// Integration settings (webhook URLs) and legal holds.
    Operations,
}

impl RetentionClass {
    pub const ALL: [RetentionClass; 4] = [
        RetentionClass::Identity,
        RetentionClass::Approval,
        RetentionClass::Control,
        RetentionClass::Operations,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RetentionClass::Identity => "identity",
            RetentionClass::Approval => "approval",
            RetentionClass::Control => "control",
            RetentionClass::Operations => "operations",
        }
    }
}

/// One personal field of one event type.
#[derive(Clone, Copy, Debug)]
pub struct PersonalField {
    /// The event's `type`.
    pub kind: &'static str,
    /// The path to the field inside the entry object.
    pub path: &'static [&'static str],
    pub subject: Subject,
}

const fn field(
    kind: &'static str,
    path: &'static [&'static str],
    subject: Subject,
) -> PersonalField {
    PersonalField {
        kind,
        path,
        subject,
    }
}

const IDENTITY: Subject = Subject::At(&["identity", "handle"]);

/// Every personal field of every event.
pub const PERSONAL_FIELDS: &[PersonalField] = &[
    field("identity.created", &["identity", "display_name"], IDENTITY),
    field("identity.created", &["identity", "email"], IDENTITY),
    field("identity.updated", &["identity", "display_name"], IDENTITY),
    field("identity.updated", &["identity", "email"], IDENTITY),
    field(
        "identity.status_changed",
        &["identity", "display_name"],
        IDENTITY,
    ),
    field("identity.status_changed", &["identity", "email"], IDENTITY),
    field("identity.status_changed", &["reason"], IDENTITY),
    field(
        "credential.enrolled",
        &["credential", "label"],
        Subject::At(&["credential", "identity"]),
    ),
    field(
        "credential.enrolled",
        &["credential", "vouch", "reason"],
        Subject::At(&["credential", "identity"]),
    ),
    field(
        "credential.revoked",
        &["reason"],
        Subject::At(&["identity"]),
    ),
    field(
        "credential.vouched",
        &["vouch", "reason"],
        Subject::At(&["identity"]),
    ),
    field(
        "token.issued",
        &["token", "name"],
        Subject::At(&["token", "identity"]),
    ),
    field("token.revoked", &["name"], Subject::At(&["identity"])),
    field("token.recovered", &["by"], Subject::None),
    field(
        "delegation.granted",
        &["delegation", "reason"],
        Subject::At(&["delegation", "principal"]),
    ),
    field("delegation.ended", &["reason"], Subject::At(&["principal"])),
    field(
        "exception.requested",
        &["exception", "justification"],
        Subject::At(&["exception", "actor"]),
    ),
    field(
        "exception.decided",
        &["exception", "justification"],
        Subject::At(&["exception", "actor"]),
    ),
    field(
        "exception.decided",
        &["exception", "decision_reason"],
        Subject::At(&["exception", "actor"]),
    ),
    field(
        "request.created",
        &["request", "purpose"],
        Subject::At(&["request", "requester"]),
    ),
    field("request.closed", &["reason"], Subject::None),
    field("request.rerouted", &["reason"], Subject::At(&["removed"])),
    field(
        "control.raised",
        &["exception", "resolution", "justification"],
        Subject::None,
    ),
    field(
        "control.updated",
        &["exception", "resolution", "justification"],
        Subject::None,
    ),
    field(
        "entitlement.changed",
        &["change", "change", "changed_by"],
        Subject::None,
    ),
    field("control.updated", &["reason"], Subject::None),
    field("control.updated", &["envelope", "payload"], Subject::None),
    field("webhook.changed", &["endpoint", "url"], Subject::None),
    field("webhook.changed", &["reason"], Subject::None),
    field(
        "webhook.changed",
        &["endpoint", "disabled_reason"],
        Subject::None,
    ),
    field(
        "signature.accepted",
        &["envelope", "payload"],
        Subject::At(&["actor"]),
    ),
    field("signature.refused", &["detail"], Subject::At(&["actor"])),
    field(
        "signature.refused",
        &["envelope", "payload"],
        Subject::At(&["actor"]),
    ),
    field("hold.placed", &["hold", "reason"], Subject::None),
];

/// The personal fields of one event type.
pub fn fields_of(kind: &str) -> impl Iterator<Item = &'static PersonalField> + '_ {
    PERSONAL_FIELDS.iter().filter(move |f| f.kind == kind)
}

/// The retention class of an event type's personal values.
pub fn class_of(kind: &str) -> RetentionClass {
    match kind.split('.').next().unwrap_or_default() {
        "identity" | "credential" | "token" | "invitation" => RetentionClass::Identity,
        "control" | "entitlement" => RetentionClass::Control,
        "webhook" | "hold" | "personal" => RetentionClass::Operations,
        _ => RetentionClass::Approval,
    }
}

/// Whether `s` has the form of a commitment.
pub fn is_commitment(s: &str) -> bool {
    s.strip_prefix(COMMITMENT_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The value at `path` inside a JSON object.
pub fn at<'a>(value: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// The mutable value at `path` inside a JSON object.
pub fn at_mut<'a>(
    value: &'a mut serde_json::Value,
    path: &[&str],
) -> Option<&'a mut serde_json::Value> {
    path.iter().try_fold(value, |v, key| v.get_mut(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_have_one_shape() {
        let c = format!("{COMMITMENT_PREFIX}{}", "a".repeat(64));
        assert!(is_commitment(&c));
        assert!(!is_commitment(&c[..c.len() - 1]));
        assert!(!is_commitment(&c.to_uppercase()));
        assert!(!is_commitment("alice@example.com"));
    }

    #[test]
    fn every_listed_event_type_exists_and_has_a_class() {
        for f in PERSONAL_FIELDS {
            assert!(!f.path.is_empty(), "{}", f.kind);
            // A typo in a kind would silently leave a field in the clear.
            assert!(
                crate::entry::EVENT_KINDS.contains(&f.kind),
                "{} is not an event type",
                f.kind
            );
        }
        assert_eq!(class_of("identity.created"), RetentionClass::Identity);
        assert_eq!(class_of("signature.accepted"), RetentionClass::Approval);
        assert_eq!(class_of("control.updated"), RetentionClass::Control);
        assert_eq!(class_of("webhook.changed"), RetentionClass::Operations);
    }
}
