//! Requests in plain words, for the people who decide them: the web app,
//! the CLI's `sign` and the notification mails all say the same thing the
//! same way.

use countersign_proto::model::{
    ApprovalOrder, EntitlementAction, EventKind, Impact, Operation, Request,
};
use time::OffsetDateTime;

/// The business event, as a person would say it.
pub fn event(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Onboarding => "onboarding",
        EventKind::RoleChange => "role change",
        EventKind::PrivilegedAccess => "privileged access",
        EventKind::Offboarding => "offboarding",
        EventKind::Contract => "contract",
        EventKind::Payment => "payment",
        EventKind::CodeRelease => "code release",
        EventKind::Custom => "other business event",
    }
}

/// The impact, as a sentence fragment ("high impact").
pub fn impact(impact: Impact) -> String {
    format!("{} impact", impact.as_str())
}

/// The access change as a sentence: `grant dave "org/acme/team/eng" on github`.
pub fn action(a: &EntitlementAction) -> String {
    let e = &a.entitlement;
    match a.operation {
        Operation::Grant => format!("grant {} \u{201c}{e}\u{201d} on {}", a.subject, a.system),
        Operation::Revoke => format!(
            "revoke \u{201c}{e}\u{201d} from {} on {}",
            a.subject, a.system
        ),
        Operation::Disable => format!(
            "disable {}\u{2019}s \u{201c}{e}\u{201d} on {}",
            a.subject, a.system
        ),
        Operation::Enable => format!(
            "enable {}\u{2019}s \u{201c}{e}\u{201d} on {}",
            a.subject, a.system
        ),
    }
}

/// Who must approve and how: "all 2 approvers, in the order listed".
pub fn approvals(r: &Request) -> String {
    let n = r.approvers.len();
    let who = if r.quorum as usize >= n {
        if n == 1 {
            "the one approver".to_string()
        } else {
            format!("all {n} approvers")
        }
    } else {
        format!("{} of the {n} approvers", r.quorum)
    };
    match r.order {
        ApprovalOrder::Sequential => format!("{who}, in the order listed"),
        ApprovalOrder::Parallel => format!("{who}, in any order"),
    }
}

/// A time for people: `2026-12-01 17:00 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A duration for people: `5 minutes`, `2 hours`, `3 days`.
pub fn duration(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    let (n, unit) = if s % 86_400 == 0 && s >= 86_400 {
        (s / 86_400, "day")
    } else if s % 3600 == 0 && s >= 3600 {
        (s / 3600, "hour")
    } else if s % 60 == 0 && s >= 60 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// One line naming the request: purpose, event and impact.
pub fn headline(r: &Request) -> String {
    format!(
        "{} ({}, {})",
        r.purpose,
        event(r.event_kind),
        impact(r.impact)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_as_sentences() {
        let a = EntitlementAction {
            system: "github".into(),
            subject: "dave".into(),
            operation: Operation::Grant,
            entitlement: "org/acme/team/eng".into(),
        };
        assert_eq!(
            action(&a),
            "grant dave \u{201c}org/acme/team/eng\u{201d} on github"
        );
        assert_eq!(duration(time::Duration::minutes(5)), "5 minutes");
        assert_eq!(duration(time::Duration::hours(1)), "1 hour");
        assert_eq!(duration(time::Duration::seconds(90)), "90 seconds");
        assert_eq!(
            when(time::macros::datetime!(2026-12-01 17:05:09 UTC)),
            "2026-12-01 17:05 UTC"
        );
    }
}
