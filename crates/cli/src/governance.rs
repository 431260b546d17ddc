//! Governance commands: API tokens, delegations, policy exceptions, the
//! policy set and workload certificates.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Subcommand;
use countersign_attest::keys::{public_key_to_base64, signing_key_to_pem};
use countersign_policy::PolicySet;
use countersign_proto::api::*;
use countersign_proto::governance::*;
use countersign_proto::model::{EventKind, Impact};
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::Method;
use sha2::{Digest as _, Sha256};

use crate::client::{seg, Client};
use crate::local::DataDir;
use crate::{parse_duration, parse_time, print, ts, Wire};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Issue a token; its secret is printed once.
    Issue {
        #[arg(long)]
        name: String,
        /// A role: admin, requester, approver, auditor, integration (repeatable).
        #[arg(long = "role", required = true, value_parser = Wire::<Role>::new())]
        roles: Vec<Role>,
        /// Bind the token to an identity, which it then acts as.
        #[arg(long)]
        identity: Option<String>,
        /// Lifetime such as 30m, 24h or 90d [default: 90d].
        #[arg(long)]
        expires_in: Option<String>,
    },
    List,
    Revoke {
        id: String,
    },
    /// On the server's machine, with the server stopped: replace a lost
    /// bootstrap admin token (local, reads --data; logged). The new one is
    /// written to DATA/admin-token, readable only by you.
    Recover,
}

#[derive(Subcommand)]
pub enum DelegationCmd {
    /// Let DELEGATE sign on your behalf (or, as admin, on --principal's).
    Grant {
        #[arg(long)]
        delegate: String,
        #[arg(long)]
        principal: Option<String>,
        /// Event kind covered (repeatable; default every kind).
        #[arg(long = "event", value_parser = Wire::<EventKind>::new())]
        events: Vec<EventKind>,
        #[arg(long, value_parser = Wire::<Impact>::new())]
        max_impact: Impact,
        /// Only this request (repeatable).
        #[arg(long = "request")]
        requests: Vec<String>,
        /// RFC 3339 start [default: now].
        #[arg(long)]
        not_before: Option<String>,
        /// RFC 3339 end.
        #[arg(long, conflicts_with = "duration")]
        not_after: Option<String>,
        /// Length such as 8h or 14d.
        #[arg(long)]
        duration: Option<String>,
        #[arg(long)]
        reason: String,
    },
    List {
        #[arg(long)]
        identity: Option<String>,
        /// Only delegations in force now.
        #[arg(long)]
        active: bool,
    },
    Show {
        id: String,
    },
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ExceptionCmd {
    /// Ask for a one-time exception after policy refused your signature.
    Request {
        request: String,
        #[arg(long)]
        justification: String,
        /// The identity to let through (admins only; default yourself).
        #[arg(long)]
        actor: Option<String>,
    },
    List {
        #[arg(long)]
        request: Option<String>,
    },
    Show {
        id: String,
    },
    /// Approve (as an identity holding the exception_approver role).
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// How long the approval may wait to be used, e.g. 30m.
        #[arg(long)]
        valid_for: Option<String>,
    },
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Parse and validate a policy directory against its schema.
    Validate {
        /// Policy directory [default: DATA/policy].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show the policies, their ids and the set's digest.
    Show {
        /// Policy directory [default: DATA/policy].
        #[arg(long, conflicts_with = "remote")]
        dir: Option<PathBuf>,
        /// Show the set in force on the server instead.
        #[arg(long)]
        remote: bool,
    },
    /// Run a file of policy test cases (TOML) against a policy directory.
    Test {
        cases: PathBuf,
        /// Policy directory [default: DATA/policy].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Make the server re-read its policy directory (logged when it changed).
    Reload,
}

#[derive(Subcommand)]
pub enum WorkloadCmd {
    /// Exchange an OIDC token for a short-lived certificate on a fresh key.
    Login {
        /// The workload's OIDC token.
        #[arg(
            long,
            env = "COUNTERSIGN_WORKLOAD_TOKEN",
            hide_env_values = true,
            conflicts_with = "token_file"
        )]
        oidc_token: Option<String>,
        /// A file holding the workload's OIDC token.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Directory for key.pem, cert.pem, ca.pem (created, mode 0700).
        #[arg(long)]
        out: PathBuf,
    },
}

/// A stand-in identity provider for trying Countersign without one: an
/// Ed25519 key, its JWKS, and tokens minted with it. Not for production.
#[derive(Subcommand)]
pub enum DevIdpCmd {
    /// Print the JWKS (with key id `kid`) of a key from `countersign keygen`.
    Jwks {
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "dev-1")]
        kid: String,
    },
    /// Mint an EdDSA JWT: iss, aud, sub, iat, exp (now + --ttl) and any --claim.
    Mint {
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "dev-1")]
        kid: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
        #[arg(long)]
        subject: String,
        /// Lifetime, e.g. 5m.
        #[arg(long, default_value = "5m")]
        ttl: String,
        /// An extra claim NAME=VALUE (JSON value, or a string); repeatable.
        #[arg(long = "claim")]
        claims: Vec<String>,
    },
}

