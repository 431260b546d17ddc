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
mod mail;
mod routes;
pub mod tls;
pub mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use countersign_store::Ledger;
use time::OffsetDateTime;

pub use deliver::WebhookSettings;
pub use error::ApiError;
pub use routes::governance::reload as reload_policy;
pub use routes::openapi::{document as openapi_document, ApiDoc};
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_json_bytes: 1024 * 1024,
            expiry_sweep: Duration::from_secs(15),
            policy_dir: None,
            webhooks: WebhookSettings::default(),
            reconcile_every: Some(Duration::from_secs(3600)),
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
}

impl AppState {
    /// Run a ledger operation on a blocking thread with the current time.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger, OffsetDateTime) -> Result<T, countersign_store::LedgerError>
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
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.expiry_sweep);
            loop {
                tick.tick().await;
                match state.run(|l, now| l.expire_due(now)).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(count = ids.len(), "expired pending requests")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.problem.detail, "expiry sweep failed"),
                }
                match state.run(|l, now| l.remind_due(now)).await {
                    Ok(n) if n > 0 => tracing::info!(count = n, "queued reminders"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.problem.detail, "reminders failed"),
                }
                if let Err(e) = state.run(|l, now| l.purge_expired(now)).await {
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
                match state.run(|l, now| l.reconcile(now)).await {
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
    let app = router(state);
    let result = match transport {
        Transport::Plain => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Transport::Tls { config, redirect } => {
            let handle = axum_server::Handle::new();
            let redirector = redirect.map(|l| {
                let app = tls::redirect_router(public.clone());
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::warn!(error = %e, "the http redirect listener stopped");
                    }
                })
            });
            let stopper = {
                let handle = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    handle.graceful_shutdown(Some(Duration::from_secs(10)));
                })
            };
            let std_listener = listener.into_std()?;
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(config);
            let r = axum_server::from_tcp_rustls(std_listener, tls)
                .handle(handle)
                .serve(app.into_make_service())
                .await;
            stopper.abort();
            if let Some(r) = redirector {
                r.abort();
            }
            r
        }
    };
    sweeper.abort();
    sender.abort();
    mailer.abort();
    if let Some(r) = reconciler {
        r.abort();
    }
    result
}
