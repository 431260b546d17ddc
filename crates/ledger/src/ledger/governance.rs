//! The ledger's governance operations: the policy set in force and the
//! questions put to it, the workload CA, API tokens, delegations and
//! policy exceptions. Each write follows the same discipline as the rest of
//! the ledger: one transaction, its log entries, a sealed checkpoint.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_domain::delegation::{self, Grantor};
use countersign_domain::exception::{self as exceptions, PolicyRefusal};
use countersign_domain::policy::{
    Authentication, CredentialFacts, DelegationFacts, ExceptionFacts, PolicyContext, PolicyEngine,
    PolicyQuery, PolicyResource,
};
use countersign_domain::request as rules;
use countersign_domain::Refusal;
use countersign_proto::api::{
    DecideException, DelegationFilter, GrantDelegation, IssueToken, RequestException,
};
use countersign_proto::entry::{Event, LogEntry};
use countersign_proto::governance::{
    ApiToken, AuthContext, Delegation, Effect, PolicyAction, PolicyDecision, PolicyException,
};
use countersign_proto::model::{
    Assurance, Credential, CredentialKind, Identity, IdentityKind, IdentityStatus, KeyAlgorithm,
};
use countersign_proto::ErrorCode;
use ed25519_dalek::{Signature, Verifier as _};
use time::OffsetDateTime;

use super::{new_id, Ledger, LedgerError, Receipted, Result, Write};
use crate::ReadTx;

/// Signs a certificate for an Ed25519 public key valid over
/// [not_before, not_after]; answers its PEM, or why it could not.
pub type CertificateIssuer<'a> =
    dyn Fn(&[u8; 32], OffsetDateTime, OffsetDateTime) -> std::result::Result<String, String> + 'a;

const META_POLICY_SET: &str = "policy_set";
const META_CA: &str = "ca_fingerprint";

/// The authentication context of a non-signing action by `principal`:
/// the caller's session counts only when the caller is that identity.
pub(super) fn caller_auth(caller: &Authentication, principal: &str) -> AuthContext {
    if caller.identity.as_deref() == Some(principal) {
        AuthContext {
            aal: caller.aal.unwrap_or(1).clamp(1, 3),
            auth_time: caller.auth_time,
            method: caller.method.clone().unwrap_or_else(|| "token".into()),
        }
    } else {
        AuthContext {
            aal: 1,
            auth_time: None,
            method: caller
                .method
                .clone()
                .map_or_else(|| "on-behalf".into(), |m| format!("on-behalf:{m}")),
        }
    }
}

/// The refusal for a policy denial: names the policies, why, and the set.
pub(super) fn policy_refusal(d: &PolicyDecision) -> Refusal {
    let who = if d.policies.is_empty() {
        "no policy permits it".to_string()
    } else {
        format!("refused by policy {}", d.policies.join(", "))
    };
    let why = if d.reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", d.reasons.join("; "))
    };
    Refusal::new(
        ErrorCode::PolicyDenied,
        format!(
            "{} {who}{why} (policy set {})",
            d.action.as_str(),
            d.policy_set
        ),
    )
}

impl Ledger {
    // ----------------------------------------------------------- policy

    /// The policy set in force.
    pub fn policy(&self) -> Arc<dyn PolicyEngine> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The policy set in force, checked inside the caller's transaction
    /// against the one the log last activated: a decision is never made
    /// with a set other than the recorded one (another instance activated
    /// a new set, or the database was edited).
    pub(super) fn policy_in_force(&self, tx: &dyn ReadTx) -> Result<Arc<dyn PolicyEngine>> {
        let engine = self.policy();
        let digest = engine.digest();
        match tx.meta(META_POLICY_SET)? {
            Some(recorded) if recorded != digest => Err(LedgerError::Integrity(format!(
                "the policy set in force here ({digest}) is not the one the log last activated ({recorded}): another instance activated a new set, or the database was edited; reload the policy (`countersign policy reload`) or restart"
            ))),
            _ => Ok(engine),
        }
    }

