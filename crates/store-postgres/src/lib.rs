//! PostgreSQL implementation of Countersign's [`Store`].
//!
//! One database, shared by every `countersign serve` that names it: the
//! same tables as the SQLite backend (`countersign-store-sqlite`), each
//! method a port of its SQLite counterpart with the same answers, and the
//! schema's own migrations (see `schema.rs`). Records are JSON bodies kept
//! as `TEXT`, so they read back byte for byte; log entries are the exact
//! bytes that were hashed. This crate holds SQL and nothing else: no
//! rules, no signing.
//!
//! # One writer, across processes
//!
//! The log has one head, so writers are serialised twice over. Within a
//! process, writes go through one connection behind a mutex, so writers
//! queue there and not on the database. Across processes, a write
//! transaction runs at `READ COMMITTED` and its first statement is
//! `SELECT pg_advisory_xact_lock(LOG_LOCK_KEY)`: a transaction-scoped
//! advisory lock on a fixed key ([`LOG_LOCK_KEY`]) that PostgreSQL
//! releases at commit, at rollback, or when the session dies with its
//! process. Every statement after it takes a fresh snapshot, so the
//! transaction sees the tree size and latest checkpoint exactly as the
//! last committed writer left them (a `REPEATABLE READ` writer would not:
//! its snapshot would date from before it waited for the lock). Two
//! write transactions therefore never both commit an entry at one index.
//! Should something that does not take the lock write anyway, the primary
//! key on `log_entries` refuses the second entry at an index, and that is
//! answered as [`StoreError::Conflict`], as are serialisation failures
//! and deadlocks: nothing of the transaction was kept and it may be run
//! again from the start. Waiting for another process's writer gives up
//! after 10 seconds (`lock_timeout`), as the SQLite backend's busy
//! timeout does. Write sessions run with `synchronous_commit` on (it is
//! turned on if the server's default is `off`): a commit is answered once
//! its WAL record is flushed.
//!
//! A failed statement aborts a PostgreSQL transaction, where SQLite only
//! undoes the statement. The store remembers the failure, and committing
//! such a transaction answers that error instead of PostgreSQL's silent
//! rollback; the ledger never goes on after an error anyway.
//!
//! # Reads
//!
//! Reads run on their own connections, a pool of at most eight opened as
//! needed (a connection found closed is dropped and replaced), each read
//! transaction `REPEATABLE READ READ ONLY`: one committed state from its
//! first statement to its end, and no wait for the writer, whose locks a
//! reader never needs. Transactions not committed roll back when dropped.
//! Statements are prepared once per connection and cached.
//!
//! # Threads
//!
//! The driver is the synchronous `postgres` crate, whose client runs its
//! own small runtime: call the store from plain threads or
//! `spawn_blocking`, as the ledger does, never from async code directly.
//! Opening a store and dropping one are safe anywhere (both do their
//! network work on a thread of their own), so a store may be dropped at
//! the end of the server's async main.
//!
//! # What is not here
//!
//! [`Store::compact`] does nothing: PostgreSQL cannot promise that erased
//! values are gone from its files without `VACUUM FULL`, which locks
//! readers out of every table it rewrites (against the promise that reads
//! never wait), and even then the WAL, streaming replicas and any WAL
//! archive keep the old row versions. Erasure here is of the committed
//! state; the old row versions go as autovacuum reclaims them and as the
//! WAL and backups age out, which the operator's retention decides.
//!
//! Backups are the database's, with `pg_dump` (or the server's own base
//! backups and WAL archive). The log signing key and kept checkpoint are
//! outside the database, in the server's data directory, and must be
//! backed up beside it.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod iga;
mod personal;
mod schema;
mod state;
mod web;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

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
use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::{Client, Config, NoTls, Row, Statement};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// The key of the advisory lock every write transaction (and every
/// migration) holds: `"Counters"` in ASCII, as a big-endian `bigint`.
/// An operator can see who holds it in `pg_locks` (`locktype =
/// 'advisory'`, `objid = 1952805491`, `classid = 1131378030`).
pub const LOG_LOCK_KEY: i64 = 0x436f_756e_7465_7273;

/// What begins a write transaction: the isolation that gives each
/// statement a fresh snapshot, then the log's lock.
const BEGIN_WRITE: &str =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(4859231640215712371)";
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Settings of the writer's session: how long to wait for another
/// process's writer, and commits that wait for the WAL flush.
const WRITER_SESSION: &str = "SET lock_timeout = '10s';
SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'";

/// At most this many reader connections are open at once; a reader past
/// them waits for one to come back.
const MAX_READERS: usize = 8;
/// Statements each connection keeps prepared; past it the cache starts over.
const STATEMENT_CACHE: usize = 256;

/// A Countersign store in a PostgreSQL database.
pub struct PostgresStore {
    config: Config,
    /// The writer's connection; `None` until needed again after it broke.
    writer: Mutex<Option<Conn>>,
    readers: Readers,
}

