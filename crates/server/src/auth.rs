//! Who is calling, and what they may do.
//!
//! A bearer token is one of three things, told apart by its shape:
//! - the bootstrap admin token printed once by `countersign init`
//!   (known only by its hash);
//! - a scoped API token (`cs_…`) issued by an admin, stored only as a hash,
//!   carrying roles and optionally bound to an identity;
//! - an OIDC ID token (a JWT) from a configured caller issuer, mapped to an
//!   identity by its email or subject; its `acr`/`amr` give the caller's
//!   AAL and its `auth_time` the freshness that step-up policies check.
//!
//! Handlers take a [`Caller`] and state the roles they admit with
//! [`Caller::require`]: no credentials gets 401, the wrong role 403.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use countersign_domain::policy::Authentication;
use countersign_ledger::Ledger;
use countersign_oidc::{Purpose, TokenVerifier};
use countersign_proto::governance::Role;
use countersign_proto::model::{Identity, IdentityStatus};
use countersign_proto::ErrorCode;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::limit::{Limiter, Rate};
use crate::{ApiError, AppState};

/// Roles that write the identity directory.
pub const DIRECTORY_WRITE: &[Role] = &[Role::Admin, Role::Integration];
/// Roles that read the directory, documents and requests.
pub const READ: &[Role] = &[
    Role::Admin,
    Role::Integration,
    Role::Auditor,
    Role::Requester,
    Role::Approver,
];
/// Roles that register documents and create or withdraw requests.
pub const REQUEST_WRITE: &[Role] = &[Role::Admin, Role::Requester, Role::Integration];
/// Roles that submit signatures.
pub const SIGN: &[Role] = &[Role::Admin, Role::Approver, Role::Integration];
/// Roles that export evidence.
pub const EVIDENCE: &[Role] = &[Role::Admin, Role::Auditor, Role::Requester, Role::Approver];
/// Roles that manage delegations and exceptions.
pub const GOVERN: &[Role] = &[Role::Admin, Role::Approver];
/// Roles that read governance state (delegations, exceptions, policy).
pub const GOVERN_READ: &[Role] = &[Role::Admin, Role::Approver, Role::Auditor];
/// Roles that read log entries: they are the whole history, so auditors
/// and admins; the checkpoint, receipts and proofs stay public.
pub const LOG_READ: &[Role] = &[Role::Admin, Role::Auditor];
/// Roles that see every row: every request, document, delegation,
/// exception and person (the web app's viewers and API callers alike).
pub const SEES_ALL: &[Role] = &[
    Role::Admin,
    Role::Auditor,
    Role::Compliance,
    Role::Integration,
];
/// Administration only.
pub const ADMIN: &[Role] = &[Role::Admin];
/// Roles that place and release legal holds.
pub const HOLDS: &[Role] = &[Role::Admin, Role::Compliance];
/// Roles that read legal holds.
pub const HOLDS_READ: &[Role] = &[Role::Admin, Role::Compliance, Role::Auditor];
/// Identity providers provisioning over SCIM.
pub const SCIM: &[Role] = &[Role::Admin, Role::Scim];
/// Roles that report entitlement changes and run reconciliation.
pub const CHANGES_WRITE: &[Role] = &[Role::Admin, Role::Integration];
/// Roles that read entitlement changes and control exceptions.
pub const CONTROLS_READ: &[Role] = &[
    Role::Admin,
    Role::Auditor,
    Role::Compliance,
    Role::Integration,
];
/// Roles that run a full reconciliation.
pub const RECONCILE: &[Role] = &[Role::Admin, Role::Integration, Role::Compliance];
/// Roles that work control exceptions.
pub const CONTROLS_WRITE: &[Role] = &[Role::Admin, Role::Compliance];

/// Roles a workload authenticated by its own OIDC token holds.
const WORKLOAD_ROLES: &[Role] = &[Role::Approver];

