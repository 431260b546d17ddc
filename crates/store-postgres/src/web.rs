//! SQL for the browser's operational records: WebAuthn and sign-in
//! challenges, sessions, enrolment invitations, passkey signature
//! counters, and the mail outbox. None of it is audit: the log records
//! what these ceremonies led to, not the ceremonies themselves.

use countersign_store::{InvitationRecord, MailRecord, Result, SessionRecord, WebChallenge};
use time::OffsetDateTime;

use crate::{col, from_json, to_json, PgTx};

/// The columns of `web_challenges` besides the JSON body.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChallengeBody {
    data: serde_json::Value,
}

impl PgTx<'_> {
    pub(crate) fn sign_count_(&self, key_id: &str) -> Result<Option<u32>> {
        let n: Option<i64> = self
            .query_first(
                "SELECT count FROM sign_counts WHERE key_id = $1",
                &[&key_id],
            )?
            .map(|r| col(&r, 0))
            .transpose()?;
        Ok(n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    pub(crate) fn set_sign_count_(&self, key_id: &str, count: u32) -> Result<()> {
        self.execute(
            "INSERT INTO sign_counts (key_id, count) VALUES ($1, $2)
             ON CONFLICT (key_id) DO UPDATE SET count = excluded.count",
            &[&key_id, &i64::from(count)],
        )
        .map(drop)
    }

    pub(crate) fn web_challenge_(&self, id: &str) -> Result<Option<WebChallenge>> {
        let Some(r) = self.query_first(
            "SELECT purpose, identity, expires_at, body FROM web_challenges WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let body: ChallengeBody = from_json("web challenge", &col::<String>(&r, 3)?)?;
        Ok(Some(WebChallenge {
            id: id.to_string(),
            purpose: col(&r, 0)?,
            identity: col(&r, 1)?,
            data: body.data,
            expires_at: OffsetDateTime::from_unix_timestamp(col(&r, 2)?)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }))
    }

    pub(crate) fn put_web_challenge_(&self, c: &WebChallenge) -> Result<()> {
        let body = to_json(&ChallengeBody {
            data: c.data.clone(),
        })?;
        self.execute(
            "INSERT INTO web_challenges (id, purpose, identity, expires_at, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at",
            &[
                &c.id,
                &c.purpose,
                &c.identity,
                &c.expires_at.unix_timestamp(),
                &body,
            ],
        )
        .map(drop)
    }

    pub(crate) fn take_web_challenge_(&self, id: &str) -> Result<Option<WebChallenge>> {
        let found = self.web_challenge_(id)?;
        if found.is_some() {
            self.execute("DELETE FROM web_challenges WHERE id = $1", &[&id])?;
        }
        Ok(found)
    }

    pub(crate) fn put_session_(&self, s: &SessionRecord) -> Result<()> {
        self.execute(
            "INSERT INTO sessions (id, identity, credential, expires_at, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at",
            &[
                &s.id,
                &s.identity,
                &s.credential,
                &s.expires_at.unix_timestamp(),
                &to_json(s)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn put_invitation_(&self, i: &InvitationRecord) -> Result<()> {
        self.execute(
            "INSERT INTO invitations (id, token_sha256, identity, expires_at, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            &[
                &i.id,
                &i.token_sha256,
                &i.identity,
                &i.expires_at.unix_timestamp(),
                &to_json(i)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn put_mail_(&self, m: &MailRecord) -> Result<()> {
        self.execute(
            "INSERT INTO mails (id, identity, state, due, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, due = excluded.due, body = excluded.body",
            &[
                &m.id,
                &m.identity,
                &m.state.as_str(),
                &m.next_attempt_at.unix_timestamp(),
                &to_json(m)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn due_mails_(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<MailRecord>> {
        self.many(
            "mail",
            "SELECT body FROM mails WHERE state = 'pending' AND due <= $1 ORDER BY due, seq LIMIT $2",
            &[&now.unix_timestamp(), &i64::from(limit)],
        )
    }

    pub(crate) fn reminded_(&self, request: &str, identity: &str, offset: i64) -> Result<bool> {
        self.query_first(
            "SELECT 1 FROM reminders WHERE request = $1 AND identity = $2 AND offset_seconds = $3",
            &[&request, &identity, &offset],
        )
        .map(|r| r.is_some())
    }

    pub(crate) fn purge_expired_(&self, now: OffsetDateTime) -> Result<u64> {
        let t = now.unix_timestamp();
        let mut n = 0;
        for sql in [
            "DELETE FROM web_challenges WHERE expires_at < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
            // Used or expired links stay a week for the identity's history page.
            "DELETE FROM invitations WHERE expires_at < $1::bigint - 604800",
            "DELETE FROM challenges WHERE expires_at < $1",
        ] {
            n += self.execute(sql, &[&t])?;
        }
        Ok(n)
    }
}
