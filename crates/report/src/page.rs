//! The certificate page: what the template shows, worked out from the
//! bundle's log entries and the verification report. Everything here is
//! text; the template escapes it.

use askama::Template;
use countersign_domain::describe;
use countersign_proto::entry::Event;
use countersign_proto::governance::{
    AuthContext, Delegation, Effect, PolicyDecision, PolicyException,
};
use countersign_proto::model::{
    Credential, CredentialKind, Decision, Identity, IdentityKind, IdentityStatus, Request,
    RequestState,
};
use countersign_verify::{Check, Report};
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;

use crate::checks::{self, Group};
use crate::facts::{self, Bundle, Logged};
use crate::words::{self, moment, plural, when, Moment};
use crate::{RenderOptions, Style};

/// One label and value of a key-value table.
pub(crate) struct Row {
    pub label: String,
    pub value: String,
    /// Several values, shown as a list (then `value` is ignored).
    pub items: Vec<String>,
    /// `<time datetime>` for a moment.
    pub iso: Option<String>,
    /// CSS class of the value cell: `hash` for digests (monospace,
    /// wrapped anywhere), `tone-good`, `tone-bad`, `tone-warn`.
    pub class: &'static str,
}

impl Row {
    fn text(label: &str, value: impl Into<String>) -> Row {
        Row {
            label: label.to_string(),
            value: value.into(),
            items: Vec::new(),
            iso: None,
            class: "",
        }
    }

    fn hash(label: &str, value: impl Into<String>) -> Row {
        Row {
            class: "hash",
            ..Row::text(label, value)
        }
    }

    fn tone(label: &str, value: impl Into<String>, tone: &'static str) -> Row {
        Row {
            class: tone,
            ..Row::text(label, value)
        }
    }

    fn time(label: &str, t: time::OffsetDateTime) -> Row {
        let m = moment(t);
        Row {
            iso: Some(m.iso),
            ..Row::text(label, m.text)
        }
    }

    fn time_with(label: &str, t: time::OffsetDateTime, suffix: &str) -> Row {
        let m = moment(t);
        Row {
            iso: Some(m.iso),
            ..Row::text(label, format!("{}{suffix}", m.text))
        }
    }

    fn list(label: &str, items: Vec<String>) -> Row {
        Row {
            items,
            ..Row::text(label, "")
        }
    }
}

/// A captioned key-value table.
pub(crate) struct Table {
    pub caption: String,
    pub rows: Vec<Row>,
}

impl Table {
    fn new(caption: &str, rows: Vec<Row>) -> Table {
        Table {
            caption: caption.to_string(),
            rows,
        }
    }
}

/// One verification check, for the page.
pub(crate) struct CheckLine {
    pub ok: bool,
    /// What the check establishes, or its name when unknown.
    pub sentence: String,
    pub name: String,
    pub detail: String,
}

impl CheckLine {
    fn of(c: &Check) -> CheckLine {
        CheckLine {
            ok: c.ok,
            sentence: checks::sentence(&c.name).map_or_else(|| c.name.clone(), str::to_string),
            name: c.name.clone(),
            detail: c.detail.clone(),
        }
    }
}

pub(crate) struct CheckGroup {
    pub title: String,
    pub lines: Vec<CheckLine>,
    pub passed: usize,
    pub failed: usize,
}

pub(crate) struct Verdict {
    pub ok: bool,
    pub headline: String,
    pub summary: String,
    pub failed: Vec<CheckLine>,
}

pub(crate) struct KeyNotice {
    /// Pinned, and the bundle's key is the pinned one.
    pub pinned: bool,
    /// Pinned, and the bundle's key is not the pinned one.
    pub mismatch: bool,
}

pub(crate) struct Overview {
    pub request_id: String,
    pub purpose: Option<String>,
    pub event: Option<String>,
    pub impact: Option<String>,
    pub impact_tone: &'static str,
    pub outcome: Option<String>,
    pub outcome_tone: &'static str,
    pub outcome_note: Option<String>,
    pub decided_at: Option<Moment>,
}

pub(crate) struct ApproverRow {
    pub position: usize,
    pub handle: String,
    pub outcome: String,
    pub tone: &'static str,
}

pub(crate) struct Approved {
    pub action: Option<String>,
    pub request: Table,
    pub rule: String,
    pub approvers: Vec<ApproverRow>,
}

pub(crate) struct DocumentRow {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub size: String,
    pub media_type: String,
    pub registered: String,
    pub registered_ok: bool,
}

pub(crate) struct SignatureCard {
    pub anchor: String,
    pub heading: String,
    pub subheading: String,
    pub tone: &'static str,
    pub status: String,
    pub status_ok: bool,
    pub main: Table,
    pub left: Vec<Table>,
    pub right: Vec<Table>,
    pub receipt: Option<String>,
    pub receipt_error: Option<String>,
}

pub(crate) struct EventRow {
    pub when: Moment,
    pub index: u64,
    pub what: String,
    pub detail: String,
    pub tone: &'static str,
}

pub(crate) struct CheckpointView {
    pub table: Table,
    pub note: String,
}

