//! `countersign`: run the server, administer it, sign approvals, verify
//! evidence offline, and reconcile what target systems report against what
//! was approved (entitlement changes, control exceptions, webhooks).
//!
//! Exit codes: 0 success; 1 the operation failed, was refused, or a
//! verification or audit found a problem; 2 the command line is wrong;
//! 3 `verify` (or `evidence report`) found every check passing but the log
//! key was not pinned, so the bundle only vouched for itself.

/// `println!` that ends the process quietly when stdout is a closed pipe
/// (`countersign … | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

mod backup;
mod client;
mod config;
mod follow;
mod governance;
mod iga;
mod local;
mod privacy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use countersign_attest::keys::{public_key_to_base64, signing_key_from_pem, signing_key_to_pem};
use countersign_proto::api::*;
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::model::*;
use countersign_tlog::proof::TlogProof;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::Method;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use client::{seg, Client};
use local::DataDir;

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "Identity-bound approvals over exact document state, in a verifiable transparency log"
)]
struct Cli {
    /// Data directory (server-side commands).
    #[arg(
        long,
        global = true,
        env = "COUNTERSIGN_DATA",
        default_value = "countersign-data"
    )]
    data: PathBuf,
    /// The database (server-side commands): `postgres://USER@HOST:PORT/DB`
    /// for PostgreSQL; without it, SQLite in the data directory.
    #[arg(
        long,
        global = true,
        env = "COUNTERSIGN_DATABASE_URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Server URL (client commands).
    #[arg(
        long,
        global = true,
        env = "COUNTERSIGN_URL",
        default_value = "http://127.0.0.1:8440"
    )]
    server: String,
    /// Bearer token (client commands).
    #[arg(long, global = true, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Where this client keeps each log's pinned key and the checkpoints
    /// it verified (default `$XDG_STATE_HOME/countersign`).
    #[arg(long = "client-state", global = true, env = "COUNTERSIGN_STATE")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory, the log's signing key and the admin token.
    Init {
        /// The log's origin line (and key name), e.g. `countersign.example.com/log`.
        #[arg(
            long,
            env = "COUNTERSIGN_ORIGIN",
            default_value = "countersign.localhost/log"
        )]
        origin: String,
    },
    /// Run the server (initialises the data directory on first run).
    /// Settings: defaults, then countersign.toml, then environment, then flags.
    Serve {
        /// Configuration file (default: DATA/countersign.toml if present).
        #[arg(long, env = "COUNTERSIGN_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address [default: 127.0.0.1:8440].
        #[arg(long, env = "COUNTERSIGN_LISTEN")]
        listen: Option<String>,
        /// Log origin for a new data directory [default: countersign.localhost/log].
        #[arg(long, env = "COUNTERSIGN_ORIGIN")]
        origin: Option<String>,
        /// Largest document upload, in bytes [default: 26214400].
        #[arg(long, env = "COUNTERSIGN_MAX_DOCUMENT_BYTES")]
        max_document_bytes: Option<u64>,
        /// How recent a login counts as step-up, in seconds [default: 300].
        #[arg(long, env = "COUNTERSIGN_STEP_UP_WINDOW_SECONDS")]
        step_up_window_seconds: Option<u64>,
        /// Workload certificate lifetime, at most 600 seconds [default: 600].
        #[arg(long, env = "COUNTERSIGN_WORKLOAD_CERTIFICATE_SECONDS")]
        workload_certificate_seconds: Option<u64>,
    },
    /// Generate an Ed25519 signing key (PKCS#8 PEM, mode 0600).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Identities: people, service accounts, workloads.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Enrol and revoke signing keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Register and fetch documents.
    #[command(subcommand)]
    Doc(DocCmd),
    /// Approval requests.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Sign a request (approve or reject) with a local key and save the receipt.
    Sign(SignArgs),
    /// Evidence bundles.
    #[command(subcommand)]
    Evidence(EvidenceCmd),
    /// Verify an evidence bundle offline: no server, no database.
    Verify {
        bundle: PathBuf,
        /// A document file whose SHA-256 must be one the signers signed.
        #[arg(long)]
        document: Vec<PathBuf>,
        /// The log's verifier key (vkey) to pin instead of trusting the bundle's.
        #[arg(long, env = "COUNTERSIGN_LOG_KEY")]
        log_key: Option<String>,
    },
    /// The transparency log.
    #[command(subcommand)]
    Log(LogCmd),
    /// Scoped API tokens (admin).
    #[command(subcommand)]
    Token(governance::TokenCmd),
    /// Delegations: sign on another identity's behalf.
    #[command(subcommand)]
    Delegation(governance::DelegationCmd),
    /// Break-glass policy exceptions.
    #[command(subcommand)]
    Exception(governance::ExceptionCmd),
    /// The Cedar policy set: validate, show, test, reload.
    #[command(subcommand)]
    Policy(governance::PolicyCmd),
    /// Workload identity: exchange a CI job's OIDC token for a short-lived certificate.
    #[command(subcommand)]
    Workload(governance::WorkloadCmd),
    /// Entitlement changes target systems report: import a file, report one, list.
    #[command(subcommand)]
    Entitlements(iga::EntitlementsCmd),
    /// Reconcile every change, request and identity now; print what was raised.
    Reconcile,
    /// Control exceptions raised by reconciliation: triage, signed resolution, export.
    #[command(subcommand, name = "control-exception", visible_alias = "cx")]
    ControlException(iga::ControlExceptionCmd),
    /// Webhook endpoints, deliveries and replay, and a local receiver to try them with.
    #[command(subcommand)]
    Webhook(iga::WebhookCmd),
    /// Back the data directory up into a new directory OUT (local, reads
    /// --data; the server may run): the database copied consistently, the
    /// log key, CA, policy set and settings, checked with a log audit.
    Backup { out: PathBuf },
    /// Restore a backup into --data (the server stopped); refused unless it
    /// audits clean and is not behind the checkpoint the server kept.
    Restore { from: PathBuf },
    /// Erase a terminated person's personal data whose retention has run
    /// out and that no legal hold covers (admin); every proof stays valid.
    Erase { handle: String },
    /// Legal holds: stop erasure of an identity's or a request's data.
    #[command(subcommand)]
    Hold(privacy::HoldCmd),
    /// A stand-in OIDC provider for trying Countersign locally (not for production).
    #[command(subcommand, name = "dev-idp")]
    DevIdp(governance::DevIdpCmd),
}

