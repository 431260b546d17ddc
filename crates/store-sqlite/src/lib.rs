//! SQLite implementation of Countersign's [`Store`].
//!
//! One database file in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives a process kill or power loss. Records are kept as
//! JSON documents beside the columns that queries filter on; log entries are
//! kept as the exact bytes that were hashed. Migrations are numbered SQL
//! scripts applied in order under `PRAGMA user_version`; they are few and
//! plain enough that a migration crate would add more than it saves.
//!
//! Writes go through one connection behind a mutex: writers are serialised
//! anyway (the log is append-only with one head), and SQLite's own locking
//! (`BEGIN IMMEDIATE`) keeps a second process from interleaving. Reads of
//! a database file run on their own connections (a small pool), each a
//! WAL snapshot of the last commit, so a reader never waits for the writer
//! and the writer never waits for a reader. Statements are prepared once
//! per connection and cached. This crate holds SQL and nothing else: no
//! rules, no signing.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod iga;
mod personal;
mod state;
mod web;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use countersign_domain::identity::Challenge;
use countersign_proto::api::{IdentityFilter, RequestFilter};
use countersign_proto::governance::{ApiToken, Delegation, LegalHold, PolicyException};
use countersign_proto::iga::{
    ChangeFilter, ControlException, ControlFilter, ControlKind, DeliveryAttempt, DeliveryFilter,
    DeliveryRecord, EntitlementChange,
};
use countersign_proto::model::{
    Credential, Document, DocumentVersion, Identity, IdentityHistoryEntry, Request, RequestState,
};
use countersign_store::rows::{
    from_json, from_unix_millis, key_i64, to_i64, to_json, to_u64, unix_millis,
};
use countersign_store::{
    DueDelivery, EntryTerms, InvitationRecord, Lease, MailRecord, OutboxEvent, ReadTx, Result,
    ScimRecord, SessionRecord, StateRows, Store, StoreError, StoredOpening, StoredReceipt,
    WebChallenge, WebhookRecord, WriteTx,
};
use countersign_tlog::Hash;
use rusqlite::{params, Connection, OptionalExtension as _};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (
    handle TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE identity_history (
    handle TEXT NOT NULL,
    revision INTEGER NOT NULL,
    reason TEXT,
    log_index INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (handle, revision)
);
CREATE TABLE credentials (
    key_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX credentials_identity ON credentials (identity);
CREATE TABLE challenges (
    challenge TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE document_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, content BLOB NOT NULL);
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    requester TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX requests_state ON requests (state, expires_at);
CREATE TABLE request_approvers (
    request TEXT NOT NULL,
    approver TEXT NOT NULL,
    PRIMARY KEY (request, approver)
);
CREATE INDEX request_approvers_approver ON request_approvers (approver);
CREATE TABLE receipts (
    envelope_sha256 TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    receipt TEXT NOT NULL
);
CREATE TABLE log_entries (
    idx INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    kind TEXT NOT NULL,
    request TEXT,
    identity TEXT,
    key_id TEXT
);
CREATE INDEX log_entries_request ON log_entries (request);
CREATE INDEX log_entries_identity ON log_entries (identity);
CREATE INDEX log_entries_key ON log_entries (key_id);
CREATE TABLE tree_hashes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"#,
    r#"
CREATE INDEX identities_email ON identities (lower(json_extract(body, '$.email')));
CREATE TABLE api_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE delegations (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    delegate TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX delegations_principal ON delegations (principal);
CREATE INDEX delegations_delegate ON delegations (delegate);
CREATE TABLE policy_exceptions (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX policy_exceptions_request ON policy_exceptions (request, actor);
"#,
    r#"
CREATE TABLE scim_resources (
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    identity TEXT,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX scim_resources_identity ON scim_resources (identity);
CREATE TABLE entitlement_changes (
    id TEXT PRIMARY KEY,
    system TEXT NOT NULL,
    subject TEXT NOT NULL,
    source_event_id TEXT NOT NULL,
    request TEXT,
    log_index INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (system, source_event_id)
);
CREATE INDEX entitlement_changes_subject ON entitlement_changes (subject, system);
-- Reconciliation finds the requests whose action names a change's subject,
-- or its system and entitlement.
CREATE INDEX requests_action_subject ON requests (json_extract(body, '$.action.subject'));
CREATE INDEX requests_action_entitlement ON requests
    (json_extract(body, '$.action.system'), json_extract(body, '$.action.entitlement'));
CREATE INDEX entitlement_changes_request ON entitlement_changes (request);
CREATE TABLE control_exceptions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT,
    system TEXT,
    assignee TEXT,
    request TEXT,
    body TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE TABLE webhooks (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES outbox (id),
    ordering_key TEXT NOT NULL,
    state TEXT NOT NULL,
    due INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, due);
CREATE INDEX deliveries_order ON deliveries (endpoint, ordering_key, state, id);
CREATE TABLE delivery_attempts (
    delivery INTEGER NOT NULL REFERENCES deliveries (id),
    attempt INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (delivery, attempt)
);
"#,
    r#"
-- Assurance is earned: keys enrolled before kept their label, marked as
-- declared; workload certificates were issued by the CA.
UPDATE credentials SET body = json_set(body, '$.assurance_basis',
    CASE json_extract(body, '$.kind') WHEN 'certificate' THEN 'issued' ELSE 'declared' END)
    WHERE json_extract(body, '$.assurance_basis') IS NULL;
CREATE TABLE sign_counts (key_id TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE web_challenges (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    identity TEXT,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX web_challenges_expiry ON web_challenges (expires_at);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    credential TEXT,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX sessions_identity ON sessions (identity);
CREATE INDEX sessions_credential ON sessions (credential);
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX invitations_identity ON invitations (identity);
CREATE TABLE mails (
    id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    state TEXT NOT NULL,
    due INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX mails_identity ON mails (identity);
CREATE INDEX mails_due ON mails (state, due);
CREATE TABLE reminders (
    request TEXT NOT NULL,
    identity TEXT NOT NULL,
    offset_seconds INTEGER NOT NULL,
    PRIMARY KEY (request, identity, offset_seconds)
);
"#,
    r#"
-- Personal values committed in log entries (format 2): the salt and value
-- are deleted on erasure, the row stays to say by which entry.
CREATE TABLE IF NOT EXISTS openings (
    commitment TEXT PRIMARY KEY,
    salt TEXT,
    value TEXT,
    log_index INTEGER NOT NULL,
    path TEXT NOT NULL,
    subject TEXT,
    request TEXT,
    class TEXT NOT NULL,
    at INTEGER NOT NULL,
    erased_by INTEGER
);
CREATE INDEX IF NOT EXISTS openings_subject ON openings (subject);
CREATE TABLE IF NOT EXISTS legal_holds (
    id TEXT PRIMARY KEY,
    identity TEXT,
    request TEXT,
    body TEXT NOT NULL
);
"#,
    r#"
-- The entries about a party are found by (party, kind), so finding them
-- costs what the party's own entries cost, not what the log holds.
CREATE INDEX IF NOT EXISTS log_entries_kind ON log_entries (kind);
CREATE INDEX IF NOT EXISTS log_entries_identity_kind ON log_entries (identity, kind);
CREATE INDEX IF NOT EXISTS log_entries_key_kind ON log_entries (key_id, kind);
DROP INDEX IF EXISTS log_entries_identity;
DROP INDEX IF EXISTS log_entries_key;
"#,
    r#"
-- Which instance does a piece of work (the scheduled tasks, a delivery)
-- until when: operational state, never logged.
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until INTEGER NOT NULL
);
"#,
];

/// A Countersign store in one SQLite file.
pub struct SqliteStore {
    /// Reader connections, for a database file (an in-memory database is
    /// read through the writer's connection, the only one that sees it).
    /// Declared first so they close first: the last connection to close
    /// folds the write-ahead log into the database file, and only the
    /// writer's can.
    readers: Option<Readers>,
    conn: Mutex<Connection>,
}

/// At most this many reader connections are open at once; a reader past
/// them waits for one to come back.
const MAX_READERS: usize = 8;
/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 256;

/// The pool of reader connections.
struct Readers {
    path: PathBuf,
    pool: Mutex<ReaderPool>,
    returned: Condvar,
}

#[derive(Default)]
struct ReaderPool {
    idle: Vec<Connection>,
    open: usize,
}

impl Readers {
    fn take(&self) -> Result<Connection> {
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| StoreError::Backend("reader pool lock poisoned".into()))?;
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                return self.open_one().inspect_err(|_| {
                    if let Ok(mut p) = self.pool.lock() {
                        p.open -= 1;
                    }
                });
            }
            pool = self
                .returned
                .wait(pool)
                .map_err(|_| StoreError::Backend("reader pool lock poisoned".into()))?;
        }
    }

    fn open_one(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.idle.push(conn);
        }
        self.returned.notify_one();
    }
}

/// The connection a transaction runs on: the writer's, held for the whole
/// transaction, or a reader's, returned to the pool when it ends.
enum Conn<'a> {
    Writer(MutexGuard<'a, Connection>),
    Reader {
        conn: Option<Connection>,
        readers: &'a Readers,
    },
}

impl Conn<'_> {
    fn c(&self) -> &Connection {
        match self {
            Conn::Writer(g) => g,
            // Taken only in `drop`.
            Conn::Reader { conn, .. } => conn.as_ref().unwrap_or_else(|| unreachable!()),
        }
    }

    /// `Connection::execute`, with the statement cached.
    fn execute<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.c().prepare_cached(sql)?.execute(params)
    }

    /// `Connection::query_row`, with the statement cached.
    fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.c().prepare_cached(sql)?.query_row(params, f)
    }

    fn prepare_cached(&self, sql: &str) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
        self.c().prepare_cached(sql)
    }

    fn execute_batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.c().execute_batch(sql)
    }

    /// An uncached statement, for SQL built at run time.
    fn prepare(&self, sql: &str) -> rusqlite::Result<rusqlite::Statement<'_>> {
        self.c().prepare(sql)
    }

    fn last_insert_rowid(&self) -> i64 {
        self.c().last_insert_rowid()
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Conn::Reader { conn, readers } = self {
            if let Some(c) = conn.take() {
                readers.give_back(c);
            }
        }
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Create `path` with mode 0600 if it does not exist, else set its mode.
fn private_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let setup = |e: std::io::Error| {
            StoreError::Setup(format!("making {} private: {e}", path.display()))
        };
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(setup)?;
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(setup)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and migrate it.
    /// The database file and its WAL and shared-memory files are made
    /// readable by the owner only (0600): they hold webhook secrets and
    /// personal data. SQLite gives the WAL files the database's mode.
    pub fn open(path: &Path) -> Result<Self> {
        private_file(path)?;
        let conn = Connection::open(path).map_err(backend)?;
        let mut store = Self::setup(conn)?;
        store.readers = Some(Readers {
            path: path.to_path_buf(),
            pool: Mutex::new(ReaderPool::default()),
            returned: Condvar::new(),
        });
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            if p.exists() {
                private_file(&p)?;
            }
        }
        Ok(store)
    }

    /// Copy the database, consistently, to a new file at `path` (mode
    /// 0600) with SQLite's online backup: writers go on meanwhile, and the
    /// copy is one committed state.
    pub fn backup_to(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(StoreError::Setup(format!(
                "{} exists; a backup never overwrites",
                path.display()
            )));
        }
        private_file(path)?;
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Connection::open(path).map_err(backend)?;
        {
            let backup = rusqlite::backup::Backup::new(&conn, &mut out).map_err(backend)?;
            backup
                .run_to_completion(256, std::time::Duration::from_millis(5), None)
                .map_err(backend)?;
        }
        out.execute_batch("PRAGMA journal_mode = WAL;")
            .map_err(backend)?;
        Ok(())
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory().map_err(backend)?)
    }

    fn setup(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        conn.execute_batch(
            // secure_delete: erased personal values are overwritten, not
            // left in free space.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA secure_delete = ON;",
        )
        .map_err(backend)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Setup(format!(
                "the database schema is version {version}, newer than this build knows ({}); upgrade Countersign",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers: None,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("database connection lock poisoned".into()))
    }

    fn begin<'a>(&'a self, conn: Conn<'a>, sql: &str) -> Result<SqliteTx<'a>> {
        conn.execute_batch(sql).map_err(backend)?;
        Ok(SqliteTx { conn, open: true })
    }
}

