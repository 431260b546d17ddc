//! The PostgreSQL schema and its migrations.
//!
//! The tables are the SQLite backend's, adapted: `BIGINT` for every
//! integer (indexes, sizes, unix times), `BYTEA` for entry bytes, hashes
//! and document content, `TEXT` for JSON bodies so a body reads back byte
//! for byte as it was written. Every text column that is compared or
//! sorted is `COLLATE "C"`: byte order, as SQLite's `BINARY`, so listings
//! come back in the same order on both backends whatever the database's
//! locale, and the `kind >= 'identity.' AND kind < 'identity/'` prefix
//! ranges mean what they say. Where SQLite filters or sorts on
//! `json_extract` of a body, this schema keeps the value in a column of
//! its own, written beside the body (`identities.email_lower`, the
//! `requests.action_*` columns, `webhooks.enabled`, `legal_holds.log_index`):
//! PostgreSQL's JSON operators refuse a document holding `\u0000`, which
//! serde_json writes for a NUL in any string, so a query over bodies could
//! fail on one record. Tables whose SQLite queries order by `rowid` carry
//! `seq`, an identity column with the same meaning (insertion order, kept
//! by an upsert).
//!
//! Migrations are numbered scripts applied forward only, recorded in
//! `countersign_schema` (one row per applied version), all of them in one
//! transaction that holds the log's advisory lock, so two processes that
//! start at once do not both migrate, and a migration never interleaves
//! with a write.

use countersign_store::{Result, StoreError};

use crate::{pg_error, Conn, LOG_LOCK_KEY};

