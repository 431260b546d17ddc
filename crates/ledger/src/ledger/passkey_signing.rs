//! Signing with a passkey, and telling a signer beforehand what the
//! policy will ask of them.
//!
//! A passkey signs a statement the server issues: [`Ledger::issue_statement`]
//! builds the same in-toto approval statement the CLI builds, with a fresh
//! single-use nonce in its predicate, and remembers the payload bytes; the
//! browser asks the authenticator for an assertion over SHA-256 of the
//! statement's DSSE PAE; [`Ledger::submit_passkey_signature`] wraps the
//! answer into a DSSE envelope and hands it to the one signing path every
//! signature takes (`submit_signature`: policy, step-up, separation of
//! duties, delegation, exceptions, refusals recorded).
//!
//! [`Ledger::signing_outlook`] asks the policy in force the questions the
//! signature would ask, for the signer's credential, as things stand and
//! with a fresh verification, so a page or the CLI can say what is needed
//! before anyone tries.

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use countersign_attest::passkey::PasskeyVerified;
use countersign_domain::policy::{
    credential_facts, signing_auth, Authentication, PasskeyProof, PolicyQuery, PolicyResource,
};
use countersign_domain::request as rules;
use countersign_domain::{describe, Refusal};
use countersign_proto::governance::{AuthContext, PolicyAction, PolicyDecision};
use countersign_proto::model::{Credential, CredentialKind, Decision, Request, RequestState};
use countersign_proto::passkey::{OutlookSlot, SigningOutlook};
use countersign_proto::statement::{Envelope, Statement, PAYLOAD_TYPE};
use countersign_proto::ErrorCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Ledger, LedgerError, Result, Submission};
use crate::{ReadTx, WebChallenge, WriteTx};

/// The `purpose` of a signing nonce's challenge record.
pub const SIGNING: &str = "signing";
/// The `purpose` of a passkey resolution's nonce record.
pub const RESOLUTION: &str = "resolution";

/// What a signing nonce remembers.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct NonceData {
    request: String,
    key_id: String,
    #[serde(default)]
    principal: Option<String>,
    require_user_verification: bool,
    /// Standard base64 of the exact payload bytes.
    payload: String,
    payload_type: String,
}

/// A statement issued for a passkey to sign.
#[derive(Clone, Debug)]
pub struct IssuedStatement {
    pub nonce: String,
    /// The approval statement (absent for a control-exception resolution,
    /// whose payload is a `ResolutionStatement`).
    pub statement: Option<Statement>,
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// SHA-256 of the PAE: the WebAuthn challenge.
    pub challenge: [u8; 32],
    pub require_user_verification: bool,
    /// The passkey that must sign.
    pub credential: Credential,
    pub expires_at: OffsetDateTime,
}

/// Whether a credential can sign now.
fn usable(c: &Credential, now: OffsetDateTime) -> bool {
    countersign_domain::identity::credential_valid_at(c, now).is_ok()
}

