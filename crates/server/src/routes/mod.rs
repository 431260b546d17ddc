//! Routes of `/v1`, one module per resource.

pub mod directory;
pub mod documents;
pub mod governance;
pub mod health;
pub mod iga;
pub mod log;
pub mod openapi;
pub mod privacy;
pub mod requests;
pub mod scim;
pub mod webhooks;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use countersign_proto::ErrorCode;

use crate::auth::{self, Access};
use crate::{ApiError, AppState};

/// Header naming the log entry a write produced.
pub const LOG_INDEX_HEADER: &str = "countersign-log-index";

/// A JSON answer with a status and, for writes, the log index header.
pub(crate) fn answer<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
    log_index: Option<u64>,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(i) = log_index {
        if let Ok(v) = HeaderValue::from_str(&i.to_string()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(LOG_INDEX_HEADER), v);
        }
    }
    response
}

/// One route of the API and who may call it.
#[derive(Clone, Debug)]
pub struct RouteAccess {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// What the API's route list is read into: the router, or the table.
trait Routes {
    fn add<H, T>(&mut self, method: Method, path: &'static str, access: Access, handler: H)
    where
        H: Handler<T, AppState>,
        T: 'static;
}

/// Every `/v1` route, with who may call it. The router is built from this
/// list, and so are the authorisation matrix test and README's table.
#[rustfmt::skip]
fn api<R: Routes>(r: &mut R) {
    use auth::{
        ADMIN, CHANGES_WRITE, CONTROLS_READ, CONTROLS_WRITE, DIRECTORY_WRITE, EVIDENCE, GOVERN,
        GOVERN_READ, HOLDS, HOLDS_READ, LOG_READ, READ, RECONCILE, REQUEST_WRITE, SIGN,
    };
    use Access::{Public, Roles, SelfOr};
    use Method as M;
    r.add(M::GET, "/v1/openapi.json", Public, openapi::serve);
    r.add(M::GET, "/v1/info", Public, log::info);
    r.add(M::POST, "/v1/identities", Roles(DIRECTORY_WRITE), directory::create);
    r.add(M::GET, "/v1/identities", Roles(READ), directory::list);
    r.add(M::GET, "/v1/identities/{handle}", Roles(READ), directory::show);
    r.add(M::PATCH, "/v1/identities/{handle}", Roles(DIRECTORY_WRITE), directory::update);
    r.add(M::GET, "/v1/identities/{handle}/history", Roles(READ), directory::history);
    r.add(M::POST, "/v1/identities/{handle}/invitations", Roles(ADMIN), directory::invite);
    r.add(M::POST, "/v1/identities/{handle}/scim-adoption", Roles(ADMIN), directory::allow_scim_adoption);
    r.add(M::POST, "/v1/identities/{handle}/erasure", Roles(ADMIN), privacy::erase);
    r.add(M::POST, "/v1/identities/{handle}/holds", Roles(HOLDS), privacy::hold_identity);
    r.add(M::POST, "/v1/identities/{handle}/suspend", Roles(DIRECTORY_WRITE), directory::suspend);
    r.add(M::POST, "/v1/identities/{handle}/reactivate", Roles(DIRECTORY_WRITE), directory::reactivate);
    r.add(M::POST, "/v1/identities/{handle}/terminate", Roles(DIRECTORY_WRITE), directory::terminate);
    r.add(M::POST, "/v1/identities/{handle}/key-challenges", SelfOr(DIRECTORY_WRITE), directory::challenge);
    r.add(M::POST, "/v1/identities/{handle}/keys", SelfOr(DIRECTORY_WRITE), directory::enroll);
    r.add(M::GET, "/v1/identities/{handle}/keys", Roles(READ), directory::keys_of);
    r.add(M::GET, "/v1/keys/{key_id}", Roles(READ), directory::key);
    r.add(M::POST, "/v1/keys/{key_id}/revoke", Roles(DIRECTORY_WRITE), directory::revoke);
    r.add(M::POST, "/v1/keys/{key_id}/vouch", Roles(ADMIN), directory::vouch);
    r.add(M::GET, "/v1/documents", Roles(READ), documents::list);
    r.add(M::GET, "/v1/documents/{name}", Roles(READ), documents::show);
    r.add(M::PUT, "/v1/documents/{name}/content", Roles(REQUEST_WRITE), documents::upload);
    r.add(M::POST, "/v1/documents/{name}/versions", Roles(REQUEST_WRITE), documents::register_digest);
    r.add(M::GET, "/v1/documents/{name}/versions/{version}/content", Roles(READ), documents::content);
    r.add(M::POST, "/v1/requests", Roles(REQUEST_WRITE), requests::create);
    r.add(M::GET, "/v1/requests", Roles(READ), requests::list);
    r.add(M::GET, "/v1/requests/{id}", Roles(READ), requests::show);
    r.add(M::POST, "/v1/requests/{id}/withdraw", Roles(REQUEST_WRITE), requests::withdraw);
    r.add(M::GET, "/v1/requests/{id}/evidence", Roles(EVIDENCE), requests::evidence);
    r.add(M::POST, "/v1/requests/{id}/holds", Roles(HOLDS), privacy::hold_request);
    r.add(M::GET, "/v1/requests/{id}/outlook", Roles(SIGN), requests::outlook);
    r.add(M::POST, "/v1/requests/{id}/signing-challenges", Roles(SIGN), requests::signing_challenge);
    r.add(M::POST, "/v1/requests/{id}/passkey-signatures", Roles(SIGN), requests::passkey_signature);
    r.add(M::GET, "/v1/notifications", Roles(READ), directory::notifications);
    r.add(M::POST, "/v1/signatures", Roles(SIGN), requests::sign);
    r.add(M::POST, "/v1/tokens", Roles(ADMIN), governance::issue_token);
    r.add(M::GET, "/v1/tokens", Roles(ADMIN), governance::list_tokens);
    r.add(M::POST, "/v1/tokens/{id}/revoke", Roles(ADMIN), governance::revoke_token);
    r.add(M::POST, "/v1/delegations", Roles(GOVERN), governance::grant_delegation);
    r.add(M::GET, "/v1/delegations", Roles(GOVERN_READ), governance::list_delegations);
    r.add(M::GET, "/v1/delegations/{id}", Roles(GOVERN_READ), governance::show_delegation);
    r.add(M::POST, "/v1/delegations/{id}/revoke", Roles(GOVERN), governance::revoke_delegation);
    r.add(M::POST, "/v1/exceptions", Roles(GOVERN), governance::request_exception);
    r.add(M::GET, "/v1/exceptions", Roles(GOVERN_READ), governance::list_exceptions);
    r.add(M::GET, "/v1/exceptions/{id}", Roles(GOVERN_READ), governance::show_exception);
    r.add(M::POST, "/v1/exceptions/{id}/approve", Roles(GOVERN), governance::approve_exception);
    r.add(M::POST, "/v1/exceptions/{id}/deny", Roles(GOVERN), governance::deny_exception);
    r.add(M::GET, "/v1/holds", Roles(HOLDS_READ), privacy::list);
    r.add(M::GET, "/v1/holds/{id}", Roles(HOLDS_READ), privacy::show);
    r.add(M::POST, "/v1/holds/{id}/release", Roles(HOLDS), privacy::release);
    r.add(M::GET, "/v1/policy", Roles(GOVERN_READ), governance::show_policy);
    r.add(M::POST, "/v1/policy/reload", Roles(ADMIN), governance::reload_policy);
    r.add(M::GET, "/v1/ca", Public, governance::ca_certificate);
    r.add(M::POST, "/v1/workload/certificates", Public, governance::workload_certificate);
    r.add(M::POST, "/v1/entitlement-changes", Roles(CHANGES_WRITE), iga::report);
    r.add(M::GET, "/v1/entitlement-changes", Roles(CONTROLS_READ), iga::list_changes);
    r.add(M::GET, "/v1/entitlement-changes/{id}", Roles(CONTROLS_READ), iga::show_change);
    r.add(M::POST, "/v1/reconcile", Roles(RECONCILE), iga::reconcile);
    r.add(M::GET, "/v1/control-exceptions", Roles(CONTROLS_READ), iga::list_controls);
    r.add(M::GET, "/v1/control-exceptions/export", Roles(CONTROLS_READ), iga::export);
    r.add(M::GET, "/v1/control-exceptions/{id}", Roles(CONTROLS_READ), iga::show_control);
    r.add(M::POST, "/v1/control-exceptions/{id}/assign", Roles(CONTROLS_WRITE), iga::assign);
    r.add(M::POST, "/v1/control-exceptions/{id}/acknowledge", Roles(CONTROLS_WRITE), iga::acknowledge);
    r.add(M::POST, "/v1/control-exceptions/{id}/resolve", Roles(CONTROLS_WRITE), iga::resolve);
    r.add(M::POST, "/v1/control-exceptions/{id}/reopen", Roles(CONTROLS_WRITE), iga::reopen);
    r.add(M::POST, "/v1/webhooks", Roles(ADMIN), webhooks::create);
    r.add(M::GET, "/v1/webhooks", Roles(ADMIN), webhooks::list);
    r.add(M::GET, "/v1/webhooks/deliveries", Roles(ADMIN), webhooks::deliveries);
    r.add(M::POST, "/v1/webhooks/deliveries/replay", Roles(ADMIN), webhooks::replay);
    r.add(M::GET, "/v1/webhooks/deliveries/{id}", Roles(ADMIN), webhooks::delivery);
    r.add(M::GET, "/v1/webhooks/{id}", Roles(ADMIN), webhooks::show);
    r.add(M::PATCH, "/v1/webhooks/{id}", Roles(ADMIN), webhooks::update);
    r.add(M::POST, "/v1/webhooks/{id}/rotate", Roles(ADMIN), webhooks::rotate);
    r.add(M::GET, "/v1/log/checkpoint", Public, log::checkpoint);
    r.add(M::GET, "/v1/log/checkpoints/{size}", Public, log::checkpoint_at);
    r.add(M::GET, "/v1/log/key", Public, log::key);
    r.add(M::GET, "/v1/log/entries", Roles(LOG_READ), log::entries);
    r.add(M::GET, "/v1/log/entries/{index}", Roles(LOG_READ), log::entry);
    r.add(M::GET, "/v1/log/entries/{index}/receipt", Public, log::receipt);
    r.add(M::GET, "/v1/log/proof/inclusion", Public, log::inclusion);
    r.add(M::GET, "/v1/log/proof/consistency", Public, log::consistency);
}

/// The API's access table: every route and who may call it.
pub fn access_table() -> Vec<RouteAccess> {
    struct Table(Vec<RouteAccess>);
    impl Routes for Table {
        fn add<H, T>(&mut self, method: Method, path: &'static str, access: Access, _: H)
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.0.push(RouteAccess {
                method,
                path,
                access,
            });
        }
    }
    let mut t = Table(Vec::new());
    api(&mut t);
    t.0
}

/// The access table as README shows it (a Markdown table).
pub fn access_table_markdown() -> String {
    let mut out = String::from("| Method | Route | Who may call it |\n| --- | --- | --- |\n");
    for r in access_table() {
        out.push_str(&format!(
            "| {} | `{}` | {} |\n",
            r.method,
            r.path,
            r.access.describe()
        ));
    }
    out
}

/// Builds the router from the route list: each route behind its gate
/// (authentication and roles before the body is read) and its body limit.
struct Build {
    router: Router<AppState>,
    state: AppState,
    json_limit: usize,
    doc_limit: usize,
}

impl Routes for Build {
    fn add<H, T>(&mut self, method: Method, path: &'static str, access: Access, handler: H)
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let Ok(filter) = MethodFilter::try_from(method) else {
            return;
        };
        let limit = if path == "/v1/documents/{name}/content" {
            self.doc_limit
        } else {
            self.json_limit
        };
        let route = on(filter, handler)
            .layer(DefaultBodyLimit::max(limit))
            .route_layer(axum::middleware::from_fn_with_state(
                auth::Gate {
                    state: self.state.clone(),
                    access,
                    scim: false,
                },
                auth::gate,
            ));
        self.router = std::mem::take(&mut self.router).route(path, route);
    }
}

pub fn router(state: AppState) -> Router {
    let doc_limit = usize::try_from(state.ledger.limits().max_document_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let json_limit = state.config.max_json_bytes;
    let mut build = Build {
        router: Router::new(),
        state: state.clone(),
        json_limit,
        doc_limit,
    };
    api(&mut build);
    let scim = Router::new()
        .nest(
            "/scim/v2",
            scim::router().route_layer(axum::middleware::from_fn_with_state(
                auth::Gate {
                    state: state.clone(),
                    access: Access::Roles(auth::SCIM),
                    scim: true,
                },
                auth::gate,
            )),
        )
        .layer(DefaultBodyLimit::max(json_limit));
    let web =
        crate::web::router().layer(DefaultBodyLimit::max(doc_limit.saturating_add(64 * 1024)));
    let health = Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .route("/metrics", axum::routing::get(crate::metrics::serve));
    build
        .router
        .merge(health)
        .merge(scim)
        .merge(web)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(problem_answers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::origin_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.config.request_timeout,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_log,
        ))
        .with_state(state)
}

/// `/requests/req_…/timeline` → `/requests/…`: a bounded label for metrics.
fn coarse(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    match rest.split('/').next() {
        Some("") | None => "/".into(),
        Some(first) if rest.contains('/') => format!("/{first}/…"),
        Some(first) => format!("/{first}"),
    }
}

/// One line per request (target `countersign::request`): method, route
/// template (the path where no route matched), status, latency and the
/// caller's label once authenticated. Never the query or a token.
async fn request_log(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let routed = response
        .extensions()
        .get::<auth::Routed>()
        .cloned()
        .unwrap_or_default();
    // Unrouted and web paths carry ids: their metric label is the first
    // segment only.
    let label = if routed.route.is_empty() {
        coarse(&path)
    } else {
        routed.route.clone()
    };
    s.metrics.request(
        method.as_str(),
        &label,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    let route = if routed.route.is_empty() {
        path
    } else {
        routed.route
    };
    tracing::info!(
        target: "countersign::request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_micros() as f64 / 1000.0,
        caller = routed.caller.as_deref().unwrap_or("-"),
    );
    response
}

/// The framework's own refusals (a body over the limit, a wrong content
/// type) are `text/plain`; under `/v1` they leave as problem documents and
/// under `/scim` as SCIM errors, like every other error.
async fn problem_answers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let api = path.starts_with("/v1/") || path == "/v1";
    let scim = path.starts_with("/scim/");
    let response = next.run(req).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    let mut r =
        if !(api || scim) || !(status.is_client_error() || status.is_server_error()) || !plain {
            response
        } else {
            framework_refusal(response, status, scim).await
        };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body was never read: do not reuse the connection.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// A framework refusal (`text/plain`) as a problem document or SCIM error.
async fn framework_refusal(response: Response, status: StatusCode, scim: bool) -> Response {
    let (code, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "the body is larger than this route accepts".to_string(),
        ),
        StatusCode::UNPROCESSABLE_ENTITY => (ErrorCode::InvalidField, body_text(response).await),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout,
            "the request took too long to arrive".to_string(),
        ),
        s if s.is_server_error() => (
            ErrorCode::Internal,
            "internal error; see the server log".to_string(),
        ),
        _ => (ErrorCode::BadRequest, body_text(response).await),
    };
    let mut e = ApiError::new(code, detail);
    e.problem.status = status.as_u16();
    if scim {
        scim::failure(e)
    } else {
        e.into_response()
    }
}

async fn body_text(response: Response) -> String {
    match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => "the request could not be read".into(),
    }
}

/// A request (its headers and body) must arrive within the configured
/// time; a slow sender is answered 408 and its connection closed.
async fn request_timeout(
    State(limit): State<std::time::Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut r = ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the request was not answered within {} s", limit.as_secs()),
            )
            .into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// An unknown route: a problem document under `/v1` and `/scim`, a page
/// for people everywhere else.
async fn not_found(uri: axum::http::Uri) -> Response {
    let p = uri.path();
    if p.starts_with("/v1") || p.starts_with("/scim") {
        ApiError::new(
            ErrorCode::RouteNotFound,
            "no such route; the API is described at /v1/openapi.json",
        )
        .into_response()
    } else {
        crate::web::not_found_page()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}