impl Store for SqliteStore {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>> {
        let conn = match &self.readers {
            Some(readers) => Conn::Reader {
                conn: Some(readers.take()?),
                readers,
            },
            None => Conn::Writer(self.lock()?),
        };
        // The WAL snapshot is taken at the first read, and every later
        // read of the transaction sees that same committed state.
        Ok(Box::new(self.begin(conn, "BEGIN DEFERRED")?))
    }

    fn write(&self) -> Result<Box<dyn WriteTx + '_>> {
        Ok(Box::new(
            self.begin(Conn::Writer(self.lock()?), "BEGIN IMMEDIATE")?,
        ))
    }

    fn compact(&self) -> Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(backend)
    }
}

struct SqliteTx<'a> {
    conn: Conn<'a>,
    open: bool,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the caller has already failed or
            // abandoned the transaction, and rollback only discards.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl SqliteTx<'_> {
    fn one<T: DeserializeOwned>(&self, what: &str, sql: &str, key: &str) -> Result<Option<T>> {
        let body: Option<String> = self
            .conn
            .query_row(sql, [key], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        body.map(|b| from_json(what, &b)).transpose()
    }

    fn many<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt
            .query_map(params, |r| r.get::<_, String>(0))
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(from_json(what, &row.map_err(backend)?)?);
        }
        Ok(out)
    }
}

