//! `countersign-load`: Countersign's benchmark harness.
//!
//! In one run it measures the machine's ceilings (Ed25519 verification,
//! single and batched, on one core; SHA-256; durable commits of the
//! database) and the product's figures against a real `countersign serve`
//! on loopback with a fresh data directory: accepted signatures per second
//! by client concurrency, receipt latency at a fixed offered rate (open
//! loop, measured from the scheduled send time so queueing counts),
//! server CPU per signature and resident memory, and inclusion and
//! consistency proof times at the size the log reached. Results go to
//! stdout as Markdown and, with `--out`, as JSON.
//!
//! ```text
//! cargo build --release -p countersign
//! target/release/countersign-load --size small --out bench.json
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Parser, ValueEnum};
use countersign_ledger::{Hashes, Store as _};
use countersign_proto::api::{CreateRequest, EnrollKey, KeyChallenge};
use countersign_proto::model::{Assurance, Decision, Request};
use countersign_proto::statement::Envelope;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Size {
    /// Seconds; what CI runs so the harness cannot rot.
    Tiny,
    /// About a minute: the figures in BENCHMARKS.md.
    Small,
}

struct Plan {
    approvers: usize,
    /// Client connections for the closed-loop throughput runs.
    connections: Vec<usize>,
    /// Signatures per closed-loop run.
    per_run: usize,
    /// Offered rate and duration of the open-loop latency run.
    offered: u32,
    offered_for: Duration,
    ed25519: usize,
    sha256_bytes: usize,
    commits: usize,
    proofs: usize,
}

impl Size {
    fn plan(self) -> Plan {
        match self {
            Size::Tiny => Plan {
                approvers: 4,
                connections: vec![1, 8],
                per_run: 80,
                offered: 100,
                offered_for: Duration::from_secs(1),
                ed25519: 2_000,
                sha256_bytes: 8 << 20,
                commits: 100,
                proofs: 100,
            },
            Size::Small => Plan {
                approvers: 8,
                connections: vec![1, 16, 64, 256],
                per_run: 6_000,
                offered: 2_000,
                offered_for: Duration::from_secs(5),
                ed25519: 50_000,
                sha256_bytes: 256 << 20,
                commits: 3_000,
                proofs: 2_000,
            },
        }
    }
}

#[derive(Parser)]
#[command(name = "countersign-load", about = "Countersign's benchmark harness")]
struct Args {
    #[arg(long, value_enum, default_value = "small")]
    size: Size,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The `countersign` binary to serve with [default: beside this one].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Also measure on PostgreSQL: the server to create fresh databases
    /// on (each dropped after), e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
    #[arg(long)]
    postgres: Option<String>,
    /// On PostgreSQL, also measure this many instances on one database,
    /// the clients spread over them [default: 3; 1 skips it].
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// With `--postgres`, leave the SQLite runs out.
    #[arg(long)]
    postgres_only: bool,
}

/// Where the servers under test keep their log.
#[derive(Clone)]
enum Backend {
    Sqlite,
    /// A database of its own on this PostgreSQL server.
    Postgres(String),
}

fn main() -> Result<()> {
    let args = Args::parse();
    let plan = args.size.plan();
    let server = match args.server {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow!("no directory beside this binary"))?
            .join("countersign"),
    };
    let mut results = json!({
        "size": format!("{:?}", args.size).to_lowercase(),
        "machine": machine(),
    });
    eprintln!("ceilings…");
    results["ceilings"] = ceilings(&plan, args.postgres.as_deref())?;
    if !(args.postgres_only && args.postgres.is_some()) {
        eprintln!("signing against a live server on SQLite…");
        results["signing"] = signing(&plan, &server, &Backend::Sqlite, 1)?;
    }
    if let Some(pg) = &args.postgres {
        let backend = Backend::Postgres(pg.clone());
        eprintln!("signing against a live server on PostgreSQL…");
        results["signing_postgres"] = signing(&plan, &server, &backend, 1)?;
        if args.instances > 1 {
            eprintln!(
                "signing against {} instances on one PostgreSQL database…",
                args.instances
            );
            results["signing_postgres_instances"] =
                signing(&plan, &server, &backend, args.instances)?;
        }
    }
    print_markdown(&results);
    if let Some(out) = args.out {
        std::fs::write(&out, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

#[allow(clippy::disallowed_methods)]
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
    })
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

