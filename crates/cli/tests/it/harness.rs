//! Starting servers and talking to them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_ledger::{IgaConfig, Ledger, LedgerConfig};
use countersign_oidc::{ClaimRule, IssuerConfig, JwksSource, Purpose, TokenVerifier};
use countersign_policy::PolicySet;
use countersign_proto::api::*;
use countersign_proto::model::*;
use countersign_proto::statement::{Envelope, Statement};
use countersign_server::auth::{token_hash, Authenticator};
use countersign_server::{AppState, Clock, ServerConfig, WebhookSettings, Workloads};
use countersign_store_postgres::testkit::TestDatabase;
use countersign_store_postgres::PostgresStore;
use countersign_store_sqlite::SqliteStore;
use countersign_tlog::note::NoteSigner;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::blocking::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

pub const TOKEN: &str = "cs_admin_test-token";
pub const ORIGIN: &str = "test.countersign.localhost/log";
/// The people's identity provider the test server trusts.
pub const IDP: &str = "https://idp.test";
/// The CI system whose workload tokens the test server trusts.
pub const CI: &str = "https://ci.test";
pub const AUDIENCE: &str = "countersign";
/// Workload tokens with this subject pattern map to `ci-release`.
pub const CI_SUBJECT: &str = "repo:acme/app:ref:refs/heads/*";

/// A clock the test moves by hand.
/// Stands still unless told to tick (then it moves with real time from
/// the moment it was told), and jumps when advanced.
pub struct TestClock {
    at: Mutex<OffsetDateTime>,
    ticking: Mutex<Option<std::time::Instant>>,
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        let at = *self.at.lock().unwrap();
        match *self.ticking.lock().unwrap() {
            Some(since) => at + since.elapsed(),
            None => at,
        }
    }
}

#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The database a test server keeps its log in.
pub enum Backend {
    /// `countersign.db` in the server's directory.
    Sqlite,
    /// A database of its own on the PostgreSQL server that
    /// `COUNTERSIGN_TEST_POSTGRES` names, dropped when the test ends.
    Postgres(Arc<TestDatabase>),
}

impl Backend {
    /// PostgreSQL when `COUNTERSIGN_TEST_POSTGRES` names a server, else SQLite.
    pub fn from_env() -> Self {
        match countersign_store_postgres::testkit::server_from_env() {
            Some(server) => Backend::Postgres(Arc::new(TestDatabase::create(&server))),
            None => Backend::Sqlite,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }
}

/// An in-process server on 127.0.0.1:0 over a fresh database: a SQLite
/// file in a temp dir, or a PostgreSQL database of its own when
/// `COUNTERSIGN_TEST_POSTGRES` names a server (the integration suite runs
/// on both).
pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    /// Where the log is kept.
    pub backend: Backend,
    pub clock: Arc<TestClock>,
    pub http: Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub log_key: String,
    skey: String,
    /// Signing keys of the test IdP and CI issuers (kid `idp-1`, `ci-1`).
    pub idp_key: SigningKey,
    pub ci_key: SigningKey,
    ca: Arc<countersign_ca::CertificateAuthority>,
    /// IAM/IGA settings used at the next boot.
    pub iga: IgaConfig,
    /// Webhook sender settings used at the next boot (fast retries).
    pub webhooks: WebhookSettings,
    /// The port, kept across restarts (the web origin names it).
    pub port: u16,
    /// Web app rules used at the next boot (sessions, links).
    pub web_rules: countersign_ledger::WebRules,
    /// Mail rules and mail server used at the next boot (none: no mail).
    pub mail: Option<countersign_ledger::MailRules>,
    pub mailer: Option<countersign_mail::Mailer>,
    /// Roots passkey attestations may chain to.
    pub attestation_roots: countersign_webauthn::TrustAnchors,
    /// How often the sweeper (expiry, reminders) runs.
    pub sweep: std::time::Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// `ServerConfig::max_pending` for the next boot.
    pub max_pending: usize,
    /// Failed authentications and refused signatures allowed per key.
    pub auth_rate: countersign_server::limit::Rate,
    pub refusal_rate: countersign_server::limit::Rate,
    /// Retention of personal values used at the next boot.
    pub retention: countersign_ledger::Retention,
}

