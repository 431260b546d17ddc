//! IGA commands: entitlement changes reported by target systems (one at a
//! time, or imported in bulk from NDJSON or CSV), reconciliation, the
//! control exception workflow with signed resolutions, webhook endpoints
//! with their delivery log and replay, and `webhook listen`, a local
//! receiver that checks Standard Webhooks signatures.
//!
//! The server does the reconciling and judging; these commands only check
//! input early (an import is validated whole before anything is sent) and
//! show the answers.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use countersign_proto::iga::{
    AssignControl, ChangeBatch, ChangeFilter, ChangeIntake, ChangeList, ControlException,
    ControlFilter, ControlKind, ControlList, ControlState, CreateWebhook, DeliveryFilter,
    DeliveryList, DeliveryLog, DeliveryRecord, DeliveryState, ReconcileReport, ReopenControl,
    ReplayDeliveries, Replayed, ReportChange, Resolution, ResolutionStatement, ResolveControl,
    RotateWebhook, Severity, UpdateWebhook, WebhookEndpoint, WebhookList, WebhookSecrets,
};
use countersign_proto::intake::{check_records, read_csv, read_ndjson, Record};
use countersign_proto::model::Operation;
use countersign_webhook::{VerifyingSecret, WebhookHeaders};
use reqwest::Method;
use serde::Serialize;

use crate::client::{seg, with_query, Client, Refused};
use crate::{now, parse_duration, parse_time, print, read_key, ts, Wire};

/// How many problems an import prints before it stops listing them.
const MAX_PROBLEMS_SHOWN: usize = 50;

const IMPORT_HELP: &str = "\
Record format:
  NDJSON  one JSON object per line with the fields system, subject, operation,
          entitlement, changed_at, changed_by, source_event_id
  CSV     a header row naming those same columns, in any order, then one row per change
  operation is grant, revoke, disable or enable; changed_at is an RFC 3339 time.

The whole file is checked before anything is sent: problems are listed as FILE:LINE
and nothing is recorded. Intake is idempotent on (system, source_event_id), so running
the same import again is safe: changes already recorded count as duplicates.";