// ------------------------------------------------------------------ ceilings

fn ceilings(plan: &Plan, postgres: Option<&str>) -> Result<Value> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let vk = key.verifying_key();
    let messages: Vec<Vec<u8>> = (0..plan.ed25519)
        .map(|i| format!("statement {i} {}", "x".repeat(180)).into_bytes())
        .collect();
    let sigs: Vec<_> = messages.iter().map(|m| key.sign(m)).collect();
    let t = Instant::now();
    for (m, s) in messages.iter().zip(&sigs) {
        vk.verify(m, s)?;
    }
    let single = per_second(messages.len(), t.elapsed());

    let batch = 64;
    let keys = vec![vk; batch];
    let t = Instant::now();
    for (ms, ss) in messages.chunks(batch).zip(sigs.chunks(batch)) {
        let ms: Vec<&[u8]> = ms.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&ms, ss, &keys[..ms.len()])?;
    }
    let batched = per_second(messages.len(), t.elapsed());

    let data = vec![0x5au8; plan.sha256_bytes];
    let t = Instant::now();
    let digest = Sha256::digest(&data);
    let sha = plan.sha256_bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(digest);

    let dir = tempfile::tempdir()?;
    let store = countersign_store_sqlite::SqliteStore::open(&dir.path().join("commits.db"))?;
    let t = Instant::now();
    for i in 0..plan.commits {
        let mut tx = store.write()?;
        tx.set_meta("bench", &i.to_string())?;
        tx.commit()?;
    }
    let commits = per_second(plan.commits, t.elapsed());
    let mut out = json!({
        "ed25519_verify_per_s": single.round(),
        "ed25519_batch64_verify_per_s": batched.round(),
        "sha256_mib_per_s": sha.round(),
        "sqlite_durable_commits_per_s": commits.round(),
    });
    if let Some(pg) = postgres {
        // The same write through the PostgreSQL backend: a transaction
        // taking the log's lock, one row, a durable commit.
        let db = Database::try_create(pg)?;
        let store = countersign_store_postgres::PostgresStore::open(&db.url)?;
        let t = Instant::now();
        for i in 0..plan.commits {
            let mut tx = store.write()?;
            tx.set_meta("bench", &i.to_string())?;
            tx.commit()?;
        }
        out["postgres_durable_commits_per_s"] =
            json!(per_second(plan.commits, t.elapsed()).round());
    }
    Ok(out)
}

/// A fresh database on a PostgreSQL server, dropped when this goes.
type Database = countersign_store_postgres::testkit::TestDatabase;

// ------------------------------------------------------------------- server

