//! SQL for personal values: the openings of the commitments in log
//! entries, legal holds, and scrubbing a person from the operational
//! records when they are erased.

use countersign_proto::governance::LegalHold;
use countersign_store::rows::{scrub_personal, OpeningRow, BODY_TABLES};
use countersign_store::{Result, StoreError, StoredOpening};
use postgres::Row;
use serde_json::Value;

use crate::{col, to_i64, to_json, PgTx};

const COLUMNS: &str =
    "commitment, salt, value, log_index, path, subject, request, class, at, erased_by";

fn stored(r: &Row) -> Result<StoredOpening> {
    OpeningRow {
        commitment: col(r, 0)?,
        salt: col(r, 1)?,
        value: col(r, 2)?,
        log_index: col(r, 3)?,
        path: col(r, 4)?,
        subject: col(r, 5)?,
        request: col(r, 6)?,
        class: col(r, 7)?,
        at: col(r, 8)?,
        erased_by: col(r, 9)?,
    }
    .into_stored()
}

impl PgTx<'_> {
    pub(crate) fn opening_(&self, commitment: &str) -> Result<Option<StoredOpening>> {
        self.query_first(
            &format!("SELECT {COLUMNS} FROM openings WHERE commitment = $1"),
            &[&commitment],
        )?
        .map(|r| stored(&r))
        .transpose()
    }

    pub(crate) fn openings_(&self, commitments: &[String]) -> Result<Vec<StoredOpening>> {
        if commitments.is_empty() {
            return Ok(Vec::new());
        }
        self.query(
            &format!("SELECT {COLUMNS} FROM openings WHERE commitment = ANY($1)"),
            &[&commitments],
        )?
        .iter()
        .map(stored)
        .collect()
    }

    pub(crate) fn openings_of_(&self, handle: &str) -> Result<Vec<StoredOpening>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM openings WHERE subject = $1 ORDER BY log_index"),
            &[&handle],
        )?
        .iter()
        .map(stored)
        .collect()
    }

    pub(crate) fn put_opening_(&self, o: &StoredOpening) -> Result<()> {
        self.execute(
            &format!(
                "INSERT INTO openings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &o.commitment,
                &o.opening.as_ref().map(|x| &x.salt),
                &o.opening.as_ref().map(|x| &x.value),
                &to_i64(o.log_index)?,
                &o.path,
                &o.subject,
                &o.request,
                &o.class.name(),
                &o.at.unix_timestamp(),
                &o.erased_by.map(to_i64).transpose()?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn erase_opening_(&self, commitment: &str, erased_by: u64) -> Result<()> {
        self.execute(
            "UPDATE openings SET salt = NULL, value = NULL, erased_by = $2 WHERE commitment = $1",
            &[&commitment, &to_i64(erased_by)?],
        )
        .map(drop)
    }

    pub(crate) fn put_hold_(&self, h: &LegalHold) -> Result<()> {
        self.execute(
            "INSERT INTO legal_holds (id, identity, request, log_index, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET log_index = excluded.log_index, body = excluded.body",
            &[
                &h.id,
                &h.identity,
                &h.request,
                &to_i64(h.log_index)?,
                &to_json(h)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn scrub_person_(
        &self,
        handle: &str,
        values: &[String],
        replacement: &str,
    ) -> Result<u64> {
        let mut changed = 0u64;
        for table in ["sessions", "invitations", "mails"] {
            changed += self.execute(
                &format!("DELETE FROM {table} WHERE identity = $1"),
                &[&handle],
            )?;
        }
        changed += self.execute("DELETE FROM scim_resources WHERE identity = $1", &[&handle])?;
        changed += self.execute(
            "UPDATE identity_history SET reason = NULL WHERE handle = $1 AND reason IS NOT NULL",
            &[&handle],
        )?;
        if values.is_empty() {
            return Ok(changed);
        }
        let quoted = serde_json::to_string(handle)
            .map_err(|e| StoreError::Backend(format!("encoding handle: {e}")))?;
        for (table, column) in BODY_TABLES {
            let (filter, key) = match column {
                Some(c) => (format!("{c} = $1"), handle.to_string()),
                None => ("strpos(body, $1) > 0".to_string(), quoted.clone()),
            };
            // Rows are named by ctid, as SQLite's by rowid: no other
            // writer runs (this transaction holds the log's lock) and a
            // row's ctid changes only when the row itself is updated,
            // which happens to each row once, below.
            let rows = self.query(
                &format!("SELECT ctid::text, body FROM {table} WHERE {filter}"),
                &[&key],
            )?;
            for row in rows {
                let ctid: String = col(&row, 0)?;
                let body: String = col(&row, 1)?;
                let Ok(mut json) = serde_json::from_str::<Value>(&body) else {
                    continue;
                };
                if !scrub_personal(&mut json, values, replacement) {
                    continue;
                }
                let body = to_json(&json)?;
                if *table == "identities" {
                    // The email column follows the body, as SQLite's
                    // json_extract index does.
                    let email = json
                        .get("email")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase);
                    self.execute(
                        "UPDATE identities SET body = $2, email_lower = $3 WHERE ctid = $1::text::tid",
                        &[&ctid, &body, &email],
                    )?;
                } else {
                    self.execute(
                        &format!("UPDATE {table} SET body = $2 WHERE ctid = $1::text::tid"),
                        &[&ctid, &body],
                    )?;
                }
                changed += 1;
            }
        }
        Ok(changed)
    }
}