/// The migrations, in order; version `n` is the first `n` applied.
pub(crate) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (
    handle TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    -- The body's email, ASCII lower-cased (as SQLite's lower()).
    email_lower TEXT COLLATE "C",
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX identities_email ON identities (email_lower);
CREATE INDEX identities_handle_lower ON identities (lower(handle));
CREATE TABLE identity_history (
    handle TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    reason TEXT,
    log_index BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (handle, revision)
);
CREATE TABLE credentials (
    key_id TEXT COLLATE "C" PRIMARY KEY,
    identity TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX credentials_identity ON credentials (identity);
CREATE TABLE challenges (
    challenge TEXT COLLATE "C" PRIMARY KEY,
    identity TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE document_versions (
    name TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE blobs (sha256 TEXT COLLATE "C" PRIMARY KEY, content BYTEA NOT NULL);
CREATE TABLE requests (
    id TEXT COLLATE "C" PRIMARY KEY,
    state TEXT COLLATE "C" NOT NULL,
    event_kind TEXT COLLATE "C" NOT NULL,
    requester TEXT COLLATE "C" NOT NULL,
    beneficiary TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- The body's entitlement action, for reconciliation.
    has_action BOOLEAN NOT NULL,
    action_system TEXT COLLATE "C",
    action_subject TEXT COLLATE "C",
    action_entitlement TEXT COLLATE "C",
    body TEXT NOT NULL
);
CREATE INDEX requests_state ON requests (state, expires_at);
CREATE INDEX requests_action_subject ON requests (action_subject);
CREATE INDEX requests_action_entitlement ON requests (action_system, action_entitlement);
CREATE TABLE request_approvers (
    request TEXT COLLATE "C" NOT NULL,
    approver TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (request, approver)
);
CREATE INDEX request_approvers_approver ON request_approvers (approver);
CREATE TABLE receipts (
    envelope_sha256 TEXT COLLATE "C" PRIMARY KEY,
    request TEXT COLLATE "C" NOT NULL,
    log_index BIGINT NOT NULL,
    receipt TEXT NOT NULL
);
CREATE TABLE log_entries (
    idx BIGINT PRIMARY KEY,
    data BYTEA NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    request TEXT COLLATE "C",
    identity TEXT COLLATE "C",
    key_id TEXT COLLATE "C"
);
-- The entries about a party are found by (party, kind), so finding them
-- costs what the party's own entries cost, not what the log holds.
CREATE INDEX log_entries_request ON log_entries (request);
CREATE INDEX log_entries_kind ON log_entries (kind);
CREATE INDEX log_entries_identity_kind ON log_entries (identity, kind);
CREATE INDEX log_entries_key_kind ON log_entries (key_id, kind);
CREATE TABLE tree_hashes (
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE delegations (
    id TEXT COLLATE "C" PRIMARY KEY,
    principal TEXT COLLATE "C" NOT NULL,
    delegate TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX delegations_principal ON delegations (principal);
CREATE INDEX delegations_delegate ON delegations (delegate);
CREATE TABLE policy_exceptions (
    id TEXT COLLATE "C" PRIMARY KEY,
    request TEXT COLLATE "C" NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX policy_exceptions_request ON policy_exceptions (request, actor);
CREATE TABLE scim_resources (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    identity TEXT COLLATE "C",
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX scim_resources_identity ON scim_resources (identity);
CREATE TABLE entitlement_changes (
    id TEXT COLLATE "C" PRIMARY KEY,
    system TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    source_event_id TEXT COLLATE "C" NOT NULL,
    request TEXT COLLATE "C",
    log_index BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (system, source_event_id)
);
CREATE INDEX entitlement_changes_subject ON entitlement_changes (subject, system);
CREATE INDEX entitlement_changes_request ON entitlement_changes (request);
CREATE TABLE control_exceptions (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    severity TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C",
    system TEXT COLLATE "C",
    assignee TEXT COLLATE "C",
    request TEXT COLLATE "C",
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    UNIQUE (kind, key)
);
CREATE TABLE webhooks (
    id TEXT COLLATE "C" PRIMARY KEY,
    -- The body's endpoint.enabled.
    enabled BOOLEAN NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE outbox (
    id TEXT COLLATE "C" PRIMARY KEY,
    event_type TEXT COLLATE "C" NOT NULL,
    ordering_key TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE deliveries (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    endpoint TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL REFERENCES outbox (id),
    ordering_key TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    due BIGINT,
    body TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, due);
CREATE INDEX deliveries_order ON deliveries (endpoint, ordering_key, state, id);
CREATE TABLE delivery_attempts (
    delivery BIGINT NOT NULL REFERENCES deliveries (id),
    attempt BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (delivery, attempt)
);
CREATE TABLE sign_counts (key_id TEXT COLLATE "C" PRIMARY KEY, count BIGINT NOT NULL);
CREATE TABLE web_challenges (
    id TEXT COLLATE "C" PRIMARY KEY,
    purpose TEXT COLLATE "C" NOT NULL,
    identity TEXT COLLATE "C",
    expires_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX web_challenges_expiry ON web_challenges (expires_at);
CREATE TABLE sessions (
    id TEXT COLLATE "C" PRIMARY KEY,
    identity TEXT COLLATE "C" NOT NULL,
    credential TEXT COLLATE "C",
    expires_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX sessions_identity ON sessions (identity);
CREATE INDEX sessions_credential ON sessions (credential);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE TABLE invitations (
    id TEXT COLLATE "C" PRIMARY KEY,
    token_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
    identity TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX invitations_identity ON invitations (identity);
CREATE TABLE mails (
    id TEXT COLLATE "C" PRIMARY KEY,
    identity TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    due BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX mails_identity ON mails (identity);
CREATE INDEX mails_due ON mails (state, due);
CREATE TABLE reminders (
    request TEXT COLLATE "C" NOT NULL,
    identity TEXT COLLATE "C" NOT NULL,
    offset_seconds BIGINT NOT NULL,
    PRIMARY KEY (request, identity, offset_seconds)
);
-- Personal values committed in log entries: the salt and value are
-- deleted on erasure, the row stays to say by which entry.
CREATE TABLE openings (
    commitment TEXT COLLATE "C" PRIMARY KEY,
    salt TEXT,
    value TEXT,
    log_index BIGINT NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C",
    request TEXT COLLATE "C",
    class TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    erased_by BIGINT
);
CREATE INDEX openings_subject ON openings (subject);
CREATE TABLE legal_holds (
    id TEXT COLLATE "C" PRIMARY KEY,
    identity TEXT COLLATE "C",
    request TEXT COLLATE "C",
    -- The body's log_index, which holds are listed by.
    log_index BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
-- Which instance does a piece of work (the scheduled tasks, a delivery)
-- until when (unix milliseconds): operational state, never logged.
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    until BIGINT NOT NULL
);
"#];

/// The table that records which migrations were applied.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS countersign_schema (
    version BIGINT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// Bring the database on `conn` to the latest schema, or refuse one newer
/// than this build knows. Answers how many migrations were applied.
pub(crate) fn migrate(conn: &mut Conn) -> Result<usize> {
    let c = &mut conn.client;
    c.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({LOG_LOCK_KEY}); {VERSION_TABLE}"
    ))
    .map_err(|e| pg_error(&e))?;
    let outcome = (|| {
        let version: i64 = c
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM countersign_schema",
                &[],
            )
            .and_then(|r| r.try_get(0))
            .map_err(|e| pg_error(&e))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Setup(format!(
                "the database schema is version {version}, newer than this build knows ({}); upgrade Countersign",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            c.batch_execute(sql).map_err(|e| pg_error(&e))?;
            let applied = i64::try_from(i + 1).unwrap_or(i64::MAX);
            c.execute(
                "INSERT INTO countersign_schema (version) VALUES ($1)",
                &[&applied],
            )
            .map_err(|e| pg_error(&e))?;
        }
        Ok(MIGRATIONS.len() - version)
    })();
    match outcome {
        Ok(applied) => {
            c.batch_execute("COMMIT").map_err(|e| pg_error(&e))?;
            Ok(applied)
        }
        Err(e) => {
            // The transaction is abandoned; its failure is what to report.
            let _ = c.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}