/// Lowercase hex SHA-256 of a token: what the server stores instead of it.
/// Tokens are 256-bit random values, so a fast hash is enough: there is
/// nothing to brute-force that a slow hash would protect.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller of one API call.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub roles: BTreeSet<Role>,
    /// The identity the caller acts as, when bound to one.
    pub identity: Option<String>,
    /// What the ledger and policy learn about the authentication.
    pub auth: Authentication,
    /// For logs and `created_by`: `bootstrap`, `token:<id>`, `oidc:<iss>`.
    pub label: String,
    /// The client's address, when the listener knows it.
    pub address: Option<std::net::IpAddr>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// Admit the caller if they hold any of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.roles.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this call needs a bearer token (Authorization: Bearer <token>)",
            ));
        }
        if roles.iter().any(|r| self.has(*r)) {
            Ok(())
        } else {
            let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this call needs one of the roles {}; the caller has {}",
                    wanted.join(", "),
                    self.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    /// Admit the caller if they hold any of `roles`, or act as `handle`
    /// themselves (people enrol their own keys and passkeys).
    pub fn require_self_or(&self, handle: &str, roles: &[Role]) -> Result<(), ApiError> {
        if !self.roles.is_empty() && self.identity.as_deref() == Some(handle) {
            return Ok(());
        }
        self.require(roles)
    }

    /// Who the caller is, for records of who did something: their
    /// identity's handle when bound to one, else the token label.
    pub fn actor_label(&self) -> String {
        self.identity.clone().unwrap_or_else(|| self.label.clone())
    }

    /// The identity a caller is confined to: set for callers bound to an
    /// identity unless they also hold a role that acts for others (admin,
    /// integration).
    pub fn confined_to(&self) -> Option<&str> {
        if self.has(Role::Admin) || self.has(Role::Integration) {
            None
        } else {
            self.identity.as_deref()
        }
    }

    /// The keys this caller's refused signatures are charged to.
    pub fn refusal_keys(&self) -> Vec<String> {
        let mut keys = vec![format!("caller:{}", self.label)];
        if let Some(a) = self.address {
            keys.push(format!("addr:{a}"));
        }
        keys
    }

    /// Refuse a caller whose refused signatures are over budget (429),
    /// before any work.
    pub(crate) fn check_refusals(&self, limits: &Limits) -> Result<(), ApiError> {
        match limits
            .refusals
            .blocked(&self.refusal_keys(), Instant::now())
        {
            Some(wait) => Err(too_many(wait, "refused signatures")),
            None => Ok(()),
        }
    }

    /// Charge a refused signature to this caller and address.
    pub(crate) fn charge_refusal<T>(&self, limits: &Limits, r: &Result<T, ApiError>) {
        if let Err(e) = r {
            let status = e.problem.status;
            if (400..500).contains(&status) && e.problem.code != ErrorCode::RateLimited {
                limits.refusals.fail(&self.refusal_keys(), Instant::now());
            }
        }
    }

    /// Whose rows the caller reads: everything for admins, auditors,
    /// compliance and integrations; otherwise what their identity is a
    /// party to (nothing for a token bound to no identity).
    pub fn scope(&self) -> countersign_ledger::Scope {
        use countersign_ledger::Scope;
        if [
            Role::Admin,
            Role::Auditor,
            Role::Compliance,
            Role::Integration,
        ]
        .iter()
        .any(|r| self.has(*r))
        {
            return Scope::All;
        }
        match &self.identity {
            Some(me) => Scope::Party(me.clone()),
            None => Scope::Nothing,
        }
    }

    /// Who registers a document version the caller uploads.
    pub fn registrant(&self) -> countersign_ledger::Registrant {
        countersign_ledger::Registrant {
            identity: self.identity.clone(),
            admin: self.is_admin(),
        }
    }

    /// `None` for an admin not bound to an identity (who acts as the
    /// administration), otherwise the identity the caller acts as, which
    /// must exist.
    pub fn identity_unless_admin(&self) -> Result<Option<&str>, ApiError> {
        if self.identity.is_none() && self.is_admin() {
            Ok(None)
        } else {
            self.bound_identity().map(Some)
        }
    }

    /// The identity the caller acts as, required for calls that must be
    /// attributable to a person or workload.
    pub fn bound_identity(&self) -> Result<&str, ApiError> {
        self.identity.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::IdentityRequired,
                "this call must be made as an identity: use an OIDC token or an API token bound to an identity",
            )
        })
    }
}

/// Verifies bearer tokens.
#[derive(Default)]
pub struct Authenticator {
    /// Hash of the bootstrap admin token.
    pub bootstrap_sha256: Option<String>,
    /// OIDC issuers whose ID tokens authenticate people.
    pub oidc: Option<Arc<TokenVerifier>>,
    /// Rate limits on failed authentication and refused signatures.
    pub limits: Limits,
}

/// The failure budgets: failed authentication per presented token and per
/// address; refused signatures per caller and per address.
pub struct Limits {
    pub auth: Limiter,
    pub refusals: Limiter,
}

impl Limits {
    pub fn new(auth: Rate, refusals: Rate) -> Self {
        Limits {
            auth: Limiter::new(auth),
            refusals: Limiter::new(refusals),
        }
    }
}

impl Default for Limits {
    /// 20 failed authentications in a burst, then one every 3 seconds;
    /// 30 refused signatures in a burst, then one every 2 seconds.
    fn default() -> Self {
        Limits::new(
            Rate {
                burst: 20,
                per_minute: 20,
            },
            Rate {
                burst: 30,
                per_minute: 30,
            },
        )
    }
}