#[derive(Subcommand)]
pub enum EntitlementsCmd {
    /// Import changes from an NDJSON or CSV file, checked whole before anything is sent.
    #[command(after_help = IMPORT_HELP)]
    Import {
        file: PathBuf,
        /// File format [default: from the extension: .ndjson, .jsonl or .csv].
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// Changes per request (1 to 1000).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
        batch: u16,
    },
    /// Report one change a target system made.
    Report(ReportArgs),
    /// List recorded changes.
    List {
        #[arg(long)]
        system: Option<String>,
        /// Handle of the identity whose access changed.
        #[arg(long)]
        subject: Option<String>,
        /// Only changes matched to this request.
        #[arg(long)]
        request: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// One JSON object per line.
    #[value(alias = "jsonl")]
    Ndjson,
    /// A header row naming the fields, then one row per change.
    Csv,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Target system, as named in requests' actions (github, okta, payroll).
    #[arg(long)]
    system: String,
    /// Handle of the identity whose access changed.
    #[arg(long)]
    subject: String,
    #[arg(long, value_parser = Wire::<Operation>::new())]
    operation: Operation,
    #[arg(long)]
    entitlement: String,
    /// When the change took effect, RFC 3339 [default: now].
    #[arg(long)]
    changed_at: Option<String>,
    /// Who or what made the change (an admin, a provisioning connector).
    #[arg(long)]
    changed_by: String,
    /// The source system's own event id; reporting it again is a no-op.
    #[arg(long)]
    source_event_id: String,
}

/// Filters shared by `control-exception list` and `export`.
#[derive(Args)]
pub struct ControlFilterArgs {
    #[arg(long, value_parser = Wire::<ControlKind>::new())]
    kind: Option<ControlKind>,
    #[arg(long, value_parser = Wire::<ControlState>::new())]
    state: Option<ControlState>,
    #[arg(long, value_parser = Wire::<Severity>::new())]
    severity: Option<Severity>,
    /// Handle of the identity whose access is concerned.
    #[arg(long)]
    subject: Option<String>,
    #[arg(long)]
    system: Option<String>,
    #[arg(long)]
    assignee: Option<String>,
    #[arg(long)]
    request: Option<String>,
}

impl From<ControlFilterArgs> for ControlFilter {
    fn from(a: ControlFilterArgs) -> Self {
        ControlFilter {
            kind: a.kind,
            state: a.state,
            severity: a.severity,
            subject: a.subject,
            system: a.system,
            assignee: a.assignee,
            request: a.request,
        }
    }
}

#[derive(Subcommand)]
pub enum ControlExceptionCmd {
    /// One line per exception: id, severity, state, kind, summary.
    List(ControlFilterArgs),
    /// Everything about one exception: evidence log indexes, frameworks, resolution.
    Show { id: String },
    /// Give the follow-up to an identity.
    Assign {
        id: String,
        /// Handle of the assignee.
        #[arg(long)]
        to: String,
    },
    /// Acknowledge: someone is looking into it.
    #[command(alias = "acknowledge")]
    Ack { id: String },
    /// Close it with a resolution signed by your key.
    Resolve {
        id: String,
        /// accepted-risk, remediated or false-positive.
        #[arg(long, value_parser = Wire::<Resolution>::new())]
        resolution: Resolution,
        #[arg(long)]
        justification: String,
        /// PKCS#8 PEM private key file, enrolled for the resolver.
        #[arg(long)]
        key: PathBuf,
        /// Handle of the resolver (the signer).
        #[arg(long = "as")]
        resolver: String,
    },
    /// Reopen a resolved exception.
    Reopen {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Export for GRC tools, as JSON or CSV, to a file or stdout.
    Export {
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Output file [default: stdout].
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        filter: ControlFilterArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

impl ExportFormat {
    fn name(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
        }
    }
}

#[derive(Subcommand)]
pub enum WebhookCmd {
    /// Register an endpoint; prints its signing secret, which is shown once.
    Create {
        #[arg(long)]
        url: String,
        /// An event type to deliver, e.g. request.approved or
        /// dev.countersign.control_exception.raised (repeatable; default every type).
        #[arg(long = "event")]
        events: Vec<String>,
    },
    List,
    Show {
        id: String,
    },
    /// Change the URL or event types, or enable or disable the endpoint.
    Update {
        id: String,
        #[arg(long)]
        url: Option<String>,
        /// Deliver only these event types (repeatable; replaces the list).
        #[arg(long = "event", conflicts_with = "all_events")]
        events: Vec<String>,
        /// Deliver every event type.
        #[arg(long)]
        all_events: bool,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Issue a new secret; the old ones keep signing beside it for the overlap.
    Rotate {
        id: String,
        /// How long the old secrets keep signing, e.g. 1h or 7d (at most 30d) [default: 1d].
        #[arg(long)]
        overlap: Option<String>,
    },
    /// List deliveries.
    Deliveries {
        /// Only deliveries to this endpoint.
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long, value_parser = Wire::<DeliveryState>::new())]
        state: Option<DeliveryState>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One delivery and every attempt at it (the delivery log).
    Delivery {
        id: u64,
    },
    /// Send deliveries again: the ids given, or else every dead one (of --endpoint).
    Replay {
        #[arg(long)]
        endpoint: Option<String>,
        /// Delivery ids, as `webhook deliveries` lists them.
        deliveries: Vec<u64>,
    },
    /// Run a local receiver: verify each webhook's signature and print one line per event.
    Listen(ListenArgs),
}

#[derive(Args)]
#[command(after_help = "\
Answers 204 to a webhook whose signature verifies, printing
  verified <webhook-id> <type> <subject>
on stdout (with --json, the CloudEvent as one line), and 401 to one that does not,
printing `REJECTED <reason>` on stderr. Runs until Ctrl-C.")]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// HMAC secret (whsec_…) checking v1 signatures; repeatable, e.g. old and new while rotating.
    #[arg(
        long = "secret",
        env = "COUNTERSIGN_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<String>,
    /// Ed25519 public key (whpk_…) checking v1a signatures; repeatable.
    #[arg(long = "public-key")]
    public_keys: Vec<String>,
    /// Largest accepted difference between webhook-timestamp and now, in seconds.
    #[arg(long, default_value_t = countersign_webhook::signature::DEFAULT_TOLERANCE_SECS)]
    tolerance: i64,
    /// Answer 503 to the first N requests, to watch the sender retry.
    #[arg(long, default_value_t = 0)]
    fail_first: u64,
}

// ---------------------------------------------------------------- entitlements

pub fn entitlements(c: &Client, json: bool, cmd: EntitlementsCmd) -> Result<bool> {
    match cmd {
        EntitlementsCmd::Import {
            file,
            format,
            batch,
        } => import(c, json, &file, format, usize::from(batch)),
        EntitlementsCmd::Report(a) => {
            let change = ReportChange {
                system: a.system,
                subject: a.subject,
                operation: a.operation,
                entitlement: a.entitlement,
                changed_at: match a.changed_at {
                    Some(t) => parse_time("--changed-at", &t)?,
                    None => now(),
                },
                changed_by: a.changed_by,
                source_event_id: a.source_event_id,
            };
            let r: ChangeIntake = c.send_json(Method::POST, "/v1/entitlement-changes", &change)?;
            print(json, &r, intake_text)
        }
        EntitlementsCmd::List {
            system,
            subject,
            request,
        } => {
            let filter = ChangeFilter {
                system,
                subject,
                request,
            };
            let l: ChangeList = c.get(&with_query("/v1/entitlement-changes", &filter)?)?;
            print(json, &l, |l| lines(&l.changes, change_line))
        }
    }
}

fn intake_text(r: &ChangeIntake) -> String {
    let ch = &r.change;
    let mut s = if r.duplicate {
        format!(
            "duplicate: source event {} of {} was already recorded as {} (log index {}); nothing new recorded",
            ch.change.source_event_id, ch.change.system, ch.id, ch.log_index
        )
    } else {
        format!("recorded {} (log index {})", ch.id, ch.log_index)
    };
    s.push_str(&format!(
        "\n  {} {} {} on {} at {} by {}",
        ch.change.operation.as_str(),
        ch.change.entitlement,
        ch.change.subject,
        ch.change.system,
        ts(ch.change.changed_at),
        ch.change.changed_by
    ));
    s.push_str(&format!(
        "\n  matched request: {}",
        ch.request.as_deref().unwrap_or("none")
    ));
    s.push_str(&format!(
        "\n  control exceptions raised: {}",
        ids_text(&r.exceptions)
    ));
    s
}

fn change_line(ch: &countersign_proto::iga::EntitlementChange) -> String {
    format!(
        "{}  {}  {} {} {} on {}  by {}  request {}  (log index {})",
        ch.id,
        ts(ch.change.changed_at),
        ch.change.operation.as_str(),
        ch.change.entitlement,
        ch.change.subject,
        ch.change.system,
        ch.change.changed_by,
        ch.request.as_deref().unwrap_or("-"),
        ch.log_index
    )
}

/// What an import did, for the closing summary.
#[derive(Serialize)]
struct ImportSummary {
    file: PathBuf,
    records: usize,
    batches: usize,
    recorded: usize,
    duplicates: usize,
    /// Control exceptions raised or reopened by the imported changes.
    exceptions: Vec<String>,
}

fn import(
    c: &Client,
    json: bool,
    file: &Path,
    format: Option<ImportFormat>,
    batch: usize,
) -> Result<bool> {
    let format = match format {
        Some(f) => f,
        None => format_from_extension(file)?,
    };
    let records = read_changes(file, format)?;
    let batches = records.len().div_ceil(batch);
    let bar = progress_bar(records.len());
    let mut summary = ImportSummary {
        file: file.to_path_buf(),
        records: records.len(),
        batches,
        recorded: 0,
        duplicates: 0,
        exceptions: Vec::new(),
    };
    let mut sent = 0;
    for (n, chunk) in records.chunks(batch).enumerate() {
        let mut body = Vec::new();
        for r in chunk {
            serde_json::to_writer(&mut body, &r.change)?;
            body.push(b'\n');
        }
        let answer: Result<ChangeBatch> = c.send_bytes(
            Method::POST,
            "/v1/entitlement-changes",
            body,
            "application/x-ndjson",
        );
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                bar.abandon();
                return Err(batch_failed(file, (n, batches), chunk, sent, &summary, &e));
            }
        };
        sent += chunk.len();
        summary.recorded += answer.recorded;
        summary.duplicates += answer.duplicates;
        for id in answer.results.iter().flat_map(|r| &r.exceptions) {
            if !summary.exceptions.contains(id) {
                summary.exceptions.push(id.clone());
            }
        }
        bar.inc(chunk.len() as u64);
        bar.set_message(format!(
            "recorded {}, duplicates {}",
            summary.recorded, summary.duplicates
        ));
    }
    bar.finish_and_clear();
    print(json, &summary, |s| {
        format!(
            "imported {}: {} records in {} batch{}\n  recorded:   {}\n  duplicates: {}\n  control exceptions raised: {}",
            s.file.display(),
            s.records,
            s.batches,
            if s.batches == 1 { "" } else { "es" },
            s.recorded,
            s.duplicates,
            ids_text(&s.exceptions)
        )
    })
}

