//! Requests in the browser: the inbox, a request's page (what is being
//! approved, in plain words, with its documents shown inline), signing
//! with a passkey, refusals and break-glass exceptions, the requester's
//! own requests, and the completion certificate.

use super::Form;
use askama::Template;
use axum::body::Body;
use axum::extract::{Multipart, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use countersign_domain::describe;
use countersign_ledger::{challenge_b64url, LedgerError, ReadTx};
use countersign_proto::api::{CreateRequest, DocumentRef, RequestException, RequestFilter};
use countersign_proto::model::{
    ApprovalOrder, Decision, EntitlementAction, EventKind, Impact, Operation, Request, RequestState,
};
use countersign_proto::passkey::{OutlookSlot, SigningChallenge};
use countersign_proto::ErrorCode;
use countersign_webauthn::{AuthenticationResponseJson, RequestOptions, UserVerification};
use serde::Deserialize;

use super::session::Viewer;
use super::{render, see_other, Chrome, PageError};
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};

/// A person as a page names them.
#[derive(Clone, Debug)]
pub struct PersonRef {
    pub handle: String,
    pub name: String,
}

/// One approver's line.
pub struct ApproverRow {
    pub handle: String,
    pub name: String,
    pub status: String,
    pub class: &'static str,
    pub detail: String,
}

/// One document, as the page shows it.
pub struct DocRow {
    pub n: usize,
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub media: Option<String>,
    pub size: Option<String>,
    /// `pdf`, `image`, `text`, `other`, or `digest` (no content stored).
    pub kind: &'static str,
    pub url: String,
    /// A text document's content, shown in the page itself (escaped).
    pub text: Option<String>,
}

/// Text documents up to this size are shown in the page itself.
const INLINE_TEXT: u64 = 256 * 1024;

/// A request in plain words.
pub struct RequestView {
    pub id: String,
    pub purpose: String,
    pub state: &'static str,
    pub state_words: String,
    pub pending: bool,
    pub impact: &'static str,
    pub impact_words: String,
    pub event_words: &'static str,
    pub action: Option<String>,
    pub requester: PersonRef,
    pub beneficiary: PersonRef,
    pub approvals: String,
    pub created: String,
    pub expires: String,
    pub decided: Option<String>,
    pub approvers: Vec<ApproverRow>,
    pub documents: Vec<DocRow>,
    /// (sentence, log index) per signature.
    pub signatures: Vec<(String, u64)>,
}

fn size_words(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// How a document's media type is shown: only types a browser renders
/// without running anything of the uploader's.
pub fn doc_kind(media: Option<&str>, stored: bool) -> &'static str {
    if !stored {
        return "digest";
    }
    let m = media
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match m.as_str() {
        "application/pdf" => "pdf",
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" => "image",
        m if m.starts_with("text/") => "text",
        _ => "other",
    }
}

/// Look people up by handle in an open read, falling back to the handle.
pub fn person(tx: &dyn ReadTx, handle: &str) -> PersonRef {
    let name = tx
        .identity(handle)
        .ok()
        .flatten()
        .map(|i| i.display_name)
        .unwrap_or_else(|| handle.to_string());
    PersonRef {
        handle: handle.to_string(),
        name,
    }
}

pub fn state_words(s: RequestState) -> String {
    match s {
        RequestState::Pending => "Waiting for approval",
        RequestState::Approved => "Approved",
        RequestState::Rejected => "Rejected",
        RequestState::Expired => "Expired",
        RequestState::Withdrawn => "Withdrawn",
        RequestState::Voided => "Voided",
    }
    .to_string()
}

