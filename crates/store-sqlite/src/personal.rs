//! SQL for personal values: the openings of the commitments in log
//! entries, legal holds, and scrubbing a person from the operational
//! records when they are erased.

use countersign_proto::governance::LegalHold;
use countersign_store::rows::{scrub_personal, OpeningRow, BODY_TABLES};
use countersign_store::{Result, StoreError, StoredOpening};
use rusqlite::{params, OptionalExtension as _, Row};
use serde_json::Value;

use crate::{backend, to_i64, to_json, SqliteTx};

const COLUMNS: &str =
    "commitment, salt, value, log_index, path, subject, request, class, at, erased_by";

fn row_of(r: &Row<'_>) -> rusqlite::Result<OpeningRow> {
    Ok(OpeningRow {
        commitment: r.get(0)?,
        salt: r.get(1)?,
        value: r.get(2)?,
        log_index: r.get(3)?,
        path: r.get(4)?,
        subject: r.get(5)?,
        request: r.get(6)?,
        class: r.get(7)?,
        at: r.get(8)?,
        erased_by: r.get(9)?,
    })
}

impl SqliteTx<'_> {
    pub(crate) fn opening_(&self, commitment: &str) -> Result<Option<StoredOpening>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM openings WHERE commitment = ?1"),
                [commitment],
                row_of,
            )
            .optional()
            .map_err(backend)?
            .map(OpeningRow::into_stored)
            .transpose()
    }

    pub(crate) fn openings_of_(&self, handle: &str) -> Result<Vec<StoredOpening>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM openings WHERE subject = ?1 ORDER BY log_index"
            ))
            .map_err(backend)?;
        let rows = stmt.query_map([handle], row_of).map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(backend)?.into_stored()?);
        }
        Ok(out)
    }

    pub(crate) fn put_opening_(&self, o: &StoredOpening) -> Result<()> {
        self.conn
            .execute(
                &format!("INSERT INTO openings ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    o.commitment,
                    o.opening.as_ref().map(|x| &x.salt),
                    o.opening.as_ref().map(|x| &x.value),
                    to_i64(o.log_index)?,
                    o.path,
                    o.subject,
                    o.request,
                    o.class.name(),
                    o.at.unix_timestamp(),
                    o.erased_by.map(to_i64).transpose()?,
                ],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn erase_opening_(&self, commitment: &str, erased_by: u64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE openings SET salt = NULL, value = NULL, erased_by = ?2 WHERE commitment = ?1",
                params![commitment, to_i64(erased_by)?],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_hold_(&self, h: &LegalHold) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO legal_holds (id, identity, request, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![h.id, h.identity, h.request, to_json(h)?],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn scrub_person_(
        &self,
        handle: &str,
        values: &[String],
        replacement: &str,
    ) -> Result<u64> {
        let mut changed = 0u64;
        for table in ["sessions", "invitations", "mails"] {
            changed += self
                .conn
                .execute(
                    &format!("DELETE FROM {table} WHERE identity = ?1"),
                    [handle],
                )
                .map_err(backend)? as u64;
        }
        changed += self
            .conn
            .execute("DELETE FROM scim_resources WHERE identity = ?1", [handle])
            .map_err(backend)? as u64;
        changed += self
            .conn
            .execute(
                "UPDATE identity_history SET reason = NULL WHERE handle = ?1 AND reason IS NOT NULL",
                [handle],
            )
            .map_err(backend)? as u64;
        if values.is_empty() {
            return Ok(changed);
        }
        let quoted = serde_json::to_string(handle)
            .map_err(|e| StoreError::Backend(format!("encoding handle: {e}")))?;
        for (table, column) in BODY_TABLES {
            let (filter, key) = match column {
                Some(c) => (format!("{c} = ?1"), handle.to_string()),
                None => ("instr(body, ?1) > 0".to_string(), quoted.clone()),
            };
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT rowid, body FROM {table} WHERE {filter}"))
                .map_err(backend)?;
            let rows: Vec<(i64, String)> = stmt
                .query_map([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)?;
            for (rowid, body) in rows {
                let Ok(mut json) = serde_json::from_str::<Value>(&body) else {
                    continue;
                };
                if scrub_personal(&mut json, values, replacement) {
                    self.conn
                        .execute(
                            &format!("UPDATE {table} SET body = ?2 WHERE rowid = ?1"),
                            params![rowid, to_json(&json)?],
                        )
                        .map_err(backend)?;
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }
}