    /// Put `engine` in force. When its digest differs from the last one
    /// recorded, a `policy.activated` entry records the change; answers its
    /// index.
    pub fn activate_policy(
        &self,
        engine: Arc<dyn PolicyEngine>,
        trigger: &str,
        now: OffsetDateTime,
    ) -> Result<Option<u64>> {
        let view = engine.view();
        let digest = view.policy_set;
        let policy_ids = view.policies.into_iter().map(|p| p.id).collect();
        let mut tx = self.begin(now)?;
        let previous = tx.meta(META_POLICY_SET)?;
        // Held from before the entry is written until the set is swapped:
        // a signature decided after the `policy.activated` entry always
        // sees the new set, and a failed write leaves the old one in force.
        let mut in_force = self.policy.write().unwrap_or_else(PoisonError::into_inner);
        let index = if previous.as_deref() == Some(digest.as_str()) {
            None
        } else {
            tx.set_meta(META_POLICY_SET, &digest)?;
            Some(tx.commit_event(Event::PolicyActivated {
                policy_set: digest,
                policies: policy_ids,
                previous,
                trigger: trigger.to_string(),
            })?)
        };
        *in_force = engine;
        Ok(index)
    }

    /// The context of a policy question.
    pub(super) fn context(
        &self,
        on_behalf_of: &str,
        delegation: Option<String>,
        credential: Option<CredentialFacts>,
        auth: AuthContext,
        now: OffsetDateTime,
    ) -> PolicyContext {
        PolicyContext {
            now,
            aal: auth.aal,
            auth_time: auth.auth_time,
            step_up_window: self.config.limits.step_up_window,
            on_behalf_of: on_behalf_of.to_string(),
            delegation,
            credential,
            exception: false,
            granting: None,
        }
    }

    /// Ask the policy set in force (see [`Ledger::query`]).
    pub(super) fn decide(
        &self,
        tx: &dyn ReadTx,
        action: PolicyAction,
        principal: &str,
        resource: PolicyResource,
        context: PolicyContext,
        parties: &[String],
    ) -> Result<PolicyDecision> {
        let query = self.query(tx, action, principal, resource, context, parties)?;
        Ok(self.policy_in_force(tx)?.decide(&query))
    }

    /// A policy question, with every identity it names (and their owners)
    /// loaded so the engine can see their attributes.
    pub(super) fn query(
        &self,
        tx: &dyn ReadTx,
        action: PolicyAction,
        principal: &str,
        resource: PolicyResource,
        context: PolicyContext,
        parties: &[String],
    ) -> Result<PolicyQuery> {
        let mut handles: BTreeSet<String> = parties.iter().cloned().collect();
        handles.insert(principal.to_string());
        handles.insert(context.on_behalf_of.clone());
        if let PolicyResource::Identity(h) = &resource {
            handles.insert(h.clone());
        }
        let mut identities: Vec<Identity> = Vec::new();
        for h in &handles {
            if let Some(i) = tx.identity(h)? {
                identities.push(i);
            }
        }
        let owners: BTreeSet<String> = identities
            .iter()
            .filter_map(|i| i.owner.clone())
            .filter(|o| !handles.contains(o))
            .collect();
        for o in owners {
            if let Some(i) = tx.identity(&o)? {
                identities.push(i);
            }
        }
        Ok(PolicyQuery {
            action,
            principal: principal.to_string(),
            resource,
            context,
            identities,
        })
    }

    // ----------------------------------------------------------- workload CA