/// The page's view of a request.
pub fn view(l: &countersign_ledger::Ledger, r: &Request) -> Result<RequestView, LedgerError> {
    let tx = l.store().read()?;
    let mut documents = Vec::new();
    for (n, d) in r.documents.iter().enumerate() {
        let v = tx
            .document(&d.document)?
            .and_then(|doc| doc.versions.into_iter().find(|v| v.version == d.version));
        let (media, size, stored) = match &v {
            Some(v) => (
                v.media_type.clone(),
                v.size.map(size_words),
                v.content_stored,
            ),
            None => (None, None, false),
        };
        let kind = doc_kind(media.as_deref(), stored);
        let small = v
            .as_ref()
            .and_then(|v| v.size)
            .is_some_and(|n| n <= INLINE_TEXT);
        let text = if kind == "text" && small {
            tx.blob(&d.sha256)?
                .filter(|b| countersign_attest::keys::sha256_hex(b) == d.sha256)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        } else {
            None
        };
        documents.push(DocRow {
            text,
            n,
            name: d.document.clone(),
            version: d.version,
            sha256: d.sha256.clone(),
            kind,
            media,
            size,
            url: format!("/requests/{}/documents/{n}", r.id),
        });
    }
    let mut approvers = Vec::new();
    let next = countersign_domain::notify::needed_now(r);
    for a in &r.approvers {
        let p = person(&*tx, a);
        let signed = r.signatures.iter().find(|s| s.approver() == a);
        let (status, class, detail) = match signed {
            Some(s) => {
                let by = if s.actor != *a {
                    format!(
                        "signed by {} on their behalf, ",
                        person(&*tx, &s.actor).name
                    )
                } else {
                    String::new()
                };
                let why = s
                    .reason
                    .as_ref()
                    .map(|r| format!(" \u{201c}{r}\u{201d}"))
                    .unwrap_or_default();
                (
                    if s.decision == Decision::Approve {
                        "Approved".to_string()
                    } else {
                        "Rejected".to_string()
                    },
                    if s.decision == Decision::Approve {
                        "approved"
                    } else {
                        "rejected"
                    },
                    format!(
                        "{by}{}, log entry {}{why}",
                        describe::when(s.accepted_at),
                        s.log_index
                    ),
                )
            }
            None if r.state == RequestState::Pending && next.contains(a) => {
                ("Waiting".to_string(), "pending", String::new())
            }
            None if r.state == RequestState::Pending => (
                "Later".to_string(),
                "neutral",
                "signs after the approvers listed before".to_string(),
            ),
            None => ("Did not sign".to_string(), "neutral", String::new()),
        };
        approvers.push(ApproverRow {
            handle: p.handle,
            name: p.name,
            status,
            class,
            detail,
        });
    }
    let signatures = r
        .signatures
        .iter()
        .map(|s| {
            let slot = s
                .principal
                .as_ref()
                .map(|p| format!(" for {p}"))
                .unwrap_or_default();
            (
                format!(
                    "{}{slot} {}d on {}",
                    s.actor,
                    s.decision.as_str(),
                    describe::when(s.accepted_at)
                ),
                s.log_index,
            )
        })
        .collect();
    Ok(RequestView {
        id: r.id.clone(),
        purpose: r.purpose.clone(),
        state: r.state.as_str(),
        state_words: state_words(r.state),
        pending: r.state == RequestState::Pending,
        impact: r.impact.as_str(),
        impact_words: describe::impact(r.impact),
        event_words: describe::event(r.event_kind),
        action: r.action.as_ref().map(describe::action),
        requester: person(&*tx, &r.requester),
        beneficiary: person(&*tx, &r.beneficiary),
        approvals: describe::approvals(r),
        created: describe::when(r.created_at),
        expires: describe::when(r.expires_at),
        decided: r.decided_at.map(describe::when),
        approvers,
        documents,
        signatures,
    })
}

/// Whether `viewer` may see `r`: a party to it (requester, beneficiary,
/// subject, approver, signer, or a delegate of an approver), or someone
/// who sees everything; the API's rule (`Ledger::sees_request`).
pub fn visible(
    l: &countersign_ledger::Ledger,
    viewer: &Viewer,
    r: &Request,
    now: time::OffsetDateTime,
) -> Result<bool, LedgerError> {
    let tx = l.store().read()?;
    l.sees_request(&*tx, &viewer.scope(), r, now)
}