/// A connection and the statements prepared on it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn connect(config: &Config) -> Result<Conn> {
        let client = config.connect(NoTls).map_err(|e| {
            StoreError::Backend(format!("connecting to PostgreSQL: {}", describe(&e)))
        })?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// The statement for `sql`, prepared on first use.
    fn statement(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// Close connections on a thread of their own: the driver's client runs
/// a runtime, which may be neither used nor dropped on a thread that is
/// running async tasks (the end of the server's `main`).
fn close(conns: Vec<Conn>) {
    if conns.is_empty() {
        return;
    }
    // Should no thread be had, the connections are dropped here, with
    // the closure that held them.
    if let Ok(t) = std::thread::Builder::new()
        .name("countersign-pg-close".into())
        .spawn(move || drop(conns))
    {
        let _ = t.join();
    }
}

/// The pool of reader connections.
struct Readers {
    config: Config,
    pool: Mutex<ReaderPool>,
    returned: Condvar,
}

#[derive(Default)]
struct ReaderPool {
    idle: Vec<Conn>,
    open: usize,
}

impl Readers {
    fn lock(&self) -> Result<MutexGuard<'_, ReaderPool>> {
        self.pool
            .lock()
            .map_err(|_| StoreError::Backend("reader pool lock poisoned".into()))
    }

    fn take(&self) -> Result<Conn> {
        let mut pool = self.lock()?;
        loop {
            if let Some(c) = pool.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                pool.open -= 1;
                drop(pool);
                close(vec![c]);
                pool = self.lock()?;
                continue;
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                return Conn::connect(&self.config).inspect_err(|_| self.forget());
            }
            pool = self
                .returned
                .wait(pool)
                .map_err(|_| StoreError::Backend("reader pool lock poisoned".into()))?;
        }
    }

    fn give_back(&self, conn: Conn) {
        match self.pool.lock() {
            Ok(mut pool) => pool.idle.push(conn),
            Err(_) => close(vec![conn]),
        }
        self.returned.notify_one();
    }

    /// Drop a connection that broke; another may be opened in its place.
    fn discard(&self, conn: Conn) {
        self.forget();
        close(vec![conn]);
    }

    fn forget(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.open = pool.open.saturating_sub(1);
        }
        self.returned.notify_one();
    }
}

/// The connection a transaction runs on: the writer's, held for the whole
/// transaction, or a reader's, returned to the pool when it ends.
// It lives inside the boxed transaction: its size is paid once, on the heap.
#[allow(clippy::large_enum_variant)]
enum Holder<'a> {
    Writer(MutexGuard<'a, Option<Conn>>),
    Reader {
        conn: Option<Conn>,
        readers: &'a Readers,
    },
}

impl Holder<'_> {
    fn conn(&mut self) -> Option<&mut Conn> {
        match self {
            Holder::Writer(g) => g.as_mut(),
            Holder::Reader { conn, .. } => conn.as_mut(),
        }
    }
}

/// A message for a driver error: the server's message and SQLSTATE (never
/// its detail, which quotes the row's values), or the error and its cause.
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The store's error for a driver error.
pub(crate) fn pg_error(e: &postgres::Error) -> StoreError {
    let code = e.code();
    let conflict = code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        // A second entry at an index: the head moved under this
        // transaction (only a writer that skipped the log's lock can do
        // that), and running it again appends after the new head. Any
        // other duplicate (a checkpoint for a size, which is a fork; a
        // stored hash) would come back on every retry: an error.
        || (code == Some(&SqlState::UNIQUE_VIOLATION)
            && e
                .as_db_error()
                .and_then(|d| d.table())
                .is_some_and(|t| t == "log_entries"));
    if conflict {
        StoreError::Conflict(describe(e))
    } else {
        StoreError::Backend(describe(e))
    }
}

/// Column `i` of `row`.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, i: usize) -> Result<T> {
    row.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {}", describe(&e))))
}

/// Parameters of a statement.
pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

impl PostgresStore {
    /// Open the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
    /// or `postgresql://…`, or libpq's `key=value` form) and migrate it.
    /// The database must exist; its tables are created on first open.
    pub fn open(url: &str) -> Result<Self> {
        let mut config = Config::from_str(url).map_err(|e| {
            StoreError::Setup(format!("the PostgreSQL URL is not valid: {}", describe(&e)))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("countersign");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let writer = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("countersign-pg-open".into())
                .spawn_scoped(s, || -> Result<Conn> {
                    let mut conn = Conn::connect(&config)?;
                    schema::migrate(&mut conn)?;
                    conn.client
                        .batch_execute(WRITER_SESSION)
                        .map_err(|e| pg_error(&e))?;
                    Ok(conn)
                })
                .map_err(|e| StoreError::Backend(format!("starting a thread: {e}")))?
                .join()
                .map_err(|_| StoreError::Backend("opening the database panicked".into()))?
        })?;
        Ok(PostgresStore {
            readers: Readers {
                config: config.clone(),
                pool: Mutex::new(ReaderPool::default()),
                returned: Condvar::new(),
            },
            config,
            writer: Mutex::new(Some(writer)),
        })
    }

