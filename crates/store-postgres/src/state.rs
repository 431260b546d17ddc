//! SQL for the audit: every state table as stored, columns and bodies
//! unparsed, so that `log audit` compares them with the state it rebuilds
//! from the log and a row that does not parse is a finding, not an error.

use countersign_store::{EntryTerms, Result, StateRows, StoreError, StoredReceipt};
use countersign_tlog::Hash;
use postgres::Row;
use sha2::{Digest as _, Sha256};

use crate::{col, to_u64, PgTx};

impl PgTx<'_> {
    fn rows<T>(&self, sql: &str, f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
        self.query(sql, &[])?.iter().map(f).collect()
    }

    pub(crate) fn state_rows_(&self) -> Result<StateRows> {
        let identities = self.rows(
            "SELECT handle, kind, status, body FROM identities ORDER BY handle",
            |r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?, col(r, 3)?)),
        )?;
        let credentials = self.rows(
            "SELECT key_id, identity, body FROM credentials ORDER BY key_id",
            |r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?)),
        )?;
        let requests = self.rows(
            "SELECT id, state, requester, beneficiary, body FROM requests ORDER BY id",
            |r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?, col(r, 3)?, col(r, 4)?)),
        )?;
        let request_approvers = self.rows(
            "SELECT request, approver FROM request_approvers ORDER BY request, approver",
            |r| Ok((col(r, 0)?, col(r, 1)?)),
        )?;
        let document_versions = self.rows(
            "SELECT name, version, sha256, body FROM document_versions ORDER BY name, version",
            |r| {
                let version: i64 = col(r, 1)?;
                let version = u32::try_from(version).map_err(|_| {
                    StoreError::Corrupt(format!("document version {version} out of range"))
                })?;
                Ok((col(r, 0)?, version, col(r, 2)?, col(r, 3)?))
            },
        )?;
        let blobs = self.rows("SELECT sha256, content FROM blobs ORDER BY sha256", |r| {
            let content: Vec<u8> = col(r, 1)?;
            Ok((col(r, 0)?, hex::encode(Sha256::digest(&content))))
        })?;
        let receipts = self.rows(
            "SELECT envelope_sha256, request, log_index, receipt FROM receipts ORDER BY log_index",
            |r| {
                Ok((
                    col(r, 0)?,
                    StoredReceipt {
                        request: col(r, 1)?,
                        log_index: to_u64(col(r, 2)?)?,
                        receipt: col(r, 3)?,
                    },
                ))
            },
        )?;
        let tokens = self.rows("SELECT id, body FROM api_tokens ORDER BY id", |r| {
            Ok((col(r, 0)?, col(r, 1)?))
        })?;
        let delegations = self.rows(
            "SELECT id, principal, delegate, body FROM delegations ORDER BY id",
            |r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?, col(r, 3)?)),
        )?;
        let entry_terms = self.rows(
            "SELECT idx, kind, request, identity, key_id FROM log_entries ORDER BY idx",
            |r| {
                Ok((
                    to_u64(col(r, 0)?)?,
                    EntryTerms {
                        kind: col(r, 1)?,
                        request: col(r, 2)?,
                        identity: col(r, 3)?,
                        key_id: col(r, 4)?,
                    },
                ))
            },
        )?;
        let tree_hashes = self
            .rows(
                "SELECT level, idx, hash FROM tree_hashes ORDER BY level, idx",
                |r| {
                    let level: i16 = col(r, 0)?;
                    let level = u8::try_from(level).map_err(|_| {
                        StoreError::Corrupt(format!("tree hash level {level} out of range"))
                    })?;
                    Ok((level, col::<i64>(r, 1)?, col::<Vec<u8>>(r, 2)?))
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
