//! SQL for the browser's operational records: WebAuthn and sign-in
//! challenges, sessions, enrolment invitations, passkey signature
//! counters, and the mail outbox. None of it is audit: the log records
//! what these ceremonies led to, not the ceremonies themselves.

use countersign_store::{InvitationRecord, MailRecord, Result, SessionRecord, WebChallenge};
use rusqlite::{params, OptionalExtension as _};
use time::OffsetDateTime;

use crate::{backend, from_json, to_json, SqliteTx};

/// The columns of `web_challenges` besides the JSON body.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChallengeBody {
    data: serde_json::Value,
}

impl SqliteTx<'_> {
    pub(crate) fn sign_count_(&self, key_id: &str) -> Result<Option<u32>> {
        let n: Option<i64> = self
            .conn
            .query_row(
                "SELECT count FROM sign_counts WHERE key_id = ?1",
                [key_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        Ok(n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    pub(crate) fn set_sign_count_(&self, key_id: &str, count: u32) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sign_counts (key_id, count) VALUES (?1, ?2)
                 ON CONFLICT (key_id) DO UPDATE SET count = excluded.count",
                params![key_id, count],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn web_challenge_(&self, id: &str) -> Result<Option<WebChallenge>> {
        let row: Option<(String, Option<String>, i64, String)> = self
            .conn
            .query_row(
                "SELECT purpose, identity, expires_at, body FROM web_challenges WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(backend)?;
        let Some((purpose, identity, expires_at, body)) = row else {
            return Ok(None);
        };
        let body: ChallengeBody = from_json("web challenge", &body)?;
        Ok(Some(WebChallenge {
            id: id.to_string(),
            purpose,
            identity,
            data: body.data,
            expires_at: OffsetDateTime::from_unix_timestamp(expires_at)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }))
    }

    pub(crate) fn put_web_challenge_(&self, c: &WebChallenge) -> Result<()> {
        let body = to_json(&ChallengeBody {
            data: c.data.clone(),
        })?;
        self.conn
            .execute(
                "INSERT INTO web_challenges (id, purpose, identity, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at",
                params![c.id, c.purpose, c.identity, c.expires_at.unix_timestamp(), body],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn take_web_challenge_(&self, id: &str) -> Result<Option<WebChallenge>> {
        let found = self.web_challenge_(id)?;
        if found.is_some() {
            self.conn
                .execute("DELETE FROM web_challenges WHERE id = ?1", [id])
                .map_err(backend)?;
        }
        Ok(found)
    }

    pub(crate) fn put_session_(&self, s: &SessionRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sessions (id, identity, credential, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at",
                params![s.id, s.identity, s.credential, s.expires_at.unix_timestamp(), to_json(s)?],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_invitation_(&self, i: &InvitationRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO invitations (id, token_sha256, identity, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![i.id, i.token_sha256, i.identity, i.expires_at.unix_timestamp(), to_json(i)?],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_mail_(&self, m: &MailRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO mails (id, identity, state, due, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, due = excluded.due, body = excluded.body",
                params![
                    m.id,
                    m.identity,
                    m.state.as_str(),
                    m.next_attempt_at.unix_timestamp(),
                    to_json(m)?
                ],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn due_mails_(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<MailRecord>> {
        self.many(
            "mail",
            "SELECT body FROM mails WHERE state = 'pending' AND due <= ?1 ORDER BY due, rowid LIMIT ?2",
            &[&now.unix_timestamp(), &limit],
        )
    }

    pub(crate) fn reminded_(&self, request: &str, identity: &str, offset: i64) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM reminders WHERE request = ?1 AND identity = ?2 AND offset_seconds = ?3",
                params![request, identity, offset],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(backend)
    }

    pub(crate) fn purge_expired_(&self, now: OffsetDateTime) -> Result<u64> {
        let t = now.unix_timestamp();
        let mut n = 0;
        for sql in [
            "DELETE FROM web_challenges WHERE expires_at < ?1",
            "DELETE FROM sessions WHERE expires_at < ?1",
            // Used or expired links stay a week for the identity's history page.
            "DELETE FROM invitations WHERE expires_at < ?1 - 604800",
            "DELETE FROM challenges WHERE expires_at < ?1",
        ] {
            n += self.conn.execute(sql, [t]).map_err(backend)? as u64;
        }
        Ok(n)
    }
}
