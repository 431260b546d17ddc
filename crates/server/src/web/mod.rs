//! The web app: server-rendered pages for the people who sign (managers,
//! lawyers, release managers), auditors and administrators, on the same
//! listener as the API.
//!
//! Pages are askama templates (`crates/server/templates/`) filled by
//! handlers as thin as the API's: extract the viewer, ask the ledger, fill
//! the template. The assets (one stylesheet, one script) are embedded in
//! the binary, so nothing is built outside cargo and nothing is fetched
//! from anyone else. Pages that only show things work without JavaScript;
//! the script exists because only the browser can talk to a passkey.
//!
//! Every response carries a strict Content-Security-Policy (no inline
//! script or style, nothing from other origins), `frame-ancestors 'none'`
//! (documents shown inline are framed only by our own pages), a
//! `Referrer-Policy` and `nosniff`. State-changing requests must come from
//! our own origin (checked here) and carry the session's CSRF token
//! (checked by each handler).
//!
//! Reads are row-scoped: a person sees the requests they are a party to
//! (requester, beneficiary, approver, signer, delegate of an approver);
//! auditors, compliance and administrators see all.

mod ceremony;
mod pages;
mod people;
mod requests;
pub mod session;
mod signin;

pub use requests::signing_challenge;

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use countersign_proto::ErrorCode;

use crate::{ApiError, AppState};

/// The web app's settings.
#[derive(Clone)]
pub struct WebSettings {
    /// Where people reach the server: links in mails, the WebAuthn origin.
    pub public_url: String,
    /// Whether cookies are `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Send `Strict-Transport-Security` (the server terminates TLS).
    pub hsts: bool,
    /// The relying party name authenticators show.
    pub rp_name: String,
    /// Roots a passkey's attestation may chain to.
    pub trust: Arc<countersign_webauthn::TrustAnchors>,
    /// The mail server, when `[smtp]` is configured.
    pub mailer: Option<countersign_mail::Mailer>,
    /// How often the mail outbox is polled.
    pub mail_poll: Duration,
    /// OpenID providers people may sign in with.
    pub oidc: Vec<Arc<countersign_oidc::SignInProvider>>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            public_url: "http://localhost:8440".into(),
            secure_cookies: false,
            hsts: false,
            rp_name: "Countersign".into(),
            trust: Arc::new(countersign_webauthn::TrustAnchors::new()),
            mailer: None,
            mail_poll: Duration::from_secs(1),
            oidc: Vec::new(),
        }
    }
}

/// The policy every page gets. Documents shown inline set their own.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The web app's routes (everything outside `/v1` and `/scim/v2`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/assets/{file}", get(asset))
        .route("/sign-in", get(signin::page))
        .route("/sign-in/passkey/options", post(signin::passkey_options))
        .route("/sign-in/passkey", post(signin::passkey_finish))
        .route("/sign-in/oidc/{n}", get(signin::oidc_start))
        .route("/auth/oidc/callback", get(signin::oidc_callback))
        .route("/sign-out", post(signin::sign_out))
        .route(
            "/enrol/{token}",
            get(signin::enrol_page).post(signin::enrol_finish),
        )
        .route("/enrol/{token}/options", post(signin::enrol_options))
        .route("/account", get(people::account))
        .route(
            "/account/passkeys/options",
            post(signin::add_passkey_options),
        )
        .route("/account/passkeys", post(signin::add_passkey_finish))
        .route("/notifications", get(people::notifications))
        .route("/inbox", get(requests::inbox))
        .route("/requests", get(requests::mine))
        .route(
            "/requests/new",
            get(requests::new_page).post(requests::create),
        )
        .route("/requests/{id}", get(requests::show))
        .route("/requests/{id}/withdraw", post(requests::withdraw))
        .route("/requests/{id}/documents/{n}", get(requests::document))
        .route(
            "/requests/{id}/sign/challenge",
            post(requests::sign_challenge),
        )
        .route("/requests/{id}/sign", post(requests::sign))
        .route("/requests/{id}/exception", post(requests::ask_exception))
        .route("/requests/{id}/certificate", get(requests::certificate))
        .route("/requests/{id}/evidence", get(requests::evidence))
        .route("/requests/{id}/timeline", get(requests::timeline))
        .route("/delegations", get(people::delegations).post(people::grant))
        .route("/delegations/{id}/end", post(people::end_delegation))
        .route("/audit", get(people::audit))
        .route("/identities/{handle}", get(people::identity))
        .route("/controls", get(people::controls))
        .route("/controls/{id}", get(people::control))
        .route("/controls/{id}/assign", post(people::assign_control))
        .route(
            "/controls/{id}/acknowledge",
            post(people::acknowledge_control),
        )
        .route(
            "/controls/{id}/resolve/challenge",
            post(people::resolve_challenge),
        )
        .route("/controls/{id}/resolve", post(people::resolve_control))
        .route("/admin/identities", get(people::admin_identities))
        .route("/admin/credentials", get(people::admin_credentials))
        .route("/admin/tokens", get(people::admin_tokens))
        .route("/admin/webhooks", get(people::admin_webhooks))
}

