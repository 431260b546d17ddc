//! The verifier's checks in plain words, and grouped the way the
//! certificate reads: the bundle and log, the request and its documents,
//! each signature, refusals and exceptions, the state, the auditor's files.

use countersign_verify::Check;

/// What a passing check of this name establishes, in a sentence; `None` for
/// a name this crate does not know (the page then shows the name itself).
pub(crate) fn sentence(name: &str) -> Option<&'static str> {
    Some(match name {
        "bundle.parse" => "The file is a readable evidence bundle",
        "bundle.format" => "The bundle is in the Countersign evidence format (version 1)",
        "bundle.order" => "The log entries in the bundle are in log order",
        "log_key.parse" => "The log key in the bundle is a well-formed verifier key",
        "log_key.pinned" => "The bundle's log key is the log key you supplied",
        "checkpoint.signature" => "The transparency log's signature on the checkpoint is valid",
        "entry.inclusion" => "The log entry is included in the signed checkpoint",
        "entry.parse" => "The log entry is a well-formed audit event",
        "log.created" => "The log's first entry names this log and its key",
        "request.created" => "The request was created by an entry in the log",
        "request.view" => "The bundle's summary of the request agrees with the log",
        "request.state" => "The request's final state follows from its log entries",
        "request.closed" => "The request was closed (withdrawn, expired or voided) properly",
        "request.rerouted" => "An approver was replaced properly, before the request was decided",
        "document.registered" => {
            "The document version was registered in the log before the request named it"
        }
        "document.file" => "The document file you supplied is the one that was signed",
        "signature.digest" => "The recorded fingerprint of the signed envelope is correct",
        "signature.statement" => {
            "The envelope holds one approval statement, signed once by the recorded key"
        }
        "signature.credential" => "The signing key was enrolled for the signer before signing",
        "signature.certificate" => {
            "The workload certificate was issued by the log's published CA to this signer and key"
        }
        "signature.credential_status" => {
            "The signing key was neither revoked nor expired when it signed"
        }
        "signature.envelope" => "The cryptographic signature is valid for the enrolled credential",
        "signature.assurance" => {
            "The assurance level recorded for the signature is backed by the evidence"
        }
        "signature.predicate" => {
            "The signed statement names this request, the signer, the decision and the key"
        }
        "signature.subject" => "The signed statement names exactly the request's documents",
        "signature.action" => "The signed statement repeats the request's access change",
        "signature.delegation" => {
            "Signing on someone else's behalf rests on a delegation the log recorded, in scope and in time"
        }
        "signature.identity" => "The signer was active when signing",
        "signature.approver" => "The signer is an approver of the request who had not signed before",
        "signature.order" => "The approvers before this one in the required order had signed",
        "signature.policy" => "The policy set in force allowed the signature",
        "signature.exception" => {
            "The break-glass exception was approved by someone else, for this signer, and used once"
        }
        "signature.pending" => "The request was still open and unexpired when signed",
        "signature.state" => "Replaying the approval rules gives the state the log recorded",
        "signature.recorded" => "The bundle's summary lists this signature as the log recorded it",
        "signature.listed" => "Every signature in the log appears in the bundle's summary",
        "signature.refused" => "A refused signing attempt is on record",
        "exception.requested" => "A request for a policy exception is on record",
        "exception.decided" => "A decision on a policy exception is on record",
        _ => return None,
    })
}

/// Where a check belongs on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Group {
    Log,
    Request,
    /// The accepted signature at this log index.
    Signature(u64),
    Refusals,
    State,
    Files,
    Other,
}

impl Group {
    pub fn of(check: &Check) -> Group {
        let name = check.name.as_str();
        match name {
            "signature.refused" | "exception.requested" | "exception.decided" => Group::Refusals,
            "signature.recorded" | "signature.listed" => Group::State,
            "request.created" | "request.view" => Group::Request,
            _ if name.starts_with("signature.") => {
                signature_entry(&check.detail).map_or(Group::State, Group::Signature)
            }
            _ if ["bundle.", "log_key.", "checkpoint.", "entry.", "log."]
                .iter()
                .any(|p| name.starts_with(p)) =>
            {
                Group::Log
            }
            "document.file" => Group::Files,
            _ if name.starts_with("file.") => Group::Files,
            _ if name.starts_with("document.") => Group::Request,
            _ if ["request.", "state.", "view."]
                .iter()
                .any(|p| name.starts_with(p)) =>
            {
                Group::State
            }
            _ => Group::Other,
        }
    }
}

/// The log index a signature check is about: its detail starts
/// `entry N (signature by ...)`.
pub(crate) fn signature_entry(detail: &str) -> Option<u64> {
    let (n, rest) = leading_entry(detail)?;
    rest.starts_with(" (signature by ").then_some(n)
}

/// The log index an `entry.*` check is about: `entry N (kind) ...`.
pub(crate) fn entry_of(detail: &str) -> Option<u64> {
    leading_entry(detail).map(|(n, _)| n)
}

fn leading_entry(detail: &str) -> Option<(u64, &str)> {
    let rest = detail.strip_prefix("entry ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let n = rest.get(..digits)?.parse().ok()?;
    Some((n, rest.get(digits..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, detail: &str) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
        }
    }

    #[test]
    fn checks_group_by_what_they_are_about() {
        assert_eq!(
            Group::of(&check(
                "signature.envelope",
                "entry 12 (signature by bob): ok"
            )),
            Group::Signature(12)
        );
        assert_eq!(
            Group::of(&check("signature.listed", "all 2 accepted signatures")),
            Group::State
        );
        assert_eq!(
            Group::of(&check(
                "entry.inclusion",
                "entry 3 (identity.created) is included"
            )),
            Group::Log
        );
        assert_eq!(Group::of(&check("document.file", "x")), Group::Files);
        assert_eq!(Group::of(&check("weird.new", "x")), Group::Other);
        assert_eq!(entry_of("entry 7 (log.created) is"), Some(7));
        assert_eq!(entry_of("entry x"), None);
        assert_eq!(
            signature_entry("entry 99999999999999999999999 (signature by a)"),
            None
        );
        assert!(sentence("checkpoint.signature").is_some());
        assert!(sentence("nope").is_none());
    }

    #[test]
    fn every_check_the_verifier_names_has_a_sentence() {
        // The names `countersign-verify` emits; a new one falls back to its
        // name on the page until it is added here and to `sentence`.
        for name in [
            "bundle.format",
            "bundle.order",
            "bundle.parse",
            "checkpoint.signature",
            "document.file",
            "document.registered",
            "entry.inclusion",
            "entry.parse",
            "exception.decided",
            "exception.requested",
            "log.created",
            "log_key.parse",
            "log_key.pinned",
            "request.closed",
            "request.created",
            "request.rerouted",
            "request.state",
            "request.view",
            "signature.action",
            "signature.approver",
            "signature.assurance",
            "signature.certificate",
            "signature.credential",
            "signature.credential_status",
            "signature.delegation",
            "signature.digest",
            "signature.envelope",
            "signature.exception",
            "signature.identity",
            "signature.listed",
            "signature.order",
            "signature.pending",
            "signature.policy",
            "signature.predicate",
            "signature.recorded",
            "signature.refused",
            "signature.state",
            "signature.statement",
            "signature.subject",
        ] {
            assert!(sentence(name).is_some(), "{name} has no sentence");
            assert_ne!(Group::of(&check(name, "x")), Group::Other, "{name}");
        }
    }
}
