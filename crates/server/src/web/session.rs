//! Browser sessions: the cookie, the signed-in viewer, CSRF.
//!
//! The session cookie holds a random token; the ledger keeps only its
//! hash, with the identity, how they signed in (AAL, `auth_time`) and
//! when. Over https the cookie is `__Host-countersign` (Secure, Path=/, no
//! Domain, so no other host or path can set or read it); on plain-http
//! localhost, where browsers refuse Secure cookies from http on some
//! versions, it is `countersign` without Secure. Both are HttpOnly and
//! SameSite=Lax: Lax, not Strict, so the redirect back from an OpenID
//! provider still carries the sign-in state cookie.
//!
//! Every state-changing request carries the session's synchroniser token
//! (a form field `csrf`, or the `x-csrf-token` header for the script's
//! JSON calls), and the origin guard in `web::mod` refuses cross-site
//! requests before any handler runs.

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_domain::policy::Authentication;
use countersign_ledger::SessionRecord;
use countersign_proto::governance::Role;
use countersign_proto::model::Identity;
use countersign_proto::ErrorCode;
use subtle::ConstantTimeEq as _;

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Constant-time comparison of secrets (a token's length is not secret).
fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The session cookie's name.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-countersign"
    } else {
        "countersign"
    }
}

/// The cookie holding an OpenID sign-in's state between the redirect to
/// the provider and back.
pub fn oidc_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-countersign-oidc"
    } else {
        "countersign-oidc"
    }
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Set-Cookie` value. `max_age` of `None` makes a session cookie; zero
/// deletes it.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.max(0)));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The roles a signed-in person holds in the web app: requester and
/// approver, and the governance labels an administrator gave their
/// identity (`auditor`, `compliance`, `admin`).
pub fn person_roles(identity: &Identity) -> BTreeSet<Role> {
    let mut roles = BTreeSet::from([Role::Requester, Role::Approver]);
    roles.extend(
        GRANTED_LABELS
            .iter()
            .filter(|(label, _)| identity.roles.iter().any(|r| r == label))
            .map(|(_, role)| *role),
    );
    roles
}

/// The governance labels of an identity that give a person a role in the
/// web app; only an administrator gives them.
pub const GRANTED_LABELS: &[(&str, Role)] = &[
    ("auditor", Role::Auditor),
    ("compliance", Role::Compliance),
    ("admin", Role::Admin),
];

/// Who sees every request, person and control exception (a person never
/// holds `integration`, the one role of the list no person is given).
pub use crate::auth::SEES_ALL;

/// The signed-in person behind a browser request.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub session: SessionRecord,
    pub identity: Identity,
    /// The same caller an API request would present, for the ledger and
    /// policy: bound to the identity, with the session's AAL and
    /// authentication time.
    pub caller: Caller,
}

impl Viewer {
    pub fn handle(&self) -> &str {
        &self.identity.handle
    }

    pub fn has(&self, role: Role) -> bool {
        self.caller.has(role)
    }

    /// Auditors, compliance and administrators see every request.
    pub fn sees_all(&self) -> bool {
        self.has_any(SEES_ALL)
    }

    /// Whose rows the viewer reads.
    pub fn scope(&self) -> countersign_ledger::Scope {
        if self.sees_all() {
            countersign_ledger::Scope::All
        } else {
            countersign_ledger::Scope::Party(self.handle().to_string())
        }
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }

    /// Admit the viewer if they hold any of `roles`; otherwise a refusal
    /// that says, in `why`, who the page is for.
    pub fn may(&self, roles: &[Role], why: &str) -> Result<(), ApiError> {
        if self.has_any(roles) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, why))
        }
    }

    /// Check a state-changing request's synchroniser token.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), ApiError> {
        match presented {
            Some(t) if eq(t, &self.session.csrf) => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "this form is out of date or did not come from this site; reload the page and try again",
            )),
        }
    }

    /// [`Viewer::check_csrf`] with the `x-csrf-token` header.
    pub fn check_csrf_header(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
    }
}

fn caller_for(session: &SessionRecord, identity: &Identity) -> Caller {
    Caller {
        roles: person_roles(identity),
        identity: Some(identity.handle.clone()),
        auth: Authentication {
            identity: Some(identity.handle.clone()),
            aal: Some(session.aal),
            auth_time: session.auth_time,
            method: Some(format!("session:{}", session.method)),
        },
        label: identity.handle.clone(),
        address: None,
    }
}

/// Why a page needs a sign-in: pages redirect to the sign-in page,
/// script calls get a 401 problem.
pub enum NoSession {
    Redirect(String),
    Problem(ApiError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::Redirect(to) => {
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(LOCATION, v);
                }
                r
            }
            NoSession::Problem(e) => e.into_response(),
        }
    }
}

/// The session behind a request's cookie, if live.
pub async fn lookup(parts: &Parts, state: &AppState) -> Result<Option<Viewer>, ApiError> {
    let Some(token) = cookie(&parts.headers, cookie_name(state.web.secure_cookies)) else {
        return Ok(None);
    };
    let found = state.run(move |l, now| l.session(&token, now)).await?;
    Ok(found.map(|(session, identity)| Viewer {
        caller: caller_for(&session, &identity),
        session,
        identity,
    }))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NoSession> {
        match lookup(parts, state).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => {
                let wants_page = parts.method == axum::http::Method::GET
                    && !parts
                        .headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|a| a.starts_with("application/json"));
                if wants_page {
                    let next = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "/".into());
                    Err(NoSession::Redirect(format!(
                        "/sign-in?next={}",
                        urlencode(&next)
                    )))
                } else {
                    Err(NoSession::Problem(ApiError::new(
                        ErrorCode::SessionInvalid,
                        "you are not signed in, or your session ended; sign in again",
                    )))
                }
            }
            Err(e) => Err(NoSession::Problem(e)),
        }
    }
}

/// The viewer if signed in; pages that work for everyone take this.
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeViewer(lookup(parts, state).await?))
    }
}

/// Percent-encode a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A same-site path to go to after signing in: only a local absolute
/// path of printable ASCII, never another site. Browsers drop tabs and
/// newlines from URLs and read a backslash as `/`, so `/` TAB
/// `/evil.example` would become `//evil.example`: whitespace, control
/// characters and backslashes are refused, as is `//` at the start.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2048
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}