/// Explain a batch that did not go through: which lines, why, and what
/// stays recorded from the batches before it.
fn batch_failed(
    file: &Path,
    (n, batches): (usize, usize),
    chunk: &[Record],
    sent: usize,
    before: &ImportSummary,
    e: &anyhow::Error,
) -> anyhow::Error {
    let first = chunk.first().map_or(0, |r| r.line);
    let last = chunk.last().map_or(0, |r| r.line);
    let what = match e.downcast_ref::<Refused>() {
        Some(Refused(p)) => {
            // The server names the failing change by its position in the
            // batch ("change 3: ..."); point at the file's line instead.
            let detail = p
                .detail
                .strip_prefix("change ")
                .and_then(|rest| rest.split_once(": "))
                .and_then(|(i, why)| {
                    let r = chunk.get(i.parse::<usize>().ok()?)?;
                    Some(format!("{}:{}: {why}", file.display(), r.line))
                })
                .unwrap_or_else(|| p.detail.clone());
            format!(
                "was refused ({}): {detail}\nA batch is all or nothing: none of its changes were recorded.",
                p.code.as_str()
            )
        }
        None => format!("failed: {e:#}\nIt may or may not have been recorded."),
    };
    let kept = if sent == 0 {
        String::new()
    } else {
        format!(
            "\nThe {sent} records sent before it are kept: {} recorded, {} duplicates; control exceptions raised: {}.",
            before.recorded,
            before.duplicates,
            ids_text(&before.exceptions)
        )
    };
    anyhow!(
        "batch {} of {batches} ({} lines {first}-{last}) {what}{kept}\n\
         Intake is idempotent on source_event_id, so it is safe to fix the problem and run the same \
         import again: changes already recorded count as duplicates.",
        n + 1,
        file.display(),
    )
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} records sent  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn format_from_extension(file: &Path) -> Result<ImportFormat> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("ndjson" | "jsonl") => Ok(ImportFormat::Ndjson),
        Some("csv") => Ok(ImportFormat::Csv),
        _ => bail!(
            "cannot tell the format of {} from its extension; give --format ndjson or --format csv",
            file.display()
        ),
    }
}