/// The credential an outlook or a statement is for: the one named, which
/// must be the actor's and usable; otherwise the actor's newest usable
/// passkey, else their newest usable key.
fn pick_credential(
    tx: &dyn ReadTx,
    actor: &str,
    key_id: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Credential>> {
    let mine = tx.credentials_of(actor)?;
    if let Some(k) = key_id {
        return match mine.into_iter().find(|c| c.key_id == k) {
            Some(c) if usable(&c, now) => Ok(Some(c)),
            Some(c) => Err(LedgerError::refused(
                ErrorCode::CredentialRevoked,
                format!(
                    "credential {} cannot sign now (revoked or expired)",
                    c.key_id
                ),
            )),
            None => Err(LedgerError::refused(
                ErrorCode::CredentialUnknown,
                format!("{k} is not one of {actor}'s credentials"),
            )),
        };
    }
    let live: Vec<Credential> = mine.into_iter().filter(|c| usable(c, now)).collect();
    Ok(live
        .iter()
        .rev()
        .find(|c| c.kind == CredentialKind::Passkey)
        .or_else(|| live.last())
        .cloned())
}

impl Ledger {
    /// The policy question a signature by `actor` with `credential` for
    /// `principal`'s slot asks, with the authentication it carries: the
    /// same question before signing (the outlook) and while signing.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sign_query(
        &self,
        tx: &dyn ReadTx,
        request: &Request,
        actor: &str,
        principal: &str,
        delegation: Option<String>,
        credential: &Credential,
        proof: Option<&PasskeyProof>,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<(PolicyQuery, AuthContext)> {
        let auth = signing_auth(actor, credential, proof, caller, now);
        let context = self.context(
            principal,
            delegation,
            Some(credential_facts(
                credential,
                self.config.limits.long_lived_after,
            )),
            auth.clone(),
            now,
        );
        let query = self.query(
            tx,
            PolicyAction::Sign,
            actor,
            PolicyResource::Request(request.clone()),
            context,
            &rules::parties(request),
        )?;
        Ok((query, auth))
    }

    /// What the set in force decides for [`Self::sign_query`]'s question,
    /// with or without an approved break-glass exception.
    #[allow(clippy::too_many_arguments)]
    fn sign_decision(
        &self,
        tx: &dyn ReadTx,
        request: &Request,
        actor: &str,
        principal: &str,
        delegation: Option<String>,
        credential: &Credential,
        proof: Option<&PasskeyProof>,
        caller: &Authentication,
        exception: bool,
        now: OffsetDateTime,
    ) -> Result<PolicyDecision> {
        let (mut query, _) = self.sign_query(
            tx, request, actor, principal, delegation, credential, proof, caller, now,
        )?;
        query.context.exception = exception;
        Ok(self.policy().decide(&query))
    }

    /// The approver slots `actor` could fill on `request`: their own, and
    /// each approver whose delegation to them covers it now.
    fn slots_of(
        &self,
        tx: &dyn ReadTx,
        request: &Request,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<(String, Option<String>)>> {
        let mut slots = Vec::new();
        if request.approvers.iter().any(|a| a == actor) {
            slots.push((actor.to_string(), None));
        }
        let delegations = tx.delegations_of(actor)?;
        for approver in &request.approvers {
            if approver == actor {
                continue;
            }
            if let Ok(d) = countersign_domain::delegation::authorise(
                &delegations,
                approver,
                actor,
                request,
                now,
            ) {
                slots.push((approver.clone(), Some(d.id.clone())));
            }
        }
        Ok(slots)
    }

    /// What the policy in force would decide if `actor` signed `request`,
    /// for each slot they could fill, with `key_id` (or their best
    /// credential), asked before they try.
    pub fn signing_outlook(
        &self,
        request_id: &str,
        actor: &str,
        key_id: Option<&str>,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<SigningOutlook> {
        let tx = self.store.read()?;
        let mut request = tx.request(request_id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::RequestNotFound,
                format!("request {request_id:?} does not exist"),
            )
        })?;
        request.state = rules::effective_state(&request, now);
        let credential = pick_credential(&*tx, actor, key_id, now)?;
        let digest = self.policy().digest();
        let window = describe::duration(self.config.limits.step_up_window);
        let mut slots = Vec::new();
        for (approver, delegation) in self.slots_of(&*tx, &request, actor, now)? {
            let mut slot = OutlookSlot {
                approver: approver.clone(),
                delegation: delegation.clone(),
                status: String::new(),
                summary: String::new(),
                reasons: Vec::new(),
                policies: Vec::new(),
                waiting_for: Vec::new(),
                policy_set: digest.clone(),
            };
            let mine = request.signatures.iter().find(|s| s.actor == actor);
            let filled = request.signatures.iter().find(|s| s.approver() == approver);
            if request.state != RequestState::Pending {
                slot.status = "closed".into();
                slot.summary = format!(
                    "This request is {}; there is nothing left to sign.",
                    request.state.as_str()
                );
            } else if let Some(s) = filled {
                slot.status = "signed".into();
                slot.summary = format!(
                    "{} already {}d{} on {}.",
                    s.actor,
                    s.decision.as_str(),
                    if s.actor != approver {
                        format!(" for {approver}")
                    } else {
                        String::new()
                    },
                    describe::when(s.accepted_at)
                );
            } else if let Some(s) = mine {
                slot.status = "signed".into();
                slot.summary = format!(
                    "You already signed this request (for {}); one person signs a request once.",
                    s.approver()
                );
            } else if !rules::order_respected(&request, &approver) {
                slot.status = "waiting".into();
                slot.waiting_for = request
                    .approvers
                    .iter()
                    .take_while(|a| **a != approver)
                    .filter(|a| {
                        !request
                            .signatures
                            .iter()
                            .any(|s| s.approver() == a.as_str())
                    })
                    .cloned()
                    .collect();
                slot.summary = format!(
                    "Approvers sign in order: {} must sign first.",
                    slot.waiting_for.join(", ")
                );
            } else if let Some(c) = &credential {
                let passkey = c.kind == CredentialKind::Passkey;
                // The policy's answer for this slot with `proof`, `who`
                // authenticated, and an exception applied or not.
                let ask = |proof: Option<PasskeyProof>, who: &Authentication, exception: bool| {
                    self.sign_decision(
                        &*tx,
                        &request,
                        actor,
                        &approver,
                        delegation.clone(),
                        c,
                        proof.as_ref(),
                        who,
                        exception,
                        now,
                    )
                };
                let plain = passkey.then_some(PasskeyProof {
                    user_verified: false,
                });
                let verified = passkey.then_some(PasskeyProof {
                    user_verified: true,
                });
                let now_decision = ask(plain, caller, false)?;
                if now_decision.allowed() {
                    slot.status = "ready".into();
                    slot.summary = format!(
                        "You can approve or reject this request with your {}.",
                        if passkey { "passkey" } else { "key" }
                    );
                } else {
                    slot.reasons.clone_from(&now_decision.reasons);
                    slot.policies.clone_from(&now_decision.policies);
                    // What would change the answer: a fresh verification,
                    // a hardware (AAL3) credential, a break-glass exception.
                    let session = |aal: u8, auth_time: Option<OffsetDateTime>| Authentication {
                        identity: Some(actor.to_string()),
                        aal: Some(aal),
                        auth_time,
                        method: Some("outlook".into()),
                    };
                    let with_fresh = ask(verified, &session(2, Some(now)), false)?.allowed();
                    let with_aal3 = ask(verified, &session(3, None), false)?.allowed();
                    let need = match (with_fresh, with_aal3) {
                        (true, true) => Some(format!(
                            "a sign-in from the last {window} or a hardware passkey"
                        )),
                        (true, false) => Some(format!("a sign-in from the last {window}")),
                        (false, true) => Some("a hardware passkey (AAL3)".to_string()),
                        (false, false) => None,
                    };
                    let how = if passkey && ask(verified, caller, false)?.allowed() {
                        "Your passkey will ask for your fingerprint, face or PIN, and that counts as a fresh sign-in."
                    } else {
                        "Sign in again, or sign with a credential that provides it."
                    };
                    if let Some(need) = need {
                        slot.status = "step_up".into();
                        slot.summary = format!(
                            "This is a {} request: the policy needs {need}. {how}",
                            describe::impact(request.impact)
                        );
                    } else {
                        let why = if now_decision.reasons.is_empty() {
                            "no policy allows it".to_string()
                        } else {
                            now_decision.reasons.join("; ")
                        };
                        if ask(verified, caller, true)?.allowed() {
                            slot.status = "exception".into();
                            slot.summary = format!(
                                "The policy does not let you sign this request ({why}). If it must happen now, you can ask for a break-glass exception."
                            );
                        } else {
                            slot.status = "refused".into();
                            slot.summary = format!("You cannot sign this request: {why}.");
                        }
                    }
                }
            } else {
                slot.status = "no_credential".into();
                slot.summary =
                    "You have no passkey or key to sign with yet: add a passkey to your account first."
                        .into();
            }
            slots.push(slot);
        }
        Ok(SigningOutlook {
            request: request.id,
            actor: actor.to_string(),
            slots,
        })
    }

    /// Issue a statement for `actor`'s passkey to sign: the approval
    /// statement for `request` with a fresh single-use nonce, remembered
    /// with its exact bytes. User verification is required when the policy
    /// needs step-up for this signature.
    #[allow(clippy::too_many_arguments)]
    pub fn issue_statement(
        &self,
        request_id: &str,
        actor: &str,
        decision: Decision,
        reason: Option<String>,
        on_behalf_of: Option<String>,
        key_id: Option<&str>,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<IssuedStatement> {
        if decision == Decision::Reject && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(LedgerError::refused(
                ErrorCode::StatementInvalid,
                "a rejection must give a reason",
            ));
        }
        if let Some(r) = &reason {
            countersign_domain::check_text("reason", r, 1, 4000)?;
        }
        let outlook = self.signing_outlook(request_id, actor, key_id, caller, now)?;
        let principal = on_behalf_of.clone().unwrap_or_else(|| actor.to_string());
        let Some(slot) = outlook.slots.iter().find(|s| s.approver == principal) else {
            return Err(LedgerError::refused(
                ErrorCode::NotAnApprover,
                match &on_behalf_of {
                    Some(p) => format!(
                        "{actor} holds no delegation from {p} that covers request {request_id}"
                    ),
                    None => format!("{actor} is not an approver of request {request_id}"),
                },
            ));
        };
        if matches!(slot.status.as_str(), "closed" | "signed" | "waiting") {
            return Err(LedgerError::refused(
                match slot.status.as_str() {
                    "closed" => ErrorCode::RequestNotPending,
                    "waiting" => ErrorCode::OutOfOrder,
                    _ => ErrorCode::AlreadySigned,
                },
                slot.summary.clone(),
            ));
        }
        let tx = self.store.read()?;
        let credential = pick_credential(&*tx, actor, key_id, now)?
            .filter(|c| c.kind == CredentialKind::Passkey)
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::CredentialUnknown,
                    format!("{actor} has no usable passkey to sign with; add one first"),
                )
            })?;
        let request = tx.request(request_id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::RequestNotFound,
                format!("no request {request_id}"),
            )
        })?;
        drop(tx);
        let nonce = super::web::random_secret();
        let mut statement = countersign_attest::approval_statement(
            &request,
            actor,
            decision,
            reason,
            credential.key_id.clone(),
            now,
        );
        statement.predicate.principal = on_behalf_of.filter(|p| p != actor);
        statement.predicate.nonce = Some(nonce.clone());
        let payload = serde_json::to_vec(&statement)
            .map_err(|e| LedgerError::Integrity(format!("encoding a statement: {e}")))?;
        let require_user_verification = slot.status == "step_up";
        let challenge = countersign_attest::passkey::signing_challenge(PAYLOAD_TYPE, &payload);
        let data = NonceData {
            request: request.id.clone(),
            key_id: credential.key_id.clone(),
            principal: statement.predicate.principal.clone(),
            require_user_verification,
            payload: B64.encode(&payload),
            payload_type: PAYLOAD_TYPE.to_string(),
        };
        let record = WebChallenge {
            id: nonce.clone(),
            purpose: SIGNING.to_string(),
            identity: Some(actor.to_string()),
            data: serde_json::to_value(&data)
                .map_err(|e| LedgerError::Integrity(format!("encoding a nonce: {e}")))?,
            expires_at: now + self.config.web.challenge_lifetime,
        };
        let mut tx = self.begin(now)?;
        tx.put_web_challenge(&record)?;
        tx.commit()?;
        Ok(IssuedStatement {
            nonce,
            statement: Some(statement),
            payload_type: PAYLOAD_TYPE.to_string(),
            payload,
            challenge,
            require_user_verification,
            credential,
            expires_at: record.expires_at,
        })
    }

    /// Use up a passkey signature's nonce inside the signing transaction,
    /// answering the refusal when it is not this signature's to use (a
    /// refused signature's transaction rolls back; its nonce is then used
    /// up where the refusal is logged).
    pub(super) fn take_signing_nonce(
        &self,
        tx: &mut dyn WriteTx,
        statement: &Statement,
        verified: &PasskeyVerified,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<(), Refusal>> {
        let p = &statement.predicate;
        let invalid = |why: &str| Err(Refusal::new(ErrorCode::NonceInvalid, why.to_string()));
        let Some(nonce) = &p.nonce else {
            return Ok(invalid(
                "a passkey signature must sign a statement the server issued: it names no nonce",
            ));
        };
        let Some(record) = tx
            .take_web_challenge(nonce)?
            .filter(|c| c.purpose == SIGNING)
        else {
            return Ok(invalid(
                "the statement's nonce is unknown or was already used",
            ));
        };
        if record.expires_at <= now {
            return Ok(invalid("the statement's nonce expired; ask for a new one"));
        }
        let data: NonceData = serde_json::from_value(record.data)
            .map_err(|e| LedgerError::Integrity(format!("stored nonce: {e}")))?;
        if record.identity.as_deref() != Some(p.actor.as_str())
            || data.request != p.request
            || data.key_id != p.key_id
            || data.principal != p.principal
        {
            return Ok(invalid(
                "the nonce was issued for another signer, request, passkey or approver",
            ));
        }
        if data.require_user_verification && !verified.user_verified {
            return Ok(Err(Refusal::new(
                ErrorCode::SignatureInvalid,
                "this signature needed user verification (the policy asks for step-up), but the passkey did not verify the user",
            )));
        }
        Ok(Ok(()))
    }

    /// Turn a browser's answer to an issued statement into a DSSE envelope
    /// and submit it like any signature. `credential_id`,
    /// `authenticator_data`, `client_data_json` and `signature` are the
    /// assertion's byte strings.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_passkey_signature(
        &self,
        nonce: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        client_data_json: &[u8],
        signature: &[u8],
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Submission> {
        let record = self
            .store
            .read()?
            .web_challenge(nonce)?
            .filter(|c| c.purpose == SIGNING)
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::NonceInvalid,
                    "unknown or already used signing nonce; ask for a new statement",
                )
            })?;
        let data: NonceData = serde_json::from_value(record.data)
            .map_err(|e| LedgerError::Integrity(format!("stored nonce: {e}")))?;
        let sig = countersign_attest::passkey::passkey_signature(
            &data.key_id,
            credential_id,
            authenticator_data,
            client_data_json,
            signature,
        )
        .map_err(|e| LedgerError::refused(ErrorCode::StatementInvalid, e.to_string()))?;
        let envelope = Envelope {
            payload: data.payload,
            payload_type: data.payload_type,
            signatures: vec![sig],
        };
        self.submit_signature(&envelope, caller, now)
    }
}