#[derive(Template)]
#[template(path = "certificate.html")]
pub(crate) struct Certificate<'a> {
    pub css: Option<&'a str>,
    pub href: Option<&'a str>,
    pub page_title: String,
    pub eyebrow: Option<String>,
    pub verified_at: Option<Moment>,
    pub input_sha256: String,
    pub exported_at: Option<Moment>,
    /// The log key the bundle ships.
    pub log_key: Option<String>,
    /// The input is not an evidence bundle.
    pub unreadable: bool,
    pub verdict: Verdict,
    pub key: KeyNotice,
    pub overview: Option<Overview>,
    /// Why the request's facts are missing, when they are.
    pub missing_request: Option<String>,
    pub approved: Option<Approved>,
    pub documents: Vec<DocumentRow>,
    pub signatures: Vec<SignatureCard>,
    pub events: Vec<EventRow>,
    pub checkpoint: Option<CheckpointView>,
    pub groups: Vec<CheckGroup>,
    pub warnings: Vec<String>,
    /// Where the bundle's own summary disagrees with its log entries.
    pub cross_refs: Vec<String>,
    /// Entries whose bytes are not a log entry.
    pub unreadable_entries: Vec<u64>,
    /// Which parsed entries are not proven to be in the log, in words.
    pub unproven: Option<String>,
}

impl<'a> Certificate<'a> {
    pub fn build(
        json: &[u8],
        mut bundle: Option<Bundle>,
        report: &Report,
        options: &RenderOptions<'a>,
    ) -> Certificate<'a> {
        let unproven = bundle.as_mut().and_then(|b| keep_proven(b, report));
        let bundle = bundle.as_ref();
        let (css, href) = match options.style {
            Style::Inline => (Some(crate::CERTIFICATE_CSS), None),
            Style::Linked(href) => (None, Some(href)),
        };
        let request_id = bundle.map(|b| b.request_id.clone());
        let page_title = match (options.title, &request_id) {
            (Some(t), Some(id)) => format!("{t}: completion certificate for request {id}"),
            (Some(t), None) => format!("{t}: completion certificate"),
            (None, Some(id)) => format!("Completion certificate for request {id}"),
            (None, None) => "Completion certificate".to_string(),
        };
        let pinned_check = report.checks.iter().find(|c| c.name == "log_key.pinned");
        let key = KeyNotice {
            pinned: options.log_key_pinned && pinned_check.is_some_and(|c| c.ok),
            mismatch: pinned_check.is_some_and(|c| !c.ok),
        };
        let mut page = Certificate {
            css,
            href,
            page_title,
            eyebrow: options.title.map(str::to_string),
            verified_at: options.verified_at.map(moment),
            input_sha256: hex::encode(Sha256::digest(json)),
            exported_at: bundle.map(|b| moment(b.exported_at)),
            log_key: bundle.map(|b| b.log_key.trim().to_string()),
            unreadable: bundle.is_none(),
            verdict: verdict(report),
            key,
            overview: None,
            missing_request: None,
            approved: None,
            documents: Vec::new(),
            signatures: Vec::new(),
            events: Vec::new(),
            checkpoint: None,
            groups: Vec::new(),
            warnings: report.warnings.clone(),
            cross_refs: Vec::new(),
            unreadable_entries: Vec::new(),
            unproven,
        };
        if let Some(b) = bundle {
            Reader { b, report }.fill(&mut page);
        }
        page.groups = groups(report, bundle);
        page
    }

    /// How many accepted signatures the page shows, in words.
    pub fn signature_count(&self) -> String {
        plural(
            self.signatures.len(),
            "accepted signature",
            "accepted signatures",
        )
    }
}

/// Leave out of the page every entry the report did not prove to be in the
/// checkpoint; answers what the page should say about them. When no entry
/// is proven (the checkpoint did not verify), all are kept, and the page
/// says that none of it is proven.
fn keep_proven(b: &mut Bundle, report: &Report) -> Option<String> {
    let proven: HashSet<u64> = report
        .checks
        .iter()
        .filter(|c| c.ok && c.name == "entry.inclusion")
        .filter_map(|c| checks::entry_of(&c.detail))
        .collect();
    if b.entries.is_empty() {
        return None;
    }
    if proven.is_empty() {
        return Some(
            "None of the bundle's log entries is proven to be in the transparency log, so nothing this page shows is proven."
                .to_string(),
        );
    }
    let left_out: Vec<String> = b
        .entries
        .iter()
        .filter(|e| !proven.contains(&e.index))
        .map(|e| e.index.to_string())
        .collect();
    b.entries.retain(|e| proven.contains(&e.index));
    match left_out.as_slice() {
        [] => None,
        [one] => Some(format!(
            "Log entry {one} is not proven to be in the transparency log, so this page leaves it out."
        )),
        many => Some(format!(
            "Log entries {} are not proven to be in the transparency log, so this page leaves them out.",
            many.join(", ")
        )),
    }
}

fn verdict(report: &Report) -> Verdict {
    let total = report.checks.len();
    let failed: Vec<CheckLine> = report.failures().map(CheckLine::of).collect();
    let passed = total - failed.len();
    let warnings = plural(report.warnings.len(), "warning", "warnings");
    let ok = report.ok();
    let headline = if ok {
        format!("Verified: {} passed", plural(total, "check", "checks"))
    } else if total == 0 {
        "NOT VERIFIED: no check could be run".to_string()
    } else {
        format!("NOT VERIFIED: {} of {total} checks failed", failed.len())
    };
    Verdict {
        ok,
        headline,
        summary: format!(
            "{passed} of {total} checks passed, {} failed; {warnings}.",
            failed.len()
        ),
        failed,
    }
}

