//! SCIM 2.0 service provider (RFC 7643 / RFC 7644) at `/scim/v2`.
//!
//! Identity providers push users and groups here with a bearer token that
//! holds the `scim` role. The SCIM JSON work (filters, PATCH, schemas,
//! projection) is `countersign-scim`'s; the ledger maps users to identities
//! and records what changed. Every error leaves as an RFC 7644 §3.12 SCIM
//! error (`application/scim+json`) rather than a problem document, because
//! that is what SCIM clients parse.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use countersign_ledger::{ScimGroup, ScimRecord, ScimUser, SCIM_GROUP, SCIM_USER};
use countersign_proto::ErrorCode;
use countersign_scim::{ResourceType, ScimError, ScimErrorKind};
use serde_json::{json, Value};

use crate::{ApiError, AppState};

/// The most resources one list answer holds.
pub const MAX_RESULTS: usize = 200;

const SCIM_JSON: &str = "application/scim+json";

/// A SCIM error on its way to the client.
pub struct ScimFailure {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [countersign_scim::error::ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Value::Object(m)) = (self.scim_type, &mut body) {
            m.insert("scimType".into(), Value::String(t.into()));
        }
        scim_json(self.status, &body, None)
    }
}

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        let status = match e.kind {
            ScimErrorKind::NotFound => StatusCode::NOT_FOUND,
            ScimErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ScimErrorKind::Uniqueness | ScimErrorKind::Conflict => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ScimFailure {
            status,
            scim_type: e.scim_type(),
            detail: e.detail,
        }
    }
}

impl From<ApiError> for ScimFailure {
    fn from(e: ApiError) -> Self {
        let code = e.problem.code;
        let scim_type = match code {
            ErrorCode::ScimUniqueness | ErrorCode::HandleTaken => Some("uniqueness"),
            ErrorCode::InvalidField => Some("invalidValue"),
            ErrorCode::BadRequest => Some("invalidSyntax"),
            ErrorCode::IdentityTerminated | ErrorCode::InvalidTransition => Some("mutability"),
            _ => None,
        };
        let status = match code {
            // SCIM reports every malformed or invalid request as 400.
            ErrorCode::InvalidField => StatusCode::BAD_REQUEST,
            c => StatusCode::from_u16(c.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        };
        ScimFailure {
            status,
            scim_type,
            detail: e.problem.detail,
        }
    }
}

impl From<countersign_ledger::LedgerError> for ScimFailure {
    fn from(e: countersign_ledger::LedgerError) -> Self {
        ApiError::from(e).into()
    }
}

type Result<T> = std::result::Result<T, ScimFailure>;

/// An API error (from the route's gate, or the framework) answered as a
/// SCIM error, keeping `Retry-After`.
pub(crate) fn failure(e: ApiError) -> Response {
    let retry = e.retry_after;
    let mut r = ScimFailure::from(e).into_response();
    if let Some(v) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// RFC 7644 §3.4.3 search, §3.7 bulk and §3.11 `/Me`: not supported here,
/// which the RFC says is 501.
async fn not_implemented() -> ScimFailure {
    ScimFailure {
        status: StatusCode::NOT_IMPLEMENTED,
        scim_type: None,
        detail: "this SCIM operation is not supported (see /scim/v2/ServiceProviderConfig); list with GET and a filter instead of .search".into(),
    }
}

fn scim_json(status: StatusCode, body: &Value, etag: Option<&str>) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (status, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(t) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        r.headers_mut().insert(header::ETAG, t);
    }
    r
}

/// The absolute base of the SCIM API, for `meta.location`.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}/scim/v2")
}

fn body_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ScimError::new(
            ScimErrorKind::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        )
        .into()
    })
}

/// The query string's pairs, decoded.
type Pairs = std::result::Result<
    axum::extract::Query<Vec<(String, String)>>,
    axum::extract::rejection::QueryRejection,
>;

fn query_pairs(q: Pairs) -> Result<Vec<(String, String)>> {
    match q {
        Ok(axum::extract::Query(p)) => Ok(p),
        Err(e) => Err(ScimError::new(
            ScimErrorKind::InvalidValue,
            format!("the query string cannot be decoded: {}", e.body_text()),
        )
        .into()),
    }
}

