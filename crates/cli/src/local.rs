//! Commands that work on the data directory itself: init, serve, log audit.
//! This is the one place that names the concrete storage backend, loads the
//! policy set, the workload CA and the trusted OIDC issuers.
//!
//! A data directory holds `countersign.db` (SQLite), `log.key` (the log's
//! signing key), `ca.key`/`ca.pem` (the workload CA), `policy/` (the Cedar
//! schema, policies and policy tests) and optionally `countersign.toml`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use countersign_ca::CertificateAuthority;
use countersign_ledger::{Ledger, LedgerConfig, Store};
use countersign_oidc::{Purpose, TokenVerifier};
use countersign_policy::PolicySet;
use countersign_server::auth::{token_hash, Authenticator};
use countersign_server::{AppState, Clock as _, ServerConfig, SystemClock, Workloads};
use countersign_store_postgres::PostgresStore;
use countersign_store_sqlite::SqliteStore;
use countersign_tlog::note::NoteSigner;
use rand_core::{OsRng, RngCore as _};

pub const DB_FILE: &str = "countersign.db";
/// The latest signed checkpoint, kept beside the database (mode 0600).
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// Where the first `serve` leaves the admin token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
pub const KEY_FILE: &str = "log.key";
pub const POLICY_DIR: &str = "policy";
const CA_KEY_FILE: &str = "ca.key";
const CA_CERT_FILE: &str = "ca.pem";
const ADMIN_TOKEN_META: &str = "admin_token_sha256";

/// Where the database is: SQLite in the data directory (the
/// zero-configuration default) or a PostgreSQL server, chosen by the URL
/// given with `--database` / `COUNTERSIGN_DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres(String),
}