fn groups(report: &Report, bundle: Option<&Bundle>) -> Vec<CheckGroup> {
    let mut grouped: Vec<(Group, Vec<&Check>)> = Vec::new();
    for c in &report.checks {
        let g = Group::of(c);
        match grouped.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push(c),
            None => grouped.push((g, vec![c])),
        }
    }
    grouped.sort_by_key(|(g, _)| *g);
    grouped
        .into_iter()
        .map(|(g, list)| {
            let failed = list.iter().filter(|c| !c.ok).count();
            CheckGroup {
                title: group_title(g, bundle),
                passed: list.len() - failed,
                failed,
                lines: list.into_iter().map(CheckLine::of).collect(),
            }
        })
        .collect()
}

fn group_title(g: Group, bundle: Option<&Bundle>) -> String {
    match g {
        Group::Log => "The bundle and the transparency log".to_string(),
        Group::Request => "The request and its documents".to_string(),
        Group::Signature(n) => {
            let actor = bundle.and_then(|b| {
                b.entries.iter().find_map(|e| match &e.event {
                    Event::SignatureAccepted { actor, .. } if e.index == n => Some(actor.clone()),
                    _ => None,
                })
            });
            match actor {
                Some(a) => format!("Signature by {a} (log entry {n})"),
                None => format!("Signature at log entry {n}"),
            }
        }
        Group::Refusals => "Refusals and exceptions".to_string(),
        Group::State => "The request's state and the bundle's summary".to_string(),
        Group::Files => "Document files you supplied".to_string(),
        Group::Other => "Other checks".to_string(),
    }
}

/// How the request ended, according to its log entries.
struct Outcome<'b> {
    state: RequestState,
    /// The entry that decided it, if one did.
    decided: Option<&'b Logged>,
}

struct Reader<'b> {
    b: &'b Bundle,
    report: &'b Report,
}

impl<'b> Reader<'b> {
    fn fill(&self, page: &mut Certificate<'_>) {
        let b = self.b;
        let id = b.request_id.as_str();
        page.unreadable_entries = b.unreadable.clone();
        page.checkpoint = Some(self.checkpoint());
        let created = b.entries.iter().find_map(|e| match &e.event {
            Event::RequestCreated { request, policy } if request.id == id => {
                Some((e, request, policy.as_ref()))
            }
            _ => None,
        });
        let Some((created_entry, request, creation_policy)) = created else {
            page.overview = Some(Overview {
                request_id: id.to_string(),
                purpose: None,
                event: None,
                impact: None,
                impact_tone: "",
                outcome: None,
                outcome_tone: "",
                outcome_note: None,
                decided_at: None,
            });
            page.missing_request = Some(format!(
                "The bundle holds no log entry that creates request {id}, so nothing about the request can be shown from the log. The failed checks below say what is missing."
            ));
            return;
        };
        let outcome = self.outcome(id);
        let (outcome_word, outcome_note) = match (outcome.state, outcome.decided) {
            (state, Some(e)) => (
                words::state(state).to_string(),
                Some(format!("decided by log entry {}", e.index)),
            ),
            (RequestState::Pending, None) if request.expires_at <= b.exported_at => (
                "expired".to_string(),
                Some(format!(
                    "no decision was recorded before it expired at {}",
                    when(request.expires_at)
                )),
            ),
            (state, None) => (
                words::state(state).to_string(),
                Some(format!(
                    "not decided when the bundle was exported, at {}",
                    when(b.exported_at)
                )),
            ),
        };
        let shown_state = if outcome.decided.is_none()
            && outcome.state == RequestState::Pending
            && request.expires_at <= b.exported_at
        {
            RequestState::Expired
        } else {
            outcome.state
        };
        page.overview = Some(Overview {
            request_id: id.to_string(),
            purpose: Some(request.purpose.clone()),
            event: Some(describe::event(request.event_kind).to_string()),
            impact: Some(describe::impact(request.impact)),
            impact_tone: match request.impact {
                countersign_proto::model::Impact::High
                | countersign_proto::model::Impact::Critical => "tone-warn",
                _ => "",
            },
            outcome: Some(outcome_word),
            outcome_tone: words::state_tone(shown_state),
            outcome_note,
            decided_at: outcome.decided.map(|e| moment(e.at)),
        });
        if b.view.state != shown_state {
            page.cross_refs.push(format!(
                "The bundle's summary gives the request's state as {}, but its log entries make it {}.",
                words::state(b.view.state),
                words::state(shown_state)
            ));
        }
        page.approved = Some(self.approved(created_entry, request, creation_policy));
        page.documents = self.documents(request, created_entry.index);
        let accepted: Vec<&Logged> = b
            .entries
            .iter()
            .filter(
                |e| matches!(&e.event, Event::SignatureAccepted { request, .. } if request == id),
            )
            .collect();
        if b.view.signatures.len() != accepted.len() {
            page.cross_refs.push(format!(
                "The bundle's summary lists {}, but the log holds {}.",
                plural(b.view.signatures.len(), "signature", "signatures"),
                plural(accepted.len(), "accepted signature", "accepted signatures")
            ));
        }
        page.signatures = accepted.iter().filter_map(|e| self.signature(e)).collect();
        page.events = self.events(id);
    }