fn resource_type(rt: &str) -> ResourceType {
    if rt == SCIM_GROUP {
        ResourceType::Group
    } else {
        ResourceType::User
    }
}

/// The resource as clients see it: with `meta.version`, `meta.location`
/// and, for users, the groups they are in.
fn render(record: &ScimRecord, base: &str, groups: &[ScimRecord]) -> Value {
    let mut v = record.resource.clone();
    let endpoint = if record.resource_type == SCIM_GROUP {
        "Groups"
    } else {
        "Users"
    };
    if let Some(Value::Object(meta)) = v.get_mut("meta") {
        meta.insert(
            "version".into(),
            Value::String(countersign_scim::etag(record.version)),
        );
        meta.insert(
            "location".into(),
            Value::String(format!("{base}/{endpoint}/{}", record.id)),
        );
    }
    if record.resource_type == SCIM_USER {
        let member_of: Vec<Value> = groups
            .iter()
            .filter(|g| {
                countersign_scim::group_view(&g.resource)
                    .members
                    .contains(&record.id)
            })
            .map(|g| {
                json!({
                    "value": g.id,
                    "$ref": format!("{base}/Groups/{}", g.id),
                    "display": g.resource.get("displayName").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        if let Value::Object(m) = &mut v {
            if !member_of.is_empty() {
                m.insert("groups".into(), Value::Array(member_of));
            }
        }
    }
    v
}

/// The groups a rendering of `rt_name` resources needs: every group for
/// users (who show the groups they are in), none for groups.
fn groups_for(
    l: &countersign_ledger::Ledger,
    rt_name: &str,
) -> std::result::Result<Vec<ScimRecord>, countersign_ledger::LedgerError> {
    if rt_name == SCIM_USER {
        l.scim_resources(SCIM_GROUP)
    } else {
        Ok(Vec::new())
    }
}

fn user_of(resource: Value) -> ScimUser {
    let view = countersign_scim::user_view(&resource);
    let display_name =
        view.display_name
            .clone()
            .or_else(|| match (&view.given_name, &view.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (Some(n), None) | (None, Some(n)) => Some(n.clone()),
                (None, None) => None,
            });
    ScimUser {
        user_name: view.user_name,
        display_name,
        email: view.email,
        active: view.active,
        manager: view.manager_id,
        resource,
    }
}

fn group_of(resource: Value) -> ScimGroup {
    let view = countersign_scim::group_view(&resource);
    ScimGroup {
        display_name: view.display_name,
        external_id: view.external_id,
        members: view.members,
        resource,
    }
}

/// The version an `If-Match` header allows, checked against the current
/// one: `None` when there is no header.
fn precondition(headers: &HeaderMap, record: &ScimRecord) -> Result<Option<u64>> {
    let Some(h) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let h = h.to_str().unwrap_or("");
    if countersign_scim::if_match_satisfied(h, &countersign_scim::etag(record.version)) {
        Ok(Some(record.version))
    } else {
        Err(ScimError::new(
            ScimErrorKind::PreconditionFailed,
            format!(
                "If-Match {h} does not match the current version {}",
                countersign_scim::etag(record.version)
            ),
        )
        .into())
    }
}

// ----------------------------------------------------------- discovery

async fn service_provider_config(headers: HeaderMap) -> Result<Response> {
    let body = countersign_scim::service_provider_config(&base_url(&headers), MAX_RESULTS);
    Ok(scim_json(StatusCode::OK, &body, None))
}

async fn resource_types(headers: HeaderMap) -> Result<Response> {
    let body = countersign_scim::resource_types(&base_url(&headers));
    Ok(scim_json(StatusCode::OK, &body, None))
}

async fn resource_type_one(
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response> {
    let body = countersign_scim::resource_type(&name, &base_url(&headers)).ok_or_else(|| {
        ScimError::new(
            ScimErrorKind::NotFound,
            format!("no resource type {name:?}"),
        )
    })?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

async fn schemas() -> Result<Response> {
    Ok(scim_json(
        StatusCode::OK,
        &countersign_scim::schemas_document(),
        None,
    ))
}

async fn schema_one(axum::extract::Path(id): axum::extract::Path<String>) -> Result<Response> {
    let body = countersign_scim::schema_resource(&id)
        .ok_or_else(|| ScimError::new(ScimErrorKind::NotFound, format!("no schema {id:?}")))?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

// ----------------------------------------------------------- resources

async fn list(
    s: &AppState,
    rt_name: &'static str,
    headers: &HeaderMap,
    q: Pairs,
) -> Result<Response> {
    let rt = resource_type(rt_name);
    let query = countersign_scim::Query::parse(&query_pairs(q)?, rt, MAX_RESULTS)?;
    let (records, groups) = s
        .run(move |l, _| {
            let records = l.scim_resources(rt_name)?;
            Ok((records, groups_for(l, rt_name)?))
        })
        .await?;
    let base = base_url(headers);
    let values = records.iter().map(|r| render(r, &base, &groups)).collect();
    let body = query.respond(values, rt)?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

async fn show(
    s: &AppState,
    rt_name: &'static str,
    id: String,
    headers: &HeaderMap,
    q: Pairs,
) -> Result<Response> {
    let rt = resource_type(rt_name);
    let query = countersign_scim::Query::parse(&query_pairs(q)?, rt, MAX_RESULTS)?;
    let (record, groups) = s
        .run(move |l, _| {
            let record = l.scim_resource(rt_name, &id)?;
            Ok((record, groups_for(l, rt_name)?))
        })
        .await?;
    let full = render(&record, &base_url(headers), &groups);
    let body = countersign_scim::project(&full, &query.attributes, &query.excluded_attributes, rt);
    let tag = countersign_scim::etag(record.version);
    Ok(scim_json(StatusCode::OK, &body, Some(&tag)))
}

/// Answer a written resource (201 for a creation, 200 otherwise).
async fn written(
    s: &AppState,
    status: StatusCode,
    record: ScimRecord,
    headers: &HeaderMap,
) -> Result<Response> {
    let rt_name = record.resource_type.clone();
    let groups = s.run(move |l, _| groups_for(l, &rt_name)).await?;
    let body = render(&record, &base_url(headers), &groups);
    let tag = countersign_scim::etag(record.version);
    let mut r = scim_json(status, &body, Some(&tag));
    if status == StatusCode::CREATED {
        if let Some(loc) = body
            .pointer("/meta/location")
            .and_then(Value::as_str)
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            r.headers_mut().insert(header::LOCATION, loc);
        }
    }
    Ok(r)
}

async fn create(
    s: &AppState,
    rt_name: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let input = body_json(body)?;
    let record = if rt_name == SCIM_USER {
        let user = user_of(countersign_scim::prepare_user(&input)?);
        s.run(move |l, now| l.scim_create_user(user, now)).await?
    } else {
        let group = group_of(countersign_scim::prepare_group(&input)?);
        s.run(move |l, now| l.scim_create_group(group, now)).await?
    };
    written(s, StatusCode::CREATED, record, headers).await
}

/// The resource as stored now, and the version an `If-Match` header
/// names (checked against it), if there is one.
async fn current(
    s: &AppState,
    rt_name: &'static str,
    id: &str,
    headers: &HeaderMap,
) -> Result<(ScimRecord, Option<u64>)> {
    let lookup = id.to_string();
    let record = s.run(move |l, _| l.scim_resource(rt_name, &lookup)).await?;
    let matched = precondition(headers, &record)?;
    Ok((record, matched))
}

/// Store `resource` in place of the resource `id`, which must still be at
/// version `expected`.
async fn store_replacement(
    s: &AppState,
    rt_name: &'static str,
    id: String,
    expected: u64,
    resource: &Value,
) -> Result<ScimRecord> {
    let expected = Some(expected);
    Ok(if rt_name == SCIM_USER {
        let user = user_of(countersign_scim::prepare_user(resource)?);
        s.run(move |l, now| l.scim_replace_user(&id, expected, user, now))
            .await?
    } else {
        let group = group_of(countersign_scim::prepare_group(resource)?);
        s.run(move |l, now| l.scim_replace_group(&id, expected, group, now))
            .await?
    })
}

async fn replace(
    s: &AppState,
    rt_name: &'static str,
    id: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let input = body_json(body)?;
    let (current, matched) = current(s, rt_name, &id, headers).await?;
    let expected = matched.unwrap_or(current.version);
    let record = store_replacement(s, rt_name, id, expected, &input).await?;
    written(s, StatusCode::OK, record, headers).await
}

async fn patch(
    s: &AppState,
    rt_name: &'static str,
    id: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let ops = body_json(body)?;
    let (current, matched) = current(s, rt_name, &id, headers).await?;
    let expected = matched.unwrap_or(current.version);
    let mut resource = current.resource.clone();
    let outcome = countersign_scim::apply_patch(&mut resource, &ops, resource_type(rt_name))?;
    if outcome.is_noop() {
        return written(s, StatusCode::OK, current, headers).await;
    }
    let record = store_replacement(s, rt_name, id, expected, &resource).await?;
    written(s, StatusCode::OK, record, headers).await
}

async fn delete(
    s: &AppState,
    rt_name: &'static str,
    id: String,
    headers: &HeaderMap,
) -> Result<Response> {
    let (_, expected) = current(s, rt_name, &id, headers).await?;
    if rt_name == SCIM_USER {
        s.run(move |l, now| l.scim_delete_user(&id, expected, now))
            .await?;
    } else {
        s.run(move |l, now| l.scim_delete_group(&id, expected, now))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Routes for one resource type.
macro_rules! resource_routes {
    ($rt:expr) => {{
        let collection = axum::routing::get(
            |State(s): State<AppState>, headers: HeaderMap, q: Pairs| async move {
                list(&s, $rt, &headers, q).await
            },
        )
        .post(
            |State(s): State<AppState>, headers: HeaderMap, body: Bytes| async move {
                create(&s, $rt, &headers, &body).await
            },
        );
        let item = axum::routing::get(
            |State(s): State<AppState>,
             headers: HeaderMap,
             axum::extract::Path(id): axum::extract::Path<String>,
             q: Pairs| async move { show(&s, $rt, id, &headers, q).await },
        )
        .put(
            |State(s): State<AppState>,
             headers: HeaderMap,
             axum::extract::Path(id): axum::extract::Path<String>,
             body: Bytes| async move { replace(&s, $rt, id, &headers, &body).await },
        )
        .patch(
            |State(s): State<AppState>,
             headers: HeaderMap,
             axum::extract::Path(id): axum::extract::Path<String>,
             body: Bytes| async move { patch(&s, $rt, id, &headers, &body).await },
        )
        .delete(
            |State(s): State<AppState>,
             headers: HeaderMap,
             axum::extract::Path(id): axum::extract::Path<String>| async move {
                delete(&s, $rt, id, &headers).await
            },
        );
        (collection, item)
    }};
}

async fn not_found() -> ScimFailure {
    ScimFailure {
        status: StatusCode::NOT_FOUND,
        scim_type: None,
        detail: "no such SCIM endpoint".into(),
    }
}

async fn method_not_allowed() -> ScimFailure {
    ScimFailure {
        status: StatusCode::METHOD_NOT_ALLOWED,
        scim_type: None,
        detail: "method not allowed on this SCIM endpoint".into(),
    }
}

/// `/scim/v2`, nested by the main router.
pub fn router() -> Router<AppState> {
    let (users, user) = resource_routes!(SCIM_USER);
    let (groups, group) = resource_routes!(SCIM_GROUP);
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type_one))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema_one))
        .route("/Users", users)
        .route("/Users/{id}", user)
        .route("/Groups", groups)
        .route("/Groups/{id}", group)
        .route("/.search", axum::routing::post(not_implemented))
        .route("/Users/.search", axum::routing::post(not_implemented))
        .route("/Groups/.search", axum::routing::post(not_implemented))
        .route("/Bulk", axum::routing::post(not_implemented))
        .route("/Me", axum::routing::any(not_implemented))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}