pub fn dev_idp(cmd: DevIdpCmd) -> Result<bool> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    match cmd {
        DevIdpCmd::Jwks { key, kid } => {
            let sk = crate::read_key(&key)?;
            let jwks = serde_json::json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes()),
            }]});
            outln!("{}", serde_json::to_string_pretty(&jwks)?);
            Ok(true)
        }
        DevIdpCmd::Mint {
            key,
            kid,
            issuer,
            audience,
            subject,
            ttl,
            claims,
        } => {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            let sk = crate::read_key(&key)?;
            let now = crate::now().unix_timestamp();
            let ttl = i64::try_from(parse_duration(&ttl)?).unwrap_or(i64::MAX);
            let mut body = serde_json::json!({
                "iss": issuer, "aud": audience, "sub": subject,
                "iat": now, "exp": now.saturating_add(ttl),
            });
            for c in claims {
                let Some((name, value)) = c.split_once('=') else {
                    bail!("--claim {c:?} must look like NAME=VALUE");
                };
                let value = match value {
                    "now" => serde_json::json!(now),
                    v => serde_json::from_str(v).unwrap_or_else(|_| serde_json::json!(v)),
                };
                body[name] = value;
            }
            let der = sk.to_pkcs8_der().context("encoding the key")?;
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            header.kid = Some(kid);
            let token = jsonwebtoken::encode(
                &header,
                &body,
                &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
            )
            .context("signing the token")?;
            outln!("{token}");
            Ok(true)
        }
    }
}

fn seconds(s: &str) -> Result<u64> {
    parse_duration(s)
}