static APP_CSS: &str = include_str!("../../assets/app.css");
static APP_JS: &str = include_str!("../../assets/app.js");
static ICON: &str = include_str!("../../assets/icon.svg");

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        "certificate.css" => (
            countersign_report::CERTIFICATE_CSS,
            "text/css; charset=utf-8",
        ),
        _ => return page_error(ApiError::new(ErrorCode::RouteNotFound, "no such file")),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // Assets change with the binary; an hour is a fair trade.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Set the security headers every response needs, unless the handler set
/// its own (the inline document view sets a narrower policy).
pub async fn security_headers(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, PAGE_CSP);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Answers carry personal data and secrets (tokens, webhook secrets,
    // enrolment links): nothing is kept by a browser or a proxy unless the
    // route says otherwise (assets, and public log data).
    set(header::CACHE_CONTROL, "no-store");
    // Same-origin only: links out never carry a page's URL (an enrolment
    // link's secret is in its path), while our own form posts keep their
    // `Origin` header, which the origin guard checks.
    set(header::REFERRER_POLICY, "same-origin");
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("permissions-policy"),
        "publickey-credentials-get=(self), publickey-credentials-create=(self), camera=(), microphone=(), geolocation=()",
    );
    if s.web.hsts {
        set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    res
}

/// Refuse a state-changing browser request from another origin before any
/// handler runs: its `Origin` (or, without one, `Sec-Fetch-Site`) must be
/// ours. API and SCIM calls carry bearer tokens, not cookies, and are left
/// alone.
pub async fn origin_guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // Probes and scrapers reach the server by any address it listens on.
    let machine_route = matches!(path, "/healthz" | "/readyz" | "/metrics");
    let browser_route = !path.starts_with("/v1/") && !path.starts_with("/scim/") && !machine_route;
    if browser_route && *req.method() == Method::GET {
        if let Some(to) = canonical(&s.web.public_url, &req) {
            return see_other(&to);
        }
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if browser_route && unsafe_method {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let ours = |o: &str| {
            o == s.web.public_url || s.ledger.web().origins.iter().any(|allowed| allowed == o)
        };
        let fetch_site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok());
        let allowed = match origin {
            // A browser that hides the origin (`null`) still says whether
            // the request came from our own pages.
            Some("null") => fetch_site == Some("same-origin"),
            Some(o) => ours(o),
            None => !matches!(fetch_site, Some("cross-site" | "same-site")),
        };
        if !allowed {
            let e = ApiError::new(
                ErrorCode::CsrfFailed,
                "this request came from another site and was refused",
            );
            // The page's script speaks JSON and reads a problem document;
            // a form post gets a page.
            let wants_json = [header::CONTENT_TYPE, header::ACCEPT].iter().any(|h| {
                req.headers()
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("json"))
            });
            return if wants_json {
                e.into_response()
            } else {
                page_error(e)
            };
        }
    }
    next.run(req).await
}