    fn outcome(&self, id: &str) -> Outcome<'b> {
        for e in &self.b.entries {
            match &e.event {
                Event::SignatureAccepted {
                    request,
                    request_state,
                    ..
                } if request == id && *request_state != RequestState::Pending => {
                    return Outcome {
                        state: *request_state,
                        decided: Some(e),
                    }
                }
                Event::RequestClosed { request, state, .. } if request == id => {
                    return Outcome {
                        state: *state,
                        decided: Some(e),
                    }
                }
                _ => {}
            }
        }
        Outcome {
            state: RequestState::Pending,
            decided: None,
        }
    }

    fn approved(
        &self,
        created: &Logged,
        request: &Request,
        policy: Option<&PolicyDecision>,
    ) -> Approved {
        let id = request.id.as_str();
        let mut rows = vec![
            Row::text("Request", id),
            Row::text("Purpose", request.purpose.clone()),
            Row::text(
                "Business event",
                format!(
                    "{}, {}",
                    describe::event(request.event_kind),
                    describe::impact(request.impact)
                ),
            ),
            Row::text("Requested by", request.requester.clone()),
            Row::text("For (beneficiary)", request.beneficiary.clone()),
        ];
        match &request.action {
            Some(a) => {
                rows.push(Row::text("Access change", describe::action(a)));
                rows.push(Row::text("Target system", a.system.clone()));
                rows.push(Row::text("Entitlement", a.entitlement.clone()));
            }
            None => rows.push(Row::text(
                "Access change",
                "none: the request authorises no entitlement change",
            )),
        }
        rows.push(Row::time_with(
            "Created",
            request.created_at,
            &format!(" (log entry {})", created.index),
        ));
        rows.push(Row::time("Expires", request.expires_at));
        if let Some(d) = policy {
            rows.push(Row::tone(
                "Policy on creation",
                format!(
                    "{} under policy set {}",
                    words::policy_outcome(d),
                    d.policy_set
                ),
                if d.effect == Effect::Allow {
                    ""
                } else {
                    "tone-bad"
                },
            ));
        }

        // Approvers change after creation only by a logged re-routing.
        let mut approvers: Vec<String> = request.approvers.clone();
        for e in &self.b.entries {
            if let Event::RequestRerouted {
                request: rid,
                removed,
                added,
                ..
            } = &e.event
            {
                if rid == id {
                    match added {
                        Some(a) => approvers
                            .iter_mut()
                            .filter(|x| *x == removed)
                            .for_each(|x| *x = a.clone()),
                        None => approvers.retain(|x| x != removed),
                    }
                }
            }
        }
        let rule = {
            let mut r = request.clone();
            r.approvers = approvers.clone();
            format!("Needs {}.", describe::approvals(&r))
        };
        let approvers = approvers
            .iter()
            .enumerate()
            .map(|(k, handle)| {
                let signed = self.b.entries.iter().find_map(|e| match &e.event {
                    Event::SignatureAccepted {
                        request: rid,
                        actor,
                        principal,
                        decision,
                        ..
                    } if rid == id && principal.as_deref().unwrap_or(actor) == handle => {
                        Some((e, actor, *decision))
                    }
                    _ => None,
                });
                let (outcome, tone) = match signed {
                    Some((e, actor, d)) => {
                        let by = if actor != handle {
                            format!(", signed on their behalf by {actor}")
                        } else {
                            String::new()
                        };
                        (
                            format!(
                                "{} at {} (log entry {}){by}",
                                words::decision(d),
                                when(e.at),
                                e.index
                            ),
                            if d == Decision::Approve {
                                "tone-good"
                            } else {
                                "tone-bad"
                            },
                        )
                    }
                    None => ("did not sign".to_string(), ""),
                };
                ApproverRow {
                    position: k + 1,
                    handle: handle.clone(),
                    outcome,
                    tone,
                }
            })
            .collect();
        Approved {
            action: request.action.as_ref().map(describe::action),
            request: Table::new("The request, as its creating log entry records it", rows),
            rule,
            approvers,
        }
    }

    fn documents(&self, request: &Request, created_at: u64) -> Vec<DocumentRow> {
        request
            .documents
            .iter()
            .map(|d| {
                let registered = self.b.entries.iter().find_map(|e| match &e.event {
                    Event::DocumentRegistered { version }
                        if version.document == d.document
                            && version.version == d.version
                            && version.sha256 == d.sha256 =>
                    {
                        Some((e, version))
                    }
                    _ => None,
                });
                match registered {
                    Some((e, v)) => DocumentRow {
                        name: d.document.clone(),
                        version: d.version,
                        sha256: d.sha256.clone(),
                        size: v
                            .size
                            .map_or_else(|| "not recorded".to_string(), words::size),
                        media_type: v
                            .media_type
                            .clone()
                            .unwrap_or_else(|| "not recorded".to_string()),
                        registered: format!("log entry {}, {}", e.index, when(e.at)),
                        registered_ok: e.index < created_at,
                    },
                    None => DocumentRow {
                        name: d.document.clone(),
                        version: d.version,
                        sha256: d.sha256.clone(),
                        size: "unknown".to_string(),
                        media_type: "unknown".to_string(),
                        registered: "NOT in the bundle: no log entry registers this version"
                            .to_string(),
                        registered_ok: false,
                    },
                }
            })
            .collect()
    }

    /// The card of the `signature.accepted` entry `e`.
    fn signature(&self, e: &Logged) -> Option<SignatureCard> {
        let Event::SignatureAccepted {
            actor,
            principal,
            delegation,
            exception,
            policy,
            auth,
            decision,
            key_id,
            envelope_sha256,
            envelope,
            request_state,
            ..
        } = &e.event
        else {
            return None;
        };
        let n = e.index;
        let statement = facts::statement(envelope);
        let principal = principal.as_deref().filter(|p| p != actor);
        let heading = match principal {
            Some(p) => format!("{actor} {} on behalf of {p}", words::decision(*decision)),
            None => format!("{actor} {}", words::decision(*decision)),
        };

        let mut sig = vec![Row::text("Signed by (actor)", actor.clone())];
        if let Some(p) = principal {
            sig.push(Row::text("On behalf of (principal)", p));
        }
        sig.push(Row::tone(
            "Decision",
            words::decision(*decision),
            if *decision == Decision::Approve {
                "tone-good"
            } else {
                "tone-bad"
            },
        ));
        match &statement {
            Some(st) => {
                sig.push(Row::text(
                    "Reason given",
                    st.predicate
                        .reason
                        .clone()
                        .unwrap_or_else(|| "none given".to_string()),
                ));
                sig.push(Row::time(
                    "Signed at (per the statement)",
                    st.predicate.signed_at,
                ));
            }
            None => sig.push(Row::tone(
                "Signed statement",
                "the envelope does not hold a readable approval statement",
                "tone-bad",
            )),
        }
        sig.push(Row::time_with(
            "Recorded in the log",
            e.at,
            &format!(" (log entry {n})"),
        ));
        sig.push(Row::text(
            "Request state after this signature",
            words::state(*request_state),
        ));
        sig.push(Row::hash("Signing key id", key_id.clone()));
        sig.push(Row::hash(
            "Signed envelope SHA-256",
            envelope_sha256.clone(),
        ));
        let inclusion = self
            .report
            .checks
            .iter()
            .find(|c| c.name == "entry.inclusion" && checks::entry_of(&c.detail) == Some(n));
        sig.push(match inclusion {
            Some(c) if c.ok => Row::tone("In the signed checkpoint", "yes, proven", "tone-good"),
            Some(_) => Row::tone(
                "In the signed checkpoint",
                "NOT proven: see the failed checks",
                "tone-bad",
            ),
            None => Row::tone("In the signed checkpoint", "not checked", "tone-warn"),
        });

        // Who signed and with what on the left; how, and under which
        // policy, on the right (side by side on a wide page or paper).
        let mut left = vec![Table::new(
            "The signer's identity when signing",
            self.identity_rows(actor, n),
        )];
        if let Some(p) = principal {
            left.push(Table::new(
                "The principal's identity when signing",
                self.identity_rows(p, n),
            ));
        }
        if principal.is_some() || delegation.is_some() {
            left.push(Table::new(
                "The delegation",
                self.delegation_rows(delegation.as_deref(), n),
            ));
        }
        left.push(Table::new(
            "The credential",
            self.credential_rows(key_id, n),
        ));
        let mut right = vec![
            Table::new("Authentication", auth_rows(auth.as_ref())),
            Table::new("The policy decision", policy_rows(policy.as_ref())),
        ];
        if let Some(x) = exception {
            right.push(Table::new(
                "The break-glass exception",
                self.exception_rows(x, n),
            ));
        }

        let own: Vec<&Check> = self
            .report
            .checks
            .iter()
            .filter(|c| Group::of(c) == Group::Signature(n))
            .collect();
        let failed = own.iter().filter(|c| !c.ok).count();
        let status = if own.is_empty() {
            "No check was run on this signature.".to_string()
        } else if failed == 0 {
            format!(
                "All {} on this signature passed.",
                plural(own.len(), "check", "checks")
            )
        } else {
            format!(
                "{failed} of {} on this signature FAILED.",
                plural(own.len(), "check", "checks")
            )
        };
        let (receipt, receipt_error) = match self.b.receipt(e) {
            Ok(r) => (Some(r), None),
            Err(why) => (None, Some(why)),
        };
        Some(SignatureCard {
            anchor: format!("signature-{n}"),
            heading,
            subheading: format!("Log entry {n}, recorded {}", when(e.at)),
            tone: if *decision == Decision::Approve {
                "good"
            } else {
                "bad"
            },
            status,
            status_ok: !own.is_empty() && failed == 0,
            main: Table::new("The signature", sig),
            left,
            right,
            receipt,
            receipt_error,
        })
    }

    fn identity_rows(&self, handle: &str, n: u64) -> Vec<Row> {
        let latest = self.b.before(n).rev().find_map(|e| match &e.event {
            Event::IdentityCreated { identity }
            | Event::IdentityUpdated { identity, .. }
            | Event::IdentityStatusChanged { identity, .. }
                if identity.handle == handle =>
            {
                Some((e, identity))
            }
            _ => None,
        });
        let Some((e, i)) = latest else {
            return vec![
                Row::text("Identity", handle),
                Row::tone(
                    "Status when signing",
                    "unknown: no identity record before the signature is in the bundle",
                    "tone-bad",
                ),
            ];
        };
        identity_rows(i, e)
    }

    fn credential_rows(&self, key_id: &str, n: u64) -> Vec<Row> {
        let enrolment = self.b.before(n).find_map(|e| match &e.event {
            Event::CredentialEnrolled { credential } if credential.key_id == key_id => {
                Some((e, credential, None))
            }
            Event::CredentialCertified {
                credential,
                oidc_issuer,
                oidc_subject,
                ..
            } if credential.key_id == key_id => {
                Some((e, credential, Some((oidc_issuer, oidc_subject))))
            }
            _ => None,
        });
        let Some((enrolled, c, certified)) = enrolment else {
            return vec![
                Row::hash("Key id", key_id),
                Row::tone(
                    "Enrolment",
                    "NOT in the bundle: no entry before the signature enrols or certifies this key",
                    "tone-bad",
                ),
            ];
        };
        // A vouching before the signature raises the label, as the verifier
        // reads it.
        let c: Credential = match self.b.before(n).rev().find_map(|e| match &e.event {
            Event::CredentialVouched {
                key_id: k, vouch, ..
            } if k == key_id => Some(vouch),
            _ => None,
        }) {
            Some(v) => countersign_domain::identity::vouched(c, v.clone()),
            None => c.clone(),
        };
        let mut rows = vec![
            Row::text(
                "Kind",
                format!(
                    "{}, {}",
                    words::credential_kind(&c),
                    words::algorithm(c.algorithm)
                ),
            ),
            Row::hash("Key id", c.key_id.clone()),
            Row::text("Belongs to", c.identity.clone()),
            Row::text("Assurance label", words::assurance(c.assurance)),
            Row::text("Assurance basis", words::basis(&c)),
        ];
        if let Some(p) = &c.passkey {
            rows.push(Row::text(
                "Passkey",
                if p.device_bound() {
                    "device-bound: the private key cannot leave the authenticator"
                } else {
                    "synced: the private key may be copied to the owner's other devices"
                },
            ));
            rows.push(Row::text(
                "User verified at registration",
                if p.user_verified {
                    "yes (PIN or biometrics)"
                } else {
                    "no"
                },
            ));
            rows.push(Row::tone(
                "Attestation",
                format!(
                    "format {}, {} attestation, {}",
                    p.attestation.format,
                    p.attestation.kind,
                    if p.attestation.trusted {
                        "from a trusted root"
                    } else {
                        "not trusted"
                    }
                ),
                if p.attestation.trusted {
                    ""
                } else {
                    "tone-warn"
                },
            ));
            rows.push(Row::hash("Authenticator model (AAGUID)", p.aaguid.clone()));
        } else if c.kind == CredentialKind::Passkey {
            rows.push(Row::text("Passkey", "registration details not recorded"));
        }
        if let Some((issuer, subject)) = certified {
            rows.push(Row::text(
                "Issued for",
                format!("workload token from {issuer}, subject {subject}"),
            ));
        }
        if let Some(label) = &c.label {
            rows.push(Row::text("Label", label.clone()));
        }
        rows.push(Row::time_with(
            if certified.is_some() {
                "Certified"
            } else {
                "Enrolled"
            },
            enrolled.at,
            &format!(" (log entry {})", enrolled.index),
        ));
        rows.push(match c.expires_at {
            Some(t) => Row::time("Expires", t),
            None => Row::text("Expires", "no expiry"),
        });
        let revoked = self.b.before(n).find(|e| match &e.event {
            Event::CredentialRevoked { key_id: k, .. } => k == key_id,
            Event::IdentityStatusChanged { revoked_keys, .. } => {
                revoked_keys.iter().any(|k| k == key_id)
            }
            _ => false,
        });
        if let Some(r) = revoked {
            rows.push(Row::tone(
                "Revoked",
                format!(
                    "by log entry {}, {}, BEFORE this signature",
                    r.index,
                    when(r.at)
                ),
                "tone-bad",
            ));
        }
        rows
    }

    fn delegation_rows(&self, id: Option<&str>, n: u64) -> Vec<Row> {
        let Some(id) = id else {
            return vec![Row::tone(
                "Delegation",
                "NONE recorded, although the signature is for someone else",
                "tone-bad",
            )];
        };
        let granted = self.b.before(n).rev().find_map(|e| match &e.event {
            Event::DelegationGranted { delegation, .. } if delegation.id == id => {
                Some((e, delegation))
            }
            _ => None,
        });
        let Some((e, d)) = granted else {
            return vec![
                Row::text("Delegation", id),
                Row::tone(
                    "Grant",
                    "NOT in the bundle: no entry before the signature grants this delegation",
                    "tone-bad",
                ),
            ];
        };
        let mut rows = delegation_rows(d, e);
        let ended = self.b.before(n).find_map(|x| match &x.event {
            Event::DelegationEnded {
                delegation, reason, ..
            } if delegation == id => Some((x, reason)),
            _ => None,
        });
        if let Some((x, reason)) = ended {
            rows.push(Row::tone(
                "Ended",
                format!(
                    "by log entry {}, {}, BEFORE this signature: {reason}",
                    x.index,
                    when(x.at)
                ),
                "tone-bad",
            ));
        }
        rows
    }

    fn exception_rows(&self, id: &str, n: u64) -> Vec<Row> {
        let requested = self.b.before(n).find_map(|e| match &e.event {
            Event::ExceptionRequested { exception } if exception.id == id => Some((e, exception)),
            _ => None,
        });
        let decided = self.b.before(n).rev().find_map(|e| match &e.event {
            Event::ExceptionDecided { exception, policy } if exception.id == id => {
                Some((e, exception, policy))
            }
            _ => None,
        });
        let mut rows = vec![Row::text("Exception", id)];
        let x: Option<&PolicyException> = decided.map(|(_, x, _)| x).or(requested.map(|(_, x)| x));
        if let Some(x) = x {
            rows.push(Row::text("Asked for by", x.actor.clone()));
            rows.push(Row::text("Justification", x.justification.clone()));
            if !x.refused_by.is_empty() {
                rows.push(Row::list("Refused by policy", x.refused_by.clone()));
            }
            rows.push(Row::text(
                "The refusal it answers",
                format!("log entry {}", x.refusal_index),
            ));
            rows.push(Row::time("Asked for", x.requested_at));
        }
        match decided {
            Some((e, x, policy)) => {
                rows.push(Row::tone(
                    "Decision",
                    format!(
                        "{} by {}",
                        words::exception_state(x.state),
                        x.decided_by.as_deref().unwrap_or("(not recorded)")
                    ),
                    match x.state {
                        countersign_proto::governance::ExceptionState::Approved
                        | countersign_proto::governance::ExceptionState::Used => "",
                        _ => "tone-bad",
                    },
                ));
                rows.push(Row::time_with(
                    "Decided",
                    x.decided_at.unwrap_or(e.at),
                    &format!(" (log entry {})", e.index),
                ));
                if let Some(r) = &x.decision_reason {
                    rows.push(Row::text("Decision reason", r.clone()));
                }
                if let Some(t) = x.expires_at {
                    rows.push(Row::time("Usable until", t));
                }
                rows.push(Row::text(
                    "Policy on the decision",
                    format!(
                        "{} under policy set {}",
                        words::policy_outcome(policy),
                        policy.policy_set
                    ),
                ));
            }
            None => rows.push(Row::tone(
                "Decision",
                "NOT in the bundle: no entry before the signature decides this exception",
                "tone-bad",
            )),
        }
        rows
    }

    fn events(&self, id: &str) -> Vec<EventRow> {
        let mut out = Vec::new();
        for e in &self.b.entries {
            let (what, detail, tone) = match &e.event {
                Event::SignatureRefused {
                    code,
                    detail,
                    request: Some(r),
                    actor,
                    principal,
                    key_id,
                    policy,
                    ..
                } if r == id => {
                    let who = actor.as_deref().unwrap_or("an unknown signer");
                    let for_whom = principal
                        .as_deref()
                        .filter(|p| Some(*p) != actor.as_deref())
                        .map(|p| format!(" on behalf of {p}"))
                        .unwrap_or_default();
                    let key = key_id
                        .as_deref()
                        .map(|k| format!(" with key {}…", k.get(..12).unwrap_or(k)))
                        .unwrap_or_default();
                    // The refusal's detail usually names the refusing policy
                    // already; say it only when it does not.
                    let by_policy = policy
                        .as_ref()
                        .filter(|d| !d.policies.iter().all(|p| detail.contains(p.as_str())))
                        .map(|d| format!(" Policy: {}.", words::policy_outcome(d)))
                        .unwrap_or_default();
                    (
                        "Signing attempt refused".to_string(),
                        format!("{who}{for_whom}{key}: {detail} (code {code}).{by_policy}"),
                        "tone-bad",
                    )
                }
                Event::RequestClosed {
                    request,
                    state,
                    reason,
                } if request == id => (
                    format!("Request closed: {}", words::state(*state)),
                    reason
                        .clone()
                        .unwrap_or_else(|| "no reason given".to_string()),
                    "",
                ),
                Event::RequestRerouted {
                    request,
                    removed,
                    added,
                    reason,
                } if request == id => match added {
                    Some(a) => (
                        "Approver replaced".to_string(),
                        format!("{removed} was replaced by {a}: {reason}"),
                        "tone-warn",
                    ),
                    None => (
                        "Approver removed".to_string(),
                        format!("{removed} was taken off the request: {reason}"),
                        "tone-warn",
                    ),
                },
                Event::ExceptionRequested { exception: x } if x.request == id => (
                    "Policy exception requested".to_string(),
                    format!(
                        "{} asked for exception {}: {}",
                        x.actor, x.id, x.justification
                    ),
                    "tone-warn",
                ),
                Event::ExceptionDecided { exception: x, .. } if x.request == id => (
                    format!("Policy exception {}", words::exception_state(x.state)),
                    format!(
                        "exception {} for {}, decided by {}{}",
                        x.id,
                        x.actor,
                        x.decided_by.as_deref().unwrap_or("(not recorded)"),
                        x.decision_reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                    "tone-warn",
                ),
                _ => continue,
            };
            out.push(EventRow {
                when: moment(e.at),
                index: e.index,
                what,
                detail,
                tone,
            });
        }
        out
    }

    fn checkpoint(&self) -> CheckpointView {
        let b = self.b;
        let mut rows = Vec::new();
        match &b.note.body {
            Some(cp) => {
                let (b64, hex) = facts::root_forms(&cp.root);
                rows.push(Row::text("Log (origin)", cp.origin.clone()));
                rows.push(Row::text(
                    "Tree size",
                    format!(
                        "{} (entries 0 to {})",
                        plural(cp.size as usize, "entry", "entries"),
                        cp.size.saturating_sub(1)
                    ),
                ));
                rows.push(Row::hash("Root hash (base64)", b64));
                rows.push(Row::hash("Root hash (hex)", hex));
            }
            None => rows.push(Row::tone(
                "Checkpoint",
                "the checkpoint text does not parse",
                "tone-bad",
            )),
        }
        let names: Vec<String> = b
            .note
            .signatures
            .iter()
            .map(|line| {
                let line = line.strip_prefix("\u{2014} ").unwrap_or(line);
                line.split(' ').next().unwrap_or(line).to_string()
            })
            .collect();
        if !names.is_empty() {
            rows.push(Row::list("Signed by (key names)", names));
        }
        let verified = self
            .report
            .checks
            .iter()
            .find(|c| c.name == "checkpoint.signature");
        rows.push(match verified {
            Some(c) if c.ok => Row::tone("Log signature", "valid", "tone-good"),
            Some(_) => Row::tone(
                "Log signature",
                "NOT valid: see the failed checks",
                "tone-bad",
            ),
            None => Row::tone("Log signature", "not checked", "tone-warn"),
        });
        rows.push(Row::hash(
            "Log key (from the bundle)",
            b.log_key.trim().to_string(),
        ));
        rows.push(Row::time("Bundle exported", b.exported_at));
        rows.push(Row::text("Bundle format", b.format.clone()));
        rows.push(Row::text(
            "Log entries in the bundle",
            plural(b.entries.len() + b.unreadable.len(), "entry", "entries"),
        ));
        CheckpointView {
            table: Table::new("The signed checkpoint", rows),
            note: b.checkpoint.clone(),
        }
    }
}