/// Read and check every record of an import file. Any problem stops the
/// import before anything is sent, listing each as `FILE:LINE: what`.
fn read_changes(file: &Path, format: ImportFormat) -> Result<Vec<Record>> {
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut problems = Vec::new();
    let records = match format {
        ImportFormat::Ndjson => read_ndjson(&text, &mut problems),
        ImportFormat::Csv => read_csv(&text, &mut problems),
    };
    if problems.is_empty() {
        check_records(&records, &mut problems);
    }
    if !problems.is_empty() {
        let name = file.display().to_string();
        for (line, what) in problems.iter().take(MAX_PROBLEMS_SHOWN) {
            eprintln!("{name}:{line}: {what}");
        }
        if problems.len() > MAX_PROBLEMS_SHOWN {
            eprintln!("… and {} more", problems.len() - MAX_PROBLEMS_SHOWN);
        }
        bail!(
            "{name} has {} problem{}; nothing was sent",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }
    if records.is_empty() {
        bail!("{} holds no changes; nothing was sent", file.display());
    }
    Ok(records)
}

// --------------------------------------------------------------- reconcile

pub fn reconcile(c: &Client, json: bool) -> Result<bool> {
    let r: ReconcileReport = c.send_json(Method::POST, "/v1/reconcile", &serde_json::json!({}))?;
    print(json, &r, |r| {
        format!(
            "reconciled: checked {} changes, {} requests, {} identities\n  raised:   {}\n  reopened: {}\n  updated:  {}",
            r.changes_checked,
            r.requests_checked,
            r.identities_checked,
            ids_text(&r.raised),
            ids_text(&r.reopened),
            ids_text(&r.updated)
        )
    })
}

// ------------------------------------------------------- control exceptions

pub fn control_exception(c: &Client, json: bool, cmd: ControlExceptionCmd) -> Result<bool> {
    let path = |id: &str, verb: &str| format!("/v1/control-exceptions/{}/{verb}", seg(id));
    match cmd {
        ControlExceptionCmd::List(filter) => {
            let filter = ControlFilter::from(filter);
            let l: ControlList = c.get(&with_query("/v1/control-exceptions", &filter)?)?;
            print(json, &l, |l| lines(&l.exceptions, control_line))
        }
        ControlExceptionCmd::Show { id } => {
            let e: ControlException = c.get(&format!("/v1/control-exceptions/{}", seg(&id)))?;
            print(json, &e, control_text)
        }
        ControlExceptionCmd::Assign { id, to } => {
            let e: ControlException = c.send_json(
                Method::POST,
                &path(&id, "assign"),
                &AssignControl { assignee: to },
            )?;
            print(json, &e, |e| format!("assigned {}", control_line(e)))
        }
        ControlExceptionCmd::Ack { id } => {
            let e: ControlException = c.send_json(
                Method::POST,
                &path(&id, "acknowledge"),
                &serde_json::json!({}),
            )?;
            print(json, &e, |e| format!("acknowledged {}", control_line(e)))
        }
        ControlExceptionCmd::Reopen { id, reason } => {
            let e: ControlException = c.send_json(
                Method::POST,
                &path(&id, "reopen"),
                &ReopenControl { reason },
            )?;
            print(json, &e, |e| format!("reopened {}", control_line(e)))
        }
        ControlExceptionCmd::Resolve {
            id,
            resolution,
            justification,
            key,
            resolver,
        } => {
            let sk = read_key(&key)?;
            // The statement names the revision we saw, so a resolution of a
            // view that has since changed is refused rather than applied.
            let seen: ControlException = c.get(&format!("/v1/control-exceptions/{}", seg(&id)))?;
            let statement = ResolutionStatement {
                exception: seen.id.clone(),
                revision: seen.revision,
                resolution,
                justification,
                resolver,
                key_id: countersign_attest::key_id(&sk.verifying_key()),
                signed_at: now(),
                nonce: None,
            };
            let envelope = countersign_attest::sign_resolution(&statement, &sk)?;
            let e: ControlException = c.send_json(
                Method::POST,
                &path(&seen.id, "resolve"),
                &ResolveControl { envelope },
            )?;
            print(json, &e, control_text)
        }
        ControlExceptionCmd::Export {
            format,
            out,
            filter,
        } => {
            #[derive(Serialize)]
            struct ExportQuery<'a> {
                format: &'a str,
                #[serde(flatten)]
                filter: &'a ControlFilter,
            }
            let filter = ControlFilter::from(filter);
            let query = ExportQuery {
                format: format.name(),
                filter: &filter,
            };
            let bytes = c.get_bytes(&with_query("/v1/control-exceptions/export", &query)?)?;
            let Some(out) = out else {
                match std::io::stdout().write_all(&bytes) {
                    // A reader such as `head` that stops early is not a failure.
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        return Err(e).context("writing the export to stdout")
                    }
                    _ => return Ok(true),
                }
            };
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            let exceptions = match format {
                ExportFormat::Json => serde_json::from_slice::<ControlList>(&bytes)
                    .context("the server's JSON export is not a list of control exceptions")?
                    .exceptions
                    .len(),
                ExportFormat::Csv => csv::Reader::from_reader(bytes.as_slice()).records().count(),
            };
            let v = serde_json::json!({
                "file": out, "format": format.name(), "exceptions": exceptions, "bytes": bytes.len(),
            });
            print(json, &v, |_| {
                format!(
                    "wrote {} ({} control exceptions, {})",
                    out.display(),
                    exceptions,
                    format.name()
                )
            })
        }
    }
}

