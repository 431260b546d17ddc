//! What the browser needs from the ledger: sessions, single-use ceremony
//! challenges, enrolment invitations, passkey enrolment and sign-in.
//!
//! The WebAuthn ceremonies themselves are verified by the server with
//! `countersign-webauthn` (they need the relying party's settings and the
//! trusted attestation roots); the ledger receives what they proved and
//! applies the rules: only active identities sign in, an enrolment link
//! works once and in time, a passkey's signature counter never goes back,
//! and a session ends with its identity's activity or its credential.
//! Enrolments and invitations are logged; sessions and challenges are
//! operational state and are not.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use countersign_domain::identity::{self, PasskeyEnrolment};
use countersign_proto::entry::Event;
use countersign_proto::model::{Credential, CredentialKind, Identity, IdentityStatus};
use countersign_proto::notify::NotificationKind;
use countersign_proto::passkey::Invitation;
use countersign_proto::ErrorCode;
use rand_core::{OsRng, RngCore as _};
use time::{Duration, OffsetDateTime};

use super::{Ledger, LedgerError, Receipted, Result};
use crate::{InvitationRecord, ReadTx, SessionRecord, WebChallenge, WriteTx};

/// Settings of the web app and its ceremonies.
#[derive(Clone, Debug)]
pub struct WebRules {
    /// Where people reach Countersign (`https://countersign.example.com`):
    /// links in mails point here.
    pub public_url: String,
    /// The WebAuthn relying party id (a registrable domain, `localhost`).
    pub rp_id: String,
    /// The origins a WebAuthn ceremony may come from.
    pub origins: Vec<String>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub session_max: Duration,
    /// Default lifetime of an enrolment link.
    pub invitation_lifetime: Duration,
    /// Lifetime of a signing nonce and of a ceremony challenge.
    pub challenge_lifetime: Duration,
    /// Send a SCIM joiner an enrolment link by mail when they are created.
    pub invite_scim_joiners: bool,
}

impl Default for WebRules {
    fn default() -> Self {
        WebRules {
            public_url: "http://localhost:8440".to_string(),
            rp_id: "localhost".to_string(),
            origins: vec!["http://localhost:8440".to_string()],
            session_idle: Duration::minutes(30),
            session_max: Duration::hours(12),
            invitation_lifetime: Duration::hours(72),
            challenge_lifetime: Duration::minutes(5),
            invite_scim_joiners: true,
        }
    }
}

/// The longest an enrolment link may live.
const MAX_INVITATION: Duration = Duration::days(14);

/// How stale `last_seen` may get before a request refreshes it: sessions
/// are touched at most once a minute (or a quarter of the idle timeout,
/// if that is shorter), not on every page.
fn touch_every(idle: Duration) -> Duration {
    Duration::minutes(1).min(idle / 4)
}