/// Load a request the viewer may see, with its state as of now.
fn load(
    l: &countersign_ledger::Ledger,
    viewer: &Viewer,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<Request, LedgerError> {
    let r = l.request(id, now)?;
    if !visible(l, viewer, &r, now)? {
        // The same answer as a request that does not exist: whether an id
        // exists is itself something only parties should learn.
        return Err(LedgerError::refused(
            ErrorCode::RequestNotFound,
            format!("request {id:?} does not exist, or you are not a party to it"),
        ));
    }
    Ok(r)
}

// ------------------------------------------------------------- inbox

/// One line of a list of requests.
pub struct RequestLine {
    pub id: String,
    pub purpose: String,
    pub state: &'static str,
    pub state_words: String,
    pub impact: &'static str,
    pub impact_words: String,
    pub event_words: &'static str,
    pub due: String,
    pub requester: String,
    /// "as approver", "for Carol (delegated)".
    pub role: String,
}

pub fn line(tx: &dyn ReadTx, r: &Request, role: String) -> RequestLine {
    RequestLine {
        id: r.id.clone(),
        purpose: r.purpose.clone(),
        state: r.state.as_str(),
        state_words: state_words(r.state),
        impact: r.impact.as_str(),
        impact_words: describe::impact(r.impact),
        event_words: describe::event(r.event_kind),
        due: describe::when(r.expires_at),
        requester: person(tx, &r.requester).name,
        role,
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    waiting: Vec<RequestLine>,
    later: Vec<RequestLine>,
}

/// Requests awaiting the viewer, as approver or as a delegate, the most
/// urgent first.
pub async fn inbox(State(s): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let me = viewer.handle().to_string();
    let (waiting, later) = s
        .run(move |l, now| {
            let tx = l.store().read()?;
            let pending = tx.requests(&RequestFilter {
                state: Some(RequestState::Pending),
                limit: Some(1000),
                ..Default::default()
            })?;
            let delegations = tx.delegations_of(&me)?;
            let mut waiting = Vec::new();
            let mut later = Vec::new();
            let mut pending: Vec<Request> =
                pending.into_iter().filter(|r| r.expires_at > now).collect();
            pending.sort_by_key(|r| r.expires_at);
            for r in pending {
                if r.signatures.iter().any(|s| s.actor == me) {
                    continue;
                }
                let needed = countersign_domain::notify::needed_now(&r);
                let mine =
                    r.approvers.contains(&me) && !r.signatures.iter().any(|s| s.approver() == me);
                let delegated_for: Vec<String> = r
                    .approvers
                    .iter()
                    .filter(|a| {
                        **a != me && !r.signatures.iter().any(|s| s.approver() == a.as_str())
                    })
                    .filter(|a| {
                        countersign_domain::delegation::authorise(&delegations, a, &me, &r, now)
                            .is_ok()
                    })
                    .cloned()
                    .collect();
                if mine {
                    let l2 = line(&*tx, &r, "as approver".into());
                    if needed.contains(&me) {
                        waiting.push(l2);
                    } else {
                        later.push(l2);
                    }
                }
                for p in delegated_for {
                    let name = person(&*tx, &p).name;
                    let l2 = line(&*tx, &r, format!("for {name} (delegated to you)"));
                    if needed.contains(&p) {
                        waiting.push(l2);
                    } else {
                        later.push(l2);
                    }
                }
            }
            Ok((waiting, later))
        })
        .await?;
    Ok(render(&InboxPage {
        chrome: Chrome::new("Inbox", "inbox", Some(&viewer)),
        waiting,
        later,
    }))
}

// ------------------------------------------------------------- one request

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    chrome: Chrome,
    r: RequestView,
    me: String,
    slots: Vec<OutlookSlot>,
    signable: Vec<OutlookSlot>,
    can_sign: bool,
    can_withdraw: bool,
    auditor: bool,
    notice: Option<String>,
    /// (state, sentence) of the viewer's exceptions for this request.
    exceptions: Vec<(String, String)>,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// A request's page: what is being approved in plain words, its
/// approvers and signatures, its documents inline, and what the policy
/// will require of the viewer before they try.
pub async fn show(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let v = viewer.clone();
    let page = s
        .run(move |l, now| {
            let r = load(l, &v, &id, now)?;
            let view = view(l, &r)?;
            // Text shown in the page itself was fetched by the page.
            for d in view.documents.iter().filter(|d| d.text.is_some()) {
                l.note_viewed(&v.session.id, &d.sha256)?;
            }
            let outlook = l.signing_outlook(&r.id, v.handle(), None, &v.caller.auth, now)?;
            let signable: Vec<OutlookSlot> = outlook
                .slots
                .iter()
                // A slot the policy refuses but an exception could allow can
                // still be tried: the refusal it records is what a
                // break-glass exception answers.
                .filter(|s| matches!(s.status.as_str(), "ready" | "step_up" | "exception"))
                .cloned()
                .collect();
            let exceptions = l
                .exceptions(Some(&r.id), now)?
                .into_iter()
                .filter(|e| e.actor == v.handle())
                .map(|e| {
                    (
                        e.state.as_str().to_string(),
                        format!(
                            "requested {}: \u{201c}{}\u{201d}{}",
                            describe::when(e.requested_at),
                            e.justification,
                            e.decided_by
                                .as_ref()
                                .map(|d| format!("; decided by {d}"))
                                .unwrap_or_default()
                        ),
                    )
                })
                .collect();
            let notice = match q.notice.as_deref() {
                Some("withdrawn") => Some("You withdrew this request.".to_string()),
                Some("created") => Some("Your request was created; its approvers have been told.".to_string()),
                Some("exception") => Some("Your exception request was recorded. An exception approver will decide it; once approved you can sign.".to_string()),
                _ => None,
            };
            Ok(RequestPage {
                chrome: Chrome::new(r.purpose.clone(), "inbox", Some(&v)),
                me: v.handle().to_string(),
                can_sign: r.state == RequestState::Pending && !signable.is_empty(),
                can_withdraw: r.state == RequestState::Pending && r.requester == v.handle(),
                auditor: v.sees_all(),
                slots: outlook.slots,
                signable,
                r: view,
                notice,
                exceptions,
            })
        })
        .await?;
    Ok(render(&page))
}

/// A document version's bytes, for the page to show or download. Fetching
/// it is recorded in the session: a signer approves only documents the
/// page has shown them. The uploader's media type is used only for types
/// a browser shows without running content; the response forbids scripts
/// and sniffing either way.
pub async fn document(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((id, n)): Path<(String, usize)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = viewer.clone();
    let (name, version, media, bytes, sha) = s
        .run(move |l, now| {
            let r = load(l, &v, &id, now)?;
            let d = r.documents.get(n).cloned().ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::DocumentNotFound,
                    "no such document on this request",
                )
            })?;
            let (version, bytes) = l.document_content(&d.document, d.version)?;
            l.note_viewed(&v.session.id, &d.sha256)?;
            Ok((d.document, d.version, version.media_type, bytes, d.sha256))
        })
        .await?;
    let kind = doc_kind(media.as_deref(), true);
    let download = q.contains_key("download") || kind == "other";
    let content_type = match kind {
        "pdf" => "application/pdf".to_string(),
        "image" => media.unwrap_or_default(),
        "text" => "text/plain; charset=utf-8".to_string(),
        _ => "application/octet-stream".to_string(),
    };
    let safe_name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = format!(
        "{}; filename=\"{safe_name}-v{version}\"",
        if download { "attachment" } else { "inline" }
    );
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    let mut put = |k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put(header::CONTENT_TYPE, content_type);
    put(header::CONTENT_DISPOSITION, disposition);
    put(header::CACHE_CONTROL, "private, no-store".into());
    put(header::ETAG, format!("\"{sha}\""));
    // Framed only by our own page; nothing in it may run or load.
    put(
        header::CONTENT_SECURITY_POLICY,
        if kind == "pdf" {
            "default-src 'none'; frame-ancestors 'self'".into()
        } else {
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox".into()
        },
    );
    put(header::X_FRAME_OPTIONS, "SAMEORIGIN".into());
    Ok(r)
}