fn control_line(e: &ControlException) -> String {
    format!(
        "{}  {:<8} {:<12} {:<29} {}",
        e.id,
        e.severity.as_str(),
        e.state.as_str(),
        e.kind.as_str(),
        e.summary
    )
}

fn control_text(e: &ControlException) -> String {
    let or_dash = |o: &Option<String>| o.as_deref().unwrap_or("-").to_string();
    let mut s = format!(
        "{}  {} {}  {}\n  summary: {}\n  system: {}  subject: {}  request: {}  change: {}\n  raised {} (log index {}), updated {}, revision {}",
        e.id,
        e.severity.as_str(),
        e.kind.as_str(),
        e.state.as_str(),
        e.summary,
        or_dash(&e.system),
        or_dash(&e.subject),
        or_dash(&e.request),
        or_dash(&e.change),
        ts(e.raised_at),
        e.log_index,
        ts(e.updated_at),
        e.revision
    );
    if e.reopened > 0 {
        s.push_str(&format!(", reopened {} time(s)", e.reopened));
    }
    if let Some(a) = &e.assignee {
        s.push_str(&format!("\n  assignee: {a}"));
    }
    if let Some(a) = &e.acknowledged_by {
        s.push_str(&format!("\n  acknowledged by: {a}"));
    }
    for f in &e.frameworks {
        s.push_str(&format!("\n  framework: {} {}", f.framework, f.control));
    }
    let ev = &e.evidence;
    let indexes = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let mut evidence = Vec::new();
    if !ev.changes.is_empty() {
        evidence.push(format!("changes {}", indexes(&ev.changes)));
    }
    if let Some(r) = ev.request {
        evidence.push(format!("request {r}"));
    }
    if !ev.approvals.is_empty() {
        evidence.push(format!("approvals {}", indexes(&ev.approvals)));
    }
    if !ev.related.is_empty() {
        evidence.push(format!("related {}", indexes(&ev.related)));
    }
    s.push_str(&format!(
        "\n  evidence log indexes: {}",
        if evidence.is_empty() {
            "none".to_string()
        } else {
            evidence.join("; ")
        }
    ));
    if let Some(r) = &e.resolution {
        s.push_str(&format!(
            "\n  resolved {} by {} at {} (log index {}), key {}\n  justification: {}\n  envelope sha256: {}",
            r.resolution.as_str(),
            r.resolver,
            ts(r.resolved_at),
            r.log_index,
            r.key_id,
            r.justification,
            r.envelope_sha256
        ));
    }
    s
}