/// Who may call a route: the one table the router, the authorisation
/// matrix test and README's table are made from.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// A caller holding one of these roles.
    Roles(&'static [Role]),
    /// A caller holding one of these roles, or the identity the route's
    /// `{handle}` names (people enrol their own keys and passkeys).
    SelfOr(&'static [Role]),
}

impl Access {
    /// The words README's table uses.
    pub fn describe(&self) -> String {
        let names = |roles: &[Role]| {
            roles
                .iter()
                .map(|r| format!("`{}`", r.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Access::Public => "anyone".into(),
            Access::Roles(r) => names(r),
            Access::SelfOr(r) => format!("{}, or the identity itself", names(r)),
        }
    }
}

/// What a route's gate knows: the route's access and whether it answers
/// SCIM errors rather than problem documents.
#[derive(Clone)]
pub(crate) struct Gate {
    pub state: AppState,
    pub access: Access,
    pub scim: bool,
}

/// The key a request's failures are charged to by its address.
fn address_key(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| format!("addr:{}", addr.ip()))
}

/// The key a presented token's failures are charged to.
fn token_key(token: &str) -> String {
    format!("token:{}", &token_hash(token)[..32])
}

/// 429 with `Retry-After`.
pub(crate) fn too_many(wait: std::time::Duration, what: &str) -> ApiError {
    let secs = crate::limit::retry_after_secs(wait);
    let mut e = ApiError::new(
        ErrorCode::RateLimited,
        format!("too many {what} from this caller or address; try again in {secs} s"),
    );
    e.retry_after = Some(secs);
    e
}

/// Authenticate and authorise a route's caller before its body is read:
/// no token is 401 and the wrong role 403 without reading a byte of the
/// body; failed authentication is charged to the address and the token,
/// and a caller over budget gets 429 before any work. The caller is left
/// in the request's extensions for the handler.
/// What the gate learnt about a request, left on its answer for the
/// request log: the route's template and the caller, once known.
#[derive(Clone, Debug, Default)]
pub struct Routed {
    pub route: String,
    pub caller: Option<String>,
}

pub(crate) async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let mut routed = Routed {
        route,
        caller: None,
    };
    let mut response = gate_inner(gate, req, next, &mut routed).await;
    response.extensions_mut().insert(routed);
    response
}

async fn gate_inner(gate: Gate, req: Request, next: Next, routed: &mut Routed) -> Response {
    let (state, access) = (&gate.state, gate.access);
    if matches!(access, Access::Public) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let scim = gate.scim;
    // Refused before its body was read: the connection is not reused, so
    // an unread body cannot be taken for the next request.
    let refuse = |e: ApiError| {
        let mut r = if scim {
            crate::routes::scim::failure(e)
        } else {
            e.into_response()
        };
        r.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        r
    };
    let token = match bearer(&parts) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return refuse(ApiError::new(
                ErrorCode::Unauthenticated,
                "this call needs a bearer token (Authorization: Bearer <token>)",
            ))
        }
        Err(e) => return refuse(e),
    };
    let limits = &state.auth.limits;
    let by_token = [token_key(&token)];
    let keys: Vec<String> = by_token
        .iter()
        .cloned()
        .chain(address_key(&parts))
        .collect();
    // A token that keeps failing is refused before any work. An address
    // over its budget is not locked out: a caller there whose token is
    // valid gets in (others behind the same address, a proxy or a NAT,
    // must not be shut out by one attacker), and a failure from it is
    // answered 429 instead of 401.
    if let Some(wait) = limits.auth.blocked(&by_token, Instant::now()) {
        return refuse(too_many(wait, "failed authentications"));
    }
    let caller = match authenticate_blocking(state, token).await {
        Ok(c) => c,
        Err(e) => {
            let failed = matches!(
                e.problem.code,
                ErrorCode::Unauthenticated
                    | ErrorCode::TokenInvalid
                    | ErrorCode::IdentityUnmapped
                    | ErrorCode::ActorNotActive
            );
            if failed {
                let now = Instant::now();
                let over = limits.auth.blocked(&keys, now);
                limits.auth.fail(&keys, now);
                if let Some(wait) = over {
                    return refuse(too_many(wait, "failed authentications"));
                }
            }
            return refuse(e);
        }
    };
    let allowed = match access {
        Access::Public => Ok(()),
        Access::Roles(roles) => caller.require(roles),
        Access::SelfOr(roles) => {
            let handle = match RawPathParams::from_request_parts(&mut parts, state).await {
                Ok(p) => p
                    .iter()
                    .find(|(k, _)| *k == "handle")
                    .map(|(_, v)| v.to_string()),
                Err(_) => None,
            };
            match handle {
                Some(h) => caller.require_self_or(&h, roles),
                None => caller.require(roles),
            }
        }
    };
    if let Err(e) = allowed {
        return refuse(e);
    }
    let mut caller = caller;
    caller.address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    routed.caller = Some(caller.label.clone());
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// The bearer token of a request: `None` without an `Authorization` header.
fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "Authorization must be `Bearer <token>`",
            )
        })
}