impl Ledger {
    /// Issue a control-exception resolution for `resolver`'s passkey to
    /// sign: a `ResolutionStatement` over the exception's current revision
    /// with a fresh nonce, remembered with its exact bytes.
    pub fn issue_resolution(
        &self,
        id: &str,
        resolver: &str,
        resolution: countersign_proto::iga::Resolution,
        justification: String,
        now: OffsetDateTime,
    ) -> Result<IssuedStatement> {
        countersign_domain::check_text("justification", &justification, 1, 4000)?;
        let tx = self.store.read()?;
        let e = tx.control_exception(id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::ControlExceptionNotFound,
                format!("no control exception {id:?}"),
            )
        })?;
        let credential = pick_credential(&*tx, resolver, None, now)?
            .filter(|c| c.kind == CredentialKind::Passkey)
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::CredentialUnknown,
                    format!("{resolver} has no usable passkey to sign with; add one first"),
                )
            })?;
        drop(tx);
        let nonce = super::web::random_secret();
        let statement = countersign_proto::iga::ResolutionStatement {
            exception: e.id.clone(),
            revision: e.revision,
            resolution,
            justification,
            resolver: resolver.to_string(),
            key_id: credential.key_id.clone(),
            signed_at: now,
            nonce: Some(nonce.clone()),
        };
        let payload = serde_json::to_vec(&statement)
            .map_err(|e| LedgerError::Integrity(format!("encoding a resolution: {e}")))?;
        let payload_type = countersign_proto::iga::RESOLUTION_PAYLOAD_TYPE.to_string();
        let challenge = countersign_attest::passkey::signing_challenge(&payload_type, &payload);
        let record = WebChallenge {
            id: nonce.clone(),
            purpose: RESOLUTION.to_string(),
            identity: Some(resolver.to_string()),
            data: serde_json::json!({
                "exception": e.id,
                "key_id": credential.key_id,
                "payload": B64.encode(&payload),
                "payload_type": payload_type,
            }),
            expires_at: now + self.config.web.challenge_lifetime,
        };
        let mut tx = self.begin(now)?;
        tx.put_web_challenge(&record)?;
        tx.commit()?;
        Ok(IssuedStatement {
            nonce,
            statement: None,
            payload_type,
            payload,
            challenge,
            require_user_verification: true,
            credential,
            expires_at: record.expires_at,
        })
    }

    /// Turn a browser's answer to an issued resolution into the signed
    /// envelope and resolve the exception with it.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_passkey_resolution(
        &self,
        nonce: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        client_data_json: &[u8],
        signature: &[u8],
        resolver: &str,
        now: OffsetDateTime,
    ) -> Result<super::Receipted<countersign_proto::iga::ControlException>> {
        let record = self
            .store
            .read()?
            .web_challenge(nonce)?
            .filter(|c| c.purpose == RESOLUTION)
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::NonceInvalid,
                    "unknown or already used resolution nonce; start again",
                )
            })?;
        let field = |k: &str| record.data[k].as_str().unwrap_or_default().to_string();
        let sig = countersign_attest::passkey::passkey_signature(
            &field("key_id"),
            credential_id,
            authenticator_data,
            client_data_json,
            signature,
        )
        .map_err(|e| LedgerError::refused(ErrorCode::ResolutionInvalid, e.to_string()))?;
        let envelope = Envelope {
            payload: field("payload"),
            payload_type: field("payload_type"),
            signatures: vec![sig],
        };
        self.resolve_control(
            &field("exception"),
            &envelope,
            Some(resolver),
            resolver,
            now,
        )
    }
}

/// base64url of a challenge, as WebAuthn's JSON forms write it.
pub fn challenge_b64url(challenge: &[u8]) -> String {
    B64URL.encode(challenge)
}