    /// Record the workload CA's certificate in the log the first time it is
    /// used (and whenever it changes); answers the entry's index.
    pub fn publish_ca(
        &self,
        certificate_pem: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Option<u64>> {
        let mut tx = self.begin(now)?;
        if tx.meta(META_CA)?.as_deref() == Some(fingerprint) {
            return Ok(None);
        }
        tx.set_meta(META_CA, fingerprint)?;
        let index = tx.commit_event(Event::CaCreated {
            certificate: certificate_pem.to_string(),
            fingerprint: fingerprint.to_string(),
        })?;
        Ok(Some(index))
    }

    /// Certify a workload's fresh key after its token was verified: the
    /// identity must be an active non-human identity, the key new, and the
    /// proof of possession valid. `issue` signs the certificate for the
    /// window [now, now + workload certificate lifetime] and answers its
    /// PEM and serial; the issuance is logged before the certificate is
    /// returned.
    #[allow(clippy::too_many_arguments)]
    pub fn certify_workload(
        &self,
        handle: &str,
        oidc_issuer: &str,
        oidc_subject: &str,
        token_sha256: &str,
        public_key: &str,
        proof: &str,
        issue: &CertificateIssuer<'_>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Credential>> {
        let mut tx = self.begin(now)?;
        let identity = tx.identity(handle)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::IdentityUnmapped,
                format!("the token maps to {handle:?}, which is not a known identity"),
            )
        })?;
        if identity.kind == IdentityKind::Human {
            return Err(LedgerError::refused(
                ErrorCode::Forbidden,
                format!("{handle} is a human identity; workload certificates are for non-human identities"),
            ));
        }
        if identity.status != IdentityStatus::Active {
            return Err(LedgerError::refused(
                ErrorCode::ActorNotActive,
                format!("{handle} is {}", identity.status.as_str()),
            ));
        }
        let key = countersign_attest::keys::public_key_from_base64(public_key).map_err(|e| {
            LedgerError::refused(ErrorCode::InvalidField, format!("public_key: {e}"))
        })?;
        let key_id = countersign_attest::key_id(&key);
        let sig = B64
            .decode(proof.trim())
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::ProofOfPossessionFailed,
                    "proof must be a base64 Ed25519 signature",
                )
            })?;
        let message = countersign_attest::keys::workload_pop_message(token_sha256, &key_id);
        key.verify(&message, &sig).map_err(|_| {
            LedgerError::refused(
                ErrorCode::ProofOfPossessionFailed,
                "the proof does not verify with public_key over the workload proof message",
            )
        })?;
        if tx.credential(&key_id)?.is_some() {
            return Err(LedgerError::refused(
                ErrorCode::KeyAlreadyEnrolled,
                format!("key {key_id} is already known; present a fresh key"),
            ));
        }
        let not_after = now + self.config.limits.workload_certificate_lifetime;
        let pem = issue(key.as_bytes(), now, not_after).map_err(|e| {
            LedgerError::Store(crate::StoreError::Backend(format!(
                "issuing the certificate: {e}"
            )))
        })?;
        let index = tx.tree_size()?;
        let credential = Credential {
            key_id,
            kind: CredentialKind::Certificate,
            identity: handle.to_string(),
            algorithm: KeyAlgorithm::Ed25519,
            public_key: B64.encode(key.as_bytes()),
            assurance: Assurance::Software,
            assurance_basis: countersign_proto::model::AssuranceBasis::Issued,
            vouch: None,
            passkey: None,
            label: Some(format!("workload certificate via {oidc_issuer}")),
            enrolled_at: now,
            expires_at: Some(not_after),
            revoked_at: None,
            revocation_reason: None,
            certificate: Some(pem),
            log_index: index,
        };
        tx.put_credential(&credential)?;
        tx.commit_event(Event::CredentialCertified {
            credential: credential.clone(),
            oidc_issuer: oidc_issuer.to_string(),
            oidc_subject: oidc_subject.to_string(),
            token_sha256: token_sha256.to_string(),
        })?;
        Ok(Receipted {
            value: credential,
            log_index: index,
        })
    }

    // ----------------------------------------------------------- API tokens

    /// Issue a token whose secret hashes to `secret_sha256` (the caller
    /// generates the secret and shows it once).
    pub fn issue_token(
        &self,
        input: &IssueToken,
        created_by: &str,
        secret_sha256: &str,
        now: OffsetDateTime,
    ) -> Result<Receipted<ApiToken>> {
        countersign_domain::check_text("name", &input.name, 1, 200)?;
        if input.roles.is_empty() {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                "a token needs at least one role",
            ));
        }
        let lifetime = match input.expires_in_seconds {
            Some(s) => time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX)),
            None => time::Duration::days(90).min(self.config.limits.max_token_lifetime),
        };
        if lifetime <= time::Duration::ZERO || lifetime > self.config.limits.max_token_lifetime {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                format!(
                    "expires_in_seconds must be between 1 and {}",
                    self.config.limits.max_token_lifetime.whole_seconds()
                ),
            ));
        }
        let mut tx = self.begin(now)?;
        if let Some(h) = &input.identity {
            let i = Self::load_identity(&*tx, h)?;
            if i.status != IdentityStatus::Active {
                return Err(LedgerError::refused(
                    ErrorCode::ActorNotActive,
                    format!("{h} is {}", i.status.as_str()),
                ));
            }
        }
        let mut roles = input.roles.clone();
        roles.sort();
        roles.dedup();
        let token = ApiToken {
            id: new_id("tok"),
            name: input.name.clone(),
            roles,
            identity: input.identity.clone(),
            created_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
            created_by: created_by.to_string(),
        };
        let index = tx.tree_size()?;
        tx.put_token(&token, Some(secret_sha256))?;
        tx.commit_event(Event::TokenIssued {
            token: token.clone(),
        })?;
        Ok(Receipted {
            value: token,
            log_index: index,
        })
    }

    pub fn revoke_token(&self, id: &str, now: OffsetDateTime) -> Result<Receipted<ApiToken>> {
        let mut tx = self.begin(now)?;
        let mut token = tx.token(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::TokenNotFound, format!("no token {id:?}"))
        })?;
        if token.revoked_at.is_some() {
            return Err(LedgerError::refused(
                ErrorCode::InvalidTransition,
                format!("token {id} is already revoked"),
            ));
        }
        token.revoked_at = Some(now);
        tx.put_token(&token, None)?;
        let index = tx.commit_event(Event::TokenRevoked {
            token: token.id.clone(),
            name: token.name.clone(),
            identity: token.identity.clone(),
        })?;
        Ok(Receipted {
            value: token,
            log_index: index,
        })
    }

    /// Replace the bootstrap admin token's hash (kept under `meta_key`),
    /// logged; for an operator on the server's machine who lost it.
    pub fn recover_bootstrap_token(
        &self,
        meta_key: &str,
        sha256: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let mut tx = self.begin(now)?;
        tx.set_meta(meta_key, sha256)?;
        tx.commit_event(Event::TokenRecovered { by: by.to_string() })
    }

    /// The token whose secret hashes to `sha256`, if it is valid at `now`.
    pub fn token_for_secret(&self, sha256: &str, now: OffsetDateTime) -> Result<Option<ApiToken>> {
        let t = self.store.read()?.token_by_hash(sha256)?;
        Ok(t.filter(|t| t.revoked_at.is_none() && t.expires_at > now))
    }

    // ----------------------------------------------------------- delegations

    /// Grant a delegation, after the domain's checks and the policy's
    /// `delegate` decision.
    pub fn grant_delegation(
        &self,
        input: &GrantDelegation,
        grantor: Grantor<'_>,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Receipted<Delegation>> {
        let principal_handle = match (&input.principal, grantor) {
            (Some(p), _) => p.clone(),
            (None, Grantor::Identity(who)) => who.to_string(),
            (None, Grantor::Admin) => {
                return Err(LedgerError::refused(
                    ErrorCode::InvalidField,
                    "principal is required when an admin grants a delegation",
                ))
            }
        };
        let mut tx = self.begin(now)?;
        let principal = Self::load_identity(&*tx, &principal_handle)?;
        let delegate = Self::load_identity(&*tx, &input.delegate)?;
        let held = match grantor {
            Grantor::Identity(who) => tx.delegations_of(who)?,
            Grantor::Admin => Vec::new(),
        };
        let index = tx.tree_size()?;
        let d = delegation::grant(
            input,
            &principal,
            &delegate,
            grantor,
            &held,
            self.config.limits.max_delegation,
            new_id("dlg"),
            index,
            now,
        )?;
        let mut context = self.context(
            &principal.handle,
            None,
            None,
            caller_auth(caller, &principal.handle),
            now,
        );
        context.granting = Some(DelegationFacts {
            event_kinds: d.scope.event_kinds.clone(),
            max_impact: d.scope.max_impact,
            not_before: d.not_before,
            not_after: d.not_after,
        });
        let decision = self.decide(
            &*tx,
            PolicyAction::Delegate,
            &principal.handle,
            PolicyResource::Identity(delegate.handle.clone()),
            context,
            &[],
        )?;
        if !decision.allowed() {
            return Err(policy_refusal(&decision).into());
        }
        tx.put_delegation(&d)?;
        tx.commit_event(Event::DelegationGranted {
            delegation: d.clone(),
            policy: decision,
        })?;
        Ok(Receipted {
            value: d,
            log_index: index,
        })
    }

    /// Revoke a delegation. `by` is the identity revoking (the principal or
    /// the delegate), or `None` for an admin.
    pub fn end_delegation(
        &self,
        id: &str,
        by: Option<&str>,
        reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Delegation>> {
        if let Some(r) = &reason {
            countersign_domain::check_text("reason", r, 1, 2000)?;
        }
        let mut tx = self.begin(now)?;
        let current = tx.delegation(id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::DelegationNotFound,
                format!("no delegation {id:?}"),
            )
        })?;
        if let Some(who) = by {
            if who != current.principal && who != current.delegate {
                return Err(LedgerError::refused(
                    ErrorCode::Forbidden,
                    format!(
                        "only {} or {} may revoke delegation {id}",
                        current.principal, current.delegate
                    ),
                ));
            }
        }
        let why = format!(
            "revoked by {}{}",
            by.unwrap_or("admin"),
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        let next = delegation::end(&current, &why, now)?;
        tx.put_delegation(&next)?;
        let index = tx.commit_event(Event::DelegationEnded {
            delegation: next.id.clone(),
            principal: next.principal.clone(),
            delegate: next.delegate.clone(),
            reason: why,
        })?;
        Ok(Receipted {
            value: next,
            log_index: index,
        })
    }

    /// End every delegation `identity` takes part in, because it left active
    /// status, each with its entry; answers the ended delegations' ids.
    pub(super) fn end_delegations_of(
        tx: &mut Write<'_>,
        identity: &Identity,
    ) -> Result<Vec<String>> {
        let now = tx.now();
        let mut ended = Vec::new();
        for d in tx.delegations_of(&identity.handle)? {
            if d.ended_at.is_some() || d.not_after <= now {
                continue;
            }
            let role = if d.principal == identity.handle {
                "principal"
            } else {
                "delegate"
            };
            let why = format!(
                "{role} {} became {}",
                identity.handle,
                identity.status.as_str()
            );
            let next = delegation::end(&d, &why, now)?;
            tx.put_delegation(&next)?;
            tx.log(Event::DelegationEnded {
                delegation: next.id.clone(),
                principal: next.principal.clone(),
                delegate: next.delegate.clone(),
                reason: why,
            })?;
            ended.push(next.id);
        }
        Ok(ended)
    }

    pub fn delegations(
        &self,
        filter: &DelegationFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<Delegation>> {
        let tx = self.store.read()?;
        let all = match &filter.identity {
            Some(h) => tx.delegations_of(h)?,
            None => tx.delegations()?,
        };
        Ok(all
            .into_iter()
            .filter(|d| {
                filter
                    .active
                    .is_none_or(|a| delegation::in_force(d, now) == a)
            })
            .collect())
    }

    pub fn delegation(&self, id: &str) -> Result<Delegation> {
        self.store.read()?.delegation(id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::DelegationNotFound,
                format!("no delegation {id:?}"),
            )
        })
    }

    // ----------------------------------------------------------- exceptions

    /// Ask for a one-time exception after a policy refusal of `actor` on the request.
    pub fn request_exception(
        &self,
        input: &RequestException,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Receipted<PolicyException>> {
        let mut tx = self.begin(now)?;
        let request = tx.request(&input.request)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::RequestNotFound,
                format!("request {:?} does not exist", input.request),
            )
        })?;
        Self::load_identity(&*tx, actor)?;
        let refusal = match tx.latest_entry_about("signature.refused", &request.id, actor)? {
            Some((index, bytes)) => policy_refusal_in(index, &bytes)?,
            None => None,
        };
        let existing = tx.exceptions(Some(&request.id))?;
        let index = tx.tree_size()?;
        let e = exceptions::request(
            &request,
            actor,
            &input.justification,
            refusal,
            &existing,
            new_id("exc"),
            index,
            now,
        )?;
        tx.put_exception(&e)?;
        tx.commit_event(Event::ExceptionRequested {
            exception: e.clone(),
        })?;
        Ok(Receipted {
            value: e,
            log_index: index,
        })
    }

    /// Approve or deny an exception as `approver`, after the policy's
    /// `approve_exception` decision.
    pub fn decide_exception(
        &self,
        id: &str,
        approver: &str,
        approve: bool,
        body: &DecideException,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Receipted<PolicyException>> {
        let max = self.config.limits.exception_lifetime;
        let lifetime = match body.valid_for_seconds {
            Some(s) => {
                let l = time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
                if l <= time::Duration::ZERO || l > max {
                    return Err(LedgerError::refused(
                        ErrorCode::InvalidField,
                        format!(
                            "valid_for_seconds must be between 1 and {}",
                            max.whole_seconds()
                        ),
                    ));
                }
                l
            }
            None => max,
        };
        let mut tx = self.begin(now)?;
        let current = tx.exception(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::ExceptionNotFound, format!("no exception {id:?}"))
        })?;
        Self::load_identity(&*tx, approver)?;
        let next = exceptions::decide(
            &current,
            approver,
            approve,
            body.reason.as_deref(),
            lifetime,
            now,
        )?;
        let request = tx.request(&current.request)?.ok_or_else(|| {
            LedgerError::Integrity(format!("exception {id} names a missing request"))
        })?;
        let mut parties = rules::parties(&request);
        parties.push(current.actor.clone());
        let decision = self.decide(
            &*tx,
            PolicyAction::ApproveException,
            approver,
            PolicyResource::Exception(ExceptionFacts {
                id: current.id.clone(),
                requested_by: current.actor.clone(),
                request,
            }),
            self.context(approver, None, None, caller_auth(caller, approver), now),
            &parties,
        )?;
        if !decision.allowed() {
            return Err(policy_refusal(&decision).into());
        }
        tx.put_exception(&next)?;
        let index = tx.commit_event(Event::ExceptionDecided {
            exception: next.clone(),
            policy: decision,
        })?;
        Ok(Receipted {
            value: next,
            log_index: index,
        })
    }

    /// Exceptions with the state shown at `now`.
    pub fn exceptions(
        &self,
        request: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Vec<PolicyException>> {
        let mut all = self.store.read()?.exceptions(request)?;
        for e in &mut all {
            e.state = exceptions::effective_state(e, now);
        }
        Ok(all)
    }

    pub fn exception(&self, id: &str, now: OffsetDateTime) -> Result<PolicyException> {
        let mut e = self.store.read()?.exception(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::ExceptionNotFound, format!("no exception {id:?}"))
        })?;
        e.state = exceptions::effective_state(&e, now);
        Ok(e)
    }
}

/// The policy refusal recorded in a `signature.refused` entry, if policy
/// was what refused.
fn policy_refusal_in(index: u64, bytes: &[u8]) -> Result<Option<PolicyRefusal>> {
    let entry = LogEntry::from_bytes(bytes)
        .map_err(|e| LedgerError::Integrity(format!("entry {index} does not parse: {e}")))?;
    Ok(match entry.event {
        Event::SignatureRefused {
            code: ErrorCode::PolicyDenied,
            policy: Some(p),
            ..
        } if p.effect == Effect::Deny => Some(PolicyRefusal {
            log_index: index,
            policies: p.policies,
        }),
        _ => None,
    })
}