impl Database {
    /// Read a database URL; none means SQLite in the data directory.
    pub fn from_url(url: Option<&str>) -> Result<Self> {
        match url.map(str::trim) {
            None | Some("") => Ok(Database::Sqlite),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(Database::Postgres(u.to_string()))
            }
            Some(u) => bail!(
                "--database {:?} is not a database URL Countersign knows: give postgres://USER@HOST:PORT/DATABASE, or leave it out to use SQLite in the data directory",
                redact(u)
            ),
        }
    }

    /// How the database is named in messages: never with its password.
    pub fn describe(&self, dir: &Path) -> String {
        match self {
            Database::Sqlite => dir.join(DB_FILE).display().to_string(),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// A database URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A data directory, and the database its server keeps the log in.
pub struct DataDir {
    pub path: PathBuf,
    pub database: Database,
}

impl DataDir {
    /// The data directory at `path`, with the database in it (SQLite).
    pub fn sqlite(path: PathBuf) -> Self {
        DataDir {
            path,
            database: Database::Sqlite,
        }
    }

    fn db(&self) -> PathBuf {
        self.path.join(DB_FILE)
    }
    fn key(&self) -> PathBuf {
        self.path.join(KEY_FILE)
    }
    pub fn policy_dir(&self) -> PathBuf {
        self.path.join(POLICY_DIR)
    }
    /// Whether this directory holds a log key and its database exists
    /// (for PostgreSQL, opening the store says whether it holds a log).
    pub fn initialised(&self) -> bool {
        self.key().exists()
            && match self.database {
                Database::Sqlite => self.db().exists(),
                Database::Postgres(_) => true,
            }
    }

    pub fn open_store(&self) -> Result<Arc<dyn Store>> {
        let described = self.database.describe(&self.path);
        Ok(match &self.database {
            Database::Sqlite => Arc::new(
                SqliteStore::open(&self.db()).with_context(|| format!("opening {described}"))?,
            ),
            Database::Postgres(url) => {
                Arc::new(PostgresStore::open(url).with_context(|| format!("opening {described}"))?)
            }
        })
    }

    /// Whether the database already holds a Countersign log (its origin).
    fn database_origin(&self) -> Result<Option<String>> {
        if self.database == Database::Sqlite && !self.db().exists() {
            return Ok(None);
        }
        let store = self.open_store()?;
        let tx = store.read()?;
        Ok(tx.meta("origin")?)
    }

    pub fn signer(&self) -> Result<NoteSigner> {
        let skey = fs::read_to_string(self.key())
            .with_context(|| format!("reading the log key {}", self.key().display()))?;
        NoteSigner::from_skey(skey.trim())
            .with_context(|| format!("parsing the log key {}", self.key().display()))
    }

    /// Load and validate the policy set; the server refuses to start on
    /// one that does not validate. A data directory from before policies
    /// gets the default set written first.
    pub fn policy(&self) -> Result<PolicySet> {
        let dir = self.policy_dir();
        if !dir.exists() {
            PolicySet::write_defaults(&dir)
                .with_context(|| format!("writing the default policy set to {}", dir.display()))?;
        }
        PolicySet::load_dir(&dir).with_context(|| {
            format!(
                "the policy set in {} is invalid; fix it (see `countersign policy validate`)",
                dir.display()
            )
        })
    }

    /// Load the workload CA, creating it on first use.
    pub fn ca(&self, origin: &str) -> Result<CertificateAuthority> {
        let key = self.path.join(CA_KEY_FILE);
        let cert = self.path.join(CA_CERT_FILE);
        if !key.exists() && !cert.exists() {
            if let Database::Postgres(_) = self.database {
                // Every instance on one log certifies workloads with the
                // same CA: a second one made here would replace it.
                let store = self.open_store()?;
                if store.read()?.meta("ca_fingerprint")?.is_some() {
                    bail!(
                        "{} has no {CA_KEY_FILE} and {CA_CERT_FILE}, but the log on {} already has a workload CA; copy both from a data directory of an instance serving this log",
                        self.path.display(),
                        self.database.describe(&self.path)
                    );
                }
            }
            let (ca, key_pem) = CertificateAuthority::generate(
                &format!("{origin} workload CA"),
                SystemClock.now(),
                time::Duration::days(3650),
            )
            .context("creating the workload CA")?;
            write_private(&key, &key_pem)?;
            fs::write(&cert, ca.certificate_pem())
                .with_context(|| format!("writing {}", cert.display()))?;
            return Ok(ca);
        }
        let key_pem =
            fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
        let cert_pem =
            fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
        CertificateAuthority::load(&key_pem, &cert_pem).context("loading the workload CA")
    }

    /// Where the latest signed checkpoint is kept, outside the database.
    pub fn checkpoint_file(&self) -> PathBuf {
        self.path.join(CHECKPOINT_FILE)
    }

    /// Open the ledger, checking the stored log against its latest
    /// checkpoint and against the checkpoint kept beside the database,
    /// with `policy` in force.
    pub fn ledger(&self, config: LedgerConfig, policy: Arc<PolicySet>) -> Result<Ledger> {
        if !self.initialised() {
            bail!(
                "{} is not initialised; run `countersign init` first",
                self.path.display()
            );
        }
        let store = self.open_store()?;
        let keeper: Arc<dyn countersign_ledger::CheckpointKeeper> = Arc::new(
            countersign_ledger::CheckpointFile::new(self.checkpoint_file()),
        );
        Ledger::open_kept(
            store,
            self.signer()?,
            config,
            policy,
            Some(keeper),
            SystemClock.now(),
        )
        .context("opening the ledger")
    }
}

/// Write a new file readable only by its owner (keys); never overwrites.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Create the data directory, the log key and the admin token. Answers the token.
fn new_admin_token() -> String {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    format!("cs_admin_{}", URL_SAFE_NO_PAD.encode(raw))
}

/// `countersign token recover`: on the server's machine, with the server
/// stopped, replace a lost bootstrap admin token. The new one goes to the
/// 0600 admin-token file; the old one stops working; the log records who
/// did it. Answers the file's path.
pub fn recover_admin_token(dir: &DataDir) -> Result<PathBuf> {
    if !dir.initialised() {
        bail!("{} holds no Countersign data directory", dir.path.display());
    }
    // A running server keeps the old token's hash: it must be stopped.
    let _serving = lock_for_serving(dir)
        .map_err(|e| anyhow::anyhow!("{e:#}; `token recover` needs the server stopped"))?;
    let token = new_admin_token();
    let policy = Arc::new(dir.policy()?);
    let ledger = dir.ledger(Default::default(), policy)?;
    let by = format!(
        "local account {}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into())
    );
    ledger.recover_bootstrap_token(
        ADMIN_TOKEN_META,
        &token_hash(&token),
        &by,
        SystemClock.now(),
    )?;
    let file = dir.path.join(ADMIN_TOKEN_FILE);
    if file.exists() {
        fs::remove_file(&file).with_context(|| format!("replacing {}", file.display()))?;
    }
    write_private(&file, &format!("{token}\n"))?;
    Ok(file)
}

pub fn init(dir: &DataDir, origin: &str) -> Result<String> {
    if dir.key().exists() || (dir.database == Database::Sqlite && dir.db().exists()) {
        bail!(
            "{} is already initialised; refusing to overwrite it",
            dir.path.display()
        );
    }
    if let Some(existing) = dir.database_origin()? {
        bail!(
            "the database {} already holds the Countersign log {existing:?}; refusing to start another log in it. To run one more instance on that log, copy {KEY_FILE}, {CA_KEY_FILE}, {CA_CERT_FILE} and {POLICY_DIR}/ from a data directory of an instance already serving it into {}",
            dir.database.describe(&dir.path),
            dir.path.display()
        );
    }
    if !countersign_tlog::note::is_valid_key_name(origin) {
        bail!("origin {origin:?} is not a valid log name: no spaces and no '+'");
    }
    fs::create_dir_all(&dir.path).with_context(|| format!("creating {}", dir.path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o700))?;
    }
    let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let signer = NoteSigner::new(origin, key).context("creating the log key")?;
    write_private(&dir.key(), &format!("{}\n", signer.to_skey()))?;

    let token = new_admin_token();
    let store = dir.open_store()?;
    {
        let mut tx = store.write()?;
        tx.set_meta(ADMIN_TOKEN_META, &token_hash(&token))?;
        tx.set_meta("origin", origin)?;
        tx.commit()?;
    }
    drop(store);
    let policy = Arc::new(dir.policy()?);
    let ledger = dir.ledger(Default::default(), policy)?;
    let ca = dir.ca(origin)?;
    ledger.publish_ca(ca.certificate_pem(), &ca.fingerprint(), SystemClock.now())?;
    Ok(token)
}

pub struct ServeOptions {
    pub listen: String,
    pub origin: String,
    pub ledger: LedgerConfig,
    pub webhooks: countersign_server::WebhookSettings,
    /// How often the sweeper runs, and how long a lease lasts.
    pub schedule: (std::time::Duration, std::time::Duration),
    pub reconcile_every: Option<std::time::Duration>,
    pub issuers: Vec<countersign_oidc::IssuerConfig>,
    pub web: crate::config::Web,
    pub tls: Option<crate::config::TlsSection>,
    pub smtp: Option<countersign_mail::SmtpConfig>,
    pub mail_poll: std::time::Duration,
    /// Failure budgets (`[server]` auth and refusal limits).
    pub limits: countersign_server::auth::Limits,
}

/// The web app's settings: cookies, passkey attestation roots, the mail
/// server, the OpenID providers people sign in with.
fn web_settings(opts: &ServeOptions) -> Result<countersign_server::WebSettings> {
    let trust = match &opts.web.attestation_roots {
        Some(path) => {
            let pem = fs::read_to_string(path).with_context(|| {
                format!("reading webauthn.attestation_roots {}", path.display())
            })?;
            countersign_webauthn::TrustAnchors::from_pem(&pem)
                .with_context(|| format!("webauthn.attestation_roots {}", path.display()))?
        }
        None => countersign_webauthn::TrustAnchors::new(),
    };
    let mailer = match &opts.smtp {
        Some(smtp) => {
            let files = smtp.read_files().context("[smtp]")?;
            Some(smtp.build(files).context("[smtp]")?)
        }
        None => None,
    };
    let mut oidc = Vec::new();
    for issuer in &opts.issuers {
        if issuer.sign_in.is_some() {
            let p = countersign_oidc::SignInProvider::load(issuer).with_context(|| {
                format!("the sign-in settings of OIDC issuer {}", issuer.issuer)
            })?;
            oidc.push(Arc::new(p));
        }
    }
    Ok(countersign_server::WebSettings {
        public_url: opts.web.public_url.clone(),
        secure_cookies: opts.web.public_url.starts_with("https://"),
        hsts: opts.tls.is_some(),
        rp_name: opts.web.rp_name.clone(),
        trust: Arc::new(trust),
        mailer,
        mail_poll: opts.mail_poll,
        oidc,
    })
}

/// Run the server until Ctrl-C or SIGTERM.
/// The file a running server holds locked, beside the database.
const SERVE_LOCK: &str = "serve.lock";

/// Take the data directory for this server, or say who has it.
pub fn lock_for_serving(dir: &DataDir) -> Result<std::fs::File> {
    let path = dir.path.join(SERVE_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `countersign serve` is already running on {} (it holds {}); two servers on one SQLite database would each sign their own checkpoints. Stop it first, or give this one another --data directory",
            dir.path.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

pub fn serve(dir: &DataDir, opts: ServeOptions) -> Result<()> {
    if !dir.initialised() {
        // The token goes to a file only its owner reads, never to stderr,
        // which service managers keep in their logs.
        let token = init(dir, &opts.origin)?;
        let file = dir.path.join(ADMIN_TOKEN_FILE);
        write_private(&file, &format!("{token}\n"))?;
        eprintln!(
            "Initialised {} (log origin {}).\nThe admin token is in {} (readable only by you; only its hash is stored):\n\n    export COUNTERSIGN_TOKEN=$(cat {})\n\nKeep it somewhere safe and delete the file.\n",
            dir.path.display(),
            opts.origin,
            file.display(),
            file.display()
        );
    }
    // One server per SQLite file: a second would interleave its own
    // checkpoints with the first's. The lock goes when the process does,
    // however it ends. Instances on one PostgreSQL database are
    // serialised by the database itself.
    let _serving = match dir.database {
        Database::Sqlite => Some(lock_for_serving(dir)?),
        Database::Postgres(_) => None,
    };
    let policy = Arc::new(dir.policy()?);
    let mut config = opts.ledger.clone();
    if config.iga.event_source == countersign_ledger::IgaConfig::default().event_source {
        // Events name the log they come from: the origin fixed at init.
        config.iga.event_source = format!("urn:countersign:{}", dir.signer()?.name());
    }
    let ledger = Arc::new(dir.ledger(config, policy.clone())?);
    let admin = {
        let tx = ledger.store().read()?;
        tx.meta(ADMIN_TOKEN_META)?
            .context("the database has no admin token; was it initialised by `countersign init`?")?
    };
    let ca = Arc::new(dir.ca(&opts.origin)?);
    ledger.publish_ca(ca.certificate_pem(), &ca.fingerprint(), SystemClock.now())?;
    let callers = opts
        .issuers
        .iter()
        .filter(|i| i.purpose == Purpose::Caller)
        .count();
    let workloads = opts.issuers.len() - callers;
    let verifier = Arc::new(
        TokenVerifier::load(opts.issuers.clone()).context("loading the OIDC issuers' keys")?,
    );
    tracing::info!(
        policy_set = %policy.digest(),
        caller_issuers = callers,
        workload_issuers = workloads,
        "governance loaded"
    );
    let web = Arc::new(web_settings(&opts)?);
    let transport_config = match &opts.tls {
        Some(t) => Some(
            countersign_server::tls::server_config(&t.cert_file, &t.key_file).context("[tls]")?,
        ),
        None => None,
    };
    let state = AppState {
        metrics: Default::default(),
        pending: Default::default(),
        web: web.clone(),
        ledger: ledger.clone(),
        auth: Arc::new(Authenticator {
            bootstrap_sha256: Some(admin),
            oidc: Some(verifier.clone()),
            limits: opts.limits,
        }),
        clock: Arc::new(SystemClock),
        config: ServerConfig {
            policy_dir: Some(dir.policy_dir()),
            webhooks: opts.webhooks,
            reconcile_every: opts.reconcile_every,
            expiry_sweep: opts.schedule.0,
            lease: opts.schedule.1,
            ..ServerConfig::default()
        },
        workloads: Some(Arc::new(Workloads { verifier, ca })),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&opts.listen)
            .await
            .with_context(|| format!("binding {}", opts.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, origin = ledger.verifier().name(), "countersign listening");
        eprintln!(
            "countersign listening on {addr} (log {}); open {} in a browser",
            ledger.verifier().name(),
            web.public_url
        );
        if let Some(m) = &web.mailer {
            // A misconfigured mail server is reported now, not at the first
            // mail; mails wait in the outbox until it works.
            if let Err(e) = m.check().await {
                tracing::warn!(server = %m.server(), error = %e, "the mail server does not accept us yet; mails will wait and be retried");
                eprintln!("warning: mail server {}: {e}", m.server());
            }
        }
        let transport = match transport_config {
            Some(config) => {
                let redirect = match opts.tls.as_ref().and_then(|t| t.redirect_http.clone()) {
                    Some(r) => Some(
                        tokio::net::TcpListener::bind(&r)
                            .await
                            .with_context(|| format!("binding tls.redirect_http {r}"))?,
                    ),
                    None => None,
                };
                countersign_server::Transport::Tls { config, redirect }
            }
            None => countersign_server::Transport::Plain,
        };
        #[cfg(unix)]
        {
            // SIGHUP re-reads the policy directory, as `POST /v1/policy/reload` does.
            let state = state.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                while hup.recv().await.is_some() {
                    match countersign_server::reload_policy(&state).await {
                        Ok((view, index)) => tracing::info!(policy_set = %view.policy_set, log_index = ?index, "policy reloaded"),
                        Err(e) => tracing::error!(error = %e.problem.detail, "policy reload refused; the previous set stays in force"),
                    }
                }
            });
        }
        countersign_server::serve_with(listener, transport, state, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `log audit`: recompute the tree from the stored entries.
pub fn audit(dir: &DataDir, json: bool) -> Result<bool> {
    if !dir.initialised() {
        bail!(
            "{} is not initialised; nothing to audit",
            dir.path.display()
        );
    }
    let store = dir.open_store()?;
    let verifier = dir.signer()?.verifier();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |done: u64, total: u64| {
        if tty && !json {
            eprint!("\raudit: {done}/{total} entries");
        }
    };
    let report = countersign_ledger::audit::audit(&*store, &verifier, &mut progress)?;
    if tty && !json {
        eprintln!();
    }
    if json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| serde_json::json!({"index": p.index, "detail": p.detail}))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": report.ok(),
                "entries": report.entries_read,
                "checkpoints": report.checkpoints_checked,
                "signed_size": report.signed_size,
                "first_bad_index": report.first_bad_index(),
                "problems": problems,
            }))?
        );
    } else if report.ok() {
        outln!(
            "ok: {} entries recomputed; {} checkpoints verified (latest size {}); state tables, lookup columns and tree hashes rebuilt from the log match",
            report.entries_read,
            report.checkpoints_checked,
            report.signed_size
        );
    } else {
        outln!(
            "FAILED: the log does not match its checkpoints; first bad index: {}",
            report
                .first_bad_index()
                .map_or("unknown".into(), |i| i.to_string())
        );
        for p in &report.problems {
            outln!("  - {}", p.detail);
        }
    }
    Ok(report.ok())
}
