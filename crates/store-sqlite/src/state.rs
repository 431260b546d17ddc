//! SQL for the audit: every state table as stored, columns and bodies
//! unparsed, so that `log audit` compares them with the state it rebuilds
//! from the log and a row that does not parse is a finding, not an error.

use countersign_store::{EntryTerms, Result, StateRows, StoredReceipt};
use countersign_tlog::Hash;
use rusqlite::Row;
use sha2::{Digest as _, Sha256};

use crate::{backend, to_u64, SqliteTx};

impl SqliteTx<'_> {
    fn rows<T>(&self, sql: &str, f: impl Fn(&Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt.query_map([], f).map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(backend)
    }

    pub(crate) fn state_rows_(&self) -> Result<StateRows> {
        let identities = self.rows(
            "SELECT handle, kind, status, body FROM identities ORDER BY handle",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let credentials = self.rows(
            "SELECT key_id, identity, body FROM credentials ORDER BY key_id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let requests = self.rows(
            "SELECT id, state, requester, beneficiary, body FROM requests ORDER BY id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let request_approvers = self.rows(
            "SELECT request, approver FROM request_approvers ORDER BY request, approver",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let document_versions = self.rows(
            "SELECT name, version, sha256, body FROM document_versions ORDER BY name, version",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let blobs = self.rows("SELECT sha256, content FROM blobs ORDER BY sha256", |r| {
            let content: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, hex::encode(Sha256::digest(&content))))
        })?;
        let receipts = self
            .rows(
                "SELECT envelope_sha256, request, log_index, receipt FROM receipts ORDER BY log_index",
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?)),
            )?
            .into_iter()
            .map(|(e, request, i, receipt)| {
                Ok((
                    e,
                    StoredReceipt {
                        request,
                        log_index: to_u64(i)?,
                        receipt,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let tokens = self.rows("SELECT id, body FROM api_tokens ORDER BY id", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        let delegations = self.rows(
            "SELECT id, principal, delegate, body FROM delegations ORDER BY id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let entry_terms = self
            .rows(
                "SELECT idx, kind, request, identity, key_id FROM log_entries ORDER BY idx",
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        EntryTerms {
                            kind: r.get(1)?,
                            request: r.get(2)?,
                            identity: r.get(3)?,
                            key_id: r.get(4)?,
                        },
                    ))
                },
            )?
            .into_iter()
            .map(|(i, t)| Ok((to_u64(i)?, t)))
            .collect::<Result<Vec<_>>>()?;
        let tree_hashes = self
            .rows(
                "SELECT level, idx, hash FROM tree_hashes ORDER BY level, idx",
                |r| {
                    Ok((
                        r.get::<_, u8>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )?
            .into_iter()
            .filter_map(|(l, i, h)| {
                // A hash of the wrong length is reported as a different hash.
                let hash = Hash::try_from(h.as_slice()).unwrap_or([0u8; 32]);
                to_u64(i).ok().map(|i| (l, i, hash))
            })
            .collect();
        Ok(StateRows {
            identities,
            credentials,
            requests,
            request_approvers,
            document_versions,
            blobs,
            receipts,
            tokens,
            delegations,
            entry_terms,
            tree_hashes,
        })
    }
}