async fn authenticate_blocking(state: &AppState, token: String) -> Result<Caller, ApiError> {
    let ledger = state.ledger.clone();
    let auth = state.auth.clone();
    let now = state.clock.now();
    match tokio::task::spawn_blocking(move || auth.authenticate(&ledger, &token, now)).await {
        Ok(r) => r,
        Err(e) => Err(ApiError::internal(format!(
            "authentication task failed: {e}"
        ))),
    }
}

impl Authenticator {
    /// Authenticate one bearer token (blocking: reads the store).
    pub fn authenticate(
        &self,
        ledger: &Ledger,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Caller, ApiError> {
        let hash = token_hash(token);
        if self.bootstrap_sha256.as_deref() == Some(hash.as_str()) {
            return Ok(Caller {
                roles: BTreeSet::from([Role::Admin]),
                identity: None,
                auth: Authentication {
                    method: Some("bootstrap".into()),
                    ..Authentication::default()
                },
                label: "bootstrap".into(),
                address: None,
            });
        }
        if token.starts_with("cs_") {
            let t = ledger.token_for_secret(&hash, now)?.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "the bearer token is not valid, has expired or was revoked",
                )
            })?;
            if let Some(h) = &t.identity {
                let identity = ledger.store().read()?.identity(h)?;
                active(
                    identity,
                    &format!("the caller's identity {h:?} no longer exists"),
                )?;
            }
            return Ok(Caller {
                roles: t.roles.iter().copied().collect(),
                identity: t.identity.clone(),
                auth: Authentication {
                    identity: t.identity.clone(),
                    aal: None,
                    auth_time: None,
                    method: Some(format!("token:{}", t.id)),
                },
                label: format!("token:{}", t.id),
                address: None,
            });
        }
        let Some(oidc) = &self.oidc else {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "the bearer token is not valid",
            ));
        };
        // A workload's token authenticates it as its workload identity, so
        // a CI job can submit what it signed with its certificate.
        let purpose = oidc.purpose_of(token).unwrap_or(Purpose::Caller);
        let verified = oidc
            .verify_current(token, purpose, now)
            .map_err(|e| ApiError::new(ErrorCode::TokenInvalid, format!("OIDC token: {e}")))?;
        let store = ledger.store().read()?;
        let identity = if purpose == Purpose::Caller && verified.identity.contains('@') {
            countersign_ledger::identity_for_email(&*store, &verified.identity)?
        } else {
            store.identity(&verified.identity)?
        };
        drop(store);
        let identity = active(
            identity,
            &format!(
                "the token from {} names {:?}, which matches no identity",
                verified.issuer, verified.identity
            ),
        )?;
        // A person holds requester and approver, plus the governance roles
        // an administrator gave their identity (as in the web app).
        let roles: BTreeSet<Role> = if purpose == Purpose::Workload {
            WORKLOAD_ROLES.iter().copied().collect()
        } else {
            crate::web::session::person_roles(&identity)
        };
        let method = format!("oidc:{}", verified.issuer);
        Ok(Caller {
            roles,
            identity: Some(identity.handle.clone()),
            auth: Authentication {
                identity: Some(identity.handle.clone()),
                aal: Some(verified.aal),
                auth_time: verified.auth_time,
                method: Some(method.clone()),
            },
            label: method,
            address: None,
        })
    }
}

/// The caller's identity, which must exist (else `missing` says why) and
/// be active.
fn active(identity: Option<Identity>, missing: &str) -> Result<Identity, ApiError> {
    match identity {
        Some(i) if i.status == IdentityStatus::Active => Ok(i),
        Some(i) => Err(ApiError::new(
            ErrorCode::ActorNotActive,
            format!("{} is {}", i.handle, i.status.as_str()),
        )),
        None => Err(ApiError::new(ErrorCode::IdentityUnmapped, missing)),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The route's gate authenticated the caller already.
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        match bearer(parts)? {
            Some(token) => authenticate_blocking(state, token).await,
            None => Ok(Caller::default()),
        }
    }
}

impl From<countersign_ledger::StoreError> for ApiError {
    fn from(e: countersign_ledger::StoreError) -> Self {
        ApiError::internal(e)
    }
}