#[derive(Subcommand)]
enum IdentityCmd {
    Create {
        handle: String,
        #[arg(long, value_parser = Wire::<IdentityKind>::new())]
        kind: IdentityKind,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Accountable human (required for service and workload identities).
        #[arg(long)]
        owner: Option<String>,
        /// Handle of the identity's manager.
        #[arg(long)]
        manager: Option<String>,
        /// Marks a generic or team account.
        #[arg(long)]
        shared: bool,
        /// A group the identity belongs to (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// A governance role, such as exception_approver (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    List {
        #[arg(long, value_parser = Wire::<IdentityKind>::new())]
        kind: Option<IdentityKind>,
        #[arg(long, value_parser = Wire::<IdentityStatus>::new())]
        status: Option<IdentityStatus>,
    },
    Show {
        handle: String,
        /// Show the identity as it was at this RFC 3339 time.
        #[arg(long)]
        at: Option<String>,
    },
    History {
        handle: String,
    },
    Update {
        handle: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// Handle of the identity's manager ("" clears it).
        #[arg(long)]
        manager: Option<String>,
        #[arg(long)]
        shared: Option<bool>,
        /// Replace the groups with these, comma-separated ("" for none).
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// Replace the governance roles with these, comma-separated ("" for none).
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
    },
    Suspend {
        handle: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let the next SCIM user with this identity's e-mail adopt it (SCIM
    /// never adopts an identity made outside SCIM on its own); logged.
    AllowScim {
        handle: String,
    },
    Reactivate {
        handle: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Terminate {
        handle: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Issue a single-use enrolment link for the identity's first passkey.
    Invite {
        handle: String,
        /// How long the link works, such as 72h or 7d (default 72h, at most 14d).
        #[arg(long)]
        expires_in: Option<String>,
        /// Also e-mail the link to the identity (needs [smtp]).
        #[arg(long)]
        mail: bool,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Enrol a key: fetches a challenge and proves possession of the private key.
    Enroll {
        #[arg(long)]
        identity: String,
        /// PKCS#8 PEM private key file (from `countersign keygen`).
        #[arg(long)]
        key: PathBuf,
        /// `hardware` needs --vouch: assurance is earned, not declared.
        #[arg(long, value_parser = Wire::<Assurance>::new(), default_value = "software")]
        assurance: Assurance,
        /// As an administrator, vouch that the key is held in hardware, and why
        /// (what you inspected); logged with who vouched.
        #[arg(long, value_name = "REASON")]
        vouch: Option<String>,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        label: Option<String>,
    },
    Revoke {
        key_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// As an administrator, vouch that an enrolled key is held in hardware
    /// (keys enrolled before assurance had to be earned count as declared).
    Vouch {
        key_id: String,
        /// What you inspected and how.
        #[arg(long)]
        reason: String,
    },
    List {
        identity: String,
    },
}

#[derive(Subcommand)]
enum DocCmd {
    /// Register a file's content (or, with --sha256, a digest only) as the next version.
    Add {
        name: String,
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        sha256: Option<String>,
        #[arg(long)]
        media_type: Option<String>,
    },
    Show {
        name: String,
        /// Download this version's content to --out.
        #[arg(long, requires = "out")]
        version: Option<u32>,
        /// Write a version's content (the latest unless --version) here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    List,
}

#[derive(Subcommand)]
enum RequestCmd {
    Create(CreateArgs),
    Show {
        id: String,
    },
    List {
        #[arg(long, value_parser = Wire::<RequestState>::new())]
        state: Option<RequestState>,
        #[arg(long, value_parser = Wire::<EventKind>::new())]
        event: Option<EventKind>,
        #[arg(long)]
        approver: Option<String>,
        #[arg(long)]
        requester: Option<String>,
        #[arg(long)]
        beneficiary: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    Withdraw {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Args)]
struct CreateArgs {
    #[arg(long, value_parser = Wire::<EventKind>::new())]
    event: EventKind,
    #[arg(long)]
    purpose: String,
    #[arg(long, value_parser = Wire::<Impact>::new())]
    impact: Impact,
    /// Document to approve: NAME or NAME@VERSION (repeatable; default latest version).
    #[arg(long = "doc", required = true)]
    docs: Vec<String>,
    /// Entitlement action as SYSTEM:SUBJECT:OPERATION:ENTITLEMENT (operation: grant, revoke, disable, enable).
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    requester: String,
    #[arg(long)]
    beneficiary: String,
    /// Approver handle (repeatable; order matters with --sequential).
    #[arg(long = "approver", required = true)]
    approvers: Vec<String>,
    /// Approvers sign in the order given.
    #[arg(long)]
    sequential: bool,
    /// Approvals needed (default: all approvers).
    #[arg(long)]
    quorum: Option<u32>,
    /// Lifetime such as 90s, 30m, 24h, 7d or 2w (default 7d).
    #[arg(long)]
    expires_in: Option<String>,
}

#[derive(Args)]
struct SignArgs {
    request: String,
    /// Handle of the signer.
    #[arg(long = "as")]
    actor: String,
    /// PKCS#8 PEM private key file.
    #[arg(long)]
    key: PathBuf,
    #[arg(long, value_parser = Wire::<Decision>::new(), default_value = "approve")]
    decision: Decision,
    #[arg(long)]
    reason: Option<String>,
    /// Sign for this approver under a delegation they granted you.
    #[arg(long)]
    on_behalf_of: Option<String>,
    /// Where to save the receipt (default REQUEST-ACTOR.receipt).
    #[arg(long)]
    receipt: Option<PathBuf>,
    /// Your own copy of a document to compare with what is signed
    /// (repeatable); without it, each document is fetched and its digest checked.
    #[arg(long)]
    document: Vec<PathBuf>,
    /// Sign without asking for confirmation on a terminal.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Subcommand)]
enum EvidenceCmd {
    /// Write the evidence bundle of a request to a file.
    Export {
        request: String,
        /// Output file (default REQUEST.evidence.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a bundle offline and write its completion certificate: an
    /// HTML page an auditor reads and prints to PDF (no server needed).
    Report {
        bundle: PathBuf,
        /// Output file (default BUNDLE with .html).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The log's verifier key (vkey) to pin instead of trusting the bundle's.
        #[arg(long, env = "COUNTERSIGN_LOG_KEY")]
        log_key: Option<String>,
        /// A document file to match against what was signed (repeatable).
        #[arg(long)]
        document: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum LogCmd {
    /// Fetch and verify the latest checkpoint.
    Checkpoint,
    /// Fetch and verify a receipt (C2SP tlog-proof) for an entry.
    Prove { index: u64 },
    /// Check that a checkpoint this client holds (default: the newest) is
    /// a prefix of the server's latest (or of checkpoint NEW), with a proof
    /// verified here; a fork is reported with both signed checkpoints.
    Consistency { old: Option<u64>, new: Option<u64> },
    /// Recompute the tree from the database and check every checkpoint (local, reads --data).
    Audit,
}

/// Logs go to stderr: one JSON object per line (`COUNTERSIGN_LOG_FORMAT=json`,
/// the default when stderr is not a terminal, as under a service manager),
/// or text, coloured only on a terminal. `COUNTERSIGN_LOG` filters them
/// (default: warnings, and one line per request the server answers).
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,countersign::request=info"));
    let terminal = std::io::stderr().is_terminal();
    let json = match std::env::var("COUNTERSIGN_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal && !json);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if json => {
            // The same failure as an object a script can read.
            let refused = e.downcast_ref::<client::Refused>().map(|r| &r.0);
            let fork = e.downcast_ref::<follow::Fork>();
            let out = serde_json::json!({
                "error": {
                    "code": match (refused, fork) {
                        (Some(p), _) => p.code.as_str(),
                        (None, Some(_)) => "log_forked",
                        (None, None) => "failed",
                    },
                    "held_checkpoint": fork.map(|f| &f.held),
                    "served_checkpoint": fork.map(|f| &f.served),
                    "message": format!("{e:#}"),
                    "log_index": refused.and_then(|p| p.log_index),
                    "status": refused.map(|p| p.status),
                }
            });
            eprintln!("{out}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Parses a wire-named enum (`role_change`; `role-change` is accepted too)
/// and lists the wire names in `--help`.
pub(crate) struct Wire<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Wire<T> {
    pub(crate) fn new() -> Self {
        Wire(std::marker::PhantomData)
    }
}

impl<T> Clone for Wire<T> {
    fn clone(&self) -> Self {
        Wire::new()
    }
}

impl<T: WireName> clap::builder::TypedValueParser for Wire<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<T, clap::Error> {
        let given = value.to_string_lossy();
        let wanted = given.replace('-', "_");
        T::all()
            .iter()
            .copied()
            .find(|v| v.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = T::all().iter().map(|v| v.name()).collect();
                let arg = arg
                    .map(|a| format!(" for --{}", a.get_id()))
                    .unwrap_or_default();
                clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!(
                        "invalid value {given:?}{arg}: expected one of {}\n",
                        names.join(", ")
                    ),
                )
            })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            T::all()
                .iter()
                .map(|v| clap::builder::PossibleValue::new(v.name())),
        ))
    }
}

/// Write one line to stdout. A reader that went away (a closed pipe) ends
/// the process with success, as `head` expects; another write error ends it
/// with a message.
/// Set once stdout turned out to be a closed pipe: later output is dropped
/// and the command runs to its end, so its exit status keeps its meaning
/// (`countersign log audit | head -1` in a `pipefail` job still fails on
/// a tampered log).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            return;
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<bool> {
    if json {
        outln!("{}", serde_json::to_string_pretty(value)?);
    } else {
        outln!("{}", human(value));
    }
    Ok(true)
}

pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

pub(crate) fn parse_time(field: &str, s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .with_context(|| format!("{field} must be an RFC 3339 time like 2026-12-31T17:00:00Z"))
}

pub(crate) fn parse_duration(s: &str) -> Result<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("duration {s:?} must look like 90s, 30m, 24h, 7d or 2w"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("duration {s:?} must end in s, m, h, d or w"),
    };
    n.checked_mul(mult).context("duration is too long")
}

fn identity_line(i: &Identity) -> String {
    let mut s = format!("{} ({}, {})", i.handle, i.kind.as_str(), i.status.as_str());
    if i.display_name != i.handle {
        s.push_str(&format!(" {}", i.display_name));
    }
    if let Some(e) = &i.email {
        s.push_str(&format!(" <{e}>"));
    }
    if let Some(o) = &i.owner {
        s.push_str(&format!(" owner={o}"));
    }
    if i.shared {
        s.push_str(" shared");
    }
    s
}

fn request_text(r: &Request) -> String {
    let mut s = format!(
        "{}  {}  {} impact  {}\n  purpose: {}\n  requester: {}  beneficiary: {}\n",
        r.id,
        r.state.as_str(),
        r.impact.as_str(),
        r.event_kind.as_str(),
        r.purpose,
        r.requester,
        r.beneficiary
    );
    for d in &r.documents {
        s.push_str(&format!(
            "  document: {}@v{} sha256:{}\n",
            d.document, d.version, d.sha256
        ));
    }
    if let Some(a) = &r.action {
        s.push_str(&format!(
            "  action: {} {} {} on {}\n",
            a.operation.as_str(),
            a.entitlement,
            a.subject,
            a.system
        ));
    }
    let order = match r.order {
        ApprovalOrder::Parallel => "parallel",
        ApprovalOrder::Sequential => "sequential",
    };
    s.push_str(&format!(
        "  approvers ({order}, {} of {}): {}\n  expires: {}",
        r.quorum,
        r.approvers.len(),
        r.approvers.join(", "),
        ts(r.expires_at)
    ));
    for sig in &r.signatures {
        s.push_str(&format!(
            "\n  signed: {} {} at {} (log index {})",
            sig.actor,
            sig.decision.as_str(),
            ts(sig.accepted_at),
            sig.log_index
        ));
    }
    s
}

pub(crate) fn read_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    signing_key_from_pem(&pem).with_context(|| format!("key file {}", path.display()))
}

fn run(cli: Cli) -> Result<bool> {
    let json = cli.json;
    let database = match &cli.database {
        Some(url) => Some(url.clone()),
        None => {
            let explicit = match &cli.command {
                Command::Serve { config, .. } => config.as_deref(),
                _ => None,
            };
            config::database_url(&cli.data, explicit)?
        }
    };
    let dir = DataDir {
        path: cli.data.clone(),
        database: local::Database::from_url(database.as_deref())?,
    };
    let client = || Client::new(&cli.server, cli.token.clone());
    match cli.command {
        Command::Init { origin } => {
            let token = local::init(&dir, &origin)?;
            let out = serde_json::json!({"data": dir.path, "origin": origin, "admin_token": token});
            print(json, &out, |_| {
                format!(
                    "Initialised {} (log origin {origin}).\nAdmin token (shown once, stored only as a hash):\n\n    {token}\n\nexport COUNTERSIGN_TOKEN={token}",
                    dir.path.display()
                )
            })
        }
        Command::Serve {
            config,
            listen,
            origin,
            max_document_bytes,
            step_up_window_seconds,
            workload_certificate_seconds,
        } => {
            let mut file = config::FileConfig::load(&dir.path, config.as_deref())?;
            let g = &mut file.governance;
            g.step_up_window_seconds = step_up_window_seconds.or(g.step_up_window_seconds);
            g.workload_certificate_seconds =
                workload_certificate_seconds.or(g.workload_certificate_seconds);
            let mut limits = file.limits(countersign_domain::Limits::default())?;
            if let Some(m) = max_document_bytes.or(file.server.max_document_bytes) {
                limits.max_document_bytes = m;
            }
            let listen = listen
                .or(file.server.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:8440".into());
            let web = file.web(&listen)?;
            local::serve(
                &dir,
                local::ServeOptions {
                    origin: origin
                        .or(file.server.origin.clone())
                        .unwrap_or_else(|| "countersign.localhost/log".into()),
                    ledger: countersign_ledger::LedgerConfig {
                        iga: {
                            let mut iga = file.iga()?;
                            iga.reconcile.long_lived_after = limits.long_lived_after;
                            iga
                        },
                        limits,
                        web: web.rules.clone(),
                        mail: file.mail_rules()?,
                        retention: file.retention(),
                    },
                    schedule: file.server.schedule()?,
                    webhooks: file.webhooks()?,
                    reconcile_every: match file.iga.reconcile_every_seconds {
                        Some(0) => None,
                        Some(s) => Some(std::time::Duration::from_secs(s)),
                        None => Some(std::time::Duration::from_secs(3600)),
                    },
                    issuers: file.oidc.issuers.clone(),
                    listen,
                    web,
                    tls: file.tls.clone(),
                    smtp: file.smtp.clone(),
                    mail_poll: std::time::Duration::from_millis(
                        file.notifications.poll_ms.unwrap_or(1000).clamp(10, 60_000),
                    ),
                    limits: file.server.limits()?,
                },
            )?;
            Ok(true)
        }
        Command::Keygen { out } => {
            let key = SigningKey::generate(&mut rand_core::OsRng);
            let pem = signing_key_to_pem(&key)?;
            local::write_private(&out, &pem)?;
            let v = serde_json::json!({
                "file": out,
                "public_key": public_key_to_base64(&key.verifying_key()),
                "key_id": countersign_attest::key_id(&key.verifying_key()),
            });
            print(json, &v, |v| {
                format!(
                    "wrote {}\npublic key: {}\nkey id: {}",
                    out.display(),
                    v["public_key"].as_str().unwrap_or(""),
                    v["key_id"].as_str().unwrap_or("")
                )
            })
        }
        Command::Identity(cmd) => identity(&client()?, json, cmd),
        Command::Key(cmd) => key(&client()?, json, cmd),
        Command::Doc(cmd) => doc(&client()?, json, cmd),
        Command::Request(cmd) => request(&client()?, json, cmd),
        Command::Sign(args) => {
            let state = cli
                .state_dir
                .clone()
                .unwrap_or_else(follow::default_state_dir);
            sign(&client()?, &state, json, args)
        }
        Command::Evidence(EvidenceCmd::Export { request, out }) => {
            let c = client()?;
            let bundle: EvidenceBundle =
                c.get(&format!("/v1/requests/{}/evidence", seg(&request)))?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{request}.evidence.json")));
            std::fs::write(&out, serde_json::to_vec_pretty(&bundle)?)
                .with_context(|| format!("writing {}", out.display()))?;
            let v = serde_json::json!({"file": out, "request": request, "entries": bundle.entries.len()});
            print(json, &v, |_| {
                format!(
                    "wrote {} ({} log entries, request {})",
                    out.display(),
                    bundle.entries.len(),
                    bundle.request.state.as_str()
                )
            })
        }
        Command::Evidence(EvidenceCmd::Report {
            bundle,
            out,
            log_key,
            document,
        }) => evidence_report(json, &bundle, out, log_key, &document),
        Command::Verify {
            bundle,
            document,
            log_key,
        } => verify(json, &bundle, &document, log_key),
        Command::Log(cmd) => {
            let state = cli
                .state_dir
                .clone()
                .unwrap_or_else(follow::default_state_dir);
            log(&dir, &client()?, &state, json, cmd)
        }
        Command::Token(governance::TokenCmd::Recover) => {
            let file = local::recover_admin_token(&dir)?;
            print(json, &serde_json::json!({"admin_token_file": file}), |_| {
                format!(
                    "A new admin token is in {} (readable only by you); the old one no longer works.\n\n    export COUNTERSIGN_TOKEN=$(cat {})",
                    file.display(),
                    file.display()
                )
            })
        }
        Command::Token(cmd) => governance::token(&client()?, json, cmd),
        Command::Delegation(cmd) => governance::delegation(&client()?, json, cmd),
        Command::Exception(cmd) => governance::exception(&client()?, json, cmd),
        Command::Policy(cmd) => governance::policy(&dir, &client, json, cmd),
        Command::Workload(cmd) => governance::workload(&client()?, json, cmd),
        Command::Entitlements(cmd) => iga::entitlements(&client()?, json, cmd),
        Command::Reconcile => iga::reconcile(&client()?, json),
        Command::ControlException(cmd) => iga::control_exception(&client()?, json, cmd),
        Command::Webhook(cmd) => iga::webhook(&client, json, cmd),
        Command::Erase { handle } => privacy::erase(&client()?, json, &handle),
        Command::Backup { out } => {
            let (size, _) = backup::backup(&dir, &out)?;
            print(
                json,
                &serde_json::json!({"backup": out, "tree_size": size}),
                |_| {
                    format!(
                    "backed up {} into {} (log size {size}, audited clean); it holds the log key: keep it as safe as the server",
                    dir.path.display(),
                    out.display()
                )
                },
            )
        }
        Command::Restore { from } => {
            let (size, _) = backup::restore(&dir, &from)?;
            print(
                json,
                &serde_json::json!({"restored": from, "tree_size": size}),
                |_| {
                    format!(
                    "restored {} into {} (log size {size}, audited clean, not behind the kept checkpoint)",
                    from.display(),
                    dir.path.display()
                )
                },
            )
        }
        Command::Hold(cmd) => privacy::hold(&client()?, json, cmd),
        Command::DevIdp(cmd) => governance::dev_idp(cmd),
    }
}

fn identity(c: &Client, json: bool, cmd: IdentityCmd) -> Result<bool> {
    match cmd {
        IdentityCmd::Create {
            handle,
            kind: k,
            name,
            email,
            owner,
            manager,
            shared,
            groups,
            roles,
        } => {
            let body = CreateIdentity {
                handle,
                kind: k,
                display_name: name,
                email,
                owner,
                shared,
                groups,
                roles,
                manager,
            };
            let i: Identity = c.send_json(Method::POST, "/v1/identities", &body)?;
            print(json, &i, |i| format!("created {}", identity_line(i)))
        }
        IdentityCmd::List { kind: k, status: s } => {
            let mut q = Vec::new();
            if let Some(k) = k {
                q.push(format!("kind={}", k.as_str()));
            }
            if let Some(s) = s {
                q.push(format!("status={}", s.as_str()));
            }
            let list: IdentityList = c.get(&format!("/v1/identities?{}", q.join("&")))?;
            print(json, &list, |l| {
                l.identities
                    .iter()
                    .map(identity_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IdentityCmd::Show { handle, at } => {
            let path = match at {
                Some(at) => format!(
                    "/v1/identities/{}?at={}",
                    seg(&handle),
                    seg(&ts(parse_time("--at", &at)?))
                ),
                None => format!("/v1/identities/{}", seg(&handle)),
            };
            let i: Identity = c.get(&path)?;
            print(json, &i, |i| {
                let mut out = format!(
                    "{}\n  id: {}\n  revision {} since {}",
                    identity_line(i),
                    i.id,
                    i.revision,
                    ts(i.updated_at)
                );
                if let Some(m) = &i.manager {
                    out.push_str(&format!("\n  manager: {m}"));
                }
                if i.orphaned {
                    out.push_str("\n  orphaned: its owner left; set a new owner");
                }
                out
            })
        }
        IdentityCmd::History { handle } => {
            let h: Vec<IdentityHistoryEntry> =
                c.get(&format!("/v1/identities/{}/history", seg(&handle)))?;
            print(json, &h, |h| {
                h.iter()
                    .map(|e| {
                        format!(
                            "{}  rev {}  {}{}  (log index {})",
                            ts(e.identity.updated_at),
                            e.identity.revision,
                            identity_line(&e.identity),
                            e.reason
                                .as_ref()
                                .map(|r| format!(" reason: {r}"))
                                .unwrap_or_default(),
                            e.log_index
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IdentityCmd::Update {
            handle,
            name,
            email,
            owner,
            manager,
            shared,
            groups,
            roles,
        } => {
            let nonempty = |v: Option<Vec<String>>| {
                v.map(|v| v.into_iter().filter(|s| !s.is_empty()).collect())
            };
            let body = UpdateIdentity {
                display_name: name,
                email,
                owner,
                shared,
                groups: nonempty(groups),
                roles: nonempty(roles),
                manager,
            };
            let i: Identity = c.send_json(
                Method::PATCH,
                &format!("/v1/identities/{}", seg(&handle)),
                &body,
            )?;
            print(json, &i, |i| format!("updated {}", identity_line(i)))
        }
        IdentityCmd::Suspend { handle, reason } => transition(c, json, &handle, "suspend", reason),
        IdentityCmd::AllowScim { handle } => {
            let i: Identity = c.send_json(
                Method::POST,
                &format!("/v1/identities/{}/scim-adoption", seg(&handle)),
                &serde_json::json!({}),
            )?;
            print(json, &i, |i| {
                format!(
                    "{}\nthe next SCIM user with its e-mail adopts it",
                    identity_line(i)
                )
            })
        }
        IdentityCmd::Reactivate { handle, reason } => {
            transition(c, json, &handle, "reactivate", reason)
        }
        IdentityCmd::Terminate { handle, reason } => {
            transition(c, json, &handle, "terminate", reason)
        }
        IdentityCmd::Invite {
            handle,
            expires_in,
            mail,
        } => {
            let body = countersign_proto::passkey::CreateInvitation {
                expires_in_seconds: expires_in.as_deref().map(parse_duration).transpose()?,
                send_mail: mail,
            };
            let inv: countersign_proto::passkey::Invitation = c.send_json(
                Method::POST,
                &format!("/v1/identities/{}/invitations", seg(&handle)),
                &body,
            )?;
            print(json, &inv, |i| {
                format!(
                    "{}\n  enrolment link for {} (works once, until {}){}\n  logged at index {}",
                    i.url,
                    i.identity,
                    ts(i.expires_at),
                    if i.mailed { "; mailed to them" } else { "" },
                    i.log_index
                )
            })
        }
    }
}

fn transition(
    c: &Client,
    json: bool,
    handle: &str,
    verb: &str,
    reason: Option<String>,
) -> Result<bool> {
    let i: Identity = c.send_json(
        Method::POST,
        &format!("/v1/identities/{}/{verb}", seg(handle)),
        &StatusChange { reason },
    )?;
    print(json, &i, identity_line)
}

fn credential_line(k: &Credential) -> String {
    let mut s = format!(
        "{}  {}  {} {} ({}, AAL{} at most)",
        k.key_id,
        k.identity,
        k.kind.as_str(),
        k.assurance.as_str(),
        k.assurance_basis.as_str(),
        countersign_domain::policy::credential_aal(k)
    );
    if let Some(e) = k.expires_at {
        s.push_str(&format!("  expires {}", ts(e)));
    }
    if let Some(r) = k.revoked_at {
        s.push_str(&format!("  REVOKED {}", ts(r)));
    }
    s
}

fn key(c: &Client, json: bool, cmd: KeyCmd) -> Result<bool> {
    match cmd {
        KeyCmd::Enroll {
            identity,
            key,
            assurance,
            vouch,
            expires,
            label,
        } => {
            let sk = read_key(&key)?;
            let public_key = public_key_to_base64(&sk.verifying_key());
            let ch: KeyChallenge = c.send_json(
                Method::POST,
                &format!("/v1/identities/{}/key-challenges", seg(&identity)),
                &serde_json::json!({}),
            )?;
            let proof = sk.sign(&countersign_attest::pop_message(
                &identity,
                &ch.challenge,
                &public_key,
            ));
            let body = EnrollKey {
                public_key,
                challenge: ch.challenge,
                proof: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    proof.to_bytes(),
                ),
                assurance,
                label,
                expires_at: expires.map(|e| parse_time("--expires", &e)).transpose()?,
                vouch,
            };
            let k: Credential = c.send_json(
                Method::POST,
                &format!("/v1/identities/{}/keys", seg(&identity)),
                &body,
            )?;
            print(json, &k, |k| format!("enrolled {}", credential_line(k)))
        }
        KeyCmd::Vouch { key_id, reason } => {
            let k: Credential = c.send_json(
                Method::POST,
                &format!("/v1/keys/{}/vouch", seg(&key_id)),
                &VouchKey { reason },
            )?;
            print(json, &k, |k| format!("vouched {}", credential_line(k)))
        }
        KeyCmd::Revoke { key_id, reason } => {
            let k: Credential = c.send_json(
                Method::POST,
                &format!("/v1/keys/{}/revoke", seg(&key_id)),
                &RevokeKey { reason },
            )?;
            print(json, &k, |k| format!("revoked {}", credential_line(k)))
        }
        KeyCmd::List { identity } => {
            let ks: Vec<Credential> = c.get(&format!("/v1/identities/{}/keys", seg(&identity)))?;
            print(json, &ks, |ks| {
                ks.iter()
                    .map(credential_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn version_line(v: &DocumentVersion) -> String {
    format!(
        "{}@v{}  sha256:{}{}{}",
        v.document,
        v.version,
        v.sha256,
        v.size.map(|s| format!("  {s} bytes")).unwrap_or_default(),
        if v.content_stored {
            ""
        } else {
            "  (digest only)"
        }
    )
}

fn doc(c: &Client, json: bool, cmd: DocCmd) -> Result<bool> {
    match cmd {
        DocCmd::Add {
            name,
            file,
            sha256,
            media_type,
        } => {
            let v: DocumentVersion = match (file, sha256) {
                (Some(f), None) => {
                    let bytes =
                        std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                    c.put_bytes(
                        &format!("/v1/documents/{}/content", seg(&name)),
                        bytes,
                        media_type.as_deref(),
                    )?
                }
                (None, Some(d)) => c.send_json(
                    Method::POST,
                    &format!("/v1/documents/{}/versions", seg(&name)),
                    &RegisterDigest {
                        sha256: d,
                        size: None,
                        media_type,
                    },
                )?,
                _ => bail!("give a FILE or --sha256 DIGEST"),
            };
            print(json, &v, |v| format!("registered {}", version_line(v)))
        }
        DocCmd::Show { name, version, out } => {
            let d: Document = c.get(&format!("/v1/documents/{}", seg(&name)))?;
            // --out without --version writes the latest version.
            let version = version.or_else(|| d.versions.last().map(|v| v.version));
            if let (Some(v), Some(out)) = (version, out) {
                let bytes = c.get_bytes(&format!(
                    "/v1/documents/{}/versions/{v}/content",
                    seg(&name)
                ))?;
                std::fs::write(&out, bytes)
                    .with_context(|| format!("writing {}", out.display()))?;
                eprintln!("wrote {}", out.display());
            }
            print(json, &d, |d| {
                d.versions
                    .iter()
                    .map(version_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        DocCmd::List => {
            let ds: Vec<Document> = c.get("/v1/documents")?;
            print(json, &ds, |ds| {
                ds.iter()
                    .filter_map(|d| d.versions.last().map(version_line))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn parse_action(s: &str) -> Result<EntitlementAction> {
    let parts: Vec<&str> = s.splitn(4, ':').collect();
    let [system, subject, op, entitlement] = parts.as_slice() else {
        bail!("--action must be SYSTEM:SUBJECT:OPERATION:ENTITLEMENT, e.g. github:alice:grant:org/acme");
    };
    let operation = Operation::parse(op)
        .with_context(|| format!("operation {op:?} must be grant, revoke, disable or enable"))?;
    Ok(EntitlementAction {
        system: system.to_string(),
        subject: subject.to_string(),
        operation,
        entitlement: entitlement.to_string(),
    })
}

fn request(c: &Client, json: bool, cmd: RequestCmd) -> Result<bool> {
    match cmd {
        RequestCmd::Create(a) => {
            let documents =
                a.docs
                    .iter()
                    .map(|d| match d.rsplit_once('@') {
                        Some((name, v)) => Ok(DocumentRef {
                            document: name.to_string(),
                            version: Some(v.trim_start_matches('v').parse().with_context(
                                || format!("--doc {d:?}: version must be a number"),
                            )?),
                        }),
                        None => Ok(DocumentRef {
                            document: d.clone(),
                            version: None,
                        }),
                    })
                    .collect::<Result<Vec<_>>>()?;
            let body = CreateRequest {
                event_kind: a.event,
                purpose: a.purpose,
                impact: a.impact,
                documents,
                action: a.action.as_deref().map(parse_action).transpose()?,
                requester: a.requester,
                beneficiary: a.beneficiary,
                approvers: a.approvers,
                order: if a.sequential {
                    ApprovalOrder::Sequential
                } else {
                    ApprovalOrder::Parallel
                },
                quorum: a.quorum,
                expires_at: None,
                expires_in_seconds: a.expires_in.as_deref().map(parse_duration).transpose()?,
            };
            let r: Request = c.send_json(Method::POST, "/v1/requests", &body)?;
            if json {
                print(json, &r, |_| String::new())
            } else {
                outln!("{}", r.id);
                eprintln!("{}", request_text(&r));
                Ok(true)
            }
        }
        RequestCmd::Show { id } => {
            let r: Request = c.get(&format!("/v1/requests/{}", seg(&id)))?;
            print(json, &r, request_text)
        }
        RequestCmd::List {
            state,
            event,
            approver,
            requester,
            beneficiary,
            limit,
        } => {
            let mut q = Vec::new();
            if let Some(s) = state {
                q.push(format!("state={}", s.as_str()));
            }
            if let Some(e) = event {
                q.push(format!("event_kind={}", e.as_str()));
            }
            for (k, v) in [
                ("approver", approver),
                ("requester", requester),
                ("beneficiary", beneficiary),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", seg(&v)));
                }
            }
            if let Some(l) = limit {
                q.push(format!("limit={l}"));
            }
            let list: RequestList = c.get(&format!("/v1/requests?{}", q.join("&")))?;
            print(json, &list, |l| {
                if l.requests.is_empty() {
                    return "no requests match (you see the requests you are a party to)".into();
                }
                l.requests
                    .iter()
                    .map(|r| {
                        format!(
                            "{}  {:<9} {:<17} {:<8} {}",
                            r.id,
                            r.state.as_str(),
                            r.event_kind.as_str(),
                            r.impact.as_str(),
                            r.purpose
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        RequestCmd::Withdraw { id, reason } => {
            let r: Request = c.send_json(
                Method::POST,
                &format!("/v1/requests/{}/withdraw", seg(&id)),
                &Withdraw { reason },
            )?;
            print(json, &r, request_text)
        }
    }
}

/// A request in the same plain words the web app uses.
fn describe_request(r: &Request) -> String {
    use countersign_domain::describe;
    let mut out = format!(
        "{}\n  {}, {}\n",
        r.purpose,
        describe::event(r.event_kind),
        describe::impact(r.impact)
    );
    if let Some(a) = &r.action {
        out.push_str(&format!("  access change: {}\n", describe::action(a)));
    }
    out.push_str(&format!(
        "  requested by {} for {}\n  needs {}; decide by {}\n",
        r.requester,
        r.beneficiary,
        describe::approvals(r),
        describe::when(r.expires_at)
    ));
    let next = countersign_domain::notify::needed_now(r);
    let approvers: Vec<String> = r
        .approvers
        .iter()
        .map(|a| match r.signatures.iter().find(|s| s.approver() == a) {
            Some(s) if s.actor != *a => format!("{a} ({}d by {})", s.decision.as_str(), s.actor),
            Some(s) => format!("{a} ({}d)", s.decision.as_str()),
            None if next.contains(a) => format!("{a} (waiting)"),
            None => format!("{a} (later)"),
        })
        .collect();
    out.push_str(&format!("  approvers: {}", approvers.join(", ")));
    out
}

/// Check every document of `r` before signing: against the user's own
/// copies (`--document`), or by fetching each stored version and checking
/// its SHA-256. Answers one line per document.
fn check_documents(c: &Client, r: &Request, local: &[PathBuf]) -> Result<Vec<String>> {
    let mut copies = Vec::new();
    for p in local {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        copies.push((p.clone(), countersign_attest::keys::sha256_hex(&bytes)));
    }
    let mut lines = Vec::new();
    for d in &r.documents {
        if !local.is_empty() {
            match copies.iter().find(|(_, h)| *h == d.sha256) {
                Some((p, _)) => lines.push(format!(
                    "  document {}@v{} sha256:{} matches your copy {}",
                    d.document,
                    d.version,
                    d.sha256,
                    p.display()
                )),
                None => bail!(
                    "none of your --document files is {}@v{} (sha256:{}); not signing",
                    d.document,
                    d.version,
                    d.sha256
                ),
            }
            continue;
        }
        let doc: Document = c.get(&format!("/v1/documents/{}", seg(&d.document)))?;
        let stored = doc
            .versions
            .iter()
            .find(|v| v.version == d.version)
            .is_some_and(|v| v.content_stored);
        if !stored {
            bail!(
                "{}@v{} was registered by digest only, so it cannot be fetched: give your copy with --document FILE",
                d.document,
                d.version
            );
        }
        let bytes = c.get_bytes(&format!(
            "/v1/documents/{}/versions/{}/content",
            seg(&d.document),
            d.version
        ))?;
        let got = countersign_attest::keys::sha256_hex(&bytes);
        if got != d.sha256 {
            bail!(
                "the server sent {}@v{} with sha256:{}, but the request binds sha256:{}; not signing",
                d.document,
                d.version,
                got,
                d.sha256
            );
        }
        lines.push(format!(
            "  document {}@v{} sha256:{} fetched and checked ({} bytes)",
            d.document,
            d.version,
            d.sha256,
            bytes.len()
        ));
    }
    Ok(lines)
}

/// Ask on a terminal; anything but yes declines.
fn confirm(question: &str) -> Result<bool> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

fn sign(c: &Client, state: &Path, json: bool, a: SignArgs) -> Result<bool> {
    let sk = read_key(&a.key)?;
    let key_id = countersign_attest::key_id(&sk.verifying_key());
    let r: Request = c.get(&format!("/v1/requests/{}", seg(&a.request)))?;
    let docs = check_documents(c, &r, &a.document)?;
    // What the policy will ask, before signing: the same engine decides.
    let outlook: Option<countersign_proto::passkey::SigningOutlook> = c
        .get(&format!(
            "/v1/requests/{}/outlook?actor={}&key_id={}",
            seg(&a.request),
            seg(&a.actor),
            seg(&key_id)
        ))
        .ok();
    let slot = a.on_behalf_of.clone().unwrap_or_else(|| a.actor.clone());
    let policy = outlook
        .as_ref()
        .and_then(|o| o.slots.iter().find(|s| s.approver == slot))
        .map(|s| format!("  policy: {}", s.summary))
        .unwrap_or_else(|| {
            format!(
                "  policy: {} is not an approver of this request (nor signs for one)",
                a.actor
            )
        });
    if !json {
        eprintln!("{}\n{}\n{policy}", describe_request(&r), docs.join("\n"));
    }
    let verb = match a.decision {
        Decision::Approve => "Approve",
        Decision::Reject => "Reject",
    };
    if !a.yes && !json && !confirm(&format!("{verb} this request as {}?", a.actor))? {
        eprintln!("not signed");
        return Ok(false);
    }
    let decision = a.decision;
    let mut statement =
        countersign_attest::approval_statement(&r, &a.actor, decision, a.reason, key_id, now());
    statement.predicate.principal = a.on_behalf_of.clone();
    let envelope = countersign_attest::sign_statement(&statement, &sk)?;
    let receipt: SignatureReceipt = c.send_json(Method::POST, "/v1/signatures", &envelope)?;
    // Check the receipt before trusting it: it must prove the returned entry
    // is in a checkpoint signed by the log's key.
    let st = follow::LogState::open(state, c, None)?;
    let proof =
        TlogProof::parse(&receipt.receipt).context("the receipt is not a C2SP tlog-proof")?;
    let cp = proof
        .verify(receipt.entry.as_bytes(), &st.verifier)
        .context("the receipt does not verify against the log key")?;
    // The receipt's checkpoint must extend every one this client holds.
    st.observe(c, &proof.checkpoint)?;
    let path = a
        .receipt
        .unwrap_or_else(|| PathBuf::from(format!("{}-{}.receipt", a.request, a.actor)));
    std::fs::write(&path, &receipt.receipt)
        .with_context(|| format!("writing {}", path.display()))?;
    print(json, &receipt, |rc| {
        format!(
            "{} signed {} ({}): request is now {}\nlog index {} included in checkpoint of size {}; receipt saved to {}",
            a.actor,
            rc.request,
            decision.as_str(),
            rc.request_state.as_str(),
            rc.log_index,
            cp.size,
            path.display()
        )
    })
}

/// Exit status of `verify` and `evidence report` when every check passed
/// but the log key was not pinned: the bundle vouched for its own key.
const UNPINNED: u8 = 3;

/// What `verify` answers: every check, and whether the key was pinned.
enum Verdict {
    Verified,
    Unpinned,
    Failed,
}

impl Verdict {
    fn of(ok: bool, pinned: bool) -> Verdict {
        match (ok, pinned) {
            (true, true) => Verdict::Verified,
            (true, false) => Verdict::Unpinned,
            (false, _) => Verdict::Failed,
        }
    }
}

fn read_documents(documents: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut docs = Vec::new();
    for d in documents {
        docs.push((
            d.display().to_string(),
            std::fs::read(d).with_context(|| format!("reading {}", d.display()))?,
        ));
    }
    Ok(docs)
}

const UNPINNED_WARNING: &str = "WARNING: the log key was not pinned (--log-key). These checks prove only that the bundle agrees with itself: it vouched for its own key. Pin the key your organisation publishes to prove the signatures are in its log.";

fn verify(
    json: bool,
    bundle: &Path,
    documents: &[PathBuf],
    log_key: Option<String>,
) -> Result<bool> {
    let bytes = std::fs::read(bundle).with_context(|| format!("reading {}", bundle.display()))?;
    let pinned = log_key.is_some();
    let options = countersign_verify::Options {
        pinned_log_key: log_key,
        documents: read_documents(documents)?,
    };
    let report = countersign_verify::verify_bundle(&bytes, &options);
    let verdict = Verdict::of(report.ok(), pinned);
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": report.ok(), "log_key_pinned": pinned, "report": report})
            )?
        );
    } else {
        if !pinned {
            outln!("{UNPINNED_WARNING}\n");
        }
        for c in &report.checks {
            outln!(
                "{} {:<28} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
        for w in &report.warnings {
            outln!("warn {w}");
        }
        let failed = report.checks.iter().filter(|c| !c.ok).count();
        match verdict {
            Verdict::Verified => outln!("VERIFIED: {} checks passed", report.checks.len()),
            Verdict::Unpinned => outln!(
                "CONSISTENT, NOT VERIFIED: {} checks passed, but the log key was not pinned (exit status {UNPINNED})",
                report.checks.len()
            ),
            Verdict::Failed => outln!(
                "NOT VERIFIED: {failed} of {} checks failed",
                report.checks.len()
            ),
        }
    }
    finish_verdict(verdict)
}

/// Exit 0 when verified with a pinned key, 3 when consistent but the key
/// was not pinned, 1 when a check failed.
fn finish_verdict(verdict: Verdict) -> Result<bool> {
    match verdict {
        Verdict::Verified => Ok(true),
        Verdict::Unpinned => std::process::exit(i32::from(UNPINNED)),
        Verdict::Failed => Ok(false),
    }
}

fn evidence_report(
    json: bool,
    bundle: &Path,
    out: Option<PathBuf>,
    log_key: Option<String>,
    documents: &[PathBuf],
) -> Result<bool> {
    let bytes = std::fs::read(bundle).with_context(|| format!("reading {}", bundle.display()))?;
    let pinned = log_key.is_some();
    let (report, html) = countersign_report::verify_and_render(
        &bytes,
        &countersign_verify::Options {
            pinned_log_key: log_key,
            documents: read_documents(documents)?,
        },
        &countersign_report::RenderOptions {
            verified_at: Some(now()),
            ..Default::default()
        },
    )?;
    let out = out.unwrap_or_else(|| bundle.with_extension("html"));
    std::fs::write(&out, html).with_context(|| format!("writing {}", out.display()))?;
    let v = serde_json::json!({"file": out, "ok": report.ok(), "log_key_pinned": pinned, "checks": report.checks.len()});
    print(json, &v, |_| {
        format!(
            "wrote {} ({}; {})",
            out.display(),
            report.summary(),
            if pinned {
                "log key pinned"
            } else {
                "log key NOT pinned"
            }
        )
    })?;
    finish_verdict(Verdict::of(report.ok(), pinned))
}

fn log(dir: &DataDir, c: &Client, state: &Path, json: bool, cmd: LogCmd) -> Result<bool> {
    if let LogCmd::Audit = cmd {
        return local::audit(dir, json);
    }
    let st = follow::LogState::open(state, c, None)?;
    match cmd {
        LogCmd::Audit => local::audit(dir, json),
        LogCmd::Checkpoint => {
            let note = c.get_text("/v1/log/checkpoint")?;
            let cp = st.observe(c, &note)?;
            let v = serde_json::json!({"origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root), "note": note, "log_key": st.verifier.to_vkey()});
            print(json, &v, |_| {
                format!(
                    "{note}\n(verified with {}, consistent with every checkpoint this client holds)",
                    st.verifier.to_vkey()
                )
            })
        }
        LogCmd::Prove { index } => {
            let receipt = c.get_text(&format!("/v1/log/entries/{index}/receipt"))?;
            let entry: EntryView = c.get(&format!("/v1/log/entries/{index}"))?;
            let proof =
                TlogProof::parse(&receipt).context("the receipt is not a C2SP tlog-proof")?;
            let cp = proof
                .verify(entry.entry.as_bytes(), &st.verifier)
                .context("the receipt does not verify")?;
            st.observe(c, &proof.checkpoint)?;
            let v = serde_json::json!({"index": index, "tree_size": cp.size, "receipt": receipt, "entry": entry.entry});
            print(json, &v, |_| {
                format!(
                    "{receipt}\n(entry {index} verified in checkpoint of size {})",
                    cp.size
                )
            })
        }
        LogCmd::Consistency { old, new } => {
            // The old checkpoint is the client's own copy: one fetched from
            // the server now would prove only that the server agrees with
            // itself.
            let held = match old {
                Some(old) => st.held_at(old)?.with_context(|| {
                    format!(
                        "this client holds no checkpoint of size {old}; it holds those it verified (`log checkpoint`, receipts)"
                    )
                })?,
                None => st.latest()?.context(
                    "this client holds no checkpoint of this log yet; run `countersign log checkpoint` first",
                )?,
            };
            let (old_note, old_cp) = held;
            let (new_note, new_cp) = match new {
                Some(n) => match st.held_at(n)? {
                    Some(held) => held,
                    None => {
                        let note = c.get_text(&format!("/v1/log/checkpoints/{n}"))?;
                        let cp = st.observe(c, &note)?;
                        (note, cp)
                    }
                },
                None => {
                    let note = c.get_text("/v1/log/checkpoint")?;
                    let cp = st.observe(c, &note)?;
                    (note, cp)
                }
            };
            let proof_len = if new_cp.size == old_cp.size {
                if new_cp.root != old_cp.root {
                    return Err(follow::Fork {
                        held: old_note,
                        served: new_note,
                        why: format!("two different trees of size {} are signed", old_cp.size),
                    }
                    .into());
                }
                0
            } else if new_cp.size < old_cp.size {
                return Err(follow::Fork {
                    held: old_note,
                    served: new_note,
                    why: format!(
                        "the server's tree of {} entries is behind the {} this client holds",
                        new_cp.size, old_cp.size
                    ),
                }
                .into());
            } else {
                match st.consistent(c, &old_cp, &new_cp) {
                    Ok(n) => n,
                    Err(e) => {
                        return Err(follow::Fork {
                            held: old_note,
                            served: new_note,
                            why: format!("{e:#}"),
                        }
                        .into())
                    }
                }
            };
            let p = serde_json::json!({"old_size": old_cp.size, "new_size": new_cp.size, "proof_hashes": proof_len});
            print(json, &p, |_| {
                format!(
                    "consistent: the checkpoint of size {} this client holds is a prefix of checkpoint {} ({proof_len} proof hashes)",
                    old_cp.size, new_cp.size
                )
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::CommandFactory as _;

    /// Every subcommand's arguments are well formed (no option named
    /// twice, a global one included), which clap checks only at run time.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_weeks() {
        assert_eq!(super::parse_duration("1w").unwrap(), 7 * 86_400);
        assert_eq!(super::parse_duration("90s").unwrap(), 90);
        assert!(super::parse_duration("3y").is_err());
    }
}
