//! Countersign's HTTP API (`/v1`): an axum router over the ledger.
//!
//! Handlers are thin: extract, authenticate, call the ledger on a blocking
//! thread with `now` from the [`Clock`], map the result. Every error leaves
//! through one mapping ([`error::ApiError`]) as RFC 9457 problem+json with a
//! stable code; internal errors are logged, never echoed.
//!
//! The server deliberately holds no rules (they are in the domain and the
//! policy set) and no SQL (it sees the store only through the ledger).
//! Authentication ([`auth`]) turns bearer tokens (the bootstrap admin
//! token, scoped API tokens, OIDC ID tokens) into a [`auth::Caller`] with
//! roles; every handler names the roles it admits. Workload certificates
//! are issued here, by the CA the binary loads, after the token exchange.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
mod deliver;
mod error;
mod extract;
pub mod limit;
mod mail;
pub mod metrics;
mod routes;
pub mod tls;
pub mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use countersign_ledger::Ledger;
use time::OffsetDateTime;

pub use deliver::WebhookSettings;
pub use error::ApiError;
pub use routes::governance::reload as reload_policy;
pub use routes::openapi::{document as openapi_document, ApiDoc};
pub use routes::{access_table, access_table_markdown, RouteAccess};
pub use web::WebSettings;

/// Where `now` comes from. The server reads the clock here and nowhere else.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// How often pending requests past their expiry are closed.
    pub expiry_sweep: Duration,
    /// Where the policy set lives, for `POST /v1/policy/reload`.
    pub policy_dir: Option<PathBuf>,
    /// The webhook sender.
    pub webhooks: WebhookSettings,
    /// How often a full reconciliation runs (the time-based findings:
    /// approvals never carried out, offboarding lag, orphaned access);
    /// `None` leaves it to `countersign reconcile`.
    pub reconcile_every: Option<Duration>,
    /// How long a client may take to send a request's headers (and, on a
    /// kept-alive connection, to start the next request) before the
    /// connection is closed.
    pub header_read_timeout: Duration,
    /// How long a request (its body included) may take before it is
    /// answered 408.
    pub request_timeout: Duration,
    /// Ledger operations running or waiting at once; past them a request
    /// is answered 503 (`server_busy`) with `Retry-After` at once, instead
    /// of joining an unbounded queue.
    pub max_pending: usize,
    /// This instance's name among those serving one log: who holds a
    /// lease (the scheduled tasks' `leader`, a delivery being sent).
    pub instance: String,
    /// How long a lease lasts unless renewed: how soon another instance
    /// takes the scheduled tasks, or a delivery, over from one that died.
    pub lease: Duration,
}

/// A name for this process among the instances serving one log.
fn instance_name() -> String {
    let mut raw = [0u8; 4];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
    format!("pid{}-{}", std::process::id(), hex::encode(raw))
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_json_bytes: 1024 * 1024,
            expiry_sweep: Duration::from_secs(15),
            policy_dir: None,
            webhooks: WebhookSettings::default(),
            reconcile_every: Some(Duration::from_secs(3600)),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_pending: 512,
            instance: instance_name(),
            lease: Duration::from_secs(15),
        }
    }
}

/// What workload certificate issuance needs: the trusted workload token
/// issuers and the CA.
pub struct Workloads {
    pub verifier: Arc<countersign_oidc::TokenVerifier>,
    pub ca: Arc<countersign_ca::CertificateAuthority>,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
    pub auth: Arc<auth::Authenticator>,
    pub clock: Arc<dyn Clock>,
    pub config: ServerConfig,
    pub workloads: Option<Arc<Workloads>>,
    /// The web app: public address, cookies, passkey trust, mail, sign-in providers.
    pub web: Arc<WebSettings>,
    /// What `/metrics` reports.
    pub metrics: Arc<metrics::Metrics>,
    /// The admission of ledger operations (`ServerConfig::max_pending`),
    /// made on first use.
    pub pending: Arc<std::sync::OnceLock<Arc<tokio::sync::Semaphore>>>,
}