struct Server {
    child: Child,
    base: String,
    token: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `countersign serve` in `dir` (its `countersign.toml` says where the
/// log is); answers once it is ready, with the admin token `token` or,
/// for a new data directory, the one it wrote.
fn start(binary: &Path, dir: tempfile::TempDir, token: Option<&str>) -> Result<Server> {
    let port = free_port()?;
    let child = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path())
        .env("COUNTERSIGN_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let token_file = dir.path().join("admin-token");
    loop {
        let up = http
            .get(format!("{base}/readyz"))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if up && (token.is_some() || token_file.exists()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server did not come up on {base}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = match token {
        Some(t) => t.to_string(),
        None => std::fs::read_to_string(&token_file)?.trim().to_string(),
    };
    Ok(Server {
        child,
        base,
        token,
        dir,
    })
}

/// The servers under test: `n` instances on one database (SQLite: one).
struct Fleet {
    servers: Vec<Server>,
    database: Option<Database>,
}

impl Fleet {
    fn start(binary: &Path, backend: &Backend, n: usize) -> Result<Self> {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(server) => Some(Database::try_create(server)?),
        };
        let config = |dir: &Path| -> Result<()> {
            if let Some(db) = &database {
                std::fs::write(
                    dir.join("countersign.toml"),
                    format!("[database]\nurl = \"{}\"\n", db.url),
                )?;
            }
            Ok(())
        };
        let first_dir = tempfile::tempdir()?;
        config(first_dir.path())?;
        let first = start(binary, first_dir, None)?;
        let token = first.token.clone();
        let mut servers = vec![first];
        for _ in 1..n.max(1) {
            // Another instance: the first one's log key, CA and policy.
            let dir = tempfile::tempdir()?;
            config(dir.path())?;
            let from = servers[0].dir.path().to_path_buf();
            for f in ["log.key", "ca.key", "ca.pem"] {
                std::fs::copy(from.join(f), dir.path().join(f))?;
            }
            std::fs::create_dir_all(dir.path().join("policy"))?;
            for e in std::fs::read_dir(from.join("policy"))? {
                let e = e?;
                std::fs::copy(e.path(), dir.path().join("policy").join(e.file_name()))?;
            }
            servers.push(start(binary, dir, Some(&token))?);
        }
        Ok(Fleet { servers, database })
    }

    fn bases(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.base.clone()).collect()
    }

    fn token(&self) -> String {
        self.servers[0].token.clone()
    }

    /// CPU seconds every instance has used.
    fn cpu_seconds(&self) -> f64 {
        self.servers.iter().map(|s| cpu_seconds(s.child.id())).sum()
    }
}

/// CPU seconds the process has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let utime: f64 = rest.get(11)?.parse().ok()?;
            let stime: f64 = rest.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0)
}

