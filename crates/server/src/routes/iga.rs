//! Entitlement change intake, reconciliation and the control exception
//! workflow.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_proto::iga::{
    AssignControl, ChangeAnswer, ChangeFilter, ChangeList, ChangeReport, ControlException,
    ControlFilter, ControlList, EntitlementChange, ReconcileReport, ReopenControl, ReportChange,
    ResolveControl,
};
use countersign_proto::intake::{parse_change_body, BodyFormat};
use countersign_proto::{ErrorCode, Problem};
use serde::Deserialize;

use super::answer;
use crate::auth::Caller;
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};

/// Parse an intake body: one change, a JSON array, or NDJSON (one change
/// per line; `application/x-ndjson` or `application/jsonl`). Answers the
/// changes and whether the body was a single object. The parsing itself is
/// `countersign_proto::intake`, a pure function the fuzz targets reach.
fn parse_changes(headers: &HeaderMap, body: &[u8]) -> Result<(Vec<ReportChange>, bool), ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format =
        if ctype.starts_with("application/x-ndjson") || ctype.starts_with("application/jsonl") {
            BodyFormat::Ndjson
        } else if ctype.starts_with("application/json") {
            BodyFormat::Json
        } else {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "send application/json (one change or an array) or application/x-ndjson",
            ));
        };
    parse_change_body(format, body).map_err(|e| ApiError::new(e.code, e.detail))
}

#[utoipa::path(post, path = "/v1/entitlement-changes", tag = "reconciliation",
    request_body(content = ChangeReport, description = "one change (answered with a ChangeIntake), a JSON array of changes, or NDJSON (`application/x-ndjson`, one change per line), answered with a ChangeBatch; at most 1000 per call"),
    security(("bearer" = [])),
    responses((status = 201, description = "at least one change was recorded", body = ChangeAnswer), (status = 200, description = "every change was a duplicate", body = ChangeAnswer), (status = 400, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn report(
    caller: Caller,
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (changes, single) = parse_changes(&headers, &body)?;
    let by = caller.label.clone();
    let batch = s
        .run(move |l, now| l.report_changes(&changes, &by, now))
        .await?;
    let status = if batch.recorded > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if single {
        if let Some(one) = batch.results.into_iter().next() {
            let index = (!one.duplicate).then_some(one.change.log_index);
            return Ok(answer(status, &one, index));
        }
        return Err(ApiError::internal("a single change produced no result"));
    }
    Ok(answer(status, &batch, None))
}

#[utoipa::path(get, path = "/v1/entitlement-changes", tag = "reconciliation", params(ChangeFilter), security(("bearer" = [])),
    responses((status = 200, body = ChangeList)))]
pub async fn list_changes(
    State(s): State<AppState>,
    Query(filter): Query<ChangeFilter>,
) -> Result<Response, ApiError> {
    let changes = s.run(move |l, _| l.changes(&filter)).await?;
    Ok(answer(StatusCode::OK, &ChangeList { changes }, None))
}

#[utoipa::path(get, path = "/v1/entitlement-changes/{id}", tag = "reconciliation", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = EntitlementChange), (status = 404, body = Problem)))]
pub async fn show_change(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = s.run(move |l, _| l.change(&id)).await?;
    Ok(answer(StatusCode::OK, &c, None))
}

#[utoipa::path(post, path = "/v1/reconcile", tag = "reconciliation", security(("bearer" = [])),
    responses((status = 200, description = "what a full reconciliation raised, reopened or updated", body = ReconcileReport)))]
pub async fn reconcile(State(s): State<AppState>) -> Result<Response, ApiError> {
    let report = s.run(|l, now| l.reconcile(now)).await?;
    Ok(answer(StatusCode::OK, &report, None))
}

#[utoipa::path(get, path = "/v1/control-exceptions", tag = "control exceptions", params(ControlFilter), security(("bearer" = [])),
    responses((status = 200, body = ControlList)))]
pub async fn list_controls(
    State(s): State<AppState>,
    Query(filter): Query<ControlFilter>,
) -> Result<Response, ApiError> {
    let exceptions = s.run(move |l, _| l.control_exceptions(&filter)).await?;
    Ok(answer(StatusCode::OK, &ControlList { exceptions }, None))
}

/// What the export answers in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// A ControlList (the default).
    #[default]
    Json,
    /// One row per control exception, for GRC tools.
    Csv,
}

/// Query of the export: the list filter plus the format.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default)]
    pub format: ExportFormat,
    #[serde(flatten)]
    pub filter: ControlFilter,
}