/// A random secret, base64url: session tokens, link secrets, challenge ids.
pub fn random_secret() -> String {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The stored form of a secret handed to a browser: its SHA-256, hex.
fn sha256_hex(s: &str) -> String {
    countersign_attest::keys::sha256_hex(s.as_bytes())
}

/// How a sign-in was made, for a new session.
#[derive(Clone, Debug)]
pub struct SignIn {
    pub identity: String,
    /// `passkey`, `oidc:<issuer>`.
    pub method: String,
    /// The passkey signed in with.
    pub credential: Option<String>,
    pub aal: u8,
    pub auth_time: Option<OffsetDateTime>,
}

impl Ledger {
    pub fn web(&self) -> &WebRules {
        &self.config.web
    }

    // ----------------------------------------------------------- challenges

    /// Issue a single-use ceremony challenge; answers its id.
    pub fn issue_challenge(
        &self,
        purpose: &str,
        identity: Option<&str>,
        data: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<WebChallenge> {
        let challenge = WebChallenge {
            id: random_secret(),
            purpose: purpose.to_string(),
            identity: identity.map(str::to_string),
            data,
            expires_at: now + self.config.web.challenge_lifetime,
        };
        let mut tx = self.begin(now)?;
        tx.put_web_challenge(&challenge)?;
        tx.commit()?;
        Ok(challenge)
    }

    /// Take (and so use up) a challenge issued for `purpose`.
    pub fn take_challenge(
        &self,
        id: &str,
        purpose: &str,
        now: OffsetDateTime,
    ) -> Result<WebChallenge> {
        let mut tx = self.begin(now)?;
        let found = tx.take_web_challenge(id)?;
        tx.commit()?;
        match found {
            Some(c) if c.purpose == purpose && c.expires_at > now => Ok(c),
            Some(c) if c.purpose == purpose => Err(LedgerError::refused(
                ErrorCode::WebauthnFailed,
                "the ceremony took too long and its challenge expired; try again",
            )),
            _ => Err(LedgerError::refused(
                ErrorCode::WebauthnFailed,
                "unknown or already used challenge; reload the page and try again",
            )),
        }
    }

    // ----------------------------------------------------------- sessions

    /// Start a session for an active identity; answers the session token
    /// (the cookie's value; only its hash is stored) and the record.
    pub fn start_session(
        &self,
        sign_in: SignIn,
        now: OffsetDateTime,
    ) -> Result<(String, SessionRecord)> {
        let mut tx = self.begin(now)?;
        let who = Self::load_identity(&*tx, &sign_in.identity)?;
        if who.status != IdentityStatus::Active {
            return Err(LedgerError::refused(
                ErrorCode::ActorNotActive,
                format!("{} is {}", who.handle, who.status.as_str()),
            ));
        }
        let token = random_secret();
        let session = SessionRecord {
            id: sha256_hex(&token),
            identity: who.handle,
            csrf: random_secret(),
            method: sign_in.method,
            credential: sign_in.credential,
            aal: sign_in.aal.clamp(1, 3),
            auth_time: sign_in.auth_time,
            created_at: now,
            last_seen: now,
            expires_at: now + self.config.web.session_max,
            viewed: Vec::new(),
        };
        tx.put_session(&session)?;
        tx.commit()?;
        Ok((token, session))
    }

    /// The live session behind a token, with its identity. A session past
    /// its idle or absolute timeout, or whose identity is no longer
    /// active, is ended and answers `None`.
    pub fn session(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, Identity)>> {
        let id = sha256_hex(token);
        let (session, who) = {
            let tx = self.store.read()?;
            let Some(session) = tx.session(&id)? else {
                return Ok(None);
            };
            let who = tx.identity(&session.identity)?;
            (session, who)
        };
        let live = now < session.expires_at
            && now < session.last_seen + self.config.web.session_idle
            && who
                .as_ref()
                .is_some_and(|w| w.status == IdentityStatus::Active);
        if !live {
            let mut tx = self.begin(now)?;
            tx.delete_session(&id)?;
            tx.commit()?;
            return Ok(None);
        }
        let Some(who) = who else {
            return Ok(None);
        };
        if now - session.last_seen >= touch_every(self.config.web.session_idle) {
            let mut tx = self.begin(now)?;
            // Re-read inside the write: the session may have ended meanwhile.
            if let Some(mut s) = tx.session(&id)? {
                s.last_seen = now;
                tx.put_session(&s)?;
                tx.commit()?;
                return Ok(Some((s, who)));
            }
            return Ok(None);
        }
        Ok(Some((session, who)))
    }

    /// End a session (sign-out).
    pub fn end_session(&self, session_id: &str) -> Result<()> {
        let mut tx = self.begin_operational()?;
        tx.delete_session(session_id)?;
        tx.commit()?;
        Ok(())
    }

    /// Remember that the session fetched a document version's bytes.
    pub fn note_viewed(&self, session_id: &str, sha256: &str) -> Result<()> {
        let mut tx = self.begin_operational()?;
        if let Some(mut s) = tx.session(session_id)? {
            if !s.viewed.iter().any(|v| v == sha256) {
                s.viewed.push(sha256.to_string());
                tx.put_session(&s)?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Record a fresh verification in a session (a passkey assertion with
    /// user verification made for a signature): later policy questions see
    /// the new authentication time.
    pub fn refresh_session(
        &self,
        session_id: &str,
        aal: u8,
        auth_time: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin_operational()?;
        if let Some(mut s) = tx.session(session_id)? {
            s.aal = s.aal.max(aal).min(3);
            s.auth_time = Some(s.auth_time.map_or(auth_time, |t| t.max(auth_time)));
            tx.put_session(&s)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Drop expired challenges, sessions and old invitations.
    pub fn purge_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let mut tx = self.begin(now)?;
        let n = tx.purge_expired(now)?;
        tx.commit()?;
        Ok(n)
    }

    // ----------------------------------------------------------- invitations

    /// Issue a single-use enrolment link for `handle`'s first passkey
    /// (logged as `invitation.issued`, never with the secret); with
    /// `send_mail`, the link is also mailed to the identity.
    pub fn invite(
        &self,
        handle: &str,
        lifetime: Option<Duration>,
        send_mail: bool,
        issued_by: &str,
        now: OffsetDateTime,
    ) -> Result<Invitation> {
        let lifetime = lifetime.unwrap_or(self.config.web.invitation_lifetime);
        if lifetime <= Duration::ZERO || lifetime > MAX_INVITATION {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                "an enrolment link lives between 1 second and 14 days",
            ));
        }
        if send_mail && !self.mail_enabled() {
            return Err(LedgerError::refused(
                ErrorCode::MailNotConfigured,
                "mail is not configured on this server ([smtp]); hand the link over yourself",
            ));
        }
        let mut tx = self.begin(now)?;
        let who = Self::load_identity(&*tx, handle)?;
        if who.status != IdentityStatus::Active || !who.kind.is_human() {
            return Err(LedgerError::refused(
                ErrorCode::ActorNotActive,
                format!(
                    "{handle} is a {} {} identity; enrolment links are for active people",
                    who.status.as_str(),
                    who.kind.as_str()
                ),
            ));
        }
        if send_mail && who.email.is_none() {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                format!("{handle} has no e-mail address to send the link to"),
            ));
        }
        Self::no_live_passkey(&*tx, &who, now)?;
        Self::retire_invitations(&mut *tx, &who.handle, now)?;
        let index = tx.tree_size()?;
        let (record, url, event) =
            self.new_invitation(&mut *tx, &who, issued_by, lifetime, send_mail, index, now)?;
        let index = tx.commit_event(event)?;
        Ok(Invitation {
            id: record.id,
            identity: who.handle,
            url,
            expires_at: record.expires_at,
            mailed: send_mail,
            log_index: index,
        })
    }

    /// Issue an invitation inside a caller's transaction (a SCIM joiner):
    /// answers the events to append. Used where the link is only mailed.
    pub(crate) fn invite_joiner(
        &self,
        tx: &mut dyn WriteTx,
        who: &Identity,
        index: u64,
        now: OffsetDateTime,
    ) -> Result<Option<Event>> {
        if !self.config.web.invite_scim_joiners
            || !self.mail_enabled()
            || who.email.is_none()
            || !who.kind.is_human()
        {
            return Ok(None);
        }
        let lifetime = self.config.web.invitation_lifetime;
        let (_, _, event) = self.new_invitation(tx, who, "scim", lifetime, true, index, now)?;
        Ok(Some(event))
    }

    /// Store a new enrolment link for `who` (its entry will be at
    /// `index`), mail it when `send_mail`: answers the record, the link and
    /// the event to log (which never holds the link's secret).
    #[allow(clippy::too_many_arguments)]
    fn new_invitation(
        &self,
        tx: &mut dyn WriteTx,
        who: &Identity,
        issued_by: &str,
        lifetime: Duration,
        send_mail: bool,
        index: u64,
        now: OffsetDateTime,
    ) -> Result<(InvitationRecord, String, Event)> {
        let secret = random_secret();
        let record = InvitationRecord {
            id: super::new_id("inv"),
            token_sha256: sha256_hex(&secret),
            identity: who.handle.clone(),
            issued_by: issued_by.to_string(),
            created_at: now,
            expires_at: now + lifetime,
            used_at: None,
            log_index: index,
        };
        tx.put_invitation(&record)?;
        let url = format!("{}/enrol/{secret}", self.config.web.public_url);
        if send_mail {
            let mail = countersign_domain::notify::invitation(who, &url, record.expires_at);
            self.queue_mail(tx, who, NotificationKind::Invitation, None, mail, now)?;
        }
        let event = Event::InvitationIssued {
            invitation: record.id.clone(),
            identity: who.handle.clone(),
            expires_at: record.expires_at,
            issued_by: issued_by.to_string(),
        };
        Ok((record, url, event))
    }

    /// Refuse an enrolment link for someone who already holds a live
    /// passkey: a link that leaked or was sent twice must not let its
    /// holder add their own passkey to the account.
    fn no_live_passkey(tx: &dyn ReadTx, who: &Identity, now: OffsetDateTime) -> Result<()> {
        let live = tx.credentials_of(&who.handle)?.into_iter().any(|c| {
            c.kind == CredentialKind::Passkey && identity::credential_valid_at(&c, now).is_ok()
        });
        if live {
            return Err(LedgerError::refused(
                ErrorCode::PasskeyExists,
                format!(
                    "{} already has a passkey; another is added from the account page \
                     once signed in, and a lost one is revoked before a new link is issued",
                    who.handle
                ),
            ));
        }
        Ok(())
    }

    /// Use up every unused link of `handle` (a newer link replaces the
    /// older ones; an enrolment uses up them all).
    fn retire_invitations(tx: &mut dyn WriteTx, handle: &str, now: OffsetDateTime) -> Result<()> {
        for mut inv in tx.invitations_of(handle)? {
            if inv.used_at.is_none() {
                inv.used_at = Some(now);
                tx.put_invitation(&inv)?;
            }
        }
        Ok(())
    }

    /// The unused, unexpired invitation behind a link's secret, with its
    /// identity (which must be active).
    pub fn invitation(
        &self,
        secret: &str,
        now: OffsetDateTime,
    ) -> Result<(InvitationRecord, Identity)> {
        let tx = self.store.read()?;
        let (inv, who) = Self::live_invitation(&*tx, &sha256_hex(secret), now)?;
        Self::no_live_passkey(&*tx, &who, now)?;
        Ok((inv, who))
    }

    fn live_invitation(
        tx: &dyn ReadTx,
        token_sha256: &str,
        now: OffsetDateTime,
    ) -> Result<(InvitationRecord, Identity)> {
        let invalid = |why: &str| {
            LedgerError::refused(
                ErrorCode::InvitationInvalid,
                format!("this enrolment link {why}; ask your administrator for a new one"),
            )
        };
        let inv = tx
            .invitation(token_sha256)?
            .ok_or_else(|| invalid("is not known"))?;
        if inv.used_at.is_some() {
            return Err(invalid("was already used, or a newer link replaced it"));
        }
        if inv.expires_at <= now {
            return Err(invalid("has expired"));
        }
        let who = Self::load_identity(tx, &inv.identity)?;
        if who.status != IdentityStatus::Active {
            return Err(invalid("belongs to an identity that is no longer active"));
        }
        Ok((inv, who))
    }

    // ----------------------------------------------------------- passkeys

    /// Enrol a passkey whose registration ceremony verified, for `handle`,
    /// logged as `credential.enrolled` (the ceremony is the proof of
    /// possession). With `invitation` (a link's secret), the link is used
    /// up in the same transaction and must belong to `handle`.
    pub fn enroll_passkey(
        &self,
        handle: &str,
        enrolment: &PasskeyEnrolment,
        sign_count: u32,
        label: Option<String>,
        invitation: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Credential>> {
        let mut tx = self.begin(now)?;
        let who = match invitation {
            Some(secret) => {
                let (_, who) = Self::live_invitation(&*tx, &sha256_hex(secret), now)?;
                if who.handle != handle {
                    return Err(LedgerError::refused(
                        ErrorCode::InvitationInvalid,
                        "this enrolment link belongs to someone else",
                    ));
                }
                Self::no_live_passkey(&*tx, &who, now)?;
                // This link and any other of theirs are used up.
                Self::retire_invitations(&mut *tx, handle, now)?;
                who
            }
            None => Self::load_identity(&*tx, handle)?,
        };
        let kid = identity::passkey_key_id(&enrolment.credential_id);
        let existing = tx.credential(&kid)?;
        let index = tx.tree_size()?;
        let credential =
            identity::enroll_passkey(&who, enrolment, label, existing.as_ref(), index, now)?;
        tx.put_credential(&credential)?;
        tx.set_sign_count(&credential.key_id, sign_count)?;
        tx.commit_event(Event::CredentialEnrolled {
            credential: credential.clone(),
        })?;
        Ok(Receipted {
            value: credential,
            log_index: index,
        })
    }

    /// The passkey a browser names by its credential id, if enrolled.
    pub fn passkey(&self, key_id: &str) -> Result<Option<Credential>> {
        Ok(self
            .store
            .read()?
            .credential(key_id)?
            .filter(|c| c.kind == CredentialKind::Passkey))
    }

    /// Accept a verified sign-in assertion by passkey `key_id` reporting
    /// `sign_count`: the credential must be usable now, its identity
    /// active, and its counter must move forward. Answers the credential
    /// and its identity.
    pub fn passkey_sign_in(
        &self,
        key_id: &str,
        user_handle: Option<&[u8]>,
        sign_count: u32,
        now: OffsetDateTime,
    ) -> Result<(Credential, Identity)> {
        let mut tx = self.begin(now)?;
        let c = tx
            .credential(key_id)?
            .filter(|c| c.kind == CredentialKind::Passkey)
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::CredentialUnknown,
                    "this passkey is not enrolled here",
                )
            })?;
        identity::credential_valid_at(&c, now)?;
        let who = Self::load_identity(&*tx, &c.identity)?;
        if who.status != IdentityStatus::Active {
            return Err(LedgerError::refused(
                ErrorCode::ActorNotActive,
                format!("{} is {}", who.handle, who.status.as_str()),
            ));
        }
        // A discoverable passkey names its user: it must be this one.
        if user_handle.is_some_and(|h| h != who.id.as_bytes()) {
            return Err(LedgerError::refused(
                ErrorCode::WebauthnFailed,
                "the passkey's user handle does not belong to its credential",
            ));
        }
        Self::advance_counter(&mut *tx, key_id, sign_count)?;
        tx.commit()?;
        Ok((c, who))
    }

    /// Check and store a passkey's signature counter. Counters of zero mean
    /// the authenticator does not count (synced passkeys); otherwise a
    /// counter that does not increase is a sign of a cloned authenticator.
    pub(crate) fn advance_counter(
        tx: &mut dyn WriteTx,
        key_id: &str,
        sign_count: u32,
    ) -> Result<()> {
        let stored = tx.sign_count(key_id)?.unwrap_or(0);
        if (sign_count != 0 || stored != 0) && sign_count <= stored {
            return Err(LedgerError::refused(
                ErrorCode::AuthenticatorCloned,
                format!(
                    "the passkey's signature counter went from {stored} to {sign_count}; it may have been cloned, so it is not accepted"
                ),
            ));
        }
        tx.set_sign_count(key_id, sign_count)?;
        Ok(())
    }
}