/// Retries in tens of milliseconds, so tests see several attempts quickly.
pub fn fast_webhooks() -> WebhookSettings {
    WebhookSettings {
        poll: std::time::Duration::from_millis(25),
        timeout: std::time::Duration::from_secs(3),
        retry: countersign_webhook::RetryPolicy {
            base: std::time::Duration::from_millis(20),
            cap: std::time::Duration::from_millis(100),
            max_attempts: 4,
        },
        disable_after: 50,
        // The receivers here listen on loopback over plain http.
        egress: countersign_webhook::Egress {
            allow_http: true,
            allow_private: true,
        },
    }
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(IgaConfig::default())
    }

    /// Start with the given IAM/IGA settings.
    pub fn start_with(iga: IgaConfig) -> Self {
        Self::start_on(Backend::from_env(), iga)
    }

    /// Start on SQLite whatever the environment says: for the tests that
    /// edit, copy or cut the database file itself.
    pub fn start_sqlite() -> Self {
        Self::start_on(Backend::Sqlite, IgaConfig::default())
    }

    /// Start on the given backend with the given IAM/IGA settings.
    pub fn start_on(backend: Backend, iga: IgaConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if let Backend::Postgres(db) = &backend {
            // The binary's local commands (`log audit --data`) find the
            // database where an operator would name it.
            std::fs::write(
                dir.path().join("countersign.toml"),
                format!("[database]\nurl = \"{}\"\n", db.url),
            )
            .unwrap();
        }
        let signer = NoteSigner::new(ORIGIN, SigningKey::generate(&mut rand_core::OsRng)).unwrap();
        let skey = signer.to_skey();
        // Lay the data directory out as `countersign init` does, so the
        // binary's local commands (`log audit`) work on it.
        std::fs::write(dir.path().join("log.key"), format!("{skey}\n")).unwrap();
        PolicySet::write_defaults(&dir.path().join("policy")).unwrap();
        let clock = Arc::new(TestClock {
            at: Mutex::new(wall_clock()),
            ticking: Mutex::new(None),
        });
        let (ca, _) = countersign_ca::CertificateAuthority::generate(
            "test workload CA",
            wall_clock(),
            time::Duration::days(365),
        )
        .unwrap();
        let mut s = TestServer {
            base: String::new(),
            dir,
            backend,
            clock,
            http: Client::new(),
            shutdown: None,
            thread: None,
            log_key: signer.verifier().to_vkey(),
            skey,
            idp_key: SigningKey::generate(&mut rand_core::OsRng),
            ci_key: SigningKey::generate(&mut rand_core::OsRng),
            ca: Arc::new(ca),
            iga,
            webhooks: fast_webhooks(),
            port: 0,
            web_rules: Default::default(),
            mail: None,
            mailer: None,
            attestation_roots: countersign_webauthn::TrustAnchors::new(),
            sweep: std::time::Duration::from_secs(3600),
            header_read_timeout: std::time::Duration::from_secs(10),
            max_pending: countersign_server::ServerConfig::default().max_pending,
            auth_rate: countersign_server::limit::Rate {
                burst: 20,
                per_minute: 20,
            },
            refusal_rate: countersign_server::limit::Rate {
                burst: 30,
                per_minute: 30,
            },
            retention: Default::default(),
        };
        s.boot();
        s
    }

    /// A person with an e-mail address `<handle>@example.com`.
    pub fn person(&self, handle: &str) -> Identity {
        self.post(
            "/v1/identities",
            &CreateIdentity {
                handle: handle.into(),
                kind: IdentityKind::Human,
                display_name: Some(format!("{handle} (test)")),
                email: Some(format!("{handle}@example.com")),
                owner: None,
                shared: false,
                groups: vec![],
                roles: vec![],
                manager: None,
            },
        )
    }

    /// The web app's origin: `http://localhost:<port>` (a WebAuthn relying
    /// party id cannot be an IP address).
    pub fn origin(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn policy_dir(&self) -> PathBuf {
        self.dir.path().join("policy")
    }

    /// The issuers this server trusts, with JWKS files in its directory.
    fn issuers(&self) -> Vec<IssuerConfig> {
        let jwks = |name: &str, kid: &str, key: &SigningKey| {
            let path = self.dir.path().join(format!("{name}.jwks.json"));
            std::fs::write(&path, jwks_json(kid, key)).unwrap();
            path
        };
        vec![
            IssuerConfig {
                issuer: IDP.into(),
                audiences: vec![AUDIENCE.into()],
                jwks: JwksSource::File(jwks("idp", "idp-1", &self.idp_key)),
                purpose: Purpose::Caller,
                identity_claim: Some("email".into()),
                acr_values: Default::default(),
                rules: vec![],
                leeway_seconds: 30,
                sign_in: None,
            },
            IssuerConfig {
                issuer: CI.into(),
                audiences: vec![AUDIENCE.into()],
                jwks: JwksSource::File(jwks("ci", "ci-1", &self.ci_key)),
                purpose: Purpose::Workload,
                identity_claim: None,
                acr_values: Default::default(),
                rules: vec![ClaimRule {
                    claims: [("sub".to_string(), CI_SUBJECT.to_string())].into(),
                    identity: "ci-release".into(),
                }],
                leeway_seconds: 30,
                sign_in: None,
            },
        ]
    }

    /// The SQLite file, for the tests that work on it directly (they
    /// start with [`TestServer::start_sqlite`]).
    pub fn db_path(&self) -> PathBuf {
        assert!(
            !self.backend.is_postgres(),
            "this test works on the SQLite file; start it with TestServer::start_sqlite()"
        );
        self.dir.path().join("countersign.db")
    }

    /// A new connection to this server's store, as another process would open it.
    pub fn open_store(&self) -> Arc<dyn countersign_ledger::Store> {
        match &self.backend {
            Backend::Sqlite => Arc::new(SqliteStore::open(&self.db_path()).unwrap()),
            Backend::Postgres(db) => Arc::new(PostgresStore::open(&db.url).unwrap()),
        }
    }

    /// Start (or restart) serving the same database.
    pub fn boot(&mut self) {
        if let Err(e) = self.try_boot() {
            panic!("the server did not start: {e}");
        }
    }

    /// Start serving, or answer why the ledger refused to open.
    pub fn try_boot(&mut self) -> Result<(), String> {
        // Bind first: the web app's origin (and so the WebAuthn relying
        // party) names the port.
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        self.port = addr.port();
        let origin = self.origin();
        let store = self.open_store();
        let signer = NoteSigner::from_skey(&self.skey).unwrap();
        let policy = Arc::new(PolicySet::load_dir(&self.policy_dir()).unwrap());
        let keeper: Arc<dyn countersign_ledger::CheckpointKeeper> = Arc::new(
            countersign_ledger::CheckpointFile::new(self.dir.path().join("checkpoint")),
        );
        let ledger = Arc::new(
            Ledger::open_kept(
                store,
                signer,
                LedgerConfig {
                    limits: Default::default(),
                    iga: self.iga.clone(),
                    web: countersign_ledger::WebRules {
                        public_url: origin.clone(),
                        rp_id: "localhost".into(),
                        origins: vec![origin.clone()],
                        ..self.web_rules.clone()
                    },
                    mail: self.mail.clone(),
                    retention: self.retention.clone(),
                },
                policy,
                Some(keeper),
                self.now(),
            )
            .map_err(|e| e.to_string())?,
        );
        ledger
            .publish_ca(
                self.ca.certificate_pem(),
                &self.ca.fingerprint(),
                self.now(),
            )
            .unwrap();
        let verifier = Arc::new(TokenVerifier::load(self.issuers()).unwrap());
        let state = AppState {
            metrics: Default::default(),
            pending: Default::default(),
            ledger,
            auth: Arc::new(Authenticator {
                bootstrap_sha256: Some(token_hash(TOKEN)),
                oidc: Some(verifier.clone()),
                limits: countersign_server::auth::Limits::new(self.auth_rate, self.refusal_rate),
            }),
            clock: self.clock.clone(),
            config: ServerConfig {
                expiry_sweep: self.sweep,
                policy_dir: Some(self.policy_dir()),
                webhooks: self.webhooks.clone(),
                header_read_timeout: self.header_read_timeout,
                max_pending: self.max_pending,
                ..Default::default()
            },
            workloads: Some(Arc::new(Workloads {
                verifier,
                ca: self.ca.clone(),
            })),
            web: Arc::new(countersign_server::WebSettings {
                public_url: origin.clone(),
                mailer: self.mailer.clone(),
                mail_poll: std::time::Duration::from_millis(50),
                trust: Arc::new(self.attestation_roots.clone()),
                ..Default::default()
            }),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                countersign_server::serve(listener, state, async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        self.base = format!("http://{addr}");
        self.shutdown = Some(tx);
        self.thread = Some(thread);
        Ok(())
    }

    /// Stop serving; the database file stays.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn advance(&self, d: time::Duration) {
        *self.clock.at.lock().unwrap() += d;
    }

    /// Let the clock move with real time (for the webhook sender, whose
    /// retries are scheduled on the server's clock).
    pub fn tick(&self) {
        let mut ticking = self.clock.ticking.lock().unwrap();
        if ticking.is_none() {
            *ticking = Some(std::time::Instant::now());
        }
    }

    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: bool,
    ) -> (u16, Value) {
        self.call_as(method, path, body, token.then_some(TOKEN))
    }

    /// Call with a given bearer token (or none).
    pub fn call_as(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> T {
        let (status, v) = self.call(
            reqwest::Method::POST,
            path,
            Some(&serde_json::to_value(body).unwrap()),
            true,
        );
        assert!(status < 300, "POST {path} answered {status}: {v}");
        serde_json::from_value(v).unwrap()
    }

    pub fn post_patch<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> T {
        let (status, v) = self.call(
            reqwest::Method::PATCH,
            path,
            Some(&serde_json::to_value(body).unwrap()),
            true,
        );
        assert!(status < 300, "PATCH {path} answered {status}: {v}");
        serde_json::from_value(v).unwrap()
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let (status, v) = self.call(reqwest::Method::GET, path, None, true);
        assert!(status < 300, "GET {path} answered {status}: {v}");
        serde_json::from_value(v).unwrap()
    }

    pub fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    pub fn tree_size(&self) -> u64 {
        let info: ServerInfo = self.get("/v1/info");
        info.tree_size
    }

    /// Entry `index` as an auditor reads it: its personal fields opened
    /// with the openings the server answers beside the bytes.
    pub fn entry(&self, index: u64) -> Value {
        let e: EntryView = self.get(&format!("/v1/log/entries/{index}"));
        let opened =
            countersign_attest::commitment::open_entry(e.entry.as_bytes(), |c| e.openings.get(c))
                .unwrap();
        serde_json::to_value(opened.entry).unwrap()
    }

    pub fn human(&self, handle: &str) -> Identity {
        self.post(
            "/v1/identities",
            &CreateIdentity {
                handle: handle.into(),
                kind: IdentityKind::Human,
                display_name: None,
                email: None,
                owner: None,
                shared: false,
                groups: vec![],
                roles: vec![],
                manager: None,
            },
        )
    }

    /// Issue an API token with `roles`, optionally bound to `identity`;
    /// answers its secret.
    pub fn token_for(
        &self,
        identity: Option<&str>,
        roles: &[countersign_proto::governance::Role],
    ) -> String {
        let t: IssuedToken = self.post(
            "/v1/tokens",
            &IssueToken {
                name: format!("test {}", identity.unwrap_or("unbound")),
                roles: roles.to_vec(),
                identity: identity.map(str::to_string),
                expires_in_seconds: Some(86_400),
            },
        );
        t.secret
    }

    /// Mint a JWT signed by `key` with key id `kid` (EdDSA).
    pub fn mint(&self, key: &SigningKey, kid: &str, claims: &Value) -> String {
        mint_jwt(key, kid, claims)
    }

    /// An ID token from the test IdP for `email`, authenticated `auth_age`
    /// ago with the given `amr`.
    pub fn id_token(&self, email: &str, auth_age: time::Duration, amr: &[&str]) -> String {
        let now = self.now().unix_timestamp();
        self.mint(
            &self.idp_key,
            "idp-1",
            &serde_json::json!({
                "iss": IDP, "aud": AUDIENCE, "sub": format!("sub-{email}"), "email": email,
                "iat": now, "exp": now + 600, "auth_time": now - auth_age.whole_seconds(),
                "amr": amr,
            }),
        )
    }

    /// A workload token from the test CI for `sub`.
    pub fn ci_token(&self, sub: &str) -> String {
        let now = self.now().unix_timestamp();
        self.mint(
            &self.ci_key,
            "ci-1",
            &serde_json::json!({"iss": CI, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300}),
        )
    }

    pub fn enroll(&self, handle: &str, expires_at: Option<OffsetDateTime>) -> SigningKey {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        self.enroll_key(handle, &key, Assurance::Software, expires_at);
        key
    }

    /// Enrol `key` for `handle` with proof of possession.
    pub fn enroll_key(
        &self,
        handle: &str,
        key: &SigningKey,
        assurance: Assurance,
        expires_at: Option<OffsetDateTime>,
    ) {
        let public_key = B64.encode(key.verifying_key().as_bytes());
        let ch: KeyChallenge = self.post(
            &format!("/v1/identities/{handle}/key-challenges"),
            &serde_json::json!({}),
        );
        let proof = key.sign(&countersign_attest::pop_message(
            handle,
            &ch.challenge,
            &public_key,
        ));
        let _: Credential = self.post(
            &format!("/v1/identities/{handle}/keys"),
            &EnrollKey {
                public_key,
                challenge: ch.challenge,
                proof: B64.encode(proof.to_bytes()),
                assurance,
                label: None,
                expires_at,
                // The admin vouches for a hardware label, as assurance must be earned.
                vouch: (assurance == Assurance::Hardware)
                    .then(|| "test: generated on a hardware token".to_string()),
            },
        );
    }

    pub fn document(&self, name: &str, content: &[u8]) -> DocumentVersion {
        let resp = self
            .http
            .put(format!("{}/v1/documents/{name}/content", self.base))
            .bearer_auth(TOKEN)
            .body(content.to_vec())
            .send()
            .unwrap();
        assert!(
            resp.status().is_success(),
            "upload answered {}",
            resp.status()
        );
        resp.json().unwrap()
    }

    /// alice asks for dave's onboarding ("offer-letter"); each approver is a
    /// human with an enrolled key, answered in the order given.
    pub fn onboarding(&self, approvers: &[&str]) -> (Request, Vec<SigningKey>) {
        self.human("alice");
        self.human("dave");
        let keys = approvers
            .iter()
            .map(|a| {
                self.human(a);
                self.enroll(a, None)
            })
            .collect();
        self.document("offer-letter", b"Offer letter for Dave\n");
        let request = self.request(&request_body("offer-letter", "alice", "dave", approvers));
        (request, keys)
    }

    pub fn request(&self, body: &CreateRequest) -> Request {
        self.post("/v1/requests", body)
    }

    /// Submit an envelope as the admin (who may relay anyone's
    /// signature); answers (status, body).
    pub fn submit(&self, envelope: &Envelope) -> (u16, Value) {
        self.submit_as(envelope, TOKEN)
    }

    /// Submit an envelope with a given bearer token.
    pub fn submit_as(&self, envelope: &Envelope, bearer: &str) -> (u16, Value) {
        self.call_as(
            reqwest::Method::POST,
            "/v1/signatures",
            Some(&serde_json::to_value(envelope).unwrap()),
            Some(bearer),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A request body with sensible defaults.
pub fn request_body(
    doc: &str,
    requester: &str,
    beneficiary: &str,
    approvers: &[&str],
) -> CreateRequest {
    CreateRequest {
        event_kind: EventKind::Onboarding,
        purpose: "Onboard a new engineer".into(),
        impact: Impact::Medium,
        documents: vec![DocumentRef {
            document: doc.into(),
            version: None,
        }],
        action: Some(EntitlementAction {
            system: "github".into(),
            subject: beneficiary.into(),
            operation: Operation::Grant,
            entitlement: "org/acme/team/eng".into(),
        }),
        requester: requester.into(),
        beneficiary: beneficiary.into(),
        approvers: approvers.iter().map(|s| s.to_string()).collect(),
        order: ApprovalOrder::Parallel,
        quorum: None,
        expires_at: None,
        expires_in_seconds: Some(3600),
    }
}

/// The approval statement `actor` signs with `key` (a rejection carries a
/// reason): the verifier test kit's, so both suites sign alike.
pub use countersign_verify::testkit::statement;

pub fn sign(st: &Statement, key: &SigningKey) -> Envelope {
    countersign_attest::sign_statement(st, key).unwrap()
}

/// `countersign log audit --data DIR` with the real binary: its exit code
/// and its report.
pub fn log_audit(dir: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(binary())
        .args(["log", "audit", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The OpenMetrics text a server at `base` answers on `/metrics`.
pub fn metrics_text(http: &Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// One unlabelled value of an OpenMetrics text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The sum over labels of a metric family.
pub fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Path to the real binary.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_countersign"))
}

/// Check a consistency proof served by the API between two opened checkpoints.
pub fn check_consistency(
    proof: &ConsistencyProof,
    old: &countersign_tlog::checkpoint::Checkpoint,
    new: &countersign_tlog::checkpoint::Checkpoint,
) {
    let hashes: Vec<countersign_tlog::Hash> = proof
        .hashes
        .iter()
        .map(|h| countersign_tlog::hash_from_base64(h).unwrap())
        .collect();
    countersign_tlog::verify_consistency(old.size, new.size, &old.root, &new.root, &hashes)
        .unwrap();
}

/// A JWKS with one Ed25519 (OKP) key.
pub fn jwks_json(kid: &str, key: &SigningKey) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
    }]})
    .to_string()
}

/// A compact JWS (EdDSA) over `claims`.
pub fn mint_jwt(key: &SigningKey, kid: &str, claims: &Value) -> String {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let der = key.to_pkcs8_der().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
    )
    .unwrap()
}

/// A passkey on a (software) device, with what enrolling it answered.
pub struct Device {
    pub authenticator: countersign_webauthn::testkit::SoftAuthenticator,
}

impl Device {
    /// The passkey's answer to a challenge (base64url, as the server
    /// sends it) from this site's origin.
    pub fn answer(
        &mut self,
        s: &TestServer,
        challenge: &Value,
    ) -> countersign_webauthn::AuthenticationResponseJson {
        self.authenticator
            .assert(
                "localhost",
                &s.origin(),
                &b64url(challenge.as_str().expect("a challenge")),
            )
            .unwrap()
    }

    /// A synced passkey (backup eligible and backed up) that verifies its user.
    pub fn synced() -> Self {
        let mut a = countersign_webauthn::testkit::SoftAuthenticator::generate(
            countersign_webauthn::CoseAlgorithm::Es256,
            &mut rand_core::OsRng,
        )
        .unwrap();
        a.flags.backup_eligible = true;
        a.flags.backup_state = true;
        a.counter_step = 0;
        Device { authenticator: a }
    }

    /// A device-bound security key (not backup eligible) that counts signatures.
    pub fn security_key() -> Self {
        Device {
            authenticator: countersign_webauthn::testkit::SoftAuthenticator::generate(
                countersign_webauthn::CoseAlgorithm::Es256,
                &mut rand_core::OsRng,
            )
            .unwrap(),
        }
    }

    pub fn key_id(&self) -> String {
        countersign_attest::keys::sha256_hex(self.authenticator.credential_id())
    }
}

impl TestServer {
    /// A browser-side call to the web app: `Origin` is the web origin,
    /// the session cookie (if any) rides along, and `x-csrf-token` when given.
    pub fn web(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> reqwest::blocking::Response {
        let post = method == reqwest::Method::POST;
        let mut r = self.browser(method, path, cookie);
        if post {
            // What the page's script asks for; a page load asks for HTML.
            r = r.header("accept", "application/json");
        }
        if let Some(t) = csrf {
            r = r.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().unwrap()
    }

    /// A request as a browser on this site sends it (the host it knows,
    /// its origin, the session cookie), answered without following
    /// redirects.
    pub fn browser(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
    ) -> reqwest::blocking::RequestBuilder {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut r = client
            .request(method, format!("{}{path}", self.base))
            .header("host", format!("localhost:{}", self.port))
            .header("origin", self.origin());
        if let Some(c) = cookie {
            r = r.header("cookie", format!("countersign={c}"));
        }
        r
    }

    /// The session token a response set, if any.
    pub fn session_of(resp: &reqwest::blocking::Response) -> Option<String> {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("countersign="))
            .map(|c| c.split(';').next().unwrap_or_default().to_string())
            .filter(|c| !c.is_empty())
    }

    /// The CSRF token of a session, read from a page as a browser would.
    pub fn csrf(&self, cookie: &str) -> String {
        let html = self
            .web(reqwest::Method::GET, "/account", None, Some(cookie), None)
            .text()
            .unwrap();
        let at = html
            .find("name=\"csrf-token\" content=\"")
            .expect("a csrf meta tag")
            + 27;
        html[at..].split('"').next().unwrap().to_string()
    }

    /// An enrolment link's secret for `handle`, issued by the admin.
    pub fn invitation(&self, handle: &str) -> String {
        let inv: Value = self.post(
            &format!("/v1/identities/{handle}/invitations"),
            &serde_json::json!({}),
        );
        inv["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    }

    /// Enrol `device`'s passkey for `handle` through an enrolment link,
    /// with `attestation`; answers the session the enrolment started and
    /// the credential as the API shows it.
    pub fn enrol_passkey(
        &self,
        handle: &str,
        device: &mut Device,
        attestation: countersign_webauthn::testkit::TestAttestation<'_>,
    ) -> (String, Credential) {
        let token = self.invitation(handle);
        self.enrol_with(&token, device, attestation)
    }

    /// Enrol `device`'s passkey through the enrolment link `token`.
    pub fn enrol_with(
        &self,
        token: &str,
        device: &mut Device,
        attestation: countersign_webauthn::testkit::TestAttestation<'_>,
    ) -> (String, Credential) {
        let resp = self.web(
            reqwest::Method::POST,
            &format!("/enrol/{token}/options"),
            Some(&serde_json::json!({})),
            None,
            None,
        );
        assert_eq!(resp.status(), 200);
        let start: Value = resp.json().unwrap();
        let challenge = b64url(start["options"]["challenge"].as_str().unwrap());
        let user = b64url(start["options"]["user"]["id"].as_str().unwrap());
        let reg = device
            .authenticator
            .register("localhost", &self.origin(), &challenge, &user, attestation)
            .unwrap();
        let resp = self.web(
            reqwest::Method::POST,
            &format!("/enrol/{token}"),
            Some(&serde_json::json!({"challenge": start["challenge"], "credential": reg, "label": "test device"})),
            None,
            None,
        );
        let status = resp.status();
        let session = Self::session_of(&resp);
        let body = resp.text().unwrap();
        assert_eq!(status, 200, "enrolment answered {status}: {body}");
        let credential: Credential = self.get(&format!("/v1/keys/{}", device.key_id()));
        (session.expect("a session cookie"), credential)
    }

    /// A signing challenge for `request` through the API, as `bearer`.
    pub fn signing_challenge(&self, request: &str, bearer: &str, body: &Value) -> (u16, Value) {
        self.call_as(
            reqwest::Method::POST,
            &format!("/v1/requests/{request}/signing-challenges"),
            Some(body),
            Some(bearer),
        )
    }

    /// Approve `request` with `device`'s passkey through the API, as
    /// `bearer`; answers (status, body) of the signature submission.
    pub fn passkey_approve(
        &self,
        request: &str,
        bearer: &str,
        device: &mut Device,
    ) -> (u16, Value) {
        let (status, c) =
            self.signing_challenge(request, bearer, &serde_json::json!({"decision": "approve"}));
        assert_eq!(status, 201, "signing challenge: {c}");
        let assertion = device.answer(self, &c["challenge"]);
        self.call_as(
            reqwest::Method::POST,
            &format!("/v1/requests/{request}/passkey-signatures"),
            Some(&serde_json::json!({"nonce": c["nonce"], "credential": assertion})),
            Some(bearer),
        )
    }
}

pub fn b64url(s: &str) -> Vec<u8> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).unwrap()
}