    fn connect_writer(&self) -> Result<Conn> {
        let mut conn = Conn::connect(&self.config)?;
        conn.client
            .batch_execute(WRITER_SESSION)
            .map_err(|e| pg_error(&e))?;
        Ok(conn)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        let mut conns = Vec::new();
        if let Some(w) = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            conns.push(w);
        }
        let pool = self
            .readers
            .pool
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        conns.append(&mut pool.idle);
        close(conns);
    }
}

/// Begin a transaction with `begin` on `conn`. A connection that turns
/// out broken is answered as `Err(None)`, for the caller to replace.
fn begin_on(conn: &mut Conn, begin: &str) -> std::result::Result<(), Option<StoreError>> {
    match conn.client.batch_execute(begin) {
        Ok(()) => Ok(()),
        Err(e) => {
            let broken = e.as_db_error().is_none() || conn.client.is_closed();
            // A lock timeout leaves the transaction open and aborted.
            if broken || conn.client.batch_execute("ROLLBACK").is_err() {
                return Err(None);
            }
            Err(Some(pg_error(&e)))
        }
    }
}

impl Store for PostgresStore {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>> {
        // Every pooled connection may have died with a server restart:
        // each is tried once, then a fresh one.
        for _ in 0..=MAX_READERS {
            let mut conn = self.readers.take()?;
            match begin_on(&mut conn, BEGIN_READ) {
                Ok(()) => {
                    return Ok(Box::new(PgTx::new(Holder::Reader {
                        conn: Some(conn),
                        readers: &self.readers,
                    })))
                }
                Err(None) => self.readers.discard(conn),
                Err(Some(e)) => {
                    self.readers.give_back(conn);
                    return Err(e);
                }
            }
        }
        Err(StoreError::Backend(
            "no working connection to PostgreSQL for a read".into(),
        ))
    }

    fn write(&self) -> Result<Box<dyn WriteTx + '_>> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("database connection lock poisoned".into()))?;
        // The kept connection may have died with a server restart: it is
        // tried once, then a fresh one.
        for _ in 0..2 {
            if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
                close(guard.take().into_iter().collect());
                *guard = Some(self.connect_writer()?);
            }
            let Some(conn) = guard.as_mut() else {
                continue;
            };
            match begin_on(conn, BEGIN_WRITE) {
                Ok(()) => return Ok(Box::new(PgTx::new(Holder::Writer(guard)))),
                Err(None) => close(guard.take().into_iter().collect()),
                Err(Some(e)) => return Err(e),
            }
        }
        Err(StoreError::Backend(
            "no working connection to PostgreSQL for a write".into(),
        ))
    }

    fn compact(&self) -> Result<()> {
        // See the crate documentation: PostgreSQL keeps old row versions
        // until vacuum and WAL recycling, which no statement here can
        // force without locking readers out.
        Ok(())
    }
}

/// Why a transaction can no longer commit.
struct Failure {
    conflict: bool,
    message: String,
}

pub(crate) struct PgTx<'a> {
    holder: RefCell<Holder<'a>>,
    /// Begun and neither committed nor rolled back.
    open: bool,
    /// The first statement that failed, which aborted the transaction.
    failed: RefCell<Option<Failure>>,
    /// The log's size as this transaction sees it, once read: a reader's
    /// snapshot does not move, and a writer holds the log's lock, so only
    /// its own appends move it (one round trip saved per ask).
    size: std::cell::Cell<Option<u64>>,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        let open = self.open;
        let holder = self.holder.get_mut();
        // Nothing to report to: the caller has already failed or
        // abandoned the transaction, and rollback only discards. A
        // connection that cannot roll back is closed, not reused.
        let healthy = match holder.conn() {
            Some(c) => !(open && c.client.batch_execute("ROLLBACK").is_err()),
            None => false,
        };
        match holder {
            Holder::Writer(guard) => {
                if !healthy {
                    close(guard.take().into_iter().collect());
                }
            }
            Holder::Reader { conn, readers } => {
                if let Some(c) = conn.take() {
                    if healthy {
                        readers.give_back(c);
                    } else {
                        readers.discard(c);
                    }
                }
            }
        }
    }
}

impl<'a> PgTx<'a> {
    fn new(holder: Holder<'a>) -> Self {
        PgTx {
            holder: RefCell::new(holder),
            open: true,
            failed: RefCell::new(None),
            size: std::cell::Cell::new(None),
        }
    }