impl AppState {
    /// Run a ledger operation of the server's own, outside the admission
    /// queue: the background tasks (sweeper, senders, scheduled
    /// reconciliation) and the probes (`/readyz`, `/metrics`), whose number
    /// is fixed by the server, not by its clients; an overloaded server
    /// still does its work and says how it is.
    pub(crate) async fn run_internal<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger, OffsetDateTime) -> Result<T, countersign_ledger::LedgerError>
            + Send
            + 'static,
    {
        let ledger = self.ledger.clone();
        let now = self.clock.now();
        match tokio::task::spawn_blocking(move || f(&ledger, now)).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(format!("ledger task failed: {e}"))),
        }
    }

    /// Run a ledger operation on a blocking thread with the current time,
    /// once the admission queue has a place for it.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger, OffsetDateTime) -> Result<T, countersign_ledger::LedgerError>
            + Send
            + 'static,
    {
        let admission = self
            .pending
            .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(self.config.max_pending)))
            .clone();
        // Back-pressure: a full queue is answered now, not joined.
        let Ok(permit) = admission.clone().try_acquire_owned() else {
            self.metrics.busy();
            let mut e = ApiError::new(
                countersign_proto::ErrorCode::ServerBusy,
                format!(
                    "the server is busy: {} operations are already running or waiting; try again shortly",
                    self.config.max_pending
                ),
            );
            e.retry_after = Some(1);
            return Err(e);
        };
        let depth = || self.config.max_pending - admission.available_permits();
        self.metrics.pending(depth());
        let done = self
            .run_internal(move |l, now| {
                let out = f(l, now);
                drop(permit);
                out
            })
            .await;
        self.metrics.pending(depth());
        done
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// How the listener talks: plain HTTP, or TLS with an optional plain-HTTP
/// listener that only redirects to https.
pub enum Transport {
    Plain,
    Tls {
        config: Arc<rustls::ServerConfig>,
        redirect: Option<tokio::net::TcpListener>,
    },
}

/// A connection must send its first byte within the header timeout:
/// hyper's header timer starts only once it has told HTTP/1 from HTTP/2,
/// which needs that byte, so without this an idle connection stays open.
#[derive(Clone, Copy)]
struct FirstByte(Duration);

impl<S: Send + 'static> axum_server::accept::Accept<tokio::net::TcpStream, S> for FirstByte {
    type Stream = tokio::net::TcpStream;
    type Service = S;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = std::io::Result<(tokio::net::TcpStream, S)>> + Send>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let within = self.0;
        Box::pin(async move {
            // `peek` waits for a byte that really arrived (readiness
            // alone can be reported early) and leaves it for hyper.
            let mut first = [0u8; 1];
            match tokio::time::timeout(within, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Ok((stream, service)),
                Ok(Ok(_)) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the client closed at once",
                )),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client sent nothing",
                )),
            }
        })
    }
}

/// A slow or idle client is cut off: the headers of each request must
/// arrive within `header_timeout`.
fn timeouts(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    // HTTP/1.1 only (TLS offers only `http/1.1` by ALPN): without version
    // sniffing, the header timer runs from the first moment, so a
    // connection that never sends a byte is cut off too.
    *builder = builder.clone().http1_only();
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
}

/// Serve plain HTTP until `shutdown` resolves (see [`serve_with`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, Transport::Plain, state, shutdown).await
}