#[derive(Deserialize)]
pub struct ChallengeBody {
    decision: Decision,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    on_behalf_of: Option<String>,
}

/// Issue the statement the viewer's passkey will sign: the same in-toto
/// approval statement the CLI builds, with a server-issued nonce. Every
/// document whose content is stored must have been shown to this session.
pub async fn sign_challenge(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ChallengeBody>,
) -> Result<Response, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let v = viewer.clone();
    let issued = s
        .run(move |l, now| {
            let r = load(l, &v, &id, now)?;
            let tx = l.store().read()?;
            let mut unseen = Vec::new();
            for d in &r.documents {
                let stored = tx
                    .document(&d.document)?
                    .and_then(|doc| doc.versions.into_iter().find(|x| x.version == d.version))
                    .is_some_and(|x| x.content_stored);
                if stored && !v.session.viewed.contains(&d.sha256) {
                    unseen.push(format!("{} (version {})", d.document, d.version));
                }
            }
            drop(tx);
            if !unseen.is_empty() {
                return Err(LedgerError::refused(
                    ErrorCode::DocumentNotViewed,
                    format!(
                        "open every document before you decide; not yet shown to you: {}",
                        unseen.join(", ")
                    ),
                ));
            }
            l.issue_statement(
                &r.id,
                v.handle(),
                body.decision,
                body.reason,
                body.on_behalf_of,
                None,
                &v.caller.auth,
                now,
            )
        })
        .await?;
    Ok(axum::Json(signing_challenge(&s, issued)?).into_response())
}