/// Resident and peak resident memory, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl Client {
    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()?;
        let status = resp.status();
        let text = resp.text()?;
        if !status.is_success() {
            bail!("{path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Identities, keys, a document and `requests` requests, each to be
/// signed by every approver: answers the envelopes, in no particular
/// request order but each request's approvals together.
fn prepare(c: &Client, approvers: usize, requests: usize) -> Result<Vec<Approval>> {
    for h in ["bench-requester", "bench-beneficiary"] {
        c.post("/v1/identities", &json!({"handle": h, "kind": "human"}))?;
    }
    let mut keys = Vec::new();
    for i in 0..approvers {
        let handle = format!("bench-approver-{i}");
        c.post(
            "/v1/identities",
            &json!({"handle": handle, "kind": "human"}),
        )?;
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let public_key = B64.encode(key.verifying_key().as_bytes());
        let ch: KeyChallenge = serde_json::from_value(c.post(
            &format!("/v1/identities/{handle}/key-challenges"),
            &json!({}),
        )?)?;
        let proof = key.sign(&countersign_attest::pop_message(
            &handle,
            &ch.challenge,
            &public_key,
        ));
        let enroll = EnrollKey {
            public_key,
            challenge: ch.challenge,
            proof: B64.encode(proof.to_bytes()),
            assurance: Assurance::Software,
            label: None,
            expires_at: None,
            vouch: None,
        };
        c.post(
            &format!("/v1/identities/{handle}/keys"),
            &serde_json::to_value(enroll)?,
        )?;
        keys.push((handle, key));
    }
    let resp = c
        .http
        .put(format!("{}/v1/documents/bench-memo/content", c.base))
        .bearer_auth(&c.token)
        .body("A memo every benchmark request approves.\n")
        .send()?;
    if !resp.status().is_success() {
        bail!("uploading the document answered {}", resp.status());
    }
    let names: Vec<&str> = keys.iter().map(|(h, _)| h.as_str()).collect();
    let mut envelopes = Vec::with_capacity(requests * approvers);
    for _ in 0..requests {
        let body: CreateRequest = serde_json::from_value(json!({
            "event_kind": "role_change",
            "purpose": "Benchmark approval",
            "impact": "low",
            "documents": [{"document": "bench-memo"}],
            "requester": "bench-requester",
            "beneficiary": "bench-beneficiary",
            "approvers": names,
            "expires_in_seconds": 86_400,
        }))?;
        let request: Request =
            serde_json::from_value(c.post("/v1/requests", &serde_json::to_value(body)?)?)?;
        let request = Arc::new(request);
        for (handle, key) in &keys {
            envelopes.push(Approval {
                request: request.clone(),
                handle: handle.clone(),
                key: key.clone(),
            });
        }
    }
    Ok(envelopes)
}

/// One approver's approval of one request, signed when it is sent (a
/// statement signed long before is refused as clock skew, as it should).
struct Approval {
    request: Arc<Request>,
    handle: String,
    key: SigningKey,
}

impl Approval {
    fn sign(&self) -> Result<Envelope> {
        let st = countersign_attest::approval_statement(
            &self.request,
            &self.handle,
            Decision::Approve,
            None,
            countersign_attest::key_id(&self.key.verifying_key()),
            now(),
        );
        Ok(countersign_attest::sign_statement(&st, &self.key)?)
    }
}

/// Submit one envelope; answers the latency, or an error naming why it
/// was not accepted.
fn submit(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    e: &Envelope,
) -> Result<Duration> {
    let t = Instant::now();
    let resp = http
        .post(format!("{base}/v1/signatures"))
        .bearer_auth(token)
        .json(e)
        .send()?;
    let status = resp.status();
    let body = resp.bytes()?;
    if status.as_u16() != 201 {
        bail!(
            "a signature answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(t.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// A signature to send, and when it was due (open loop), from which its
/// latency is measured instead of from when it was sent.
type Work = (Approval, Option<Instant>);

/// `workers` clients, each submitting what `next` hands it until it
/// answers `None`; answers every latency.
fn clients(
    f: &Fleet,
    workers: usize,
    next: Arc<dyn Fn() -> Result<Option<Work>> + Send + Sync>,
) -> Result<Vec<Duration>> {
    let bases = f.bases();
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let next = next.clone();
            // Clients are spread over the instances, as a load balancer would.
            let (base, token) = (bases[w % bases.len()].clone(), f.token());
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let http = reqwest::blocking::Client::new();
                let mut lat = Vec::new();
                while let Some((approval, due)) = next()? {
                    let e = approval.sign()?;
                    let took = submit(&http, &base, &token, &e)?;
                    lat.push(due.map_or(took, |d| d.elapsed()));
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for th in threads {
        lat.extend(
            th.join()
                .map_err(|_| anyhow!("a client thread panicked"))??,
        );
    }
    lat.sort();
    Ok(lat)
}

/// Closed loop: `connections` clients submit `envelopes` as fast as
/// answers come back.
fn closed_loop(s: &Fleet, envelopes: Vec<Approval>, connections: usize) -> Result<Value> {
    let n = envelopes.len();
    let work = Mutex::new(envelopes);
    let cpu0 = s.cpu_seconds();
    let t = Instant::now();
    let lat = clients(
        s,
        connections,
        Arc::new(move || {
            let next = work.lock().map_err(|_| anyhow!("poisoned"))?.pop();
            Ok(next.map(|e| (e, None)))
        }),
    )?;
    let elapsed = t.elapsed();
    let cpu = s.cpu_seconds() - cpu0;
    Ok(json!({
        "connections": connections,
        "signatures": n,
        "accepted_per_s": per_second(n, elapsed).round(),
        "p50_ms": round2(percentile(&lat, 0.50)),
        "p99_ms": round2(percentile(&lat, 0.99)),
        "server_cpu_ms_per_signature": round2(cpu * 1000.0 / n.max(1) as f64),
    }))
}

/// Open loop: send at `rate` per second whatever the answers, each
/// latency measured from when the send was due.
fn open_loop(s: &Fleet, envelopes: Vec<Approval>, rate: u32, workers: usize) -> Result<Value> {
    let n = envelopes.len();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (tx, rx) = mpsc::sync_channel::<Work>(n.max(1));
    let rx = Mutex::new(rx);
    let start = Instant::now();
    let lat = std::thread::scope(|scope| -> Result<Vec<Duration>> {
        let pool = scope.spawn(move || {
            clients(
                s,
                workers,
                Arc::new(move || Ok(rx.lock().map_err(|_| anyhow!("poisoned"))?.recv().ok())),
            )
        });
        for (i, e) in envelopes.into_iter().enumerate() {
            let due = start + interval * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            tx.send((e, Some(due)))
                .map_err(|_| anyhow!("the workers stopped"))?;
        }
        drop(tx);
        pool.join()
            .map_err(|_| anyhow!("the client pool panicked"))?
    })?;
    let elapsed = start.elapsed();
    Ok(json!({
        "offered_per_s": rate,
        "signatures": n,
        "achieved_per_s": per_second(n, elapsed).round(),
        "p50_ms": round2(percentile(&lat, 0.50)),
        "p99_ms": round2(percentile(&lat, 0.99)),
        "max_ms": round2(lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)),
    }))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn signing(plan: &Plan, binary: &Path, backend: &Backend, instances: usize) -> Result<Value> {
    let s = Fleet::start(binary, backend, instances)?;
    let c = Client {
        http: reqwest::blocking::Client::new(),
        base: s.servers[0].base.clone(),
        token: s.token(),
    };
    let runs = plan.connections.len();
    let offered_n = (plan.offered as f64 * plan.offered_for.as_secs_f64()) as usize;
    let requests = (plan.per_run * runs + offered_n).div_ceil(plan.approvers);
    let t = Instant::now();
    let mut envelopes = prepare(&c, plan.approvers, requests)?;
    let setup = t.elapsed();
    let mut closed = Vec::new();
    for &conns in &plan.connections {
        let batch: Vec<Approval> = envelopes
            .drain(..plan.per_run.min(envelopes.len()))
            .collect();
        eprintln!("  {} signatures over {conns} connections…", batch.len());
        closed.push(closed_loop(&s, batch, conns)?);
    }
    let batch: Vec<Approval> = envelopes.drain(..offered_n.min(envelopes.len())).collect();
    eprintln!(
        "  {} signatures offered at {}/s…",
        batch.len(),
        plan.offered
    );
    let open = open_loop(&s, batch, plan.offered, 256)?;
    let (rss, peak) = memory(s.servers[0].child.id());
    // Proofs are timed on the stopped servers' database: the server's
    // work for a proof is exactly these reads and hashes.
    let db = s.servers[0].dir.path().join("countersign.db");
    let Fleet { servers, database } = s;
    let mut kept_dirs = Vec::new();
    for mut server in servers {
        server.child.kill()?;
        server.child.wait()?;
        kept_dirs.push(server);
    }
    let store: Arc<dyn countersign_ledger::Store> = match &database {
        None => Arc::new(countersign_store_sqlite::SqliteStore::open(&db)?),
        Some(d) => Arc::new(countersign_store_postgres::PostgresStore::open(&d.url)?),
    };
    let proofs = proof_times(&*store, plan.proofs)?;
    drop(store);
    drop(kept_dirs);
    drop(database);
    Ok(json!({
        "backend": match backend { Backend::Sqlite => "sqlite", Backend::Postgres(_) => "postgres" },
        "instances": instances,
        "setup_seconds": round2(setup.as_secs_f64()),
        "closed_loop": closed,
        "open_loop": open,
        "server_rss_mib": round2(rss),
        "server_peak_rss_mib": round2(peak),
        "proofs": proofs,
    }))
}

fn proof_times(store: &dyn countersign_ledger::Store, n: usize) -> Result<Value> {
    let tx = store.read()?;
    let size = tx.tree_size()?;
    if size < 2 {
        bail!("the log has {size} entries; nothing to prove");
    }
    let mut inclusion = Vec::with_capacity(n);
    let mut consistency = Vec::with_capacity(n);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let i = seed % size;
        let t = Instant::now();
        std::hint::black_box(countersign_tlog::inclusion_proof(i, size, &Hashes(&*tx))?);
        inclusion.push(t.elapsed());
        let old = 1 + seed % (size - 1);
        let t = Instant::now();
        std::hint::black_box(countersign_tlog::consistency_proof(
            old,
            size,
            &Hashes(&*tx),
        )?);
        consistency.push(t.elapsed());
    }
    inclusion.sort();
    consistency.sort();
    let us = |v: &[Duration], p: f64| round2(percentile(v, p) * 1000.0);
    Ok(json!({
        "log_entries": size,
        "inclusion_p50_us": us(&inclusion, 0.5),
        "inclusion_p99_us": us(&inclusion, 0.99),
        "consistency_p50_us": us(&consistency, 0.5),
        "consistency_p99_us": us(&consistency, 0.99),
    }))
}

fn print_markdown(r: &Value) {
    let c = &r["ceilings"];
    println!("## Ceilings\n");
    println!("| measure | value |\n|---|---|");
    for (k, label) in [
        ("ed25519_verify_per_s", "Ed25519 verifications/s, one core"),
        (
            "ed25519_batch64_verify_per_s",
            "Ed25519 batch (64) verifications/s, one core",
        ),
        ("sha256_mib_per_s", "SHA-256 MiB/s"),
        ("sqlite_durable_commits_per_s", "SQLite durable commits/s"),
        (
            "postgres_durable_commits_per_s",
            "PostgreSQL durable commits/s (the log's lock, one row)",
        ),
    ] {
        if !c[k].is_null() {
            println!("| {label} | {} |", c[k]);
        }
    }
    for (key, title) in [
        ("signing", "SQLite"),
        ("signing_postgres", "PostgreSQL"),
        (
            "signing_postgres_instances",
            "PostgreSQL, several instances",
        ),
    ] {
        let s = &r[key];
        if s.is_null() {
            continue;
        }
        print_signing(title, s);
    }
}

fn print_signing(title: &str, s: &Value) {
    println!(
        "\n## Accepted signatures, closed loop: {title} ({} instance{})\n",
        s["instances"],
        if s["instances"] == 1 { "" } else { "s" }
    );
    println!(
        "| connections | signatures | accepted/s | p50 ms | p99 ms | server CPU ms/signature |"
    );
    println!("|---|---|---|---|---|---|");
    for run in s["closed_loop"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            run["connections"],
            run["signatures"],
            run["accepted_per_s"],
            run["p50_ms"],
            run["p99_ms"],
            run["server_cpu_ms_per_signature"]
        );
    }
    let o = &s["open_loop"];
    println!("\n## Receipt latency, open loop: {title}\n");
    println!("| offered/s | achieved/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} |",
        o["offered_per_s"], o["achieved_per_s"], o["p50_ms"], o["p99_ms"], o["max_ms"]
    );
    let p = &s["proofs"];
    println!("\n## Proofs and memory: {title}\n");
    println!("| measure | value |\n|---|---|");
    println!("| log entries | {} |", p["log_entries"]);
    println!(
        "| inclusion proof p50 / p99 µs | {} / {} |",
        p["inclusion_p50_us"], p["inclusion_p99_us"]
    );
    println!(
        "| consistency proof p50 / p99 µs | {} / {} |",
        p["consistency_p50_us"], p["consistency_p99_us"]
    );
    println!(
        "| server RSS / peak MiB | {} / {} |",
        s["server_rss_mib"], s["server_peak_rss_mib"]
    );
}
