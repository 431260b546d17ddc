//! The transparency log's read API. Public: anyone may audit the log.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_ledger::LedgerError;
use countersign_proto::api::{
    ConsistencyProof, ConsistencyQuery, EntryPage, EntryRange, EntryView, InclusionProof,
    InclusionQuery, ServerInfo,
};
use countersign_proto::{ErrorCode, Problem};

use super::answer;
use crate::extract::{Path, Query};
use crate::{ApiError, AppState};

fn text(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// An entry with the openings of its personal fields: entries are read by
/// auditors and admins only, who may see them.
fn view(
    tx: &dyn countersign_ledger::ReadTx,
    index: u64,
    bytes: &[u8],
) -> Result<EntryView, LedgerError> {
    Ok(EntryView {
        index,
        entry: String::from_utf8_lossy(bytes).into_owned(),
        leaf_hash: B64.encode(countersign_tlog::leaf_hash(bytes)),
        openings: countersign_ledger::entry_openings(tx, bytes)?,
    })
}

#[utoipa::path(get, path = "/v1/info", tag = "log", responses((status = 200, body = ServerInfo)))]
pub async fn info(State(s): State<AppState>) -> Result<Response, ApiError> {
    let (size, _) = s.run(|l, _| l.latest_checkpoint()).await?;
    let v = s.ledger.verifier();
    Ok(answer(
        StatusCode::OK,
        &ServerInfo {
            name: "countersign".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            origin: v.name().to_string(),
            log_key: v.to_vkey(),
            tree_size: size,
        },
        None,
    ))
}

/// The latest checkpoint, a C2SP signed note.
#[utoipa::path(get, path = "/v1/log/checkpoint", tag = "log",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let (_, note) = s.run(|l, _| l.latest_checkpoint()).await?;
    Ok(text(note))
}

/// The checkpoint issued at a given tree size.
#[utoipa::path(get, path = "/v1/log/checkpoints/{size}", tag = "log", params(("size" = u64, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem)))]
pub async fn checkpoint_at(
    State(s): State<AppState>,
    Path(size): Path<u64>,
) -> Result<Response, ApiError> {
    let note = s
        .run(move |l, _| {
            l.store().read()?.checkpoint(size)?.ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::CheckpointNotFound,
                    format!("no checkpoint was issued at size {size}"),
                )
            })
        })
        .await?;
    Ok(text(note))
}

/// The log's verifier key in signed-note vkey form.
#[utoipa::path(get, path = "/v1/log/key", tag = "log", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn key(State(s): State<AppState>) -> Response {
    text(format!("{}\n", s.ledger.verifier().to_vkey()))
}

#[utoipa::path(get, path = "/v1/log/entries", tag = "log", params(EntryRange), responses((status = 200, body = EntryPage)))]
pub async fn entries(
    State(s): State<AppState>,
    Query(q): Query<EntryRange>,
) -> Result<Response, ApiError> {
    let start = q.start.unwrap_or(0);
    if i64::try_from(start).is_err() {
        return Err(ApiError::new(
            ErrorCode::TreeSizeOutOfRange,
            format!("start {start} is past any log's size"),
        ));
    }
    let page = s
        .run(move |l, _| {
            let tx = l.store().read()?;
            let (size, _) = tx.latest_checkpoint()?.unwrap_or((0, String::new()));
            let limit =
                u64::from(q.limit.unwrap_or(100).clamp(1, 1000)).min(size.saturating_sub(start));
            let entries = tx
                .entries(start, limit)?
                .iter()
                .map(|(i, b)| view(&*tx, *i, b))
                .collect::<Result<_, _>>()?;
            Ok(EntryPage {
                entries,
                tree_size: size,
            })
        })
        .await?;
    Ok(answer(StatusCode::OK, &page, None))
}

#[utoipa::path(get, path = "/v1/log/entries/{index}", tag = "log", params(("index" = u64, Path)),
    responses((status = 200, body = EntryView), (status = 404, body = Problem)))]
pub async fn entry(
    State(s): State<AppState>,
    Path(index): Path<u64>,
) -> Result<Response, ApiError> {
    let v = s
        .run(move |l, _| {
            let tx = l.store().read()?;
            let (size, _) = tx.latest_checkpoint()?.unwrap_or((0, String::new()));
            match tx.entry(index)? {
                Some(b) if index < size => view(&*tx, index, &b),
                _ => Err(LedgerError::refused(
                    ErrorCode::EntryNotFound,
                    format!("no entry {index} (tree size {size})"),
                )),
            }
        })
        .await?;
    Ok(answer(StatusCode::OK, &v, None))
}

/// A C2SP tlog-proof receipt for an entry against the latest checkpoint.
#[utoipa::path(get, path = "/v1/log/entries/{index}/receipt", tag = "log", params(("index" = u64, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem)))]
pub async fn receipt(
    State(s): State<AppState>,
    Path(index): Path<u64>,
) -> Result<Response, ApiError> {
    let r = s.run(move |l, _| l.entry_receipt(index)).await?;
    Ok(text(r))
}

#[utoipa::path(get, path = "/v1/log/proof/inclusion", tag = "log", params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem)))]
pub async fn inclusion(
    State(s): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<Response, ApiError> {
    let (size, hashes) = s
        .run(move |l, _| l.inclusion_proof(q.index, q.size))
        .await?;
    Ok(answer(
        StatusCode::OK,
        &InclusionProof {
            index: q.index,
            tree_size: size,
            hashes: hashes.iter().map(|h| B64.encode(h)).collect(),
        },
        None,
    ))
}

#[utoipa::path(get, path = "/v1/log/proof/consistency", tag = "log", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem)))]
pub async fn consistency(
    State(s): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let (new, hashes) = s.run(move |l, _| l.consistency_proof(q.old, q.new)).await?;
    Ok(answer(
        StatusCode::OK,
        &ConsistencyProof {
            old_size: q.old,
            new_size: new,
            hashes: hashes.iter().map(|h| B64.encode(h)).collect(),
        },
        None,
    ))
}
