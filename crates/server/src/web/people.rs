//! Pages about people and controls: the account (passkeys, sessions,
//! notifications), delegations, the auditor's search and identity pages,
//! control exceptions, and read-only administration views.

use super::Form;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use countersign_domain::delegation::Grantor;
use countersign_domain::describe;
use countersign_domain::policy::credential_aal;
use countersign_ledger::LedgerError;
use countersign_proto::api::{DelegationFilter, GrantDelegation, IdentityFilter, RequestFilter};
use countersign_proto::entry::Event;
use countersign_proto::governance::DelegationScope;
use countersign_proto::iga::{ControlFilter, ControlState, Resolution};
use countersign_proto::model::{Credential, CredentialKind, EventKind, Impact};
use countersign_proto::ErrorCode;
use countersign_webauthn::{AuthenticationResponseJson, RequestOptions, UserVerification};
use serde::Deserialize;

use super::requests::{line, PersonRef, RequestLine};
use super::session::{Viewer, SEES_ALL};
use super::{render, see_other, Chrome, PageError};
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};

/// A log event in a sentence, for timelines.
pub fn entry_words(e: &Event) -> String {
    match e {
        Event::RequestCreated { request, .. } => format!(
            "{} asked for approval: {}",
            request.requester,
            describe::headline(request)
        ),
        Event::SignatureAccepted {
            actor,
            principal,
            decision,
            request_state,
            ..
        } => format!(
            "{actor}{} {}d; the request is now {}",
            principal
                .as_ref()
                .map(|p| format!(" (for {p})"))
                .unwrap_or_default(),
            decision.as_str(),
            request_state.as_str()
        ),
        Event::SignatureRefused {
            code,
            detail,
            actor,
            ..
        } => format!(
            "a signature{} was refused ({}): {detail}",
            actor
                .as_ref()
                .map(|a| format!(" by {a}"))
                .unwrap_or_default(),
            code.as_str()
        ),
        Event::RequestClosed { state, reason, .. } => format!(
            "the request was closed as {}{}",
            state.as_str(),
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        Event::RequestRerouted {
            removed,
            added,
            reason,
            ..
        } => format!(
            "{removed} was taken off the request{} ({reason})",
            added
                .as_ref()
                .map(|a| format!(" and {a} put in their place"))
                .unwrap_or_default()
        ),
        Event::DocumentRegistered { version } => format!(
            "document {} version {} registered (SHA-256 {})",
            version.document, version.version, version.sha256
        ),
        Event::IdentityCreated { identity } => {
            format!(
                "identity {} created ({})",
                identity.handle,
                identity.kind.as_str()
            )
        }
        Event::IdentityUpdated { identity, changed } => {
            format!(
                "identity {} changed: {}",
                identity.handle,
                changed.join(", ")
            )
        }
        Event::IdentityStatusChanged {
            identity, previous, ..
        } => format!(
            "identity {} went from {} to {}",
            identity.handle,
            previous.as_str(),
            identity.status.as_str()
        ),
        Event::CredentialEnrolled { credential } => format!(
            "{} enrolled a {} ({}, {})",
            credential.identity,
            credential.kind.as_str(),
            credential.assurance.as_str(),
            credential.assurance_basis.as_str()
        ),
        Event::CredentialVouched {
            key_id,
            identity,
            vouch,
        } => format!(
            "{} vouched for {identity}'s key {key_id}: {}",
            vouch.by, vouch.reason
        ),
        Event::CredentialRevoked {
            identity, key_id, ..
        } => {
            format!("{identity}'s credential {key_id} was revoked")
        }
        Event::DelegationGranted { delegation, .. } => format!(
            "{} delegated approvals to {} until {}",
            delegation.principal,
            delegation.delegate,
            describe::when(delegation.not_after)
        ),
        Event::DelegationEnded {
            principal,
            delegate,
            reason,
            ..
        } => format!("the delegation from {principal} to {delegate} ended: {reason}"),
        Event::ExceptionRequested { exception } => format!(
            "{} asked for a break-glass exception: {}",
            exception.actor, exception.justification
        ),
        Event::ExceptionDecided { exception, .. } => format!(
            "the exception for {} was {} by {}",
            exception.actor,
            exception.state.as_str(),
            exception.decided_by.as_deref().unwrap_or("?")
        ),
        Event::PolicyActivated { policy_set, .. } => {
            format!("policy set {policy_set} came into force")
        }
        other => other.kind().replace(['.', '_'], " "),
    }
}

// ------------------------------------------------------------- account

/// A credential, as the account and admin pages show it.
pub struct CredentialRow {
    pub key_id: String,
    pub identity: String,
    pub kind: String,
    pub label: String,
    pub assurance: String,
    pub aal: u8,
    pub enrolled: String,
    pub status: String,
}

fn credential_row(c: &Credential) -> CredentialRow {
    let kind = match c.kind {
        CredentialKind::Passkey => match &c.passkey {
            Some(p) if p.device_bound() => "passkey (device-bound)".to_string(),
            Some(_) => "passkey (synced)".to_string(),
            None => "passkey".to_string(),
        },
        CredentialKind::Key => "key file".to_string(),
        CredentialKind::Certificate => "workload certificate".to_string(),
    };
    CredentialRow {
        key_id: c.key_id.clone(),
        identity: c.identity.clone(),
        kind,
        label: c.label.clone().unwrap_or_default(),
        assurance: format!("{} ({})", c.assurance.as_str(), c.assurance_basis.as_str()),
        aal: credential_aal(c),
        enrolled: describe::when(c.enrolled_at),
        status: if c.revoked_at.is_some() {
            "revoked".into()
        } else if c.expires_at.is_some() {
            "expires".into()
        } else {
            "active".into()
        },
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    name: String,
    handle: String,
    email: String,
    credentials: Vec<CredentialRow>,
    signed_in: String,
}

pub async fn account(State(s): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let me = viewer.handle().to_string();
    let credentials = s
        .run(move |l, _| Ok(l.store().read()?.credentials_of(&me)?))
        .await?;
    Ok(render(&AccountPage {
        chrome: Chrome::new("Your account", "account", Some(&viewer)),
        name: viewer.identity.display_name.clone(),
        handle: viewer.identity.handle.clone(),
        email: viewer.identity.email.clone().unwrap_or_default(),
        credentials: credentials.iter().map(credential_row).collect(),
        signed_in: format!(
            "{} with {} (AAL{})",
            describe::when(viewer.session.created_at),
            viewer.session.method,
            viewer.session.aal
        ),
    }))
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    items: Vec<countersign_proto::notify::Notification>,
    mail: bool,
}

impl NotificationsPage {
    fn when(&self, t: &time::OffsetDateTime) -> String {
        describe::when(*t)
    }
}

/// The viewer's own notification history.
pub async fn notifications(
    State(s): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let me = viewer.handle().to_string();
    let (items, mail) = s
        .run(move |l, _| Ok((l.notifications(&me, 200)?, l.mail_enabled())))
        .await?;
    Ok(render(&NotificationsPage {
        chrome: Chrome::new("Notifications", "account", Some(&viewer)),
        items,
        mail,
    }))
}

// ------------------------------------------------------------- delegations

pub struct DelegationRow {
    pub id: String,
    pub principal: String,
    pub delegate: String,
    pub scope: String,
    pub window: String,
    pub reason: String,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "delegations.html")]
struct DelegationsPage {
    chrome: Chrome,
    given: Vec<DelegationRow>,
    received: Vec<DelegationRow>,
    events: Vec<(&'static str, &'static str)>,
    impacts: Vec<(&'static str, String)>,
    people: Vec<PersonRef>,
    error: Option<String>,
    notice: Option<String>,
}

fn delegation_rows(
    all: Vec<countersign_proto::governance::Delegation>,
    me: &str,
    now: time::OffsetDateTime,
) -> (Vec<DelegationRow>, Vec<DelegationRow>) {
    let (mut given, mut received) = (Vec::new(), Vec::new());
    for d in all {
        let kinds = if d.scope.event_kinds.is_empty() {
            "every kind of request".to_string()
        } else {
            d.scope
                .event_kinds
                .iter()
                .map(|k| describe::event(*k))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let row = DelegationRow {
            id: d.id.clone(),
            principal: d.principal.clone(),
            delegate: d.delegate.clone(),
            scope: format!("{kinds}, up to {}", describe::impact(d.scope.max_impact)),
            window: format!(
                "{} to {}",
                describe::when(d.not_before),
                describe::when(d.not_after)
            ),
            reason: d.reason.clone(),
            live: d.ended_at.is_none() && d.not_after > now,
        };
        if d.principal == me {
            given.push(row);
        } else if d.delegate == me {
            received.push(row);
        }
    }
    (given, received)
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

async fn delegations_page(
    s: &AppState,
    viewer: &Viewer,
    error: Option<String>,
    notice: Option<String>,
) -> Result<DelegationsPage, PageError> {
    let me = viewer.handle().to_string();
    let (given, received, people) = s
        .run(move |l, now| {
            let all = l.delegations(
                &DelegationFilter {
                    identity: Some(me.clone()),
                    ..Default::default()
                },
                now,
            )?;
            let (g, r) = delegation_rows(all, &me, now);
            let people = l
                .store()
                .read()?
                .identities(&IdentityFilter::default())?
                .into_iter()
                .filter(|i| i.handle != me)
                .map(|i| PersonRef {
                    handle: i.handle,
                    name: i.display_name,
                })
                .collect();
            Ok((g, r, people))
        })
        .await?;
    Ok(DelegationsPage {
        chrome: Chrome::new("Delegations", "delegations", Some(viewer)),
        given,
        received,
        events: EventKind::ALL
            .iter()
            .map(|e| (e.as_str(), describe::event(*e)))
            .collect(),
        impacts: Impact::ALL
            .iter()
            .map(|i| (i.as_str(), describe::impact(*i)))
            .collect(),
        people,
        error,
        notice,
    })
}

/// Delegations the viewer gave and received, and the form to grant one.
pub async fn delegations(
    State(s): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let notice = match q.notice.as_deref() {
        Some("granted") => {
            Some("The delegation is in force; it is recorded in the log.".to_string())
        }
        Some("ended") => Some("The delegation has ended.".to_string()),
        _ => None,
    };
    Ok(render(&delegations_page(&s, &viewer, None, notice).await?))
}

/// The grant form, as posted (event kinds repeat).
pub struct GrantForm {
    pub csrf: Option<String>,
    pub delegate: String,
    pub kinds: Vec<String>,
    pub max_impact: String,
    pub days: String,
    pub reason: String,
}

fn grant_form(raw: Vec<(String, String)>) -> GrantForm {
    let mut f = GrantForm {
        csrf: None,
        delegate: String::new(),
        kinds: Vec::new(),
        max_impact: "medium".into(),
        days: "1".into(),
        reason: String::new(),
    };
    for (k, v) in raw {
        match k.as_str() {
            "csrf" => f.csrf = Some(v),
            "delegate" => f.delegate = v,
            "event" => f.kinds.push(v),
            "max_impact" => f.max_impact = v,
            "days" => f.days = v,
            "reason" => f.reason = v,
            _ => {}
        }
    }
    f
}

/// Grant a delegation of the viewer's approvals (asked of policy, logged).
pub async fn grant(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let f = grant_form(raw);
    viewer.check_csrf(f.csrf.as_deref())?;
    let me = viewer.handle().to_string();
    let auth = viewer.caller.auth.clone();
    let result = s
        .run(move |l, now| {
            let days: u64 = f.days.trim().parse().unwrap_or(0);
            let event_kinds = f.kinds.iter().filter_map(|k| EventKind::parse(k)).collect();
            let max_impact = Impact::parse(&f.max_impact).unwrap_or(Impact::Medium);
            let input = GrantDelegation {
                principal: None,
                delegate: f.delegate.trim().to_string(),
                scope: DelegationScope {
                    event_kinds,
                    max_impact,
                    requests: Vec::new(),
                },
                not_before: None,
                not_after: None,
                duration_seconds: Some(days.saturating_mul(86_400)),
                reason: f.reason.trim().to_string(),
            };
            l.grant_delegation(&input, Grantor::Identity(&me), &auth, now)
        })
        .await;
    match result {
        Ok(_) => Ok(see_other("/delegations?notice=granted")),
        Err(e) if e.problem.status < 500 => {
            let mut r = render(&delegations_page(&s, &viewer, Some(e.problem.detail), None).await?);
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// End one of the viewer's delegations now.
pub async fn end_delegation(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    let me = viewer.handle().to_string();
    s.run(move |l, now| {
        let d = l.delegation(&id)?;
        if d.principal != me && d.delegate != me {
            // The same answer as a delegation that does not exist.
            return Err(LedgerError::refused(
                ErrorCode::DelegationNotFound,
                format!("no delegation {id:?}"),
            ));
        }
        if d.principal != me {
            return Err(LedgerError::refused(
                ErrorCode::Forbidden,
                "only the person who granted a delegation can end it here",
            ));
        }
        l.end_delegation(&id, Some(&me), Some("ended by the principal".into()), now)
    })
    .await?;
    Ok(see_other("/delegations?notice=ended"))
}

// ------------------------------------------------------------- audit

fn auditor_only(viewer: &Viewer) -> Result<(), ApiError> {
    viewer.may(
        SEES_ALL,
        "this page is for auditors, compliance and administrators",
    )
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
}

pub struct IdentityRow {
    pub handle: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    q: String,
    state: String,
    states: Vec<&'static str>,
    requests: Vec<RequestLine>,
    identities: Vec<IdentityRow>,
}

/// Search requests and identities (auditors, compliance, administrators).
pub async fn audit(
    State(s): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    auditor_only(&viewer)?;
    let (qq, st) = (q.q.clone(), q.state.clone());
    let (requests, identities) = s
        .run(move |l, now| {
            let needle = qq.trim().to_lowercase();
            let state = countersign_proto::model::RequestState::parse(&st);
            let tx = l.store().read()?;
            let mut rs = tx.requests(&RequestFilter {
                state,
                limit: Some(1000),
                ..Default::default()
            })?;
            rs.reverse();
            let hit = |s: &str| needle.is_empty() || s.to_lowercase().contains(&needle);
            let requests = rs
                .into_iter()
                .filter(|r| {
                    hit(&r.id)
                        || hit(&r.purpose)
                        || hit(&r.requester)
                        || hit(&r.beneficiary)
                        || r.approvers.iter().any(|a| hit(a))
                })
                .take(200)
                .map(|mut r| {
                    r.state = countersign_domain::request::effective_state(&r, now);
                    line(&*tx, &r, String::new())
                })
                .collect();
            let identities = if needle.is_empty() {
                Vec::new()
            } else {
                tx.identities(&IdentityFilter::default())?
                    .into_iter()
                    .filter(|i| {
                        hit(&i.handle)
                            || hit(&i.display_name)
                            || i.email.as_deref().is_some_and(hit)
                    })
                    .take(100)
                    .map(|i| IdentityRow {
                        handle: i.handle,
                        name: i.display_name,
                        kind: i.kind.as_str().into(),
                        status: i.status.as_str().into(),
                        email: i.email.unwrap_or_default(),
                    })
                    .collect()
            };
            Ok((requests, identities))
        })
        .await?;
    Ok(render(&AuditPage {
        chrome: Chrome::new("Audit", "audit", Some(&viewer)),
        q: q.q,
        state: q.state,
        states: countersign_proto::model::RequestState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
        requests,
        identities,
    }))
}

pub struct HistoryRow {
    pub at: String,
    pub what: String,
    pub index: u64,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    chrome: Chrome,
    i: IdentityRow,
    manager: String,
    owner: String,
    groups: String,
    roles: String,
    history: Vec<HistoryRow>,
    credentials: Vec<CredentialRow>,
    requests: Vec<RequestLine>,
}

/// An identity: its record, history, credentials and requests.
pub async fn identity(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(handle): Path<String>,
) -> Result<Response, PageError> {
    if handle != viewer.handle() {
        auditor_only(&viewer)?;
    }
    let page = s
        .run(move |l, now| {
            let history = l.identity_history(&handle)?;
            let tx = l.store().read()?;
            let Some(i) = tx.identity(&handle)? else {
                return Err(LedgerError::refused(
                    ErrorCode::IdentityNotFound,
                    "no such identity",
                ));
            };
            let credentials = tx.credentials_of(&handle)?;
            let mut rs = tx.requests(&RequestFilter {
                limit: Some(1000),
                ..Default::default()
            })?;
            rs.retain(|r| {
                r.requester == handle
                    || r.beneficiary == handle
                    || r.approvers.contains(&handle)
                    || r.signatures.iter().any(|s| s.actor == handle)
            });
            rs.reverse();
            let requests: Vec<RequestLine> = rs
                .into_iter()
                .take(100)
                .map(|mut r| {
                    r.state = countersign_domain::request::effective_state(&r, now);
                    line(&*tx, &r, String::new())
                })
                .collect();
            Ok((i, history, credentials, requests))
        })
        .await?;
    let (i, history, credentials, requests) = page;
    Ok(render(&IdentityPage {
        chrome: Chrome::new(i.display_name.clone(), "audit", Some(&viewer)),
        manager: i.manager.clone().unwrap_or_default(),
        owner: i.owner.clone().unwrap_or_default(),
        groups: i.groups.join(", "),
        roles: i.roles.join(", "),
        history: history
            .iter()
            .map(|h| HistoryRow {
                at: describe::when(h.identity.updated_at),
                what: format!(
                    "revision {}: {}{}",
                    h.identity.revision,
                    h.identity.status.as_str(),
                    h.reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                index: h.log_index,
            })
            .collect(),
        credentials: credentials.iter().map(credential_row).collect(),
        requests,
        i: IdentityRow {
            handle: i.handle,
            name: i.display_name,
            kind: i.kind.as_str().into(),
            status: i.status.as_str().into(),
            email: i.email.unwrap_or_default(),
        },
    }))
}

// ------------------------------------------------------------- control exceptions

fn controls_reader(viewer: &Viewer) -> Result<(), ApiError> {
    viewer.may(
        SEES_ALL,
        "control exceptions are for compliance, auditors and administrators",
    )
}

fn controls_writer(viewer: &Viewer) -> Result<(), ApiError> {
    viewer.may(
        crate::auth::CONTROLS_WRITE,
        "working control exceptions needs the compliance role",
    )
}

pub struct ControlRow {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub state: String,
    pub summary: String,
    pub raised: String,
    pub assignee: String,
}

fn control_row(e: &countersign_proto::iga::ControlException) -> ControlRow {
    ControlRow {
        id: e.id.clone(),
        kind: e.kind.as_str().replace('_', " "),
        severity: e.severity.as_str().into(),
        state: e.state.as_str().into(),
        summary: e.summary.clone(),
        raised: describe::when(e.raised_at),
        assignee: e.assignee.clone().unwrap_or_default(),
    }
}

#[derive(Deserialize, Default)]
pub struct ControlsQuery {
    #[serde(default)]
    state: String,
}

#[derive(Template)]
#[template(path = "controls.html")]
struct ControlsPage {
    chrome: Chrome,
    state: String,
    items: Vec<ControlRow>,
}

pub async fn controls(
    State(s): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ControlsQuery>,
) -> Result<Response, PageError> {
    controls_reader(&viewer)?;
    let st = q.state.clone();
    let items = s
        .run(move |l, _| {
            let filter = ControlFilter {
                state: ControlState::parse(&st),
                ..Default::default()
            };
            let mut all = l.control_exceptions(&filter)?;
            all.reverse();
            Ok(all.iter().map(control_row).collect())
        })
        .await?;
    Ok(render(&ControlsPage {
        chrome: Chrome::new("Control exceptions", "controls", Some(&viewer)),
        state: q.state,
        items,
    }))
}

#[derive(Template)]
#[template(path = "control.html")]
struct ControlPage {
    chrome: Chrome,
    e: ControlRow,
    system: String,
    subject: String,
    request: String,
    frameworks: Vec<String>,
    evidence: Vec<u64>,
    resolution: Option<String>,
    can_work: bool,
    open: bool,
    resolutions: Vec<(&'static str, String)>,
    people: Vec<PersonRef>,
}

pub async fn control(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    controls_reader(&viewer)?;
    let (e, people) = s
        .run(move |l, _| {
            let people = l
                .store()
                .read()?
                .identities(&IdentityFilter::default())?
                .into_iter()
                .filter(|i| i.kind.is_human())
                .map(|i| PersonRef {
                    handle: i.handle,
                    name: i.display_name,
                })
                .collect();
            Ok((l.control_exception(&id)?, people))
        })
        .await?;
    let mut evidence = e.evidence.changes.clone();
    evidence.extend(e.evidence.request);
    evidence.extend(e.evidence.approvals.iter().copied());
    evidence.extend(e.evidence.related.iter().copied());
    evidence.sort_unstable();
    evidence.dedup();
    Ok(render(&ControlPage {
        chrome: Chrome::new(
            format!("Control exception {}", e.id),
            "controls",
            Some(&viewer),
        ),
        system: e.system.clone().unwrap_or_default(),
        subject: e.subject.clone().unwrap_or_default(),
        request: e.request.clone().unwrap_or_default(),
        frameworks: e
            .frameworks
            .iter()
            .map(|f| format!("{} {}", f.framework, f.control))
            .collect(),
        evidence,
        resolution: e.resolution.as_ref().map(|r| {
            format!(
                "{} by {} on {}: {} (signed, log entry {})",
                r.resolution.as_str().replace('_', " "),
                r.resolver,
                describe::when(r.resolved_at),
                r.justification,
                r.log_index
            )
        }),
        can_work: viewer.has_any(crate::auth::CONTROLS_WRITE),
        open: e.state != ControlState::Resolved,
        resolutions: Resolution::ALL
            .iter()
            .map(|r| (r.as_str(), r.as_str().replace('_', " ")))
            .collect(),
        people,
        e: control_row(&e),
    }))
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    assignee: String,
}

pub async fn assign_control(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    controls_writer(&viewer)?;
    let by = viewer.handle().to_string();
    let cid = id.clone();
    s.run(move |l, now| l.assign_control(&cid, f.assignee.trim(), &by, now))
        .await?;
    Ok(see_other(&format!("/controls/{id}")))
}

pub async fn acknowledge_control(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    controls_writer(&viewer)?;
    let by = viewer.handle().to_string();
    let cid = id.clone();
    s.run(move |l, now| l.acknowledge_control(&cid, &by, now))
        .await?;
    Ok(see_other(&format!("/controls/{id}")))
}

#[derive(Deserialize)]
pub struct ResolveBody {
    resolution: Resolution,
    justification: String,
}

/// Issue the resolution statement the viewer's passkey signs.
pub async fn resolve_challenge(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<ResolveBody>,
) -> Result<Response, ApiError> {
    viewer.check_csrf_header(&headers)?;
    controls_writer(&viewer)?;
    let me = viewer.handle().to_string();
    let issued = s
        .run(move |l, now| l.issue_resolution(&id, &me, b.resolution, b.justification, now))
        .await?;
    use base64::Engine as _;
    let options = RequestOptions::new(
        s.ledger.web().rp_id.clone(),
        issued.challenge.to_vec(),
        super::ceremony::descriptors(std::slice::from_ref(&issued.credential)),
        UserVerification::Required,
    );
    Ok(axum::Json(serde_json::json!({
        "nonce": issued.nonce,
        "payloadType": issued.payload_type,
        "payload": base64::engine::general_purpose::STANDARD.encode(&issued.payload),
        "challenge": countersign_ledger::challenge_b64url(&issued.challenge),
        "request_options": options,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct ResolveSign {
    nonce: String,
    credential: AuthenticationResponseJson,
}

/// The passkey-signed resolution.
pub async fn resolve_control(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(_id): Path<String>,
    Json(b): Json<ResolveSign>,
) -> Result<Response, ApiError> {
    viewer.check_csrf_header(&headers)?;
    controls_writer(&viewer)?;
    let me = viewer.handle().to_string();
    let r = s
        .run(move |l, now| {
            let c = &b.credential;
            l.submit_passkey_resolution(
                &b.nonce,
                c.raw_id.as_slice(),
                c.response.authenticator_data.as_slice(),
                c.response.client_data_json.as_slice(),
                c.response.signature.as_slice(),
                &me,
                now,
            )
        })
        .await?;
    Ok(
        axum::Json(serde_json::json!({ "state": r.value.state, "log_index": r.log_index }))
            .into_response(),
    )
}

// ------------------------------------------------------------- administration

/// `scheme://host[:port]` of a URL, never its user information, path or
/// query (where secrets live).
fn url_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

fn admin_only(viewer: &Viewer) -> Result<(), ApiError> {
    viewer.may(crate::auth::ADMIN, "administration is for administrators")
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    tab: &'static str,
    heading: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Column 0 links to an identity page.
    link_identity: bool,
}

fn admin_page(
    viewer: &Viewer,
    tab: &'static str,
    heading: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    link_identity: bool,
) -> Response {
    render(&AdminPage {
        chrome: Chrome::new(heading, "admin", Some(viewer)),
        tab,
        heading,
        columns,
        rows,
        link_identity,
    })
}

pub async fn admin_identities(
    State(s): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let ids = s
        .run(|l, _| Ok(l.store().read()?.identities(&IdentityFilter::default())?))
        .await?;
    let rows = ids
        .into_iter()
        .map(|i| {
            vec![
                i.handle,
                i.display_name,
                i.kind.as_str().into(),
                i.status.as_str().into(),
                i.email.unwrap_or_default(),
                i.roles.join(", "),
            ]
        })
        .collect();
    Ok(admin_page(
        &viewer,
        "identities",
        "Identities",
        vec!["Handle", "Name", "Kind", "Status", "E-mail", "Roles"],
        rows,
        true,
    ))
}

pub async fn admin_credentials(
    State(s): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let cs = s.run(|l, _| Ok(l.store().read()?.credentials()?)).await?;
    let rows = cs
        .iter()
        .map(credential_row)
        .map(|c| {
            vec![
                c.identity,
                c.kind,
                c.assurance,
                format!("AAL{}", c.aal),
                c.status,
                c.enrolled,
                c.key_id,
            ]
        })
        .collect();
    Ok(admin_page(
        &viewer,
        "credentials",
        "Credentials",
        vec![
            "Identity",
            "Kind",
            "Assurance",
            "At most",
            "Status",
            "Enrolled",
            "Key id",
        ],
        rows,
        true,
    ))
}

pub async fn admin_tokens(
    State(s): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let ts = s.run(|l, _| Ok(l.store().read()?.tokens()?)).await?;
    let rows = ts
        .into_iter()
        .map(|t| {
            vec![
                t.name,
                t.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                t.identity.unwrap_or_default(),
                describe::when(t.expires_at),
                if t.revoked_at.is_some() {
                    "revoked".into()
                } else {
                    "active".into()
                },
                t.created_by,
            ]
        })
        .collect();
    Ok(admin_page(
        &viewer,
        "tokens",
        "API tokens",
        vec![
            "Name",
            "Roles",
            "Bound to",
            "Expires",
            "Status",
            "Issued by",
        ],
        rows,
        false,
    ))
}

pub async fn admin_webhooks(
    State(s): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let ws = s.run(|l, _| l.webhooks()).await?;
    let rows = ws
        .into_iter()
        .map(|w| {
            // The URL's path and query often carry a secret: show the origin only.
            let origin = url_origin(&w.url);
            vec![
                w.id,
                origin,
                if w.events.is_empty() {
                    "every event".into()
                } else {
                    w.events.join(", ")
                },
                if w.enabled {
                    "enabled".into()
                } else {
                    format!(
                        "disabled{}",
                        w.disabled_reason
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )
                },
                w.consecutive_failures.to_string(),
            ]
        })
        .collect();
    Ok(admin_page(
        &viewer,
        "webhooks",
        "Webhooks",
        vec!["Id", "Endpoint", "Events", "Status", "Failures in a row"],
        rows,
        false,
    ))
}