fn identity_rows(i: &Identity, e: &Logged) -> Vec<Row> {
    let mut rows = vec![Row::text(
        "Identity",
        format!("{}, {}", i.handle, words::identity_kind(i.kind)),
    )];
    if !i.display_name.is_empty() && i.display_name != i.handle {
        rows.push(Row::text("Name", i.display_name.clone()));
    }
    rows.push(Row::tone(
        "Status when signing",
        words::identity_status(i.status),
        if i.status == IdentityStatus::Active {
            "tone-good"
        } else {
            "tone-bad"
        },
    ));
    if i.kind != IdentityKind::Human {
        rows.push(match &i.owner {
            Some(o) => Row::text("Accountable owner", o.clone()),
            None => Row::tone("Accountable owner", "none recorded", "tone-warn"),
        });
    }
    if i.orphaned {
        rows.push(Row::tone(
            "Orphaned",
            "yes: its owner left and nobody is accountable for it",
            "tone-warn",
        ));
    }
    if i.shared {
        rows.push(Row::tone(
            "Shared account",
            "yes: more than one person can use it",
            "tone-warn",
        ));
    }
    rows.push(Row::text(
        "As recorded by",
        format!("log entry {} ({}), {}", e.index, e.event.kind(), when(e.at)),
    ));
    rows
}