impl ReadTx for SqliteTx<'_> {
    fn scim_resource(&self, resource_type: &str, id: &str) -> Result<Option<ScimRecord>> {
        self.scim_resource_(resource_type, id)
    }

    fn scim_resources(&self, resource_type: &str) -> Result<Vec<ScimRecord>> {
        self.scim_where("resource_type = ?1", &[&resource_type])
    }

    fn scim_user_of(&self, handle: &str) -> Result<Option<ScimRecord>> {
        Ok(self
            .scim_where("resource_type = 'User' AND identity = ?1", &[&handle])?
            .pop())
    }

    fn change(&self, id: &str) -> Result<Option<EntitlementChange>> {
        self.one(
            "change",
            "SELECT body FROM entitlement_changes WHERE id = ?1",
            id,
        )
    }

    fn change_by_source(
        &self,
        system: &str,
        source_event_id: &str,
    ) -> Result<Option<EntitlementChange>> {
        self.change_by_source_(system, source_event_id)
    }

    fn changes(&self, filter: &ChangeFilter) -> Result<Vec<EntitlementChange>> {
        self.changes_(filter)
    }

    fn control_exception(&self, id: &str) -> Result<Option<ControlException>> {
        self.one(
            "control exception",
            "SELECT body FROM control_exceptions WHERE id = ?1",
            id,
        )
    }

    fn control_exception_by_key(
        &self,
        kind: ControlKind,
        key: &str,
    ) -> Result<Option<ControlException>> {
        self.control_exception_by_key_(kind, key)
    }

    fn control_exceptions(&self, filter: &ControlFilter) -> Result<Vec<ControlException>> {
        self.control_exceptions_(filter)
    }

    fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>> {
        self.one("webhook", "SELECT body FROM webhooks WHERE id = ?1", id)
    }

    fn webhooks(&self) -> Result<Vec<WebhookRecord>> {
        self.many("webhook", "SELECT body FROM webhooks ORDER BY rowid", &[])
    }

    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>> {
        self.many(
            "delivery",
            "SELECT body FROM deliveries WHERE id = ?1",
            &[&key_i64(id)],
        )
        .map(|mut v| v.pop())
    }

    fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        self.deliveries_(filter)
    }

    fn delivery_attempts(&self, delivery: u64) -> Result<Vec<DeliveryAttempt>> {
        self.delivery_attempts_(delivery)
    }

    fn due_deliveries(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<DueDelivery>> {
        self.due_deliveries_(now, limit)
    }

    fn outbox_event(&self, id: &str) -> Result<Option<OutboxEvent>> {
        self.outbox_event_(id)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(backend)
    }

    fn identity(&self, handle: &str) -> Result<Option<Identity>> {
        self.one(
            "identity",
            "SELECT body FROM identities WHERE handle = ?1",
            handle,
        )
    }

    fn identities_by_email(&self, email: &str) -> Result<Vec<Identity>> {
        self.many(
            "identity",
            "SELECT body FROM identities WHERE lower(json_extract(body, '$.email')) = lower(?1) ORDER BY rowid",
            &[&email],
        )
    }

    fn identity_any_case(&self, handle: &str) -> Result<Option<Identity>> {
        self.one(
            "identity",
            "SELECT body FROM identities WHERE lower(handle) = lower(?1) ORDER BY rowid LIMIT 1",
            handle,
        )
    }

    fn token_by_hash(&self, sha256: &str) -> Result<Option<ApiToken>> {
        self.one(
            "token",
            "SELECT body FROM api_tokens WHERE hash = ?1",
            sha256,
        )
    }

    fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        self.one("token", "SELECT body FROM api_tokens WHERE id = ?1", id)
    }

    fn tokens(&self) -> Result<Vec<ApiToken>> {
        self.many("token", "SELECT body FROM api_tokens ORDER BY rowid", &[])
    }

    fn delegation(&self, id: &str) -> Result<Option<Delegation>> {
        self.one(
            "delegation",
            "SELECT body FROM delegations WHERE id = ?1",
            id,
        )
    }

    fn delegations_of(&self, handle: &str) -> Result<Vec<Delegation>> {
        self.many(
            "delegation",
            "SELECT body FROM delegations WHERE principal = ?1 OR delegate = ?1 ORDER BY rowid",
            &[&handle],
        )
    }

    fn delegations(&self) -> Result<Vec<Delegation>> {
        self.many(
            "delegation",
            "SELECT body FROM delegations ORDER BY rowid",
            &[],
        )
    }

    fn exception(&self, id: &str) -> Result<Option<PolicyException>> {
        self.one(
            "exception",
            "SELECT body FROM policy_exceptions WHERE id = ?1",
            id,
        )
    }

    fn exceptions(&self, request: Option<&str>) -> Result<Vec<PolicyException>> {
        match request {
            Some(r) => self.many(
                "exception",
                "SELECT body FROM policy_exceptions WHERE request = ?1 ORDER BY rowid",
                &[&r],
            ),
            None => self.many(
                "exception",
                "SELECT body FROM policy_exceptions ORDER BY rowid",
                &[],
            ),
        }
    }

    fn latest_entry_about(
        &self,
        kind: &str,
        request: &str,
        identity: &str,
    ) -> Result<Option<(u64, Vec<u8>)>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT idx, data FROM log_entries WHERE kind = ?1 AND request = ?2 AND identity = ?3
                 ORDER BY idx DESC LIMIT 1",
                params![kind, request, identity],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(i, d)| Ok((to_u64(i)?, d))).transpose()
    }

    fn identities(&self, filter: &IdentityFilter) -> Result<Vec<Identity>> {
        let kind = filter.kind.map(|k| k.as_str());
        let status = filter.status.map(|s| s.as_str());
        self.many(
            "identity",
            "SELECT body FROM identities WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY handle",
            &[&kind, &status],
        )
    }

    fn identity_history(&self, handle: &str) -> Result<Vec<IdentityHistoryEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT body, reason, log_index FROM identity_history WHERE handle = ?1 ORDER BY revision",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([handle], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (body, reason, index) = row.map_err(backend)?;
            out.push(IdentityHistoryEntry {
                identity: from_json("identity history", &body)?,
                reason,
                log_index: to_u64(index)?,
            });
        }
        Ok(out)
    }

    fn credential(&self, key_id: &str) -> Result<Option<Credential>> {
        self.one(
            "credential",
            "SELECT body FROM credentials WHERE key_id = ?1",
            key_id,
        )
    }

    fn credentials_of(&self, handle: &str) -> Result<Vec<Credential>> {
        self.many(
            "credential",
            "SELECT body FROM credentials WHERE identity = ?1 ORDER BY rowid",
            &[&handle],
        )
    }

    fn credentials(&self) -> Result<Vec<Credential>> {
        self.many(
            "credential",
            "SELECT body FROM credentials ORDER BY rowid",
            &[],
        )
    }

    fn sign_count(&self, key_id: &str) -> Result<Option<u32>> {
        self.sign_count_(key_id)
    }

    fn web_challenge(&self, id: &str) -> Result<Option<WebChallenge>> {
        self.web_challenge_(id)
    }

    fn session(&self, id: &str) -> Result<Option<SessionRecord>> {
        self.one("session", "SELECT body FROM sessions WHERE id = ?1", id)
    }

    fn invitation(&self, token_sha256: &str) -> Result<Option<InvitationRecord>> {
        self.one(
            "invitation",
            "SELECT body FROM invitations WHERE token_sha256 = ?1",
            token_sha256,
        )
    }

    fn invitations_of(&self, handle: &str) -> Result<Vec<InvitationRecord>> {
        self.many(
            "invitation",
            "SELECT body FROM invitations WHERE identity = ?1 ORDER BY rowid",
            &[&handle],
        )
    }

    fn mail(&self, id: &str) -> Result<Option<MailRecord>> {
        self.one("mail", "SELECT body FROM mails WHERE id = ?1", id)
    }

    fn mails_of(&self, handle: &str, limit: u32) -> Result<Vec<MailRecord>> {
        self.many(
            "mail",
            "SELECT body FROM mails WHERE identity = ?1 ORDER BY rowid DESC LIMIT ?2",
            &[&handle, &limit],
        )
    }

    fn due_mails(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<MailRecord>> {
        self.due_mails_(now, limit)
    }

    fn reminded(&self, request: &str, identity: &str, offset_seconds: i64) -> Result<bool> {
        self.reminded_(request, identity, offset_seconds)
    }

    fn challenge(&self, challenge: &str) -> Result<Option<Challenge>> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT identity, expires_at FROM challenges WHERE challenge = ?1",
                [challenge],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(identity, exp)| {
            Ok(Challenge {
                challenge: challenge.to_string(),
                identity,
                expires_at: OffsetDateTime::from_unix_timestamp(exp)
                    .map_err(|e| StoreError::Corrupt(format!("challenge expiry: {e}")))?,
            })
        })
        .transpose()
    }

    fn document(&self, name: &str) -> Result<Option<Document>> {
        let versions: Vec<DocumentVersion> = self.many(
            "document version",
            "SELECT body FROM document_versions WHERE name = ?1 ORDER BY version",
            &[&name],
        )?;
        Ok((!versions.is_empty()).then(|| Document {
            name: name.to_string(),
            versions,
        }))
    }

    fn documents(&self) -> Result<Vec<Document>> {
        let versions: Vec<DocumentVersion> = self.many(
            "document version",
            "SELECT body FROM document_versions ORDER BY name, version",
            &[],
        )?;
        let mut out: Vec<Document> = Vec::new();
        for v in versions {
            match out.last_mut() {
                Some(d) if d.name == v.document => d.versions.push(v),
                _ => out.push(Document {
                    name: v.document.clone(),
                    versions: vec![v],
                }),
            }
        }
        Ok(out)
    }

    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT content FROM blobs WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn request(&self, id: &str) -> Result<Option<Request>> {
        self.one("request", "SELECT body FROM requests WHERE id = ?1", id)
    }

    fn requests(&self, filter: &RequestFilter) -> Result<Vec<Request>> {
        let state = filter.state.map(|s| s.as_str());
        let kind = filter.event_kind.map(|k| k.as_str());
        let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 1000));
        self.many(
            "request",
            "SELECT body FROM requests r WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR event_kind = ?2)
               AND (?3 IS NULL OR requester = ?3) AND (?4 IS NULL OR beneficiary = ?4)
               AND (?5 IS NULL OR EXISTS (SELECT 1 FROM request_approvers a WHERE a.request = r.id AND a.approver = ?5))
             ORDER BY created_at DESC, id DESC LIMIT ?6",
            &[&state, &kind, &filter.requester, &filter.beneficiary, &filter.approver, &limit],
        )
    }

    fn requests_about_action(
        &self,
        subject: &str,
        system: &str,
        entitlement: &str,
    ) -> Result<Vec<Request>> {
        self.many(
            "request",
            "SELECT body FROM requests WHERE json_extract(body, '$.action.subject') = ?1
               OR (json_extract(body, '$.action.system') = ?2
                   AND json_extract(body, '$.action.entitlement') = ?3)
             ORDER BY created_at, id",
            &[&subject, &system, &entitlement],
        )
    }

    fn requests_with_action(&self, state: RequestState) -> Result<Vec<Request>> {
        self.many(
            "request",
            "SELECT body FROM requests WHERE state = ?1 AND json_extract(body, '$.action') IS NOT NULL
             ORDER BY created_at, id",
            &[&state.as_str()],
        )
    }

    fn expired_pending(&self, now: OffsetDateTime) -> Result<Vec<String>> {
        // The column holds whole seconds: it narrows the search, and the
        // record's exact expiry decides (a request due at .7 s is not
        // expired at .0 s).
        let candidates: Vec<Request> = self.many(
            "request",
            "SELECT body FROM requests WHERE state = 'pending' AND expires_at <= ?1 ORDER BY expires_at",
            &[&now.unix_timestamp()],
        )?;
        Ok(candidates
            .into_iter()
            .filter(|r| r.expires_at <= now)
            .map(|r| r.id)
            .collect())
    }

    fn receipt_for_envelope(&self, envelope_sha256: &str) -> Result<Option<StoredReceipt>> {
        let row: Option<(String, i64, String)> = self
            .conn
            .query_row(
                "SELECT request, log_index, receipt FROM receipts WHERE envelope_sha256 = ?1",
                [envelope_sha256],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(request, index, receipt)| {
            Ok(StoredReceipt {
                request,
                log_index: to_u64(index)?,
                receipt,
            })
        })
        .transpose()
    }

    fn tree_size(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        to_u64(n)
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT data FROM log_entries WHERE idx = ?1",
                [key_i64(index)],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn entries(&self, start: u64, limit: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, data FROM log_entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![key_i64(start), key_i64(limit)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (i, data) = row.map_err(backend)?;
            out.push((to_u64(i)?, data));
        }
        Ok(out)
    }

    fn entry_indexes_about(
        &self,
        request: &str,
        identities: &[String],
        key_ids: &[String],
    ) -> Result<Vec<u64>> {
        let ids = to_json(&identities)?;
        let keys = to_json(&key_ids)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                // One indexed lookup per part, never a scan of the log:
                // `identity.` ≤ kind < `identity/` is the prefix as a range.
                "SELECT idx FROM log_entries WHERE request = ?1
                 UNION
                 SELECT idx FROM log_entries
                  WHERE identity IN (SELECT value FROM json_each(?2))
                    AND kind >= 'identity.' AND kind < 'identity/'
                 UNION
                 SELECT idx FROM log_entries
                  WHERE identity IN (SELECT value FROM json_each(?2))
                    AND kind >= 'delegation.' AND kind < 'delegation/'
                 UNION
                 SELECT idx FROM log_entries WHERE kind IN ('ca.created', 'policy.activated')
                 UNION
                 SELECT idx FROM log_entries
                  WHERE key_id IN (SELECT value FROM json_each(?3))
                    AND kind >= 'credential.' AND kind < 'credential/'
                 ORDER BY idx",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![request, ids, keys], |r| r.get::<_, i64>(0))
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(to_u64(row.map_err(backend)?)?);
        }
        Ok(out)
    }

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Option<Hash>> {
        let raw: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hash FROM tree_hashes WHERE level = ?1 AND idx = ?2")
            .and_then(|mut s| {
                s.query_row(params![level, key_i64(index)], |r| r.get(0))
                    .optional()
            })
            .map_err(backend)?;
        raw.map(|r| {
            Hash::try_from(r.as_slice()).map_err(|_| {
                StoreError::Corrupt(format!("tree hash ({level}, {index}) is not 32 bytes"))
            })
        })
        .transpose()
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(s, n)| Ok((to_u64(s)?, n))).transpose()
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT note FROM checkpoints WHERE size = ?1",
                [key_i64(size)],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn opening(&self, commitment: &str) -> Result<Option<StoredOpening>> {
        self.opening_(commitment)
    }

    fn openings_of(&self, handle: &str) -> Result<Vec<StoredOpening>> {
        self.openings_of_(handle)
    }

    fn state_rows(&self) -> Result<StateRows> {
        self.state_rows_()
    }

    fn lease(&self, name: &str) -> Result<Option<Lease>> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT holder, until FROM leases WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(holder, until)| {
            Ok(Lease {
                name: name.to_string(),
                holder,
                until: from_unix_millis(until)?,
            })
        })
        .transpose()
    }

    fn hold(&self, id: &str) -> Result<Option<LegalHold>> {
        self.one(
            "legal hold",
            "SELECT body FROM legal_holds WHERE id = ?1",
            id,
        )
    }

    fn holds(&self) -> Result<Vec<LegalHold>> {
        self.many(
            "legal hold",
            "SELECT body FROM legal_holds ORDER BY json_extract(body, '$.log_index')",
            &[],
        )
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (s, n) = row.map_err(backend)?;
            out.push((to_u64(s)?, n));
        }
        Ok(out)
    }
}