/// The wire form of an issued statement, with the WebAuthn request
/// options for the one passkey that must sign it.
pub fn signing_challenge(
    s: &AppState,
    issued: countersign_ledger::IssuedStatement,
) -> Result<SigningChallenge, ApiError> {
    use base64::Engine as _;
    let uv = if issued.require_user_verification {
        UserVerification::Required
    } else {
        UserVerification::Preferred
    };
    let options = RequestOptions::new(
        s.ledger.web().rp_id.clone(),
        issued.challenge.to_vec(),
        super::ceremony::descriptors(std::slice::from_ref(&issued.credential)),
        uv,
    );
    let statement = issued
        .statement
        .ok_or_else(|| ApiError::internal("an approval challenge without its statement"))?;
    Ok(SigningChallenge {
        nonce: issued.nonce,
        statement,
        payload_type: issued.payload_type,
        payload: base64::engine::general_purpose::STANDARD.encode(&issued.payload),
        challenge: challenge_b64url(&issued.challenge),
        user_verification: if issued.require_user_verification {
            "required".into()
        } else {
            "preferred".into()
        },
        request_options: serde_json::to_value(options)
            .map_err(|e| ApiError::internal(format!("encoding options: {e}")))?,
        expires_at: issued.expires_at,
    })
}

#[derive(Deserialize)]
pub struct SignBody {
    nonce: String,
    credential: AuthenticationResponseJson,
}

/// The passkey's answer: wrapped into a DSSE envelope and decided by
/// exactly the governance every signature gets. A refusal comes back as
/// a problem naming the policy and the refusal's log index.
pub async fn sign(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(_id): Path<String>,
    Json(body): Json<SignBody>,
) -> Result<Response, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let auth = viewer.caller.auth.clone();
    let session = viewer.session.id.clone();
    let submission = s
        .run(move |l, now| {
            let c = &body.credential;
            let sub = l.submit_passkey_signature(
                &body.nonce,
                c.raw_id.as_slice(),
                c.response.authenticator_data.as_slice(),
                c.response.client_data_json.as_slice(),
                c.response.signature.as_slice(),
                &auth,
                now,
            )?;
            // The assertion verified the user: that is a fresh sign-in too.
            let uv = c
                .response
                .authenticator_data
                .as_slice()
                .get(32)
                .is_some_and(|f| countersign_webauthn::Flags::from_byte(*f).user_verified);
            if uv {
                l.refresh_session(&session, 2, now)?;
            }
            Ok(sub)
        })
        .await;
    s.metrics.signature(&submission);
    Ok(axum::Json(submission?.receipt).into_response())
}

#[derive(Deserialize)]
pub struct ExceptionForm {
    #[serde(default)]
    csrf: Option<String>,
    justification: String,
}

/// Ask for a break-glass exception after a policy refusal.
pub async fn ask_exception(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ExceptionForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    let v = viewer.clone();
    let rid = id.clone();
    s.run(move |l, now| {
        let r = load(l, &v, &rid, now)?;
        l.request_exception(
            &RequestException {
                request: r.id,
                actor: None,
                justification: form.justification,
            },
            v.handle(),
            now,
        )
    })
    .await?;
    Ok(see_other(&format!("/requests/{id}?notice=exception")))
}

/// The requester withdraws their pending request.
pub async fn withdraw(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    let me = viewer.handle().to_string();
    let rid = id.clone();
    s.run(move |l, now| {
        // Someone who may not see the request learns nothing of it here.
        let r = load(l, &viewer, &rid, now)?;
        if r.requester != me {
            return Err(LedgerError::refused(
                ErrorCode::Forbidden,
                "only the requester can withdraw a request",
            ));
        }
        l.withdraw(&rid, form.reason.filter(|r| !r.trim().is_empty()), now)
    })
    .await?;
    Ok(see_other(&format!("/requests/{id}?notice=withdrawn")))
}

// ------------------------------------------------------------- my requests

#[derive(Template)]
#[template(path = "requests_mine.html")]
struct MinePage {
    chrome: Chrome,
    requests: Vec<RequestLine>,
}