    /// Run `f` on the transaction's connection; a failure is remembered,
    /// for PostgreSQL has aborted the transaction.
    fn run<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut holder = self
            .holder
            .try_borrow_mut()
            .map_err(|_| StoreError::Backend("transaction used re-entrantly".into()))?;
        let conn = holder
            .conn()
            .ok_or_else(|| StoreError::Backend("the transaction's connection is gone".into()))?;
        f(conn).map_err(|e| {
            let err = pg_error(&e);
            if let Ok(mut failed) = self.failed.try_borrow_mut() {
                failed.get_or_insert(Failure {
                    conflict: err.is_retryable(),
                    message: describe(&e),
                });
            }
            err
        })
    }

    pub(crate) fn query(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>> {
        self.run(|c| {
            let s = c.statement(sql)?;
            c.client.query(&s, params)
        })
    }

    /// The first row `sql` answers, if any.
    pub(crate) fn query_first(&self, sql: &str, params: &Params<'_>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub(crate) fn execute(&self, sql: &str, params: &Params<'_>) -> Result<u64> {
        self.run(|c| {
            let s = c.statement(sql)?;
            c.client.execute(&s, params)
        })
    }

    pub(crate) fn one<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &str,
        key: &str,
    ) -> Result<Option<T>> {
        match self.query_first(sql, &[&key])? {
            Some(row) => Ok(Some(from_json(what, &col::<String>(&row, 0)?)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn many<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<T>> {
        self.query(sql, params)?
            .iter()
            .map(|row| from_json(what, &col::<String>(row, 0)?))
            .collect()
    }
}

impl ReadTx for PgTx<'_> {
    fn scim_resource(&self, resource_type: &str, id: &str) -> Result<Option<ScimRecord>> {
        self.scim_resource_(resource_type, id)
    }

    fn scim_resources(&self, resource_type: &str) -> Result<Vec<ScimRecord>> {
        self.scim_where("resource_type = $1", &[&resource_type])
    }

    fn scim_user_of(&self, handle: &str) -> Result<Option<ScimRecord>> {
        Ok(self
            .scim_where("resource_type = 'User' AND identity = $1", &[&handle])?
            .pop())
    }

    fn change(&self, id: &str) -> Result<Option<EntitlementChange>> {
        self.one(
            "change",
            "SELECT body FROM entitlement_changes WHERE id = $1",
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
            "SELECT body FROM control_exceptions WHERE id = $1",
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
        self.one("webhook", "SELECT body FROM webhooks WHERE id = $1", id)
    }

    fn webhooks(&self) -> Result<Vec<WebhookRecord>> {
        self.many("webhook", "SELECT body FROM webhooks ORDER BY seq", &[])
    }

    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>> {
        self.many(
            "delivery",
            "SELECT body FROM deliveries WHERE id = $1",
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
        self.query_first("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn identity(&self, handle: &str) -> Result<Option<Identity>> {
        self.one(
            "identity",
            "SELECT body FROM identities WHERE handle = $1",
            handle,
        )
    }

    fn identities_by_email(&self, email: &str) -> Result<Vec<Identity>> {
        // SQLite's lower() folds ASCII only; so does the stored column.
        self.many(
            "identity",
            "SELECT body FROM identities WHERE email_lower = $1 ORDER BY seq",
            &[&email.to_ascii_lowercase()],
        )
    }

    fn identity_any_case(&self, handle: &str) -> Result<Option<Identity>> {
        // lower() under the "C" collation folds ASCII only, as SQLite's.
        self.one(
            "identity",
            r#"SELECT body FROM identities WHERE lower(handle) = lower($1 COLLATE "C") ORDER BY seq LIMIT 1"#,
            handle,
        )
    }

    fn token_by_hash(&self, sha256: &str) -> Result<Option<ApiToken>> {
        self.one(
            "token",
            "SELECT body FROM api_tokens WHERE hash = $1",
            sha256,
        )
    }

    fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        self.one("token", "SELECT body FROM api_tokens WHERE id = $1", id)
    }

    fn tokens(&self) -> Result<Vec<ApiToken>> {
        self.many("token", "SELECT body FROM api_tokens ORDER BY seq", &[])
    }

    fn delegation(&self, id: &str) -> Result<Option<Delegation>> {
        self.one(
            "delegation",
            "SELECT body FROM delegations WHERE id = $1",
            id,
        )
    }

    fn delegations_of(&self, handle: &str) -> Result<Vec<Delegation>> {
        self.many(
            "delegation",
            "SELECT body FROM delegations WHERE principal = $1 OR delegate = $1 ORDER BY seq",
            &[&handle],
        )
    }

    fn delegations(&self) -> Result<Vec<Delegation>> {
        self.many(
            "delegation",
            "SELECT body FROM delegations ORDER BY seq",
            &[],
        )
    }

    fn exception(&self, id: &str) -> Result<Option<PolicyException>> {
        self.one(
            "exception",
            "SELECT body FROM policy_exceptions WHERE id = $1",
            id,
        )
    }

    fn exceptions(&self, request: Option<&str>) -> Result<Vec<PolicyException>> {
        match request {
            Some(r) => self.many(
                "exception",
                "SELECT body FROM policy_exceptions WHERE request = $1 ORDER BY seq",
                &[&r],
            ),
            None => self.many(
                "exception",
                "SELECT body FROM policy_exceptions ORDER BY seq",
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
        self.query_first(
            "SELECT idx, data FROM log_entries WHERE kind = $1 AND request = $2 AND identity = $3
             ORDER BY idx DESC LIMIT 1",
            &[&kind, &request, &identity],
        )?
        .map(|r| Ok((to_u64(col(&r, 0)?)?, col(&r, 1)?)))
        .transpose()
    }

    fn identities(&self, filter: &IdentityFilter) -> Result<Vec<Identity>> {
        let kind = filter.kind.map(|k| k.as_str());
        let status = filter.status.map(|s| s.as_str());
        self.many(
            "identity",
            "SELECT body FROM identities WHERE ($1::text IS NULL OR kind = $1)
               AND ($2::text IS NULL OR status = $2) ORDER BY handle",
            &[&kind, &status],
        )
    }

    fn identity_history(&self, handle: &str) -> Result<Vec<IdentityHistoryEntry>> {
        self.query(
            "SELECT body, reason, log_index FROM identity_history WHERE handle = $1 ORDER BY revision",
            &[&handle],
        )?
        .iter()
        .map(|r| {
            Ok(IdentityHistoryEntry {
                identity: from_json("identity history", &col::<String>(r, 0)?)?,
                reason: col(r, 1)?,
                log_index: to_u64(col(r, 2)?)?,
            })
        })
        .collect()
    }

    fn credential(&self, key_id: &str) -> Result<Option<Credential>> {
        self.one(
            "credential",
            "SELECT body FROM credentials WHERE key_id = $1",
            key_id,
        )
    }

    fn credentials_of(&self, handle: &str) -> Result<Vec<Credential>> {
        self.many(
            "credential",
            "SELECT body FROM credentials WHERE identity = $1 ORDER BY seq",
            &[&handle],
        )
    }

    fn credentials(&self) -> Result<Vec<Credential>> {
        self.many(
            "credential",
            "SELECT body FROM credentials ORDER BY seq",
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
        self.one("session", "SELECT body FROM sessions WHERE id = $1", id)
    }

    fn invitation(&self, token_sha256: &str) -> Result<Option<InvitationRecord>> {
        self.one(
            "invitation",
            "SELECT body FROM invitations WHERE token_sha256 = $1",
            token_sha256,
        )
    }

    fn invitations_of(&self, handle: &str) -> Result<Vec<InvitationRecord>> {
        self.many(
            "invitation",
            "SELECT body FROM invitations WHERE identity = $1 ORDER BY seq",
            &[&handle],
        )
    }

    fn mail(&self, id: &str) -> Result<Option<MailRecord>> {
        self.one("mail", "SELECT body FROM mails WHERE id = $1", id)
    }

    fn mails_of(&self, handle: &str, limit: u32) -> Result<Vec<MailRecord>> {
        self.many(
            "mail",
            "SELECT body FROM mails WHERE identity = $1 ORDER BY seq DESC LIMIT $2",
            &[&handle, &i64::from(limit)],
        )
    }

    fn due_mails(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<MailRecord>> {
        self.due_mails_(now, limit)
    }

    fn reminded(&self, request: &str, identity: &str, offset_seconds: i64) -> Result<bool> {
        self.reminded_(request, identity, offset_seconds)
    }

    fn challenge(&self, challenge: &str) -> Result<Option<Challenge>> {
        self.query_first(
            "SELECT identity, expires_at FROM challenges WHERE challenge = $1",
            &[&challenge],
        )?
        .map(|r| {
            Ok(Challenge {
                challenge: challenge.to_string(),
                identity: col(&r, 0)?,
                expires_at: OffsetDateTime::from_unix_timestamp(col(&r, 1)?)
                    .map_err(|e| StoreError::Corrupt(format!("challenge expiry: {e}")))?,
            })
        })
        .transpose()
    }

    fn document(&self, name: &str) -> Result<Option<Document>> {
        let versions: Vec<DocumentVersion> = self.many(
            "document version",
            "SELECT body FROM document_versions WHERE name = $1 ORDER BY version",
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
        self.query_first("SELECT content FROM blobs WHERE sha256 = $1", &[&sha256])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn request(&self, id: &str) -> Result<Option<Request>> {
        self.one("request", "SELECT body FROM requests WHERE id = $1", id)
    }

    fn requests(&self, filter: &RequestFilter) -> Result<Vec<Request>> {
        let state = filter.state.map(|s| s.as_str());
        let kind = filter.event_kind.map(|k| k.as_str());
        let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 1000));
        self.many(
            "request",
            "SELECT body FROM requests r WHERE ($1::text IS NULL OR state = $1)
               AND ($2::text IS NULL OR event_kind = $2)
               AND ($3::text IS NULL OR requester = $3) AND ($4::text IS NULL OR beneficiary = $4)
               AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM request_approvers a
                                                WHERE a.request = r.id AND a.approver = $5))
             ORDER BY created_at DESC, id DESC LIMIT $6",
            &[
                &state,
                &kind,
                &filter.requester,
                &filter.beneficiary,
                &filter.approver,
                &limit,
            ],
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
            "SELECT body FROM requests WHERE action_subject = $1
               OR (action_system = $2 AND action_entitlement = $3)
             ORDER BY created_at, id",
            &[&subject, &system, &entitlement],
        )
    }

    fn requests_with_action(&self, state: RequestState) -> Result<Vec<Request>> {
        self.many(
            "request",
            "SELECT body FROM requests WHERE state = $1 AND has_action ORDER BY created_at, id",
            &[&state.as_str()],
        )
    }

    fn expired_pending(&self, now: OffsetDateTime) -> Result<Vec<String>> {
        // The column holds whole seconds: it narrows the search, and the
        // record's exact expiry decides (a request due at .7 s is not
        // expired at .0 s).
        let candidates: Vec<Request> = self.many(
            "request",
            "SELECT body FROM requests WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at",
            &[&now.unix_timestamp()],
        )?;
        Ok(candidates
            .into_iter()
            .filter(|r| r.expires_at <= now)
            .map(|r| r.id)
            .collect())
    }

    fn receipt_for_envelope(&self, envelope_sha256: &str) -> Result<Option<StoredReceipt>> {
        self.query_first(
            "SELECT request, log_index, receipt FROM receipts WHERE envelope_sha256 = $1",
            &[&envelope_sha256],
        )?
        .map(|r| {
            Ok(StoredReceipt {
                request: col(&r, 0)?,
                log_index: to_u64(col(&r, 1)?)?,
                receipt: col(&r, 2)?,
            })
        })
        .transpose()
    }

    fn tree_size(&self) -> Result<u64> {
        if let Some(size) = self.size.get() {
            return Ok(size);
        }
        let row = self.query_first("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries", &[])?;
        let size = match row {
            Some(r) => to_u64(col(&r, 0)?)?,
            None => {
                return Err(StoreError::Backend(
                    "the tree size query answered no row".into(),
                ))
            }
        };
        self.size.set(Some(size));
        Ok(size)
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        self.query_first(
            "SELECT data FROM log_entries WHERE idx = $1",
            &[&key_i64(index)],
        )?
        .map(|r| col(&r, 0))
        .transpose()
    }

    fn entries_at(&self, indexes: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<i64> = indexes.iter().map(|&i| key_i64(i)).collect();
        let mut found = std::collections::HashMap::with_capacity(keys.len());
        for r in self.query(
            "SELECT idx, data FROM log_entries WHERE idx = ANY($1)",
            &[&keys],
        )? {
            let idx: i64 = col(&r, 0)?;
            let data: Vec<u8> = col(&r, 1)?;
            found.insert(idx, data);
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    fn entries(&self, start: u64, limit: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.query(
            "SELECT idx, data FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
            &[&key_i64(start), &key_i64(limit)],
        )?
        .iter()
        .map(|r| Ok((to_u64(col(r, 0)?)?, col(r, 1)?)))
        .collect()
    }

    fn entry_indexes_about(
        &self,
        request: &str,
        identities: &[String],
        key_ids: &[String],
    ) -> Result<Vec<u64>> {
        self.query(
            // One indexed lookup per part, never a scan of the log:
            // `identity.` ≤ kind < `identity/` is the prefix as a range
            // (byte order: the column is COLLATE "C").
            "SELECT idx FROM log_entries WHERE request = $1
             UNION
             SELECT idx FROM log_entries
              WHERE identity = ANY($2) AND kind >= 'identity.' AND kind < 'identity/'
             UNION
             SELECT idx FROM log_entries
              WHERE identity = ANY($2) AND kind >= 'delegation.' AND kind < 'delegation/'
             UNION
             SELECT idx FROM log_entries WHERE kind IN ('ca.created', 'policy.activated')
             UNION
             SELECT idx FROM log_entries
              WHERE key_id = ANY($3) AND kind >= 'credential.' AND kind < 'credential/'
             ORDER BY idx",
            &[&request, &identities, &key_ids],
        )?
        .iter()
        .map(|r| to_u64(col(r, 0)?))
        .collect()
    }

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Option<Hash>> {
        let raw: Option<Vec<u8>> = self
            .query_first(
                "SELECT hash FROM tree_hashes WHERE level = $1 AND idx = $2",
                &[&i16::from(level), &key_i64(index)],
            )?
            .map(|r| col(&r, 0))
            .transpose()?;
        raw.map(|r| {
            Hash::try_from(r.as_slice()).map_err(|_| {
                StoreError::Corrupt(format!("tree hash ({level}, {index}) is not 32 bytes"))
            })
        })
        .transpose()
    }

    fn subtree_hashes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip for a whole proof's hashes.
        let levels: Vec<i16> = wanted.iter().map(|&(l, _)| i16::from(l)).collect();
        let indexes: Vec<i64> = wanted.iter().map(|&(_, i)| key_i64(i)).collect();
        let rows = self.query(
            "SELECT t.level, t.idx, t.hash FROM tree_hashes t
               JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
                 ON t.level = w.level AND t.idx = w.idx",
            &[&levels, &indexes],
        )?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let level: i16 = col(r, 0)?;
            let index: i64 = col(r, 1)?;
            let raw: Vec<u8> = col(r, 2)?;
            let hash = Hash::try_from(raw.as_slice()).map_err(|_| {
                StoreError::Corrupt(format!("tree hash ({level}, {index}) is not 32 bytes"))
            })?;
            found.insert((level, index), hash);
        }
        Ok(levels
            .iter()
            .zip(&indexes)
            .map(|(l, i)| found.get(&(*l, *i)).copied())
            .collect())
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.query_first(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
            &[],
        )?
        .map(|r| Ok((to_u64(col(&r, 0)?)?, col(&r, 1)?)))
        .transpose()
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>> {
        self.query_first(
            "SELECT note FROM checkpoints WHERE size = $1",
            &[&key_i64(size)],
        )?
        .map(|r| col(&r, 0))
        .transpose()
    }

    fn opening(&self, commitment: &str) -> Result<Option<StoredOpening>> {
        self.opening_(commitment)
    }

    fn openings_of(&self, handle: &str) -> Result<Vec<StoredOpening>> {
        self.openings_of_(handle)
    }

    fn openings(&self, commitments: &[String]) -> Result<Vec<StoredOpening>> {
        self.openings_(commitments)
    }

    fn state_rows(&self) -> Result<StateRows> {
        self.state_rows_()
    }

    fn lease(&self, name: &str) -> Result<Option<Lease>> {
        self.query_first("SELECT holder, until FROM leases WHERE name = $1", &[&name])?
            .map(|r| {
                Ok(Lease {
                    name: name.to_string(),
                    holder: col(&r, 0)?,
                    until: from_unix_millis(col(&r, 1)?)?,
                })
            })
            .transpose()
    }

    fn hold(&self, id: &str) -> Result<Option<LegalHold>> {
        self.one(
            "legal hold",
            "SELECT body FROM legal_holds WHERE id = $1",
            id,
        )
    }

    fn holds(&self) -> Result<Vec<LegalHold>> {
        self.many(
            "legal hold",
            "SELECT body FROM legal_holds ORDER BY log_index, seq",
            &[],
        )
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        self.query("SELECT size, note FROM checkpoints ORDER BY size", &[])?
            .iter()
            .map(|r| Ok((to_u64(col(r, 0)?)?, col(r, 1)?)))
            .collect()
    }
}

/// The columns `requests` keeps of a request's entitlement action.
fn action_columns(r: &Request) -> (bool, Option<&str>, Option<&str>, Option<&str>) {
    match &r.action {
        Some(a) => (
            true,
            Some(a.system.as_str()),
            Some(a.subject.as_str()),
            Some(a.entitlement.as_str()),
        ),
        None => (false, None, None, None),
    }
}

impl WriteTx for PgTx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .map(drop)
    }

    fn put_identity(
        &mut self,
        identity: &Identity,
        reason: Option<&str>,
        log_index: u64,
    ) -> Result<()> {
        let body = to_json(identity)?;
        let email = identity.email.as_deref().map(str::to_ascii_lowercase);
        self.execute(
            "INSERT INTO identities (handle, kind, status, email_lower, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (handle) DO UPDATE SET kind = excluded.kind, status = excluded.status,
               email_lower = excluded.email_lower, body = excluded.body",
            &[
                &identity.handle,
                &identity.kind.as_str(),
                &identity.status.as_str(),
                &email,
                &body,
            ],
        )?;
        self.execute(
            "INSERT INTO identity_history (handle, revision, reason, log_index, body)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &identity.handle,
                &to_i64(identity.revision)?,
                &reason,
                &to_i64(log_index)?,
                &body,
            ],
        )
        .map(drop)
    }

    fn put_credential(&mut self, c: &Credential) -> Result<()> {
        self.execute(
            "INSERT INTO credentials (key_id, identity, body) VALUES ($1, $2, $3)
             ON CONFLICT (key_id) DO UPDATE SET body = excluded.body",
            &[&c.key_id, &c.identity, &to_json(c)?],
        )
        .map(drop)
    }

    fn put_token(&mut self, t: &ApiToken, sha256: Option<&str>) -> Result<()> {
        let changed = match sha256 {
            Some(hash) => self.execute(
                "INSERT INTO api_tokens (id, hash, body) VALUES ($1, $2, $3)",
                &[&t.id, &hash, &to_json(t)?],
            ),
            None => self.execute(
                "UPDATE api_tokens SET body = $2 WHERE id = $1",
                &[&t.id, &to_json(t)?],
            ),
        }?;
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
        self.execute(
            "INSERT INTO delegations (id, principal, delegate, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            &[&d.id, &d.principal, &d.delegate, &to_json(d)?],
        )
        .map(drop)
    }

    fn put_exception(&mut self, e: &PolicyException) -> Result<()> {
        self.execute(
            "INSERT INTO policy_exceptions (id, request, actor, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            &[&e.id, &e.request, &e.actor, &to_json(e)?],
        )
        .map(drop)
    }

    fn put_challenge(&mut self, c: &Challenge) -> Result<()> {
        // Expired challenges are useless; clear them as new ones arrive.
        self.execute(
            "DELETE FROM challenges WHERE expires_at < $1",
            &[&(c.expires_at.unix_timestamp() - 86_400)],
        )?;
        self.execute(
            "INSERT INTO challenges (challenge, identity, expires_at) VALUES ($1, $2, $3)",
            &[&c.challenge, &c.identity, &c.expires_at.unix_timestamp()],
        )
        .map(drop)
    }

    fn take_challenge(&mut self, challenge: &str) -> Result<bool> {
        self.execute("DELETE FROM challenges WHERE challenge = $1", &[&challenge])
            .map(|n| n > 0)
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
        self.execute("DELETE FROM sessions WHERE id = $1", &[&id])
            .map(drop)
    }

    fn delete_sessions_of(&mut self, handle: &str) -> Result<u64> {
        self.execute("DELETE FROM sessions WHERE identity = $1", &[&handle])
    }

    fn delete_sessions_with(&mut self, key_id: &str) -> Result<u64> {
        self.execute("DELETE FROM sessions WHERE credential = $1", &[&key_id])
    }

    fn put_invitation(&mut self, invitation: &InvitationRecord) -> Result<()> {
        self.put_invitation_(invitation)
    }

    fn put_mail(&mut self, mail: &MailRecord) -> Result<()> {
        self.put_mail_(mail)
    }

    fn put_reminder(&mut self, request: &str, identity: &str, offset_seconds: i64) -> Result<()> {
        self.execute(
            "INSERT INTO reminders (request, identity, offset_seconds) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&request, &identity, &offset_seconds],
        )
        .map(drop)
    }

    fn purge_expired(&mut self, now: OffsetDateTime) -> Result<u64> {
        self.purge_expired_(now)
    }

    fn put_document_version(&mut self, v: &DocumentVersion, content: Option<&[u8]>) -> Result<()> {
        self.execute(
            "INSERT INTO document_versions (name, version, sha256, body) VALUES ($1, $2, $3, $4)",
            &[&v.document, &i64::from(v.version), &v.sha256, &to_json(v)?],
        )?;
        if let Some(bytes) = content {
            self.execute(
                "INSERT INTO blobs (sha256, content) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[&v.sha256, &bytes],
            )?;
        }
        Ok(())
    }

    fn put_request(&mut self, r: &Request) -> Result<()> {
        let (has_action, system, subject, entitlement) = action_columns(r);
        self.execute(
            "INSERT INTO requests (id, state, event_kind, requester, beneficiary, created_at, expires_at,
                                   has_action, action_system, action_subject, action_entitlement, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, has_action = excluded.has_action,
               action_system = excluded.action_system, action_subject = excluded.action_subject,
               action_entitlement = excluded.action_entitlement, body = excluded.body",
            &[
                &r.id,
                &r.state.as_str(),
                &r.event_kind.as_str(),
                &r.requester,
                &r.beneficiary,
                &(r.created_at.unix_timestamp_nanos() as i64),
                &r.expires_at.unix_timestamp(),
                &has_action,
                &system,
                &subject,
                &entitlement,
                &to_json(r)?,
            ],
        )?;
        if r.state == RequestState::Pending {
            // Approvers change while pending only by re-routing; keep the
            // index equal to the list.
            self.execute("DELETE FROM request_approvers WHERE request = $1", &[&r.id])?;
            self.execute(
                "INSERT INTO request_approvers (request, approver)
                 SELECT $1, a FROM unnest($2::text[]) AS a ON CONFLICT DO NOTHING",
                &[&r.id, &r.approvers],
            )?;
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
        self.execute(
            "INSERT INTO receipts (envelope_sha256, request, log_index, receipt) VALUES ($1, $2, $3, $4)",
            &[&envelope_sha256, &r.request, &to_i64(r.log_index)?, &r.receipt],
        )
        .map(drop)
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
        self.execute(
            "INSERT INTO log_entries (idx, data, kind, request, identity, key_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &to_i64(index)?,
                &entry,
                &terms.kind,
                &terms.request,
                &terms.identity,
                &terms.key_id,
            ],
        )?;
        // Whatever happens next, the size is read afresh if asked.
        self.size.set(None);
        // Every subtree hash the entry completes, in one statement.
        let levels: Vec<i16> = hashes.iter().map(|(l, _, _)| i16::from(*l)).collect();
        let indexes = hashes
            .iter()
            .map(|(_, i, _)| to_i64(*i))
            .collect::<Result<Vec<i64>>>()?;
        let values: Vec<&[u8]> = hashes.iter().map(|(_, _, h)| h.as_slice()).collect();
        self.execute(
            "INSERT INTO tree_hashes (level, idx, hash)
             SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
            &[&levels, &indexes, &values],
        )?;
        self.size.set(Some(size + 1));
        Ok(())
    }

    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<()> {
        self.execute(
            "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
            &[&to_i64(size)?, &note],
        )
        .map(drop)
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
        self.execute(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until",
            &[&lease.name, &lease.holder, &unix_millis(lease.until)],
        )
        .map(drop)
    }

    fn delete_lease(&mut self, name: &str) -> Result<()> {
        self.execute("DELETE FROM leases WHERE name = $1", &[&name])
            .map(drop)
    }

    fn scrub_person(&mut self, handle: &str, values: &[String], replacement: &str) -> Result<u64> {
        self.scrub_person_(handle, values, replacement)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if let Some(f) = self.failed.get_mut().take() {
            // PostgreSQL would answer COMMIT of an aborted transaction by
            // rolling it back without an error; the caller must hear it.
            let message = format!(
                "an earlier statement failed, nothing was kept: {}",
                f.message
            );
            return Err(if f.conflict {
                StoreError::Conflict(message)
            } else {
                StoreError::Backend(message)
            });
        }
        // A COMMIT whose answer is lost with the connection may or may
        // not have committed: that is a Backend error, never a Conflict,
        // for running the transaction again could log its events twice.
        self.run(|c| c.client.batch_execute("COMMIT"))?;
        self.open = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