impl WriteTx for SqliteTx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(drop)
            .map_err(backend)
    }

    fn put_identity(
        &mut self,
        identity: &Identity,
        reason: Option<&str>,
        log_index: u64,
    ) -> Result<()> {
        let body = to_json(identity)?;
        self.conn
            .execute(
                "INSERT INTO identities (handle, kind, status, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (handle) DO UPDATE SET kind = excluded.kind, status = excluded.status, body = excluded.body",
                params![identity.handle, identity.kind.as_str(), identity.status.as_str(), body],
            )
            .map_err(backend)?;
        self.conn
            .execute(
                "INSERT INTO identity_history (handle, revision, reason, log_index, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![identity.handle, to_i64(identity.revision)?, reason, to_i64(log_index)?, body],
            )
            .map(drop)
            .map_err(backend)
    }

    fn put_credential(&mut self, c: &Credential) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO credentials (key_id, identity, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key_id) DO UPDATE SET body = excluded.body",
                params![c.key_id, c.identity, to_json(c)?],
            )
            .map(drop)
            .map_err(backend)
    }

    fn put_token(&mut self, t: &ApiToken, sha256: Option<&str>) -> Result<()> {
        let changed = match sha256 {
            Some(hash) => self.conn.execute(
                "INSERT INTO api_tokens (id, hash, body) VALUES (?1, ?2, ?3)",
                params![t.id, hash, to_json(t)?],
            ),
            None => self.conn.execute(
                "UPDATE api_tokens SET body = ?2 WHERE id = ?1",
                params![t.id, to_json(t)?],
            ),
        }
        .map_err(backend)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Backend(format!(
                "token {} was not stored",
                t.id
            )))
        }
    }

    fn put_delegation(&mut self, d: &Delegation) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO delegations (id, principal, delegate, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![d.id, d.principal, d.delegate, to_json(d)?],
            )
            .map(drop)
            .map_err(backend)
    }

    fn put_exception(&mut self, e: &PolicyException) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO policy_exceptions (id, request, actor, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![e.id, e.request, e.actor, to_json(e)?],
            )
            .map(drop)
            .map_err(backend)
    }

    fn put_challenge(&mut self, c: &Challenge) -> Result<()> {
        // Expired challenges are useless; clear them as new ones arrive.
        self.conn
            .execute(
                "DELETE FROM challenges WHERE expires_at < ?1",
                [c.expires_at.unix_timestamp() - 86_400],
            )
            .map_err(backend)?;
        self.conn
            .execute(
                "INSERT INTO challenges (challenge, identity, expires_at) VALUES (?1, ?2, ?3)",
                params![c.challenge, c.identity, c.expires_at.unix_timestamp()],
            )
            .map(drop)
            .map_err(backend)
    }

    fn take_challenge(&mut self, challenge: &str) -> Result<bool> {
        self.conn
            .execute("DELETE FROM challenges WHERE challenge = ?1", [challenge])
            .map(|n| n > 0)
            .map_err(backend)
    }

    fn set_sign_count(&mut self, key_id: &str, count: u32) -> Result<()> {
        self.set_sign_count_(key_id, count)
    }

    fn put_web_challenge(&mut self, challenge: &WebChallenge) -> Result<()> {
        self.put_web_challenge_(challenge)
    }

    fn take_web_challenge(&mut self, id: &str) -> Result<Option<WebChallenge>> {
        self.take_web_challenge_(id)
    }

    fn put_session(&mut self, session: &SessionRecord) -> Result<()> {
        self.put_session_(session)
    }

    fn delete_session(&mut self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])
            .map(drop)
            .map_err(backend)
    }

    fn delete_sessions_of(&mut self, handle: &str) -> Result<u64> {
        self.conn
            .execute("DELETE FROM sessions WHERE identity = ?1", [handle])
            .map(|n| n as u64)
            .map_err(backend)
    }

    fn delete_sessions_with(&mut self, key_id: &str) -> Result<u64> {
        self.conn
            .execute("DELETE FROM sessions WHERE credential = ?1", [key_id])
            .map(|n| n as u64)
            .map_err(backend)
    }

    fn put_invitation(&mut self, invitation: &InvitationRecord) -> Result<()> {
        self.put_invitation_(invitation)
    }

    fn put_mail(&mut self, mail: &MailRecord) -> Result<()> {
        self.put_mail_(mail)
    }

    fn put_reminder(&mut self, request: &str, identity: &str, offset_seconds: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO reminders (request, identity, offset_seconds) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![request, identity, offset_seconds],
            )
            .map(drop)
            .map_err(backend)
    }

    fn purge_expired(&mut self, now: OffsetDateTime) -> Result<u64> {
        self.purge_expired_(now)
    }

    fn put_document_version(&mut self, v: &DocumentVersion, content: Option<&[u8]>) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO document_versions (name, version, sha256, body) VALUES (?1, ?2, ?3, ?4)",
                params![v.document, v.version, v.sha256, to_json(v)?],
            )
            .map_err(backend)?;
        if let Some(bytes) = content {
            self.conn
                .execute(
                    "INSERT INTO blobs (sha256, content) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
                    params![v.sha256, bytes],
                )
                .map_err(backend)?;
        }
        Ok(())
    }

    fn put_request(&mut self, r: &Request) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO requests (id, state, event_kind, requester, beneficiary, created_at, expires_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
                params![
                    r.id,
                    r.state.as_str(),
                    r.event_kind.as_str(),
                    r.requester,
                    r.beneficiary,
                    r.created_at.unix_timestamp_nanos() as i64,
                    r.expires_at.unix_timestamp(),
                    to_json(r)?
                ],
            )
            .map_err(backend)?;
        if r.state == RequestState::Pending {
            // Approvers change while pending only by re-routing; keep the
            // index equal to the list.
            self.conn
                .execute("DELETE FROM request_approvers WHERE request = ?1", [&r.id])
                .map_err(backend)?;
            for a in &r.approvers {
                self.conn
                    .execute(
                        "INSERT INTO request_approvers (request, approver) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                        [&r.id, a],
                    )
                    .map_err(backend)?;
            }
        }
        Ok(())
    }

    fn put_scim_resource(&mut self, record: &ScimRecord) -> Result<()> {
        self.put_scim_resource_(record)
    }

    fn delete_scim_resource(&mut self, resource_type: &str, id: &str) -> Result<()> {
        self.delete_scim_resource_(resource_type, id)
    }

    fn put_change(&mut self, change: &EntitlementChange) -> Result<()> {
        self.put_change_(change)
    }

    fn put_control_exception(&mut self, exception: &ControlException) -> Result<()> {
        self.put_control_exception_(exception)
    }

    fn put_webhook(&mut self, webhook: &WebhookRecord) -> Result<()> {
        self.put_webhook_(webhook)
    }

    fn put_outbox_event(&mut self, event: &OutboxEvent) -> Result<()> {
        self.put_outbox_event_(event)
    }

    fn put_delivery(&mut self, delivery: &DeliveryRecord) -> Result<u64> {
        self.put_delivery_(delivery)
    }

    fn add_delivery_attempt(&mut self, attempt: &DeliveryAttempt) -> Result<()> {
        self.add_delivery_attempt_(attempt)
    }

    fn put_receipt(&mut self, envelope_sha256: &str, r: &StoredReceipt) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO receipts (envelope_sha256, request, log_index, receipt) VALUES (?1, ?2, ?3, ?4)",
                params![envelope_sha256, r.request, to_i64(r.log_index)?, r.receipt],
            )
            .map(drop)
            .map_err(backend)
    }

    fn append_entry(
        &mut self,
        index: u64,
        entry: &[u8],
        terms: &EntryTerms,
        hashes: &[(u8, u64, Hash)],
    ) -> Result<()> {
        let size = self.tree_size()?;
        if index != size {
            return Err(StoreError::Corrupt(format!(
                "appending entry {index} to a log of size {size}"
            )));
        }
        self.conn
            .execute(
                "INSERT INTO log_entries (idx, data, kind, request, identity, key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![to_i64(index)?, entry, terms.kind, terms.request, terms.identity, terms.key_id],
            )
            .map_err(backend)?;
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO tree_hashes (level, idx, hash) VALUES (?1, ?2, ?3)")
            .map_err(backend)?;
        for (level, idx, hash) in hashes {
            stmt.execute(params![level, to_i64(*idx)?, hash.as_slice()])
                .map_err(backend)?;
        }
        Ok(())
    }

    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO checkpoints (size, note) VALUES (?1, ?2)",
                params![to_i64(size)?, note],
            )
            .map(drop)
            .map_err(backend)
    }

    fn put_opening(&mut self, opening: &StoredOpening) -> Result<()> {
        self.put_opening_(opening)
    }

    fn erase_opening(&mut self, commitment: &str, erased_by: u64) -> Result<()> {
        self.erase_opening_(commitment, erased_by)
    }

    fn put_hold(&mut self, hold: &LegalHold) -> Result<()> {
        self.put_hold_(hold)
    }

    fn put_lease(&mut self, lease: &Lease) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until",
                params![lease.name, lease.holder, unix_millis(lease.until)],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn delete_lease(&mut self, name: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM leases WHERE name = ?1", [name])
            .map_err(backend)?;
        Ok(())
    }

    fn scrub_person(&mut self, handle: &str, values: &[String], replacement: &str) -> Result<u64> {
        self.scrub_person_(handle, values, replacement)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(backend)?;
        self.open = false;
        Ok(())
    }
}

#[cfg(test)]
mod conformance {
    //! The store crate's conformance suite, on a fresh SQLite file per case.
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use countersign_store::conformance::{Backend, Fresh};

    struct Sqlite;

    impl Backend for Sqlite {
        fn fresh(&self) -> Fresh {
            let dir = Arc::new(tempfile::tempdir().unwrap());
            let path = dir.path().join("countersign.db");
            let store = Arc::new(super::SqliteStore::open(&path).unwrap());
            Fresh {
                store,
                reopen: Box::new(move |old| {
                    // The directory lives as long as the reopened store's closure.
                    let _keep = &dir;
                    drop(old);
                    Arc::new(super::SqliteStore::open(&path).unwrap())
                }),
            }
        }
    }

    countersign_store::conformance_tests!(Sqlite);
}