pub fn token(c: &Client, json: bool, cmd: TokenCmd) -> Result<bool> {
    match cmd {
        TokenCmd::Issue {
            name,
            roles,
            identity,
            expires_in,
        } => {
            let body = IssueToken {
                name,
                roles,
                identity,
                expires_in_seconds: expires_in.as_deref().map(seconds).transpose()?,
            };
            let t: IssuedToken = c.send_json(Method::POST, "/v1/tokens", &body)?;
            print(json, &t, |t| {
                format!(
                    "issued {} ({}) roles {} expires {}\nsecret (shown once, stored only as a hash):\n\n    {}",
                    t.token.id,
                    t.token.name,
                    roles_text(&t.token.roles),
                    ts(t.token.expires_at),
                    t.secret
                )
            })
        }
        TokenCmd::List => {
            let l: TokenList = c.get("/v1/tokens")?;
            print(json, &l, |l| {
                l.tokens
                    .iter()
                    .map(|t| {
                        format!(
                            "{}  {:<20} {:<28} {}  {}",
                            t.id,
                            t.name,
                            roles_text(&t.roles),
                            t.identity.as_deref().unwrap_or("-"),
                            match t.revoked_at {
                                Some(r) => format!("revoked {}", ts(r)),
                                None => format!("expires {}", ts(t.expires_at)),
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        // Local, handled by `main` before a client exists.
        TokenCmd::Recover => bail!("`token recover` runs on the server's machine, with --data"),
        TokenCmd::Revoke { id } => {
            let t: ApiToken = c.send_json(
                Method::POST,
                &format!("/v1/tokens/{}/revoke", seg(&id)),
                &serde_json::json!({}),
            )?;
            print(json, &t, |t| format!("revoked {} ({})", t.id, t.name))
        }
    }
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn delegation_line(d: &Delegation) -> String {
    let kinds = if d.scope.event_kinds.is_empty() {
        "any event".to_string()
    } else {
        d.scope
            .event_kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut s = format!(
        "{}  {} -> {}  {} up to {} impact, {} .. {}",
        d.id,
        d.principal,
        d.delegate,
        kinds,
        d.scope.max_impact.as_str(),
        ts(d.not_before),
        ts(d.not_after)
    );
    if !d.scope.requests.is_empty() {
        s.push_str(&format!(" requests {}", d.scope.requests.join(",")));
    }
    if let Some(e) = d.ended_at {
        s.push_str(&format!(
            "  ENDED {} ({})",
            ts(e),
            d.end_reason.as_deref().unwrap_or("")
        ));
    }
    s
}

pub fn delegation(c: &Client, json: bool, cmd: DelegationCmd) -> Result<bool> {
    match cmd {
        DelegationCmd::Grant {
            delegate,
            principal,
            events,
            max_impact,
            requests,
            not_before,
            not_after,
            duration,
            reason,
        } => {
            if not_after.is_none() && duration.is_none() {
                bail!("a delegation needs an end: give --not-after or --duration");
            }
            let body = GrantDelegation {
                principal,
                delegate,
                scope: DelegationScope {
                    event_kinds: events,
                    max_impact,
                    requests,
                },
                not_before: not_before
                    .as_deref()
                    .map(|s| parse_time("--not-before", s))
                    .transpose()?,
                not_after: not_after
                    .as_deref()
                    .map(|s| parse_time("--not-after", s))
                    .transpose()?,
                duration_seconds: duration.as_deref().map(seconds).transpose()?,
                reason,
            };
            let d: Delegation = c.send_json(Method::POST, "/v1/delegations", &body)?;
            print(json, &d, |d| format!("granted {}", delegation_line(d)))
        }
        DelegationCmd::List { identity, active } => {
            let mut q = Vec::new();
            if let Some(i) = identity {
                q.push(format!("identity={}", seg(&i)));
            }
            if active {
                q.push("active=true".to_string());
            }
            let path = if q.is_empty() {
                "/v1/delegations".to_string()
            } else {
                format!("/v1/delegations?{}", q.join("&"))
            };
            let l: DelegationList = c.get(&path)?;
            print(json, &l, |l| {
                l.delegations
                    .iter()
                    .map(delegation_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        DelegationCmd::Show { id } => {
            let d: Delegation = c.get(&format!("/v1/delegations/{}", seg(&id)))?;
            print(json, &d, |d| {
                format!(
                    "{}\n  reason: {}\n  granted by {} at {} (log index {})",
                    delegation_line(d),
                    d.reason,
                    d.granted_by,
                    ts(d.granted_at),
                    d.log_index
                )
            })
        }
        DelegationCmd::Revoke { id, reason } => {
            let d: Delegation = c.send_json(
                Method::POST,
                &format!("/v1/delegations/{}/revoke", seg(&id)),
                &EndDelegation { reason },
            )?;
            print(json, &d, |d| format!("revoked {}", delegation_line(d)))
        }
    }
}

fn exception_text(e: &PolicyException) -> String {
    let mut s = format!(
        "{}  {}  {} on {}  (refused by {} at log index {})\n  justification: {}",
        e.id,
        e.state.as_str(),
        e.actor,
        e.request,
        if e.refused_by.is_empty() {
            "default deny".to_string()
        } else {
            e.refused_by.join(", ")
        },
        e.refusal_index,
        e.justification
    );
    if let (Some(by), Some(at)) = (&e.decided_by, e.decided_at) {
        s.push_str(&format!("\n  decided by {by} at {}", ts(at)));
        if let Some(r) = &e.decision_reason {
            s.push_str(&format!(": {r}"));
        }
    }
    if let Some(x) = e.expires_at {
        s.push_str(&format!("\n  usable until {}", ts(x)));
    }
    if let Some(i) = e.used_by {
        s.push_str(&format!("\n  used by the signature at log index {i}"));
    }
    s
}

pub fn exception(c: &Client, json: bool, cmd: ExceptionCmd) -> Result<bool> {
    match cmd {
        ExceptionCmd::Request {
            request,
            justification,
            actor,
        } => {
            let e: PolicyException = c.send_json(
                Method::POST,
                "/v1/exceptions",
                &RequestException {
                    request,
                    actor,
                    justification,
                },
            )?;
            print(json, &e, exception_text)
        }
        ExceptionCmd::List { request } => {
            let path = match request {
                Some(r) => format!("/v1/exceptions?request={}", seg(&r)),
                None => "/v1/exceptions".to_string(),
            };
            let l: ExceptionList = c.get(&path)?;
            print(json, &l, |l| {
                l.exceptions
                    .iter()
                    .map(exception_text)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ExceptionCmd::Show { id } => {
            let e: PolicyException = c.get(&format!("/v1/exceptions/{}", seg(&id)))?;
            print(json, &e, exception_text)
        }
        ExceptionCmd::Approve {
            id,
            reason,
            valid_for,
        } => {
            let e: PolicyException = c.send_json(
                Method::POST,
                &format!("/v1/exceptions/{}/approve", seg(&id)),
                &DecideException {
                    reason,
                    valid_for_seconds: valid_for.as_deref().map(seconds).transpose()?,
                },
            )?;
            print(json, &e, exception_text)
        }
        ExceptionCmd::Deny { id, reason } => {
            let e: PolicyException = c.send_json(
                Method::POST,
                &format!("/v1/exceptions/{}/deny", seg(&id)),
                &DecideException {
                    reason: Some(reason),
                    valid_for_seconds: None,
                },
            )?;
            print(json, &e, exception_text)
        }
    }
}

fn load_policy(dir: &DataDir, explicit: Option<PathBuf>) -> Result<(PathBuf, PolicySet)> {
    let path = explicit.unwrap_or_else(|| dir.policy_dir());
    let set = PolicySet::load_dir(&path)
        .with_context(|| format!("the policy set in {} is invalid", path.display()))?;
    Ok((path, set))
}

fn policy_text(view: &PolicySetView) -> String {
    let mut s = format!("policy set {}\n", view.policy_set);
    for p in &view.policies {
        s.push_str(&format!(
            "  {:<8} {:<34} {}{}\n",
            p.effect,
            p.id,
            p.file,
            p.reason
                .as_deref()
                .map(|r| format!("  — {r}"))
                .unwrap_or_default()
        ));
    }
    s.trim_end().to_string()
}

pub fn policy(
    dir: &DataDir,
    client: &dyn Fn() -> Result<Client>,
    json: bool,
    cmd: PolicyCmd,
) -> Result<bool> {
    match cmd {
        PolicyCmd::Validate { dir: d } => {
            let (path, set) = load_policy(dir, d)?;
            let v = serde_json::json!({
                "dir": path,
                "policy_set": set.digest(),
                "policies": set.policies().len(),
            });
            print(json, &v, |_| {
                format!(
                    "ok: {} policies in {} validate against the schema\npolicy set {}",
                    set.policies().len(),
                    path.display(),
                    set.digest()
                )
            })
        }
        PolicyCmd::Show { dir: d, remote } => {
            let view = if remote {
                client()?.get::<PolicySetView>("/v1/policy")?
            } else {
                load_policy(dir, d)?.1.view()
            };
            print(json, &view, policy_text)
        }
        PolicyCmd::Test { cases, dir: d } => {
            let (_, set) = load_policy(dir, d)?;
            let src = std::fs::read_to_string(&cases)
                .with_context(|| format!("reading {}", cases.display()))?;
            let report = countersign_policy::cases::run(&set, &src)
                .with_context(|| format!("in {}", cases.display()))?;
            let ok = report.failed() == 0;
            print(json, &report, |r| {
                let mut s = String::new();
                for c in &r.results {
                    s.push_str(&format!(
                        "{} {}: expected {}, got {} by [{}]\n",
                        if c.passed { "pass" } else { "FAIL" },
                        c.name,
                        c.expected.as_str(),
                        c.decision.effect.as_str(),
                        c.decision.policies.join(", ")
                    ));
                }
                s.push_str(&format!("{} passed, {} failed", r.passed(), r.failed()));
                s
            })?;
            Ok(ok)
        }
        PolicyCmd::Reload => {
            let view: PolicySetView =
                client()?.send_json(Method::POST, "/v1/policy/reload", &serde_json::json!({}))?;
            print(json, &view, |v| format!("reloaded: {}", policy_text(v)))
        }
    }
}

pub fn workload(c: &Client, json: bool, cmd: WorkloadCmd) -> Result<bool> {
    match cmd {
        WorkloadCmd::Login {
            oidc_token,
            token_file,
            out,
        } => {
            let token = match (oidc_token, token_file) {
                (Some(t), _) => t,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, None) => {
                    bail!("give the workload's OIDC token with --oidc-token, COUNTERSIGN_WORKLOAD_TOKEN or --token-file")
                }
            };
            let token = token.trim().to_string();
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o700))?;
            }
            let key = SigningKey::generate(&mut rand_core::OsRng);
            let key_id = countersign_attest::key_id(&key.verifying_key());
            let token_sha256 = hex::encode(Sha256::digest(token.as_bytes()));
            let proof = key.sign(&countersign_attest::keys::workload_pop_message(
                &token_sha256,
                &key_id,
            ));
            let body = WorkloadCertificateRequest {
                token,
                public_key: public_key_to_base64(&key.verifying_key()),
                proof: B64.encode(proof.to_bytes()),
            };
            let cert: WorkloadCertificate =
                c.send_json(Method::POST, "/v1/workload/certificates", &body)?;
            let key_path = out.join("key.pem");
            if key_path.exists() {
                std::fs::remove_file(&key_path)
                    .with_context(|| format!("replacing {}", key_path.display()))?;
            }
            crate::local::write_private(&key_path, &signing_key_to_pem(&key)?)?;
            std::fs::write(out.join("cert.pem"), &cert.certificate)?;
            std::fs::write(out.join("ca.pem"), &cert.ca_certificate)?;
            print(json, &cert, |c| {
                format!(
                    "certified {} key {} until {} (log index {})\nkey: {}\ncertificate: {}",
                    c.identity,
                    c.key_id,
                    ts(c.not_after),
                    c.log_index,
                    key_path.display(),
                    out.join("cert.pem").display()
                )
            })
        }
    }
}
