//! Who is told what by mail, and the words of each mail.
//!
//! Pure: the ledger passes the facts (the request, the recipients, the
//! server's public address) and stores what comes back in its mail outbox,
//! in the same transaction as the change the mail reports. A mail names
//! the request in plain words and links to its page; it never carries a
//! secret, except an enrolment mail's single-use link.

use countersign_proto::governance::Delegation;
use countersign_proto::model::{ApprovalOrder, Identity, Request, RequestState};
use time::OffsetDateTime;

use crate::describe;

/// The words of one mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Who a request needs now: every approver yet to sign for a parallel
/// request; for a sequential one, the first approver who has not signed.
pub fn needed_now(r: &Request) -> Vec<String> {
    if r.state != RequestState::Pending {
        return Vec::new();
    }
    let signed = |a: &str| r.signatures.iter().any(|s| s.approver() == a);
    let mut out: Vec<String> = r.approvers.iter().filter(|a| !signed(a)).cloned().collect();
    if r.order == ApprovalOrder::Sequential {
        out.truncate(1);
    }
    out
}

/// The delegates who may sign `approver`'s slot of `r` at `now`, from the
/// delegations naming `approver` as principal.
pub fn delegates_for(
    delegations: &[Delegation],
    approver: &str,
    r: &Request,
    now: OffsetDateTime,
) -> Vec<String> {
    let mut out: Vec<String> = delegations
        .iter()
        .filter(|d| d.principal == approver)
        .filter(|d| {
            crate::delegation::authorise(delegations, approver, &d.delegate, r, now).is_ok()
        })
        .map(|d| d.delegate.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The lines that describe a request, shared by every request mail.
fn facts(r: &Request, requester: &str) -> Vec<String> {
    let mut lines = vec![
        format!("What: {}", r.purpose),
        format!(
            "Kind: {}, {}",
            describe::event(r.event_kind),
            describe::impact(r.impact)
        ),
        format!("Requested by: {requester}"),
    ];
    if let Some(a) = &r.action {
        lines.push(format!("Access change: {}", describe::action(a)));
    }
    for d in &r.documents {
        lines.push(format!("Document: {} (version {})", d.document, d.version));
    }
    lines
}

fn build(
    subject: String,
    greeting: &str,
    intro: &str,
    lines: &[String],
    action: (&str, &str),
    footer: &str,
) -> Composed {
    let mut text = format!("{greeting}\n\n{intro}\n\n");
    for l in lines {
        text.push_str(&format!("  {l}\n"));
    }
    text.push_str(&format!("\n{}: {}\n\n{footer}\n", action.0, action.1));
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a1a\"><p>{}</p><p>{}</p><ul>",
        esc(greeting),
        esc(intro)
    );
    for l in lines {
        html.push_str(&format!("<li>{}</li>", esc(l)));
    }
    html.push_str(&format!(
        "</ul><p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;background:#0b5394;color:#ffffff;text-decoration:none;border-radius:6px\">{}</a></p><p style=\"color:#555\">{}</p></body></html>",
        esc(action.1),
        esc(action.0),
        esc(footer)
    ));
    Composed {
        subject,
        text,
        html,
    }
}

const FOOTER: &str = "Countersign will never ask for your password, key or passkey by mail. Open the link, or go to Countersign yourself and find the request in your inbox.";

/// "A request needs your decision", to an approver, a re-routed approver
/// (`rerouted_from` names who left) or a delegate (`for_principal`).
pub fn approval_needed(
    r: &Request,
    recipient: &Identity,
    requester: &str,
    for_principal: Option<&str>,
    rerouted_from: Option<&str>,
    base_url: &str,
) -> Composed {
    let intro = match (for_principal, rerouted_from) {
        (Some(p), _) => format!(
            "{requester} asks for an approval that you may give on behalf of {p}, who delegated it to you."
        ),
        (None, Some(left)) => format!(
            "{requester}'s request was waiting for {left}, who has left; it now needs your decision instead."
        ),
        (None, None) => format!("{requester} asks for your approval."),
    };
    let mut lines = facts(r, requester);
    lines.push(format!("Decide by: {}", describe::when(r.expires_at)));
    build(
        format!("Approval needed: {}", r.purpose),
        &format!("Hello {},", recipient.display_name),
        &intro,
        &lines,
        (
            "Review and decide",
            &format!("{base_url}/requests/{}", r.id),
        ),
        FOOTER,
    )
}

/// A reminder that a request still needs the recipient and expires soon.
pub fn reminder(r: &Request, recipient: &Identity, requester: &str, base_url: &str) -> Composed {
    let mut lines = facts(r, requester);
    lines.push(format!("Expires: {}", describe::when(r.expires_at)));
    build(
        format!(
            "Reminder: approval needed by {}: {}",
            describe::when(r.expires_at),
            r.purpose
        ),
        &format!("Hello {},", recipient.display_name),
        "A request still needs your decision, and it expires soon. If nobody decides it, it expires and the change it asks for does not happen.",
        &lines,
        ("Review and decide", &format!("{base_url}/requests/{}", r.id)),
        FOOTER,
    )
}

/// The outcome of a request, to its requester.
pub fn outcome(
    r: &Request,
    recipient: &Identity,
    requester: &str,
    reason: Option<&str>,
    base_url: &str,
) -> Composed {
    let (word, intro) = match r.state {
        RequestState::Approved => (
            "approved",
            "Your request was approved by every approver it needed.".to_string(),
        ),
        RequestState::Rejected => (
            "rejected",
            "Your request was rejected: too few approvers can still approve it.".to_string(),
        ),
        RequestState::Expired => (
            "expired",
            "Your request expired before enough approvers decided it.".to_string(),
        ),
        RequestState::Voided => (
            "voided",
            "Your request was voided: an approver left and nobody could take their place."
                .to_string(),
        ),
        RequestState::Withdrawn => ("withdrawn", "Your request was withdrawn.".to_string()),
        RequestState::Pending => ("pending", "Your request is pending.".to_string()),
    };
    let mut lines = facts(r, requester);
    for s in &r.signatures {
        let slot = match &s.principal {
            Some(p) => format!(" (for {p})"),
            None => String::new(),
        };
        let why = match &s.reason {
            Some(reason) => format!(": {reason}"),
            None => String::new(),
        };
        lines.push(format!("{}{slot} {}d{why}", s.actor, s.decision.as_str()));
    }
    if let Some(reason) = reason {
        lines.push(format!("Reason: {reason}"));
    }
    build(
        format!("Your request was {word}: {}", r.purpose),
        &format!("Hello {},", recipient.display_name),
        &intro,
        &lines,
        ("See the request", &format!("{base_url}/requests/{}", r.id)),
        "The request page shows every signature, its receipt from the transparency log, and the completion certificate.",
    )
}

/// An enrolment link for a new person's first passkey.
pub fn invitation(recipient: &Identity, url: &str, expires_at: OffsetDateTime) -> Composed {
    build(
        "Set up your passkey for Countersign".to_string(),
        &format!("Hello {},", recipient.display_name),
        "You have been invited to Countersign, where you review and sign approvals. Open the link on the device you want to sign with and create a passkey: your fingerprint, face or device PIN then signs for you, and there is no password to remember.",
        &[
            format!("The link works once, until {}.", describe::when(expires_at)),
            "If you did not expect this mail, ignore it; nothing happens unless the link is used.".to_string(),
        ],
        ("Create your passkey", url),
        "This link is personal: do not forward it. Countersign will never ask for your passkey by mail.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_proto::model::{EventKind, IdentityKind, IdentityStatus, Impact};

    fn request(order: ApprovalOrder) -> Request {
        Request {
            id: "req_1".into(),
            event_kind: EventKind::Onboarding,
            purpose: "Onboard <Dave>".into(),
            impact: Impact::Medium,
            documents: vec![],
            action: None,
            requester: "alice".into(),
            beneficiary: "dave".into(),
            approvers: vec!["bob".into(), "carol".into()],
            order,
            quorum: 2,
            created_at: time::macros::datetime!(2026-12-01 10:00 UTC),
            expires_at: time::macros::datetime!(2026-12-08 10:00 UTC),
            state: RequestState::Pending,
            decided_at: None,
            signatures: vec![],
            log_index: 3,
        }
    }

    fn person(handle: &str) -> Identity {
        Identity {
            id: format!("idn_{handle}"),
            handle: handle.into(),
            kind: IdentityKind::Human,
            display_name: format!("{handle} name"),
            email: Some(format!("{handle}@example.com")),
            owner: None,
            shared: false,
            status: IdentityStatus::Active,
            groups: vec![],
            roles: vec![],
            manager: None,
            orphaned: false,
            scim_adoptable: false,
            created_at: time::macros::datetime!(2026-12-01 10:00 UTC),
            updated_at: time::macros::datetime!(2026-12-01 10:00 UTC),
            revision: 1,
        }
    }

    #[test]
    fn sequential_requests_need_one_approver_at_a_time() {
        assert_eq!(
            needed_now(&request(ApprovalOrder::Parallel)),
            ["bob", "carol"]
        );
        assert_eq!(needed_now(&request(ApprovalOrder::Sequential)), ["bob"]);
    }

    #[test]
    fn mails_link_to_the_request_and_escape_html() {
        let m = approval_needed(
            &request(ApprovalOrder::Parallel),
            &person("bob"),
            "Alice",
            None,
            None,
            "https://cs.example",
        );
        assert!(m.text.contains("https://cs.example/requests/req_1"));
        assert!(m.html.contains("Onboard &lt;Dave&gt;"));
        assert!(!m.html.contains("<Dave>"));
        assert!(m.subject.starts_with("Approval needed"));
    }
}