/// The viewer's own requests, newest first.
pub async fn mine(State(s): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let me = viewer.handle().to_string();
    let requests = s
        .run(move |l, now| {
            let tx = l.store().read()?;
            let mut rs = tx.requests(&RequestFilter {
                requester: Some(me),
                limit: Some(500),
                ..Default::default()
            })?;
            rs.reverse();
            Ok(rs
                .into_iter()
                .map(|mut r| {
                    r.state = countersign_domain::request::effective_state(&r, now);
                    line(&*tx, &r, String::new())
                })
                .collect())
        })
        .await?;
    Ok(render(&MinePage {
        chrome: Chrome::new("My requests", "requests", Some(&viewer)),
        requests,
    }))
}

#[derive(Template)]
#[template(path = "request_new.html")]
struct NewPage {
    chrome: Chrome,
    error: Option<String>,
    events: Vec<(&'static str, &'static str)>,
    impacts: Vec<(&'static str, String)>,
    operations: Vec<&'static str>,
    people: Vec<PersonRef>,
    max_mib: u64,
}

fn new_page_for(
    s: &AppState,
    viewer: &Viewer,
    error: Option<String>,
    people: Vec<PersonRef>,
) -> NewPage {
    NewPage {
        chrome: Chrome::new("New request", "requests", Some(viewer)),
        error,
        events: EventKind::ALL
            .iter()
            .map(|e| (e.as_str(), describe::event(*e)))
            .collect(),
        impacts: Impact::ALL
            .iter()
            .map(|i| (i.as_str(), describe::impact(*i)))
            .collect(),
        operations: Operation::ALL.iter().map(|o| o.as_str()).collect(),
        people,
        max_mib: s.ledger.limits().max_document_bytes / (1024 * 1024),
    }
}

fn directory(l: &countersign_ledger::Ledger) -> Result<Vec<PersonRef>, LedgerError> {
    Ok(l.store()
        .read()?
        .identities(&Default::default())?
        .into_iter()
        .filter(|i| i.status == countersign_proto::model::IdentityStatus::Active)
        .map(|i| PersonRef {
            handle: i.handle,
            name: i.display_name,
        })
        .collect())
}

/// The form for a new request.
pub async fn new_page(State(s): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let people = s.run(|l, _| directory(l)).await?;
    Ok(render(&new_page_for(&s, &viewer, None, people)))
}

/// Create a request from the form: the document is uploaded (content
/// addressed, a new version if it changed), then the request is created
/// with the viewer as requester, under the same policy as the API.
pub async fn create(
    State(s): State<AppState>,
    viewer: Viewer,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let mut fields = std::collections::HashMap::<String, Vec<String>>::new();
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("the form could not be read: {e}"),
                )
                .into())
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "document" {
            let media = field.content_type().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| {
                ApiError::new(
                    ErrorCode::DocumentTooLarge,
                    format!("the document could not be read: {e}"),
                )
            })?;
            if !bytes.is_empty() {
                file = Some((bytes.to_vec(), media));
            }
        } else {
            let text = field.text().await.unwrap_or_default();
            fields.entry(name).or_default().push(text);
        }
    }
    let csrf = fields
        .get("csrf")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    viewer.check_csrf(Some(&csrf))?;
    let viewer2 = viewer.clone();
    let me = viewer.handle().to_string();
    let auth = viewer.caller.auth.clone();
    let result = s
        .run(move |l, now| {
            let one = |k: &str| {
                fields
                    .get(k)
                    .and_then(|v| v.first())
                    .cloned()
                    .unwrap_or_default()
            };
            let refuse = |d: &str| LedgerError::refused(ErrorCode::InvalidField, d.to_string());
            let doc_name = one("document_name").trim().to_string();
            if doc_name.is_empty() {
                return Err(refuse("give the document a name"));
            }
            let Some((bytes, media)) = file else {
                return Err(refuse("choose the document file to approve"));
            };
            let media = media.filter(|m| !m.is_empty() && m != "application/octet-stream");
            let approvers: Vec<String> = fields
                .get("approvers")
                .map(|v| {
                    v.iter()
                        .flat_map(|a| a.split([',', '\n']))
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let event = EventKind::parse(&one("event"))
                .ok_or_else(|| refuse("choose the business event"))?;
            let impact =
                Impact::parse(&one("impact")).ok_or_else(|| refuse("choose the impact"))?;
            let action = if one("system").trim().is_empty() {
                None
            } else {
                Some(EntitlementAction {
                    system: one("system").trim().to_string(),
                    subject: one("subject").trim().to_string(),
                    operation: Operation::parse(&one("operation"))
                        .ok_or_else(|| refuse("choose what the access change does"))?,
                    entitlement: one("entitlement").trim().to_string(),
                })
            };
            let days: u64 = one("expires_days").trim().parse().unwrap_or(7);
            let input = CreateRequest {
                event_kind: event,
                purpose: one("purpose").trim().to_string(),
                impact,
                documents: vec![DocumentRef {
                    document: doc_name,
                    version: None,
                }],
                action,
                requester: me,
                beneficiary: one("beneficiary").trim().to_string(),
                approvers,
                order: if one("order") == "sequential" {
                    ApprovalOrder::Sequential
                } else {
                    ApprovalOrder::Parallel
                },
                quorum: one("quorum").trim().parse().ok(),
                expires_at: None,
                expires_in_seconds: Some(days.clamp(1, 365) * 86_400),
            };
            // The upload and the request are one write: a refused form
            // leaves nothing behind, and the request names this version.
            l.create_request_with_content(&input, &bytes, media, &auth, now)
        })
        .await;
    match result {
        Ok(r) => Ok(see_other(&format!("/requests/{}?notice=created", r.id))),
        Err(e) if e.problem.status < 500 => {
            let people = s.run(|l, _| directory(l)).await?;
            let mut page = new_page_for(&s, &viewer2, Some(e.problem.detail), people);
            page.chrome.title = "New request: please check the form".into();
            let mut r = render(&page);
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------- evidence

/// The completion certificate: a printable page rendered from the
/// request's evidence bundle, verified with the log's own key.
pub async fn certificate(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let v = viewer.clone();
    let html = s
        .run(move |l, now| {
            let r = load(l, &v, &id, now)?;
            let bundle = countersign_ledger::evidence::export(l, &r.id, now)?;
            let json = serde_json::to_vec(&bundle)
                .map_err(|e| LedgerError::Integrity(format!("encoding the bundle: {e}")))?;
            countersign_report::verify_and_render(
                &json,
                &countersign_verify::Options {
                    pinned_log_key: Some(l.verifier().to_vkey()),
                    documents: Vec::new(),
                },
                &countersign_report::RenderOptions {
                    style: countersign_report::Style::Linked("/assets/certificate.css"),
                    verified_at: Some(now),
                    ..Default::default()
                },
            )
            .map(|(_, html)| html)
            .map_err(|e| LedgerError::Integrity(format!("rendering the certificate: {e}")))
        })
        .await?;
    Ok(axum::response::Html(html).into_response())
}

/// The evidence bundle as a download.
pub async fn evidence(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let v = viewer.clone();
    let (rid, json) = s
        .run(move |l, now| {
            let r = load(l, &v, &id, now)?;
            let bundle = countersign_ledger::evidence::export(l, &r.id, now)?;
            let json = serde_json::to_vec_pretty(&bundle)
                .map_err(|e| LedgerError::Integrity(format!("encoding the bundle: {e}")))?;
            Ok((r.id, json))
        })
        .await?;
    let mut r = Response::new(Body::from(json));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{rid}.evidence.json\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// One line of a request's timeline.
pub struct TimelineItem {
    pub index: u64,
    pub at: String,
    pub what: String,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    chrome: Chrome,
    id: String,
    purpose: String,
    items: Vec<TimelineItem>,
}

/// The auditor's timeline of a request: its log entries, each with its
/// index and a link to its receipt.
pub async fn timeline(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    // Every party to the request may see its timeline (`load` checks that).
    let v = viewer.clone();
    let page = s
        .run(move |l, now| {
            let r = load(l, &v, &id, now)?;
            let bundle = countersign_ledger::evidence::export(l, &r.id, now)?;
            let mut items = Vec::new();
            for e in &bundle.entries {
                let Ok(opened) =
                    countersign_attest::commitment::open_entry(e.entry.as_bytes(), |c| {
                        bundle.openings.get(c)
                    })
                else {
                    continue;
                };
                let entry = opened.entry;
                items.push(TimelineItem {
                    index: e.index,
                    at: describe::when(entry.at),
                    what: super::people::entry_words(&entry.event),
                });
            }
            Ok(TimelinePage {
                chrome: Chrome::new(format!("Timeline: {}", r.purpose), "audit", Some(&v)),
                id: r.id.clone(),
                purpose: r.purpose,
                items,
            })
        })
        .await?;
    Ok(render(&page))
}