// ------------------------------------------------------------------ webhooks

pub fn webhook(client: &dyn Fn() -> Result<Client>, json: bool, cmd: WebhookCmd) -> Result<bool> {
    // The local receiver talks to no Countersign server.
    let c = match cmd {
        WebhookCmd::Listen(args) => return listen(json, args),
        _ => client()?,
    };
    let endpoint_path = |id: &str| format!("/v1/webhooks/{}", seg(id));
    match cmd {
        WebhookCmd::Create { url, events } => {
            let w: WebhookSecrets =
                c.send_json(Method::POST, "/v1/webhooks", &CreateWebhook { url, events })?;
            print(json, &w, |w| {
                format!(
                    "created {}\n{}",
                    endpoint_line(&w.endpoint),
                    secrets_text(w)
                )
            })
        }
        WebhookCmd::List => {
            let l: WebhookList = c.get("/v1/webhooks")?;
            print(json, &l, |l| lines(&l.endpoints, endpoint_line))
        }
        WebhookCmd::Show { id } => {
            let w: WebhookEndpoint = c.get(&endpoint_path(&id))?;
            print(json, &w, endpoint_text)
        }
        WebhookCmd::Update {
            id,
            url,
            events,
            all_events,
            enable,
            disable,
        } => {
            let patch = UpdateWebhook {
                enabled: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                url,
                events: if all_events {
                    Some(Vec::new())
                } else if events.is_empty() {
                    None
                } else {
                    Some(events)
                },
            };
            if patch == UpdateWebhook::default() {
                bail!(
                    "nothing to change: give --url, --event, --all-events, --enable or --disable"
                );
            }
            let w: WebhookEndpoint = c.send_json(Method::PATCH, &endpoint_path(&id), &patch)?;
            print(json, &w, |w| format!("updated {}", endpoint_line(w)))
        }
        WebhookCmd::Rotate { id, overlap } => {
            let body = RotateWebhook {
                overlap_seconds: overlap.as_deref().map(parse_duration).transpose()?,
            };
            let w: WebhookSecrets = c.send_json(
                Method::POST,
                &format!("/v1/webhooks/{}/rotate", seg(&id)),
                &body,
            )?;
            print(json, &w, |w| {
                format!(
                    "rotated {}: {} signing secrets in use; the old ones keep signing beside the new one for {}\n{}",
                    w.endpoint.id,
                    w.endpoint.secrets,
                    overlap.as_deref().unwrap_or("1d"),
                    secrets_text(w)
                )
            })
        }
        WebhookCmd::Deliveries {
            endpoint,
            state,
            limit,
        } => {
            let filter = DeliveryFilter {
                endpoint,
                state,
                limit,
            };
            let l: DeliveryList = c.get(&with_query("/v1/webhooks/deliveries", &filter)?)?;
            print(json, &l, |l| lines(&l.deliveries, delivery_line))
        }
        WebhookCmd::Delivery { id } => {
            let log: DeliveryLog = c.get(&format!("/v1/webhooks/deliveries/{id}"))?;
            print(json, &log, |log| {
                let mut s = delivery_line(&log.delivery);
                for a in &log.attempts {
                    s.push_str(&format!(
                        "\n  attempt {}  {}  {}  {} ms{}",
                        a.attempt,
                        ts(a.at),
                        a.status
                            .map_or_else(|| "no response".to_string(), |s| format!("HTTP {s}")),
                        a.elapsed_ms,
                        a.error
                            .as_deref()
                            .map(|e| format!("  {e}"))
                            .unwrap_or_default()
                    ));
                }
                if log.attempts.is_empty() {
                    s.push_str("\n  no attempts yet");
                }
                s
            })
        }
        WebhookCmd::Replay {
            endpoint,
            deliveries,
        } => {
            let r: Replayed = c.send_json(
                Method::POST,
                "/v1/webhooks/deliveries/replay",
                &ReplayDeliveries {
                    endpoint,
                    deliveries,
                },
            )?;
            print(json, &r, |r| {
                if r.replayed.is_empty() {
                    "nothing to replay".to_string()
                } else {
                    format!(
                        "replaying {} deliver{}: {}",
                        r.replayed.len(),
                        if r.replayed.len() == 1 { "y" } else { "ies" },
                        r.replayed
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            })
        }
        WebhookCmd::Listen(args) => listen(json, args),
    }
}

fn secrets_text(w: &WebhookSecrets) -> String {
    format!(
        "secret (HMAC, checks v1 signatures), shown once; keep it now:\n\n    {}\n\npublic key (Ed25519, checks v1a signatures):\n\n    {}",
        w.secret, w.public_key
    )
}

fn endpoint_line(w: &WebhookEndpoint) -> String {
    format!(
        "{}  {}  {}  events: {}{}",
        w.id,
        if w.enabled { "enabled" } else { "DISABLED" },
        w.url,
        if w.events.is_empty() {
            "all".to_string()
        } else {
            w.events.join(",")
        },
        if w.consecutive_failures > 0 {
            format!("  {} consecutive failures", w.consecutive_failures)
        } else {
            String::new()
        }
    )
}

fn endpoint_text(w: &WebhookEndpoint) -> String {
    let mut s = endpoint_line(w);
    if let Some(r) = &w.disabled_reason {
        s.push_str(&format!("\n  disabled because: {r}"));
    }
    for k in &w.public_keys {
        s.push_str(&format!("\n  public key: {k}"));
    }
    s.push_str(&format!(
        "\n  signing secrets in use: {}\n  created {} (log index {})",
        w.secrets,
        ts(w.created_at),
        w.log_index
    ));
    s
}

fn delivery_line(d: &DeliveryRecord) -> String {
    let mut s = format!(
        "{}  {:<9} {}  {}  to {}  attempts {}",
        d.id,
        d.state.as_str(),
        d.event_type,
        d.event_id,
        d.endpoint,
        d.attempts
    );
    if let Some(st) = d.last_status {
        s.push_str(&format!("  last HTTP {st}"));
    }
    if let Some(e) = &d.last_error {
        s.push_str(&format!("  last error: {e}"));
    }
    if let Some(n) = d.next_attempt_at {
        s.push_str(&format!("  next attempt {}", ts(n)));
    }
    s
}

// ------------------------------------------------------------ local receiver

/// What `webhook listen` checks incoming webhooks against.
struct Receiver {
    secrets: Vec<VerifyingSecret>,
    tolerance: i64,
    fail_first: u64,
    received: AtomicU64,
    json: bool,
}

fn listen(json: bool, a: ListenArgs) -> Result<bool> {
    let mut secrets = Vec::new();
    for (flag, values) in [("--secret", &a.secrets), ("--public-key", &a.public_keys)] {
        for v in values {
            secrets.push(VerifyingSecret::parse(v).map_err(|e| anyhow!("{flag}: {e}"))?);
        }
    }
    if secrets.is_empty() {
        bail!(
            "give the endpoint's --secret whsec_… (or --public-key whpk_…) to verify webhooks with; \
             `countersign webhook create` printed them"
        );
    }
    let receiver = Arc::new(Receiver {
        secrets,
        tolerance: a.tolerance,
        fail_first: a.fail_first,
        received: AtomicU64::new(0),
        json,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "listening for webhooks on http://{addr}/ ({} secret(s), {} public key(s){}); Ctrl-C to stop",
            a.secrets.len(),
            a.public_keys.len(),
            if a.fail_first > 0 {
                format!(", failing the first {} request(s) with 503", a.fail_first)
            } else {
                String::new()
            }
        );
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver);
        // Stop at once on Ctrl-C: a graceful shutdown would wait for the
        // sender's idle keep-alive connections, and nothing here needs draining.
        tokio::select! {
            served = std::future::IntoFuture::into_future(axum::serve(listener, app)) => {
                served.context("serving webhooks")?;
            }
            _ = tokio::signal::ctrl_c() => eprintln!("stopped"),
        }
        Ok(true)
    })
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    if method != axum::http::Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "this receiver accepts webhooks by POST\n".into(),
        );
    }
    let h = WebhookHeaders::from_pairs(
        headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let id = h.id.clone().unwrap_or_else(|| "-".into());
    let n = r.received.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= r.fail_first {
        eprintln!(
            "FAILING {id} on purpose with 503 (request {n} of the first {}, --fail-first)",
            r.fail_first
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "failing on purpose (--fail-first)\n".into(),
        );
    }
    let now = now().unix_timestamp();
    if let Err(e) = countersign_webhook::verify(&h, &body, now, r.tolerance, &r.secrets) {
        eprintln!("REJECTED {e}");
        return (StatusCode::UNAUTHORIZED, format!("{e}\n"));
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(event) if r.json => outln!("{event}"),
        Ok(event) => outln!(
            "verified {id} {} {}",
            event["type"].as_str().unwrap_or("-"),
            event["subject"].as_str().unwrap_or("-")
        ),
        Err(_) => outln!("verified {id} (the body is not JSON)"),
    }
    (StatusCode::NO_CONTENT, String::new())
}

// ------------------------------------------------------------------- helpers

fn lines<T>(items: &[T], line: impl Fn(&T) -> String) -> String {
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// How many ids a people-readable summary names before it only counts.
const IDS_SHOWN: usize = 10;

/// `none`, or the count and the first few ids.
fn ids_text(ids: &[String]) -> String {
    match ids.len() {
        0 => "none".to_string(),
        n if n <= IDS_SHOWN => format!("{n} ({})", ids.join(", ")),
        n => format!(
            "{n} ({} and {} more)",
            ids[..IDS_SHOWN].join(", "),
            n - IDS_SHOWN
        ),
    }
}