/// Where a page opened on a loopback address should go instead: passkeys
/// are scoped to a host name (`localhost`), never to an IP address, so a
/// page at `http://127.0.0.1:8440` could not use them. Only loopback
/// literals are redirected, to the configured public URL.
fn canonical(public_url: &str, req: &Request) -> Option<String> {
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if name != "127.0.0.1" && name != "[::1]" {
        return None;
    }
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(format!("{public_url}{path}"))
}

/// What every page's frame needs: the title, the viewer, the CSRF token.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    pub title: String,
    /// Which navigation entry is the current page.
    pub nav: &'static str,
    pub viewer: Option<ViewerInfo>,
    pub csrf: String,
}

/// The signed-in person, as the frame shows them.
#[derive(Clone, Debug, Default)]
pub struct ViewerInfo {
    pub handle: String,
    pub name: String,
    /// Auditors, compliance and administrators: the audit and control
    /// exception pages.
    pub sees_all: bool,
    pub admin: bool,
}

impl Chrome {
    pub fn new(
        title: impl Into<String>,
        nav: &'static str,
        viewer: Option<&session::Viewer>,
    ) -> Self {
        use countersign_proto::governance::Role;
        Chrome {
            title: title.into(),
            nav,
            viewer: viewer.map(|v| ViewerInfo {
                handle: v.identity.handle.clone(),
                name: v.identity.display_name.clone(),
                sees_all: v.sees_all(),
                admin: v.has(Role::Admin),
            }),
            csrf: viewer.map(|v| v.session.csrf.clone()).unwrap_or_default(),
        }
    }

    /// `aria-current` for a navigation entry.
    pub fn current(&self, nav: &str) -> &'static str {
        if self.nav == nav {
            "page"
        } else {
            "false"
        }
    }
}

/// Render a template as a page.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => page_error(ApiError::internal(format!("rendering a page: {e}"))),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    heading: String,
    detail: String,
    code: String,
}

/// An error as a page people can read (with the problem's code for
/// support), with the problem's HTTP status.
pub fn page_error(e: ApiError) -> Response {
    let p = e.problem;
    let heading = match p.code {
        ErrorCode::RouteNotFound => "This page does not exist".to_string(),
        ErrorCode::Forbidden => "You cannot see this".to_string(),
        ErrorCode::SessionInvalid | ErrorCode::Unauthenticated => "Please sign in".to_string(),
        ErrorCode::CsrfFailed => "The form could not be accepted".to_string(),
        ErrorCode::Internal | ErrorCode::IntegrityFailure => {
            "Something went wrong on our side".to_string()
        }
        _ => {
            let t = p.title.clone();
            let mut c = t.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => t,
            }
        }
    };
    let page = ErrorPage {
        chrome: Chrome::new(heading.clone(), "", None),
        status: p.status,
        heading,
        detail: p.detail,
        code: p.code.as_str().to_string(),
    };
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, "error").into_response(),
    }
}

/// An error raised by a page handler: shown as a page.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<countersign_ledger::LedgerError> for PageError {
    fn from(e: countersign_ledger::LedgerError) -> Self {
        PageError(ApiError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        page_error(self.0)
    }
}

/// A form that carries only the session's CSRF token, and for some
/// actions (withdrawing a request) an optional reason.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A form body (`application/x-www-form-urlencoded`) whose rejection is a
/// page that says what was wrong, like every other browser error.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Form(v)),
            Err(r) => {
                let code = match r.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                    StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidField,
                    _ => ErrorCode::BadRequest,
                };
                Err(PageError(ApiError::new(code, r.body_text())))
            }
        }
    }
}

/// A redirect after a form post (303, so the browser GETs the target).
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The 404 for browser paths: a page, not JSON.
pub fn not_found_page() -> Response {
    page_error(ApiError::new(
        ErrorCode::RouteNotFound,
        "There is nothing at this address. Check the link, or start from your inbox.",
    ))
}