/// Serve until `shutdown` resolves, closing expired requests, sending
/// webhooks and mail, and reconciling in the background.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    transport: Transport,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    {
        let metrics = state.metrics.clone();
        state
            .ledger
            .observe_batches(Box::new(move |n| metrics.batch(n)));
    }
    let leader = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.lease / 3);
            loop {
                tick.tick().await;
                leads(&state).await;
            }
        })
    };
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.expiry_sweep);
            loop {
                tick.tick().await;
                if !leads(&state).await {
                    continue;
                }
                state.metrics.scheduled_run("sweep");
                match state.run_internal(|l, now| l.expire_due(now)).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(count = ids.len(), "expired pending requests")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.problem.detail, "expiry sweep failed"),
                }
                match state.run_internal(|l, now| l.remind_due(now)).await {
                    Ok(n) if n > 0 => tracing::info!(count = n, "queued reminders"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.problem.detail, "reminders failed"),
                }
                if let Err(e) = state.run_internal(|l, now| l.purge_expired(now)).await {
                    tracing::warn!(error = %e.problem.detail, "purging expired sessions failed");
                }
            }
        })
    };
    let sender = tokio::spawn(deliver::run(state.clone()));
    let mailer = tokio::spawn(mail::run(state.clone()));
    let reconciler = state.config.reconcile_every.map(|every| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // The first tick fires at once; start one period after boot.
            tick.tick().await;
            loop {
                tick.tick().await;
                if !leads(&state).await {
                    continue;
                }
                state.metrics.scheduled_run("reconcile");
                match state.run_internal(|l, now| l.reconcile(now)).await {
                    Ok(r) => tracing::info!(
                        raised = r.raised.len(),
                        reopened = r.reopened.len(),
                        updated = r.updated.len(),
                        "scheduled reconciliation"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e.problem.detail, "scheduled reconciliation failed")
                    }
                }
            }
        })
    });
    let public = state.web.public_url.clone();
    let header_timeout = state.config.header_read_timeout;
    let after = state.clone();
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let handle = axum_server::Handle::new();
    let stopper = {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
        })
    };
    let std_listener = listener.into_std()?;
    let result = match transport {
        Transport::Plain => {
            let mut server = axum_server::from_tcp(std_listener)
                .acceptor(FirstByte(header_timeout))
                .handle(handle);
            timeouts(server.http_builder(), header_timeout);
            server.serve(app).await
        }
        Transport::Tls { config, redirect } => {
            let redirector = redirect.map(|l| {
                let app = tls::redirect_router(public.clone());
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::warn!(error = %e, "the http redirect listener stopped");
                    }
                })
            });
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(config);
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .acceptor(FirstByte(header_timeout));
            let mut server = axum_server::from_tcp(std_listener)
                .acceptor(acceptor)
                .handle(handle);
            timeouts(server.http_builder(), header_timeout);
            let r = server.serve(app).await;
            if let Some(r) = redirector {
                r.abort();
            }
            r
        }
    };
    stopper.abort();
    leader.abort();
    sweeper.abort();
    sender.abort();
    mailer.abort();
    if let Some(r) = reconciler {
        r.abort();
    }
    // Stopping on purpose: another instance need not wait for the lease
    // to run out before it takes the scheduled tasks over.
    let instance = after.config.instance.clone();
    if let Err(e) = after
        .run_internal(move |l, _| l.release_lease(countersign_ledger::LEADER, &instance))
        .await
    {
        tracing::warn!(error = %e.problem.detail, "giving up the leader lease failed");
    }
    after.metrics.set_leader(false);
    result
}

/// Take or renew the leader lease: whether this instance runs the
/// scheduled tasks now. Asked again before every task, so a task never
/// starts on an instance whose lease has run out.
async fn leads(state: &AppState) -> bool {
    let instance = state.config.instance.clone();
    let ttl = state.config.lease;
    let held = state
        .run_internal(move |l, now| l.take_lease(countersign_ledger::LEADER, &instance, ttl, now))
        .await;
    let leads = match held {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e.problem.detail, "renewing the leader lease failed");
            false
        }
    };
    if state.metrics.set_leader(leads) != leads {
        tracing::info!(instance = %state.config.instance, leads, "leader of the scheduled tasks");
    }
    leads
}