fn delegation_rows(d: &Delegation, e: &Logged) -> Vec<Row> {
    vec![
        Row::text("Delegation", d.id.clone()),
        Row::text(
            "Lets",
            format!("{} sign on behalf of {}", d.delegate, d.principal),
        ),
        Row::text("Covers", words::scope(d)),
        Row::text(
            "Valid",
            format!("from {} until {}", when(d.not_before), when(d.not_after)),
        ),
        Row::text("Reason", d.reason.clone()),
        Row::text(
            "Granted by",
            format!(
                "{} at {} (log entry {})",
                d.granted_by,
                when(d.granted_at),
                e.index
            ),
        ),
    ]
}

fn auth_rows(auth: Option<&AuthContext>) -> Vec<Row> {
    let Some(a) = auth else {
        return vec![Row::text(
            "Recorded authentication",
            "none recorded with the signature",
        )];
    };
    let mut rows = vec![
        Row::text("Assurance level", words::aal(a.aal)),
        Row::text("Established by", words::auth_method(a)),
    ];
    rows.push(match a.auth_time {
        Some(t) => Row::time("Last signed in", t),
        None => Row::text("Last signed in", "not recorded"),
    });
    rows
}

fn policy_rows(policy: Option<&PolicyDecision>) -> Vec<Row> {
    let Some(d) = policy else {
        return vec![Row::tone(
            "Policy decision",
            "none recorded with the signature",
            "tone-warn",
        )];
    };
    let mut rows = vec![
        Row::tone(
            "Outcome",
            words::policy_outcome(d),
            if d.effect == Effect::Allow {
                "tone-good"
            } else {
                "tone-bad"
            },
        ),
        Row::text("Asked to", words::policy_action(d.action)),
    ];
    if !d.policies.is_empty() {
        rows.push(Row::list("Deciding policies", d.policies.clone()));
    }
    if !d.reasons.is_empty() {
        rows.push(Row::list("Reasons", d.reasons.clone()));
    }
    rows.push(Row::hash("Policy set", d.policy_set.clone()));
    if !d.errors.is_empty() {
        rows.push(Row {
            class: "tone-warn",
            ..Row::list("Policies that failed to evaluate", d.errors.clone())
        });
    }
    rows
}