/// The CSV columns of the export, one row per control exception.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "severity",
    "state",
    "summary",
    "system",
    "subject",
    "request",
    "change",
    "frameworks",
    "evidence_log_indexes",
    "raised_at",
    "updated_at",
    "assignee",
    "resolution",
    "resolver",
    "justification",
    "reopened",
    "log_index",
];

fn csv_export(items: &[ControlException]) -> Result<Vec<u8>, ApiError> {
    let ts = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(ApiError::internal)?;
    for e in items {
        let frameworks: Vec<String> = e
            .frameworks
            .iter()
            .map(|f| format!("{} {}", f.framework, f.control))
            .collect();
        let mut evidence: Vec<u64> = e.evidence.changes.clone();
        evidence.extend(e.evidence.request);
        evidence.extend(&e.evidence.approvals);
        evidence.extend(&e.evidence.related);
        evidence.sort_unstable();
        evidence.dedup();
        let evidence: Vec<String> = evidence.iter().map(u64::to_string).collect();
        let r = e.resolution.as_ref();
        w.write_record([
            e.id.as_str(),
            e.kind.as_str(),
            e.severity.as_str(),
            e.state.as_str(),
            e.summary.as_str(),
            e.system.as_deref().unwrap_or(""),
            e.subject.as_deref().unwrap_or(""),
            e.request.as_deref().unwrap_or(""),
            e.change.as_deref().unwrap_or(""),
            &frameworks.join("; "),
            &evidence.join(" "),
            &ts(e.raised_at),
            &ts(e.updated_at),
            e.assignee.as_deref().unwrap_or(""),
            r.map(|r| r.resolution.as_str()).unwrap_or(""),
            r.map(|r| r.resolver.as_str()).unwrap_or(""),
            r.map(|r| r.justification.as_str()).unwrap_or(""),
            &e.reopened.to_string(),
            &e.log_index.to_string(),
        ])
        .map_err(ApiError::internal)?;
    }
    w.into_inner().map_err(ApiError::internal)
}

#[utoipa::path(get, path = "/v1/control-exceptions/export", tag = "control exceptions", params(("format" = Option<ExportFormat>, Query, description = "`json` (default) or `csv`"), ControlFilter), security(("bearer" = [])),
    responses((status = 200, description = "JSON (a ControlList) or CSV (text/csv, one row per exception) for GRC tools",
        content((ControlList = "application/json"), (String = "text/csv"))), (status = 400, body = Problem)))]
pub async fn export(
    State(s): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter;
    let exceptions = s.run(move |l, _| l.control_exceptions(&filter)).await?;
    if q.format == ExportFormat::Json {
        return Ok(answer(StatusCode::OK, &ControlList { exceptions }, None));
    }
    let body = csv_export(&exceptions)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"control-exceptions.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/control-exceptions/{id}", tag = "control exceptions", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ControlException), (status = 404, body = Problem)))]
pub async fn show_control(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let e = s.run(move |l, _| l.control_exception(&id)).await?;
    Ok(answer(StatusCode::OK, &e, None))
}

#[utoipa::path(post, path = "/v1/control-exceptions/{id}/assign", tag = "control exceptions", params(("id" = String, Path)), request_body = AssignControl, security(("bearer" = [])),
    responses((status = 200, body = ControlException), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn assign(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<AssignControl>,
) -> Result<Response, ApiError> {
    let by = caller.label.clone();
    let r = s
        .run(move |l, now| l.assign_control(&id, &input.assignee, &by, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

#[utoipa::path(post, path = "/v1/control-exceptions/{id}/acknowledge", tag = "control exceptions", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ControlException), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn acknowledge(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let by = caller.label.clone();
    let r = s
        .run(move |l, now| l.acknowledge_control(&id, &by, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

#[utoipa::path(post, path = "/v1/control-exceptions/{id}/resolve", tag = "control exceptions", params(("id" = String, Path)), request_body = ResolveControl, security(("bearer" = [])),
    responses((status = 200, body = ControlException), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn resolve(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<ResolveControl>,
) -> Result<Response, ApiError> {
    let bound = caller.identity_unless_admin()?.map(str::to_string);
    let by = caller.label.clone();
    let r = s
        .run(move |l, now| l.resolve_control(&id, &input.envelope, bound.as_deref(), &by, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

#[utoipa::path(post, path = "/v1/control-exceptions/{id}/reopen", tag = "control exceptions", params(("id" = String, Path)), request_body = ReopenControl, security(("bearer" = [])),
    responses((status = 200, body = ControlException), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reopen(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<ReopenControl>,
) -> Result<Response, ApiError> {
    let by = caller.label.clone();
    let r = s
        .run(move |l, now| l.reopen_control(&id, &input.reason, &by, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}
