//! A [`Store`] in PostgreSQL, for deployments that run several server instances on one
//! database (selected by `database_url = "postgres://…"`).
//!
//! # Client
//!
//! The synchronous [`postgres`] client behind an [`r2d2`](r2d2_postgres) pool. The [`Store`]
//! trait is synchronous and the web layer already calls the workflow on tokio's blocking
//! threads (its `respond::blocking`), so an async client (tokio-postgres with a
//! pool, sqlx) would only be driven back into blocking calls here; the `postgres` crate is
//! exactly that (tokio-postgres driven on a private runtime per connection), from the same
//! maintainers, and keeps the domain free of `async`.
//!
//! # Tables
//!
//! Each table keeps the same records as [`super::SledStore`]'s trees, bincode 2 encoded in
//! a `record` column, with the columns the queries, constraints and locks need beside it
//! (the table of the schema is in [`MIGRATIONS`]). [`Store::digest`] hashes the records in
//! sled's layout (tree names, key bytes, record bytes, in key order), so a sled store and the
//! PostgreSQL store it was copied into ([`PostgresStore::import`]) have equal digests.
//!
//! # Concurrency between instances
//!
//! Every method is one transaction at PostgreSQL's default `READ COMMITTED` isolation, and
//! returns after `COMMIT`, which with the default `synchronous_commit = on` has flushed the
//! write-ahead log: an acknowledged write is durable. What makes the conditional methods
//! correct when several instances call them at once:
//!
//! - a declaration code is used at most once: [`Store::accept_upload`] reads the code with
//!   `SELECT … FOR UPDATE`; a second upload with the same code waits for the first to commit,
//!   then reads the code as used;
//! - F1 row numbers per case are unique and dense: [`Store::record_report`] locks the rows of
//!   its cases (`FOR UPDATE`, in case order, so two reports never wait on each other in a
//!   cycle) before numbering from the case's `f1_rows`; the primary key `(case_id, row_no)`
//!   backs it;
//! - a report identifier and a claimed sighting are kept once: `INSERT … ON CONFLICT DO
//!   NOTHING` on their primary keys (a concurrent insert of the same key waits for the first
//!   to commit or abort);
//! - follow-up updates do not lose each other: [`Store::set_follow_up`] reads the row `FOR
//!   UPDATE` and writes it back in the same transaction, and updates of one row are applied
//!   one after the other;
//! - counters (case ids, batch ids) are single-statement upserts (`INSERT … ON CONFLICT DO
//!   UPDATE … RETURNING`), which lock the counter's row until commit;
//! - cross-instance critical sections ([`Store::exclusive`]: one publication run at a time,
//!   one report verification at a time) are session-level advisory locks
//!   (`pg_advisory_lock`), held on a pooled connection until the guard is dropped; PostgreSQL
//!   releases them by itself if the holding instance dies.

use std::collections::BTreeMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{GenericClient, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::UnitRecord;
use super::{
    AUDIT_TREE, Account, AuditEntry, AuditFilter, BatchRecord, CLAIM_RETENTION_SECONDS, CaseRecord,
    CaseStatus, Charge, ClaimRecord, CodeRecord, CodeRefusal, ContactHash, F1RowRecord, FollowUp,
    RawRecord, RecordDigest, ReportRecord, Retention, Seconds, SessionRecord, SharedLock,
    SharedThrottles, SnapshotVisitor, Store, StoreCounts, StoreError, StoredKey, UploadRecord,
    check_run, contact_retained, key_retained, published_cases,
};
use crate::domain::throttle::RetryAfter;

use super::legacy::v2;

/// A conversion of records from one layout to the next, run inside a migration's transaction.
pub type RecordConversion = fn(&mut postgres::Transaction<'_>) -> Result<(), StoreError>;

/// One step of the schema: SQL, then, for a change of a record's layout, a conversion of the
/// records the SQL leaves in the old layout.
#[derive(Clone, Copy)]
pub struct Migration {
    /// Run first.
    pub sql: &'static str,
    /// Run after, in the same transaction.
    pub records: Option<RecordConversion>,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("sql", &self.sql)
            .field("records", &self.records.is_some())
            .finish()
    }
}

const fn sql(sql: &'static str) -> Migration {
    Migration { sql, records: None }
}

/// The schema, one migration per version: version `n` is reached by applying
/// `MIGRATIONS[n - 1]`. A migration is never edited once released; a change is a new entry.
pub const MIGRATIONS: &[Migration] = &[
    // 1: the records of the sled trees, with the columns queries and locks need.
    sql(r#"
    CREATE TABLE counters (name text COLLATE "C" PRIMARY KEY, next bigint NOT NULL);
    CREATE TABLE secrets (name text COLLATE "C" PRIMARY KEY, value bytea NOT NULL);
    CREATE TABLE accounts (username text COLLATE "C" PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE sessions (
        token_hash bytea PRIMARY KEY,
        username text NOT NULL,
        expires_at bigint NOT NULL,
        record bytea NOT NULL
    );
    CREATE INDEX sessions_username ON sessions (username);
    CREATE TABLE cases (
        case_id bigint PRIMARY KEY,
        status text NOT NULL,
        record bytea NOT NULL
    );
    CREATE INDEX cases_status ON cases (status);
    CREATE TABLE codes (code_hash bytea PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE upload_digests (code_hash bytea PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE uploads (case_id bigint PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE contacts (case_id bigint PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE batches (batch_id bigint PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE reports (report_id bytea PRIMARY KEY, record bytea);
    CREATE TABLE claims (
        rpi bytea NOT NULL,
        claim_id bytea NOT NULL,
        received_at bigint NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (rpi, claim_id)
    );
    CREATE TABLE f1_rows (
        case_id bigint NOT NULL,
        row_no bigint NOT NULL,
        district bigint NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (case_id, row_no)
    );
    CREATE INDEX f1_rows_district ON f1_rows (district, case_id, row_no);
    "#),
    // 2: failure throttles shared by every instance (`crate::domain::throttle`).
    sql(r#"
    CREATE TABLE throttle_windows (
        throttle text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        window_start bigint NOT NULL,
        window_end bigint NOT NULL,
        failures bigint NOT NULL,
        PRIMARY KEY (throttle, key)
    );
    CREATE INDEX throttle_windows_end ON throttle_windows (window_end);
    CREATE TABLE known_clients (key text COLLATE "C" PRIMARY KEY, last_success bigint NOT NULL);
    "#),
    // 3: the audit log, appended only, outside the digest.
    sql(r#"
    CREATE TABLE audit (
        seq bigint PRIMARY KEY,
        at bigint NOT NULL,
        account text NOT NULL,
        action text NOT NULL,
        record bytea NOT NULL
    );
    CREATE INDEX audit_account ON audit (account, seq);
    CREATE INDEX audit_action ON audit (action, seq);
    "#),
    // 4: preventive-medicine units registered by an admin.
    sql(r#"
    CREATE TABLE units (name text COLLATE "C" PRIMARY KEY, record bytea NOT NULL);
    "#),
    // 5: accounts and cases belong to a treatment facility (cases also to its province), an
    // account may have to change its password, and the oversight role: the records of
    // schema 4 are converted as the sled store converts its schema 2.
    Migration {
        sql: "",
        records: Some(facilities_and_password_changes),
    },
];

/// The advisory lock key taken while migrations run, so that instances starting together
/// migrate one after the other ("bzmigrat" in ASCII).
const MIGRATION_LOCK: i64 = 0x627a_6d69_6772_6174;

/// Migration 5's conversion: every account and case record from its schema 4 layout (the sled
/// store's schema 2) to today's.
fn facilities_and_password_changes(tx: &mut postgres::Transaction<'_>) -> Result<(), StoreError> {
    for row in tx
        .query("SELECT username, record FROM accounts", &[])
        .map_err(db)?
    {
        let old: v2::Account = decode("account (schema 4)", row.get(1))?;
        let name: String = row.get(0);
        tx.execute(
            "UPDATE accounts SET record = $2 WHERE username = $1",
            &[&name, &encode(&old.upgrade())?],
        )
        .map_err(db)?;
    }
    for row in tx
        .query("SELECT case_id, record FROM cases", &[])
        .map_err(db)?
    {
        let old: v2::CaseRecord = decode("case (schema 4)", row.get(1))?;
        let case_id: i64 = row.get(0);
        tx.execute(
            "UPDATE cases SET record = $2 WHERE case_id = $1",
            &[&case_id, &encode(&old.upgrade())?],
        )
        .map_err(db)?;
    }
    Ok(())
}

/// The first key of the transaction-level advisory lock a code reissue takes on its case (the
/// second is the case id, truncated to 32 bits): "bzcd" in ASCII.
const REISSUE_LOCK_CLASS: i32 = 0x627a_6364;

/// The advisory lock key of a [`SharedLock`] ("bzpublsh", "bzreport", "bzindexs" in ASCII).
fn advisory_key(lock: SharedLock) -> i64 {
    match lock {
        SharedLock::Publication => 0x627a_7075_626c_7368,
        SharedLock::Reports => 0x627a_7265_706f_7274,
        SharedLock::IndexFiles => 0x627a_696e_6465_7873,
    }
}

/// The counter bumped whenever an upload is accepted or a batch recorded
/// ([`Store::shared_generation`]); not a record, so not in the digest.
const GENERATION: &str = "generation";
/// The audit log's next entry number; outside the digest, as the log.
const AUDIT_SEQ: &str = "audit_seq";
/// The counters that are records (sled keeps them in its `meta` tree): in the digest.
const RECORD_COUNTERS: [&str; 2] = ["next_batch_id", "next_case_id"];

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// The PostgreSQL store. See the module documentation.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn db(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Backend(format!("PostgreSQL: {}", d.message())),
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(backend)
}

/// As [`super::SledStore`] decodes: bounded, and the whole value.
fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    const DECODE_LIMIT: usize = 64 << 20;
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    match bincode::serde::decode_from_slice(bytes, config) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok(_) => Err(StoreError::Corrupt(format!("{what}: trailing bytes"))),
        Err(e) => Err(StoreError::Corrupt(format!("{what}: {e}"))),
    }
}

/// A u64 as PostgreSQL's `bigint` (ids, times and districts are far below 2^63).
fn int(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("{v} does not fit a bigint")))
}

fn uint(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

fn status_name(status: &CaseStatus) -> &'static str {
    match status {
        CaseStatus::AwaitingUpload => "awaiting_upload",
        CaseStatus::UploadReceived { .. } => "upload_received",
        CaseStatus::TraceRequested { .. } => "trace_requested",
        CaseStatus::Published { .. } => "published",
    }
}

/// Insert an unused code of `case_id`; a code hash already there (60 random bits colliding)
/// is refused rather than overwritten.
fn insert_new_code(
    tx: &mut impl GenericClient,
    code_hash: &[u8; 32],
    case_id: u64,
    expires_at: Seconds,
) -> Result<(), StoreError> {
    let code = CodeRecord {
        case_id,
        expires_at,
        used_at: None,
    };
    let inserted = tx
        .execute(
            "INSERT INTO codes (code_hash, record) VALUES ($1, $2) \
             ON CONFLICT (code_hash) DO NOTHING",
            &[&&code_hash[..], &encode(&code)?],
        )
        .map_err(db)?;
    if inserted == 0 {
        return Err(StoreError::Backend("declaration code collision".into()));
    }
    Ok(())
}

fn put_case(tx: &mut impl GenericClient, case: &CaseRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO cases (case_id, status, record) VALUES ($1, $2, $3) \
         ON CONFLICT (case_id) DO UPDATE SET status = EXCLUDED.status, record = EXCLUDED.record",
        &[
            &int(case.case_id)?,
            &status_name(&case.status),
            &encode(case)?,
        ],
    )
    .map_err(db)?;
    Ok(())
}

fn locked_case(tx: &mut Transaction<'_>, case_id: u64) -> Result<CaseRecord, StoreError> {
    let row = tx
        .query_opt(
            "SELECT record FROM cases WHERE case_id = $1 FOR UPDATE",
            &[&int(case_id)?],
        )
        .map_err(db)?
        .ok_or(StoreError::NoSuchCase(case_id))?;
    decode("case", row.get::<_, &[u8]>(0))
}

fn put_row(tx: &mut impl GenericClient, row: &F1RowRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO f1_rows (case_id, row_no, district, record) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (case_id, row_no) DO UPDATE SET record = EXCLUDED.record",
        &[
            &int(row.case_id)?,
            &i64::from(row.row_no),
            &i64::from(row.district),
            &encode(row)?,
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// The next value of counter `name` (1 the first time), taken for good when the transaction
/// commits.
fn take_next(tx: &mut impl GenericClient, name: &str) -> Result<u64, StoreError> {
    let row = tx
        .query_one(
            "INSERT INTO counters (name, next) VALUES ($1, 2) \
             ON CONFLICT (name) DO UPDATE SET next = counters.next + 1 RETURNING next - 1",
            &[&name],
        )
        .map_err(db)?;
    uint(row.get(0))
}

fn peek_next(client: &mut impl GenericClient, name: &str) -> Result<u64, StoreError> {
    let row = client
        .query_opt("SELECT next FROM counters WHERE name = $1", &[&name])
        .map_err(db)?;
    row.map_or(Ok(1), |r| uint(r.get(0)))
}

fn decode_all<T: DeserializeOwned>(
    what: &str,
    rows: Vec<postgres::Row>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|r| decode(what, r.get(0))).collect()
}

/// How to reach the database and how many connections to keep.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Most connections this instance opens (the pool's size).
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing.
    pub connection_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            connection_timeout: Duration::from_secs(10),
        }
    }
}

/// An advisory lock held for a [`Store::exclusive`] section: released when dropped (and by
/// PostgreSQL itself if the connection ends).
struct AdvisoryLock {
    conn: Connection,
    key: i64,
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Err(e) = self
            .conn
            .execute("SELECT pg_advisory_unlock($1)", &[&self.key])
        {
            tracing::warn!(error = %e, "cannot release an advisory lock; closing its connection");
        }
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`, or `host=…`
    /// key-value form), create the schema or bring it to the latest version, and refuse a
    /// database whose schema is newer than this server knows.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with(url, &PostgresOptions::default())
    }

    /// [`PostgresStore::open`] with pool options.
    pub fn open_with(url: &str, options: &PostgresOptions) -> Result<PostgresStore, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("database URL: {e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections.max(2))
            .min_idle(Some(1))
            // A statement on a closed connection fails once and the pool drops it; no extra
            // round trip per checkout.
            .test_on_check_out(false)
            .connection_timeout(options.connection_timeout)
            .build(manager)
            .map_err(|e| StoreError::Backend(format!("cannot connect to the database: {e}")))?;
        let store = PostgresStore { pool };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<Connection, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Backend(format!("no database connection: {e}")))
    }

    /// Run `work` in one transaction, committed when it returns `Ok`. A serialization
    /// failure or deadlock (which PostgreSQL resolves by aborting one of the transactions) is
    /// retried a few times.
    fn transaction<T>(
        &self,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = conn.transaction().map_err(db)?;
            let result = work(&mut tx);
            let outcome = match result {
                Ok(value) => tx.commit().map(|()| value).map_err(RetryOr::from),
                Err(e) => Err(RetryOr::Store(e)),
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(RetryOr::Retry(_)) if attempt < 5 => continue,
                Err(RetryOr::Retry(e)) => return Err(db(e)),
                Err(RetryOr::Store(e)) => return Err(e),
            }
        }
    }

    /// The schema version the database is at (0: empty).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let mut conn = self.conn()?;
        schema_version(&mut *conn)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL); \
             INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version);",
        )
        .map_err(db)?;
        let found = schema_version(&mut tx)?;
        let known = MIGRATIONS.len() as u32;
        if found > known {
            return Err(StoreError::Backend(format!(
                "the database schema is at version {found}, newer than this server knows \
                 (version {known}): a newer server migrated it; run that version, or restore \
                 a backup taken before the upgrade"
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            if !migration.sql.is_empty() {
                tx.batch_execute(migration.sql)
                    .map_err(|e| StoreError::Backend(format!("migration {}: {e}", i + 1)))?;
            }
            if let Some(convert) = migration.records {
                convert(&mut tx)
                    .map_err(|e| StoreError::Backend(format!("migration {}: {e}", i + 1)))?;
            }
            tx.execute("UPDATE schema_version SET version = $1", &[&(i as i32 + 1)])
                .map_err(db)?;
            tracing::info!(version = i + 1, "database schema migrated");
        }
        tx.commit().map_err(db)
    }

    /// Copy records in the shared layout (tree name, key bytes, value bytes), as
    /// [`super::SledStore::raw_records`] or a backup ([`Store::snapshot`]) gives them, into
    /// this store, in one transaction: all of them or none. For `bluezone-server
    /// migrate-store` and `restore`: the records keep their bytes, so the two stores' digests
    /// are equal when every record was copied. Returns how many were.
    pub fn import(
        &self,
        records: impl Iterator<Item = Result<RawRecord, StoreError>>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(db)?;
        let mut copied = 0;
        for record in records {
            let (tree, key, value) = record?;
            import_one(&mut tx, tree, &key, &value)?;
            copied += 1;
        }
        tx.commit().map_err(db)?;
        Ok(copied)
    }

    /// Whether the store holds no record (the target of a migration must).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let row = conn
            .query_one(
                "SELECT (SELECT count(*) FROM counters WHERE name = ANY($1)) + \
                 (SELECT count(*) FROM secrets) + (SELECT count(*) FROM accounts) + \
                 (SELECT count(*) FROM cases) + (SELECT count(*) FROM audit)",
                &[&&RECORD_COUNTERS[..]],
            )
            .map_err(db)?;
        Ok(row.get::<_, i64>(0) == 0)
    }
}

/// A transaction's failure: one PostgreSQL asks to retry, or a store error.
enum RetryOr {
    Retry(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for RetryOr {
    fn from(e: postgres::Error) -> RetryOr {
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => RetryOr::Retry(e),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => RetryOr::Retry(e),
            _ => RetryOr::Store(db(e)),
        }
    }
}

fn schema_version(client: &mut impl GenericClient) -> Result<u32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_opt("SELECT version FROM schema_version", &[])
        .map_err(db)?;
    Ok(row.map_or(0, |r| r.get::<_, i32>(0).max(0) as u32))
}

fn be<const N: usize>(what: &str, bytes: &[u8]) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what}: key is not {N} bytes")))
}

fn import_one(
    tx: &mut Transaction<'_>,
    tree: &str,
    key: &[u8],
    value: &[u8],
) -> Result<(), StoreError> {
    let exec =
        |tx: &mut Transaction<'_>, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
            tx.execute(sql, params).map(|_| ()).map_err(db)
        };
    match tree {
        "meta" => {
            let name = std::str::from_utf8(key)
                .map_err(|_| StoreError::Corrupt("meta key is not UTF-8".into()))?;
            if let Some(secret) = name.strip_prefix("secret/") {
                exec(
                    tx,
                    "INSERT INTO secrets (name, value) VALUES ($1, $2)",
                    &[&secret, &value],
                )
            } else {
                let next = int(u64::from_be_bytes(be::<8>("counter", value)?))?;
                exec(
                    tx,
                    "INSERT INTO counters (name, next) VALUES ($1, $2)",
                    &[&name, &next],
                )
            }
        }
        "accounts" => {
            let account: Account = decode("account", value)?;
            exec(
                tx,
                "INSERT INTO accounts (username, record) VALUES ($1, $2)",
                &[&account.username, &value],
            )
        }
        "units" => {
            let unit: UnitRecord = decode("unit", value)?;
            exec(
                tx,
                "INSERT INTO units (name, record) VALUES ($1, $2)",
                &[&unit.name, &value],
            )
        }
        "sessions" => {
            let s: SessionRecord = decode("session", value)?;
            exec(
                tx,
                "INSERT INTO sessions (token_hash, username, expires_at, record) \
                 VALUES ($1, $2, $3, $4)",
                &[&key, &s.username, &int(s.expires_at)?, &value],
            )
        }
        "cases" => {
            let case: CaseRecord = decode("case", value)?;
            exec(
                tx,
                "INSERT INTO cases (case_id, status, record) VALUES ($1, $2, $3)",
                &[&int(case.case_id)?, &status_name(&case.status), &value],
            )
        }
        "codes" | "upload_digests" => {
            let sql = if tree == "codes" {
                decode::<CodeRecord>("code", value)?;
                "INSERT INTO codes (code_hash, record) VALUES ($1, $2)"
            } else {
                decode::<([u8; 32], u64)>("upload digest", value)?;
                "INSERT INTO upload_digests (code_hash, record) VALUES ($1, $2)"
            };
            exec(tx, sql, &[&key, &value])
        }
        "uploads" | "contacts" | "batches" => {
            let id = int(u64::from_be_bytes(be::<8>(tree, key)?))?;
            let sql = match tree {
                "uploads" => {
                    decode::<UploadRecord>("upload", value)?;
                    "INSERT INTO uploads (case_id, record) VALUES ($1, $2)"
                }
                "contacts" => {
                    decode::<Vec<ContactHash>>("contact hashes", value)?;
                    "INSERT INTO contacts (case_id, record) VALUES ($1, $2)"
                }
                _ => {
                    decode::<BatchRecord>("batch", value)?;
                    "INSERT INTO batches (batch_id, record) VALUES ($1, $2)"
                }
            };
            exec(tx, sql, &[&id, &value])
        }
        "reports" => {
            decode::<ReportRecord>("report", value)?;
            exec(
                tx,
                "INSERT INTO reports (report_id, record) VALUES ($1, $2)",
                &[&key, &value],
            )
        }
        "claims" => {
            let c: ClaimRecord = decode("claim", value)?;
            exec(
                tx,
                "INSERT INTO claims (rpi, claim_id, received_at, record) VALUES ($1, $2, $3, $4)",
                &[&&c.rpi[..], &&c.claim_id[..], &int(c.received_at)?, &value],
            )
        }
        "f1_rows" => {
            let row: F1RowRecord = decode("F1 row", value)?;
            put_row(tx, &row)
        }
        // Derived from f1_rows here; checked by the digest.
        "f1_by_district" => Ok(()),
        "audit" => {
            let e: AuditEntry = decode("audit entry", value)?;
            exec(
                tx,
                "INSERT INTO audit (seq, at, account, action, record) VALUES ($1, $2, $3, $4, $5)",
                &[&int(e.seq)?, &int(e.at)?, &e.account, &e.action, &value],
            )?;
            exec(
                tx,
                "INSERT INTO counters (name, next) VALUES ($1, $2) ON CONFLICT (name) \
                 DO UPDATE SET next = greatest(counters.next, EXCLUDED.next)",
                &[&AUDIT_SEQ, &int(e.seq + 1)?],
            )
        }
        other => Err(StoreError::Corrupt(format!("unknown tree {other}"))),
    }
}

impl PostgresStore {
    /// The records in the shared layout, from one snapshot of every table (see
    /// [`Store::snapshot`]); the audit log last when `with_audit`.
    fn records(&self, with_audit: bool, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        // One snapshot for every table.
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(db)?;
        // sled orders keys bytewise: "next_batch_id" < "next_case_id" < "secret/…".
        for r in tx
            .query(
                "SELECT name, next FROM counters WHERE name = ANY($1) ORDER BY name",
                &[&&RECORD_COUNTERS[..]],
            )
            .map_err(db)?
        {
            let next = uint(r.get(1))?;
            visit("meta", r.get::<_, &str>(0).as_bytes(), &next.to_be_bytes())?;
        }
        for r in tx
            .query("SELECT name, value FROM secrets ORDER BY name", &[])
            .map_err(db)?
        {
            let key = format!("secret/{}", r.get::<_, &str>(0));
            visit("meta", key.as_bytes(), r.get(1))?;
        }
        let bytes_keyed = [
            (
                "accounts",
                "SELECT convert_to(username, 'UTF8'), record FROM accounts ORDER BY 1",
            ),
            (
                "units",
                "SELECT convert_to(name, 'UTF8'), record FROM units ORDER BY 1",
            ),
            (
                "sessions",
                "SELECT token_hash, record FROM sessions ORDER BY 1",
            ),
            (
                "cases",
                "SELECT int8send(case_id), record FROM cases ORDER BY case_id",
            ),
            ("codes", "SELECT code_hash, record FROM codes ORDER BY 1"),
            (
                "upload_digests",
                "SELECT code_hash, record FROM upload_digests ORDER BY 1",
            ),
            (
                "uploads",
                "SELECT int8send(case_id), record FROM uploads ORDER BY case_id",
            ),
            (
                "contacts",
                "SELECT int8send(case_id), record FROM contacts ORDER BY case_id",
            ),
            (
                "batches",
                "SELECT int8send(batch_id), record FROM batches ORDER BY batch_id",
            ),
            (
                "reports",
                "SELECT report_id, record FROM reports ORDER BY 1",
            ),
            (
                "claims",
                "SELECT rpi || claim_id, record FROM claims ORDER BY 1",
            ),
            (
                "f1_rows",
                "SELECT int8send(case_id) || substring(int8send(row_no) FROM 5), record \
                 FROM f1_rows ORDER BY case_id, row_no",
            ),
            (
                "f1_by_district",
                "SELECT substring(int8send(district) FROM 5) || int8send(case_id) || \
                 substring(int8send(row_no) FROM 5), ''::bytea FROM f1_rows \
                 ORDER BY district, case_id, row_no",
            ),
        ];
        let audit = [(
            AUDIT_TREE,
            "SELECT int8send(seq), record FROM audit ORDER BY seq",
        )];
        let bytes_keyed = bytes_keyed
            .iter()
            .chain(if with_audit { &audit[..] } else { &[] });
        for (name, sql) in bytes_keyed {
            for r in tx.query(*sql, &[]).map_err(db)? {
                let value: Option<&[u8]> = r.get(1);
                let value = value
                    .ok_or_else(|| StoreError::Corrupt(format!("{name}: a record is missing")))?;
                visit(name, r.get(0), value)?;
            }
        }
        tx.commit().map_err(db)
    }
}

impl Store for PostgresStore {
    fn secret(
        &self,
        name: &str,
        generate: &mut dyn FnMut() -> [u8; 32],
    ) -> Result<[u8; 32], StoreError> {
        let fresh = generate();
        self.transaction(|tx| {
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &&fresh[..]],
            )
            .map_err(db)?;
            let row = tx
                .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
                .map_err(db)?;
            be::<32>("secret", row.get(0))
        })
    }

    fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        let record = encode(account)?;
        self.transaction(|tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO accounts (username, record) VALUES ($1, $2) \
                     ON CONFLICT (username) DO NOTHING",
                    &[&account.username, &record],
                )
                .map_err(db)?;
            if inserted == 0 {
                return Err(StoreError::AccountExists);
            }
            Ok(())
        })
    }

    fn update_account(&self, account: &Account) -> Result<(), StoreError> {
        let record = encode(account)?;
        self.transaction(|tx| {
            let updated = tx
                .execute(
                    "UPDATE accounts SET record = $2 WHERE username = $1",
                    &[&account.username, &record],
                )
                .map_err(db)?;
            if updated == 0 {
                return Err(StoreError::NoSuchAccount);
            }
            Ok(())
        })
    }

    fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT record FROM accounts WHERE username = $1",
                &[&username],
            )
            .map_err(db)?;
        row.map(|r| decode("account", r.get(0))).transpose()
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = self
            .conn()?
            .query("SELECT record FROM accounts ORDER BY username", &[])
            .map_err(db)?;
        decode_all("account", rows)
    }

    fn insert_unit(&self, unit: &UnitRecord) -> Result<(), StoreError> {
        let record = encode(unit)?;
        let inserted = self
            .conn()?
            .execute(
                "INSERT INTO units (name, record) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&unit.name, &record],
            )
            .map_err(db)?;
        if inserted == 0 {
            return Err(StoreError::UnitExists);
        }
        Ok(())
    }

    fn units(&self) -> Result<Vec<UnitRecord>, StoreError> {
        let rows = self
            .conn()?
            .query("SELECT record FROM units ORDER BY name", &[])
            .map_err(db)?;
        decode_all("unit", rows)
    }

    fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let record = encode(session)?;
        self.conn()?
            .execute(
                "INSERT INTO sessions (token_hash, username, expires_at, record) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO UPDATE SET \
                 username = EXCLUDED.username, expires_at = EXCLUDED.expires_at, \
                 record = EXCLUDED.record",
                &[
                    &&session.token_hash[..],
                    &session.username,
                    &int(session.expires_at)?,
                    &record,
                ],
            )
            .map_err(db)?;
        Ok(())
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT record FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .map_err(db)?;
        row.map(|r| decode("session", r.get(0))).transpose()
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .map_err(db)?;
        Ok(())
    }

    fn delete_sessions_of(
        &self,
        username: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64, StoreError> {
        let keep: Option<&[u8]> = keep.map(|k| &k[..]);
        self.conn()?
            .execute(
                "DELETE FROM sessions WHERE username = $1 \
                 AND ($2::bytea IS NULL OR token_hash <> $2)",
                &[&username, &keep],
            )
            .map_err(db)
    }

    fn open_case(&self, case: &CaseRecord, code_hash: &[u8; 32]) -> Result<u64, StoreError> {
        self.transaction(|tx| {
            let case_id = take_next(tx, "next_case_id")?;
            // A collision's rollback gives the case id back.
            insert_new_code(tx, code_hash, case_id, case.code_expires_at)?;
            put_case(
                tx,
                &CaseRecord {
                    case_id,
                    ..case.clone()
                },
            )?;
            Ok(case_id)
        })
    }

    fn reissue_code(
        &self,
        case_id: u64,
        code_hash: &[u8; 32],
        expires_at: Seconds,
    ) -> Result<CaseRecord, StoreError> {
        self.transaction(|tx| {
            // Reissues of one case take turns (a transaction-level advisory lock of the case),
            // so each finds the codes the one before left. Then rows are locked in an upload's
            // order, the case's codes before the case: an upload with the old code either
            // committed before (the case is refused here) or waits, then finds its code gone.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&REISSUE_LOCK_CLASS, &(case_id as i32)],
            )
            .map_err(db)?;
            let mut old = Vec::new();
            for r in tx
                .query(
                    "SELECT code_hash, record FROM codes ORDER BY code_hash",
                    &[],
                )
                .map_err(db)?
            {
                if decode::<CodeRecord>("code", r.get(1))?.case_id == case_id {
                    old.push(r.get::<_, Vec<u8>>(0));
                }
            }
            for hash in &old {
                tx.execute(
                    "SELECT 1 FROM codes WHERE code_hash = $1 FOR UPDATE",
                    &[hash],
                )
                .map_err(db)?;
            }
            let case = locked_case(tx, case_id)?.code_reissued(expires_at)?;
            for hash in &old {
                tx.execute("DELETE FROM codes WHERE code_hash = $1", &[hash])
                    .map_err(db)?;
            }
            insert_new_code(tx, code_hash, case_id, expires_at)?;
            put_case(tx, &case)?;
            Ok(case)
        })
    }

    fn case(&self, case_id: u64) -> Result<Option<CaseRecord>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT record FROM cases WHERE case_id = $1",
                &[&int(case_id)?],
            )
            .map_err(db)?;
        row.map(|r| decode("case", r.get(0))).transpose()
    }

    fn cases(&self) -> Result<Vec<CaseRecord>, StoreError> {
        let rows = self
            .conn()?
            .query("SELECT record FROM cases ORDER BY case_id", &[])
            .map_err(db)?;
        decode_all("case", rows)
    }

    fn accept_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
        now: Seconds,
        keys: &[StoredKey],
        contact_hashes: &[ContactHash],
    ) -> Result<u64, StoreError> {
        let hashes = encode(&contact_hashes)?;
        self.transaction(|tx| {
            // The code's row stays locked to the end: a parallel upload with the same code
            // waits here, then reads it used.
            let row = tx
                .query_opt(
                    "SELECT record FROM codes WHERE code_hash = $1 FOR UPDATE",
                    &[&&code_hash[..]],
                )
                .map_err(db)?
                .ok_or(StoreError::Code(CodeRefusal::Unknown))?;
            let code = decode::<CodeRecord>("code", row.get(0))?.used(now)?;
            let case = locked_case(tx, code.case_id)?.upload_received(now)?;
            let case_id = case.case_id;
            let key = int(case_id)?;
            tx.execute(
                "UPDATE codes SET record = $2 WHERE code_hash = $1",
                &[&&code_hash[..], &encode(&code)?],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO upload_digests (code_hash, record) VALUES ($1, $2) \
                 ON CONFLICT (code_hash) DO UPDATE SET record = EXCLUDED.record",
                &[&&code_hash[..], &encode(&(*upload_digest, case_id))?],
            )
            .map_err(db)?;
            put_case(tx, &case)?;
            let upload = UploadRecord {
                case_id,
                received_at: now,
                keys: keys.to_vec(),
            };
            tx.execute(
                "INSERT INTO uploads (case_id, record) VALUES ($1, $2) \
                 ON CONFLICT (case_id) DO UPDATE SET record = EXCLUDED.record",
                &[&key, &encode(&upload)?],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO contacts (case_id, record) VALUES ($1, $2) \
                 ON CONFLICT (case_id) DO UPDATE SET record = EXCLUDED.record",
                &[&key, &hashes],
            )
            .map_err(db)?;
            take_next(tx, GENERATION)?;
            Ok(case_id)
        })
    }

    fn repeated_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT record FROM upload_digests WHERE code_hash = $1",
                &[&&code_hash[..]],
            )
            .map_err(db)?;
        let kept: Option<([u8; 32], u64)> =
            row.map(|r| decode("upload digest", r.get(0))).transpose()?;
        Ok(kept
            .filter(|(digest, _)| digest == upload_digest)
            .map(|(_, case_id)| case_id))
    }

    fn request_trace(
        &self,
        case_id: u64,
        by: &str,
        regions: &[u16],
        now: Seconds,
    ) -> Result<CaseRecord, StoreError> {
        self.transaction(|tx| {
            let case = locked_case(tx, case_id)?;
            match case.trace_requested(by, regions, now)? {
                Some(traced) => {
                    put_case(tx, &traced)?;
                    Ok(traced)
                }
                None => Ok(case),
            }
        })
    }

    fn uploads_to_publish(&self) -> Result<Vec<(UploadRecord, Vec<u16>)>, StoreError> {
        let rows = self
            .conn()?
            .query(
                "SELECT c.record, u.record FROM cases c LEFT JOIN uploads u USING (case_id) \
                 WHERE c.status = 'trace_requested' ORDER BY c.case_id",
                &[],
            )
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let case: CaseRecord = decode("case", r.get(0))?;
            let CaseStatus::TraceRequested { regions, .. } = case.status else {
                return Err(StoreError::Corrupt(format!(
                    "case {} is not traced but its status column says so",
                    case.case_id
                )));
            };
            let upload = r.get::<_, Option<&[u8]>>(1).ok_or_else(|| {
                StoreError::Corrupt(format!("case {} has no upload", case.case_id))
            })?;
            out.push((decode("upload", upload)?, regions));
        }
        Ok(out)
    }

    fn published_uploads(&self) -> Result<Vec<(UploadRecord, Seconds)>, StoreError> {
        let rows = self
            .conn()?
            .query(
                "SELECT c.record, u.record FROM cases c JOIN uploads u USING (case_id) \
                 WHERE c.status = 'published' ORDER BY c.case_id",
                &[],
            )
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let case: CaseRecord = decode("case", r.get(0))?;
            if let CaseStatus::Published { at, .. } = case.status {
                out.push((decode("upload", r.get(1))?, at));
            }
        }
        Ok(out)
    }

    fn contact_hashes(&self) -> Result<Vec<(u64, Vec<ContactHash>)>, StoreError> {
        let rows = self
            .conn()?
            .query("SELECT case_id, record FROM contacts ORDER BY case_id", &[])
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((uint(r.get(0))?, decode("contact hashes", r.get(1))?)))
            .collect()
    }

    fn next_batch_id(&self) -> Result<u64, StoreError> {
        peek_next(&mut *self.conn()?, "next_batch_id")
    }

    fn take_batch_id(&self) -> Result<u64, StoreError> {
        self.transaction(|tx| take_next(tx, "next_batch_id"))
    }

    fn record_run(&self, run: &[BatchRecord]) -> Result<(), StoreError> {
        check_run(run)?;
        let published = published_cases(run);
        let mut ids: Vec<u64> = run.iter().map(|b| b.batch_id).collect();
        ids.sort_unstable();
        let records: Vec<(i64, Vec<u8>)> = run
            .iter()
            .map(|b| Ok((int(b.batch_id)?, encode(b)?)))
            .collect::<Result<_, StoreError>>()?;
        self.transaction(|tx| {
            // The counter's row locked to the end: runs are recorded one at a time.
            let mut next = tx
                .query_opt(
                    "SELECT next FROM counters WHERE name = 'next_batch_id' FOR UPDATE",
                    &[],
                )
                .map_err(db)?
                .map_or(Ok(1), |r| uint(r.get(0)))?;
            for &id in &ids {
                let exists = tx
                    .query_opt("SELECT 1 FROM batches WHERE batch_id = $1", &[&int(id)?])
                    .map_err(db)?
                    .is_some();
                if id == 0 || id > next || exists {
                    return Err(StoreError::Backend(format!(
                        "batch {id} recorded while {next} was next to take"
                    )));
                }
                if id == next {
                    next += 1;
                }
            }
            tx.execute(
                "INSERT INTO counters (name, next) VALUES ('next_batch_id', $1) \
                 ON CONFLICT (name) DO UPDATE SET next = EXCLUDED.next",
                &[&int(next)?],
            )
            .map_err(db)?;
            for (id, record) in &records {
                tx.execute(
                    "INSERT INTO batches (batch_id, record) VALUES ($1, $2)",
                    &[id, record],
                )
                .map_err(db)?;
            }
            for (case_id, status) in &published {
                let mut case = locked_case(tx, *case_id)?;
                case.status = status.clone();
                put_case(tx, &case)?;
            }
            take_next(tx, GENERATION)?;
            Ok(())
        })
    }

    fn batches(&self) -> Result<Vec<BatchRecord>, StoreError> {
        let rows = self
            .conn()?
            .query("SELECT record FROM batches ORDER BY batch_id", &[])
            .map_err(db)?;
        decode_all("batch", rows)
    }

    fn report_seen(&self, report_id: &[u8; 16]) -> Result<bool, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT 1 FROM reports WHERE report_id = $1",
                &[&&report_id[..]],
            )
            .map_err(db)?
            .is_some())
    }

    fn record_report(
        &self,
        report_id: &[u8; 16],
        received_at: Seconds,
        rows: Vec<F1RowRecord>,
        claims: &[ClaimRecord],
    ) -> Result<Vec<F1RowRecord>, StoreError> {
        // Claims inserted in key order: two reports sharing claims never wait on each other
        // in a cycle.
        let mut claims: Vec<&ClaimRecord> = claims.iter().collect();
        claims.sort_by_key(|c| (c.rpi, c.claim_id));
        let mut case_ids: Vec<i64> = rows
            .iter()
            .map(|r| int(r.case_id))
            .collect::<Result<_, _>>()?;
        case_ids.sort_unstable();
        case_ids.dedup();
        self.transaction(|tx| {
            // The report's key first: a parallel copy waits here, then finds it.
            let fresh = tx
                .execute(
                    "INSERT INTO reports (report_id, record) VALUES ($1, NULL) \
                     ON CONFLICT (report_id) DO NOTHING",
                    &[&&report_id[..]],
                )
                .map_err(db)?;
            if fresh == 0 {
                return Err(StoreError::DuplicateReport);
            }
            for claim in &claims {
                let inserted = tx
                    .execute(
                        "INSERT INTO claims (rpi, claim_id, received_at, record) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (rpi, claim_id) DO NOTHING",
                        &[
                            &&claim.rpi[..],
                            &&claim.claim_id[..],
                            &int(claim.received_at)?,
                            &encode(*claim)?,
                        ],
                    )
                    .map_err(db)?;
                if inserted == 0 {
                    return Err(StoreError::ClaimedBefore);
                }
            }
            // The cases' rows locked in id order, then numbered from their `f1_rows`.
            let locked = tx
                .query(
                    "SELECT case_id, record FROM cases WHERE case_id = ANY($1) \
                     ORDER BY case_id FOR UPDATE",
                    &[&case_ids],
                )
                .map_err(db)?;
            let mut cases = BTreeMap::new();
            for r in &locked {
                let case: CaseRecord = decode("case", r.get(1))?;
                cases.insert(case.case_id, case);
            }
            let mut stored = Vec::with_capacity(rows.len());
            for row in &rows {
                let case = cases
                    .get_mut(&row.case_id)
                    .ok_or(StoreError::NoSuchCase(row.case_id))?;
                let row = case.add_f1_row(row);
                put_row(tx, &row)?;
                stored.push(row);
            }
            for case in cases.values() {
                put_case(tx, case)?;
            }
            let report = ReportRecord {
                report_id: *report_id,
                received_at,
                rows: stored.iter().map(|r| (r.case_id, r.row_no)).collect(),
            };
            tx.execute(
                "UPDATE reports SET record = $2 WHERE report_id = $1",
                &[&&report_id[..], &encode(&report)?],
            )
            .map_err(db)?;
            Ok(stored)
        })
    }

    fn claims_of_rpi(&self, rpi: &[u8; 16]) -> Result<Vec<ClaimRecord>, StoreError> {
        let rows = self
            .conn()?
            .query(
                "SELECT record FROM claims WHERE rpi = $1 ORDER BY claim_id",
                &[&&rpi[..]],
            )
            .map_err(db)?;
        decode_all("claim", rows)
    }

    fn f1_rows(&self, case_id: u64) -> Result<Vec<F1RowRecord>, StoreError> {
        let rows = self
            .conn()?
            .query(
                "SELECT record FROM f1_rows WHERE case_id = $1 ORDER BY row_no",
                &[&int(case_id)?],
            )
            .map_err(db)?;
        decode_all("F1 row", rows)
    }

    fn f1_rows_of_districts(&self, districts: &[u32]) -> Result<Vec<F1RowRecord>, StoreError> {
        let districts: Vec<i64> = districts.iter().map(|&d| i64::from(d)).collect();
        let rows = self
            .conn()?
            .query(
                "SELECT record FROM f1_rows WHERE district = ANY($1) \
                 ORDER BY district, case_id, row_no",
                &[&districts],
            )
            .map_err(db)?;
        decode_all("F1 row", rows)
    }

    fn f1_row(&self, case_id: u64, row_no: u32) -> Result<Option<F1RowRecord>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT record FROM f1_rows WHERE case_id = $1 AND row_no = $2",
                &[&int(case_id)?, &i64::from(row_no)],
            )
            .map_err(db)?;
        row.map(|r| decode("F1 row", r.get(0))).transpose()
    }

    fn set_follow_up(
        &self,
        case_id: u64,
        row_no: u32,
        follow_up: &FollowUp,
    ) -> Result<F1RowRecord, StoreError> {
        self.transaction(|tx| {
            let found = tx
                .query_opt(
                    "SELECT record FROM f1_rows WHERE case_id = $1 AND row_no = $2 FOR UPDATE",
                    &[&int(case_id)?, &i64::from(row_no)],
                )
                .map_err(db)?
                .ok_or(StoreError::NoSuchRow { case_id, row_no })?;
            let mut row: F1RowRecord = decode("F1 row", found.get(0))?;
            row.follow_up = follow_up.clone();
            put_row(tx, &row)?;
            Ok(row)
        })
    }

    fn purge(&self, now: Seconds, retention: &Retention) -> Result<u64, StoreError> {
        self.transaction(|tx| {
            let mut removed = 0u64;
            // Cases past retention, and everything of theirs (as `SledStore::purge`, in the
            // same order, so that the counts agree).
            let mut gone: Vec<i64> = Vec::new();
            for r in tx
                .query("SELECT record FROM cases FOR UPDATE", &[])
                .map_err(db)?
            {
                let case: CaseRecord = decode("case", r.get(0))?;
                if !retention.case_kept(case.opened_at, now) {
                    gone.push(int(case.case_id)?);
                }
            }
            if !gone.is_empty() {
                for table in ["cases", "uploads", "contacts"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE case_id = ANY($1)"),
                        &[&gone],
                    )
                    .map_err(db)?;
                }
                removed += gone.len() as u64;
                for (table, what) in [("codes", "code"), ("upload_digests", "upload digest")] {
                    for r in tx
                        .query(&format!("SELECT code_hash, record FROM {table}"), &[])
                        .map_err(db)?
                    {
                        let case_id = if table == "codes" {
                            decode::<CodeRecord>(what, r.get(1))?.case_id
                        } else {
                            decode::<([u8; 32], u64)>(what, r.get(1))?.1
                        };
                        if gone.contains(&int(case_id)?) {
                            tx.execute(
                                &format!("DELETE FROM {table} WHERE code_hash = $1"),
                                &[&r.get::<_, &[u8]>(0)],
                            )
                            .map_err(db)?;
                        }
                    }
                }
            }
            // F1 rows past retention (those of the cases above too), then contact details.
            for r in tx
                .query("SELECT record FROM f1_rows FOR UPDATE", &[])
                .map_err(db)?
            {
                let mut row: F1RowRecord = decode("F1 row", r.get(0))?;
                let key = [int(row.case_id)?, i64::from(row.row_no)];
                if gone.contains(&key[0]) || !retention.row_kept(row.received_at, now) {
                    tx.execute(
                        "DELETE FROM f1_rows WHERE case_id = $1 AND row_no = $2",
                        &[&key[0], &key[1]],
                    )
                    .map_err(db)?;
                    removed += 1;
                } else if !row.sealed_contact.is_empty()
                    && !retention.contact_kept(row.received_at, now)
                {
                    row.sealed_contact.clear();
                    put_row(tx, &row)?;
                    removed += 1;
                }
            }
            for r in tx
                .query("SELECT report_id, record FROM reports FOR UPDATE", &[])
                .map_err(db)?
            {
                let report: ReportRecord = decode("report", r.get(1))?;
                if !retention.row_kept(report.received_at, now) {
                    tx.execute(
                        "DELETE FROM reports WHERE report_id = $1",
                        &[&r.get::<_, &[u8]>(0)],
                    )
                    .map_err(db)?;
                    removed += 1;
                }
            }
            removed += tx
                .execute("DELETE FROM sessions WHERE expires_at <= $1", &[&int(now)?])
                .map_err(db)?;
            for r in tx
                .query("SELECT case_id, record FROM contacts FOR UPDATE", &[])
                .map_err(db)?
            {
                let hashes: Vec<ContactHash> = decode("contact hashes", r.get(1))?;
                let kept: Vec<ContactHash> = hashes
                    .iter()
                    .copied()
                    .filter(|h| contact_retained(h, now))
                    .collect();
                if kept.len() == hashes.len() {
                    continue;
                }
                removed += (hashes.len() - kept.len()) as u64;
                let case_id: i64 = r.get(0);
                if kept.is_empty() {
                    tx.execute("DELETE FROM contacts WHERE case_id = $1", &[&case_id])
                } else {
                    tx.execute(
                        "UPDATE contacts SET record = $2 WHERE case_id = $1",
                        &[&case_id, &encode(&kept)?],
                    )
                }
                .map_err(db)?;
            }
            // `claim_retained`: received after `now - CLAIM_RETENTION_SECONDS`.
            removed += tx
                .execute(
                    "DELETE FROM claims WHERE received_at <= $1",
                    &[&int(now.saturating_sub(CLAIM_RETENTION_SECONDS))?],
                )
                .map_err(db)?;
            for r in tx
                .query("SELECT case_id, record FROM uploads FOR UPDATE", &[])
                .map_err(db)?
            {
                let mut upload: UploadRecord = decode("upload", r.get(1))?;
                let before = upload.keys.len();
                upload.keys.retain(|key| key_retained(key, now));
                if upload.keys.len() != before {
                    removed += (before - upload.keys.len()) as u64;
                    tx.execute(
                        "UPDATE uploads SET record = $2 WHERE case_id = $1",
                        &[&r.get::<_, i64>(0), &encode(&upload)?],
                    )
                    .map_err(db)?;
                }
            }
            Ok(removed)
        })
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        self.transaction(|tx| {
            let seq = take_next(tx, AUDIT_SEQ)?;
            let entry = AuditEntry {
                seq,
                ..entry.clone()
            };
            tx.execute(
                "INSERT INTO audit (seq, at, account, action, record) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &int(seq)?,
                    &int(entry.at)?,
                    &entry.account,
                    &entry.action,
                    &encode(&entry)?,
                ],
            )
            .map_err(db)?;
            Ok(seq)
        })
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let opt = |v: Option<u64>| v.map(int).transpose();
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = self
            .conn()?
            .query(
                "SELECT record FROM audit WHERE ($1::text IS NULL OR account = $1) \
                 AND ($2::text IS NULL OR action = $2) AND ($3::bigint IS NULL OR at >= $3) \
                 AND ($4::bigint IS NULL OR at < $4) AND ($5::bigint IS NULL OR seq < $5) \
                 ORDER BY seq DESC LIMIT $6",
                &[
                    &filter.account,
                    &filter.action,
                    &opt(filter.from)?,
                    &opt(filter.to)?,
                    &opt(filter.before_seq)?,
                    &limit,
                ],
            )
            .map_err(db)?;
        decode_all("audit entry", rows)
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let row = self
            .conn()?
            .query_one(
                "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM sessions), \
                 (SELECT count(*) FROM cases), (SELECT count(*) FROM uploads), \
                 (SELECT count(*) FROM batches), (SELECT count(*) FROM reports), \
                 (SELECT count(*) FROM f1_rows)",
                &[],
            )
            .map_err(db)?;
        let n = |i: usize| uint(row.get::<_, i64>(i));
        Ok(StoreCounts {
            accounts: n(0)?,
            sessions: n(1)?,
            cases: n(2)?,
            uploads: n(3)?,
            batches: n(4)?,
            reports: n(5)?,
            f1_rows: n(6)?,
        })
    }

    /// One `REPEATABLE READ` read-only transaction: every table is read in the one snapshot
    /// PostgreSQL takes at its first query, and every write method is one transaction, so
    /// none is seen in part; writers are not held up.
    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        self.records(true, visit)
    }

    fn digest(&self) -> Result<[u8; 32], StoreError> {
        let mut digest = RecordDigest::new();
        self.records(false, &mut |tree, key, value| digest.add(tree, key, value))?;
        Ok(digest.finish())
    }

    fn exclusive(&self, lock: SharedLock) -> Result<Box<dyn Send>, StoreError> {
        let key = advisory_key(lock);
        let mut conn = self.conn()?;
        conn.execute("SELECT pg_advisory_lock($1)", &[&key])
            .map_err(db)?;
        Ok(Box::new(AdvisoryLock { conn, key }))
    }

    fn shared_generation(&self) -> Result<Option<u64>, StoreError> {
        peek_next(&mut *self.conn()?, GENERATION).map(Some)
    }

    fn shared_throttles(&self) -> Option<&dyn SharedThrottles> {
        Some(self)
    }
}

impl SharedThrottles for PostgresStore {
    fn charge(&self, charges: &[Charge], now: u64) -> Result<Result<(), RetryAfter>, StoreError> {
        let now_i = int(now)?;
        self.transaction(|tx| {
            // Each window's row locked to the end (created empty if absent, so that two
            // first failures of one key count twice instead of racing).
            let mut windows = Vec::with_capacity(charges.len());
            for c in charges {
                tx.execute(
                    "INSERT INTO throttle_windows (throttle, key, window_start, window_end, \
                     failures) VALUES ($1, $2, $3, $3, 0) ON CONFLICT (throttle, key) DO NOTHING",
                    &[&c.throttle, &c.key, &now_i],
                )
                .map_err(db)?;
                let r = tx
                    .query_one(
                        "SELECT window_start, failures FROM throttle_windows \
                         WHERE throttle = $1 AND key = $2 FOR UPDATE",
                        &[&c.throttle, &c.key],
                    )
                    .map_err(db)?;
                windows.push((uint(r.get(0))?, uint(r.get(1))?));
            }
            for (c, &(start, failures)) in charges.iter().zip(&windows) {
                let end = start.saturating_add(c.window_seconds);
                if failures >= u64::from(c.limit.max(1)) && now < end {
                    return Ok(Err(RetryAfter { seconds: end - now }));
                }
            }
            for (c, &(start, _)) in charges.iter().zip(&windows) {
                let open = now < start.saturating_add(c.window_seconds);
                let start = if open { start } else { now };
                tx.execute(
                    "UPDATE throttle_windows SET window_start = $3, window_end = $4, \
                     failures = CASE WHEN $5 THEN failures + 1 ELSE 1 END \
                     WHERE throttle = $1 AND key = $2",
                    &[
                        &c.throttle,
                        &c.key,
                        &int(start)?,
                        &int(start.saturating_add(c.window_seconds).min(i64::MAX as u64))?,
                        &open,
                    ],
                )
                .map_err(db)?;
            }
            Ok(Ok(()))
        })
    }

    fn refund(&self, throttle: &str, key: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "UPDATE throttle_windows SET failures = greatest(failures - 1, 0) \
                 WHERE throttle = $1 AND key = $2",
                &[&throttle, &key],
            )
            .map_err(db)?;
        Ok(())
    }

    fn clear(&self, throttle: &str, key: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM throttle_windows WHERE throttle = $1 AND key = $2",
                &[&throttle, &key],
            )
            .map_err(db)?;
        Ok(())
    }

    fn remember_client(&self, key: &str, now: u64) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT INTO known_clients (key, last_success) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET last_success = EXCLUDED.last_success",
                &[&key, &int(now)?],
            )
            .map_err(db)?;
        Ok(())
    }

    fn known_client(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()?
            .query_opt("SELECT 1 FROM known_clients WHERE key = $1", &[&key])
            .map_err(db)?
            .is_some())
    }

    fn purge_throttles(&self, now: u64) -> Result<u64, StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM throttle_windows WHERE window_end <= $1",
                &[&int(now)?],
            )
            .map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use bluezone_testkit::postgres::Cluster;

    use super::*;
    use crate::domain::store::SledStore;
    use crate::domain::store::conformance::{
        Harness, NOW, account, batch, case, code, digest_of, row, store_conformance_tests,
        uploaded_case,
    };

    fn cluster() -> Option<&'static Cluster> {
        Cluster::shared("the PostgreSQL store's tests")
    }

    /// A store on a fresh database of the shared cluster; the URL outlives the store so that
    /// it can be opened again.
    fn harness() -> Harness<PostgresStore, String> {
        let url = cluster().expect("checked by `when`").database_url();
        Harness::new(url, |url: &String| PostgresStore::open(url).unwrap())
    }

    store_conformance_tests!(conformance, harness(), when cluster().is_some());

    // What stays here is this backend's own: its schema versions, the copy from sled, and the
    // throttles several processes share.

    #[test]
    fn the_schema_is_created_once_and_a_newer_one_is_refused() {
        let Some(cluster) = cluster() else { return };
        let url = cluster.database_url();
        let store = PostgresStore::open(&url).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        store.insert_account(&account("admin")).unwrap();
        drop(store);
        // Opened again: nothing is migrated twice, nothing is lost.
        let store = PostgresStore::open(&url).unwrap();
        assert!(store.account("admin").unwrap().is_some());
        drop(store);
        let name = url.rsplit('/').next().unwrap();
        let newer = MIGRATIONS.len() + 1;
        cluster.psql(
            name,
            &format!("UPDATE schema_version SET version = {newer}"),
        );
        let refused = PostgresStore::open(&url).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("version {newer}, newer than this server knows")),
            "{refused}"
        );
    }

    /// A database a schema-4 server wrote (accounts and cases before facilities) is converted
    /// when a server of today opens it, as the sled store converts its schema 2.
    #[test]
    fn schema_4_records_are_converted() {
        let Some(cluster) = cluster() else { return };
        let url = cluster.database_url();
        {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut tx = client.transaction().unwrap();
            tx.batch_execute(
                "CREATE TABLE schema_version (version integer NOT NULL); \
                 INSERT INTO schema_version VALUES (4);",
            )
            .unwrap();
            for m in &MIGRATIONS[..4] {
                assert!(m.records.is_none());
                tx.batch_execute(m.sql).unwrap();
            }
            let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(2);
            let doctor = v2::Account {
                username: "doctor".into(),
                role: v2::Role::TreatmentFacility,
                password: crate::domain::password::PasswordHash::new(
                    "a long enough password",
                    &mut rng,
                )
                .unwrap(),
                created_at: NOW,
                disabled: true,
            };
            tx.execute(
                "INSERT INTO accounts (username, record) VALUES ('doctor', $1)",
                &[&encode(&doctor).unwrap()],
            )
            .unwrap();
            let old_case = v2::CaseRecord {
                case_id: 9,
                reference: "ref-9".into(),
                opened_by: "doctor".into(),
                opened_at: NOW,
                code_expires_at: NOW + 60,
                status: CaseStatus::UploadReceived { at: NOW + 1 },
                f1_rows: 3,
            };
            tx.execute(
                "INSERT INTO cases (case_id, status, record) VALUES (9, 'upload_received', $1)",
                &[&encode(&old_case).unwrap()],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = PostgresStore::open(&url).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let doctor = store.account("doctor").unwrap().unwrap();
        assert_eq!(
            doctor.role,
            crate::domain::store::Role::TreatmentFacility {
                facility: String::new()
            }
        );
        assert!(doctor.disabled && !doctor.must_change_password);
        assert!(doctor.password.verify("a long enough password"));
        let case = store.case(9).unwrap().unwrap();
        assert_eq!(
            (
                case.reference.as_str(),
                case.facility.as_str(),
                case.province
            ),
            ("ref-9", "", 0)
        );
        assert_eq!(
            (case.status, case.f1_rows),
            (CaseStatus::UploadReceived { at: NOW + 1 }, 3)
        );
    }

    #[test]
    fn a_sled_store_copied_in_has_the_same_records_and_digest() {
        let Some(cluster) = cluster() else { return };
        let dir = tempfile::tempdir().unwrap();
        let sled = SledStore::open(dir.path()).unwrap();
        sled.secret("codes", &mut || [3; 32]).unwrap();
        sled.insert_account(&account("admin")).unwrap();
        sled.insert_account(&account("doctor")).unwrap();
        sled.insert_session(&SessionRecord {
            token_hash: [4; 32],
            username: "doctor".into(),
            created_at: NOW,
            expires_at: NOW + 3600,
        })
        .unwrap();
        let a = uploaded_case(&sled, 1);
        let b = uploaded_case(&sled, 2);
        sled.open_case(&case("waiting"), &code(3)).unwrap();
        sled.request_trace(a, "doctor", &[0], NOW).unwrap();
        let batch_id = sled.take_batch_id().unwrap();
        sled.record_run(&[batch(batch_id, vec![a])]).unwrap();
        let claim = ClaimRecord {
            rpi: [7; 16],
            claim_id: [8; 32],
            case_id: a,
            one_sided: true,
            received_at: NOW,
        };
        sled.record_report(
            &[5; 16],
            NOW,
            vec![row(a, 70_000, 5), row(b, 1, 5)],
            std::slice::from_ref(&claim),
        )
        .unwrap();
        sled.take_batch_id().unwrap();
        let logged = AuditEntry {
            seq: 0,
            at: NOW,
            account: "admin".into(),
            client: Some("10.0.0.1".into()),
            action: "login".into(),
            object: String::new(),
        };
        sled.append_audit(&logged).unwrap();
        sled.append_audit(&logged).unwrap();

        let pg = PostgresStore::open(&cluster.database_url()).unwrap();
        assert!(pg.is_empty().unwrap());
        let copied = pg.import(sled.raw_records()).unwrap();
        assert_eq!(copied, sled.raw_records().count() as u64);
        assert_eq!(pg.digest().unwrap(), sled.digest().unwrap());
        assert!(!pg.is_empty().unwrap());
        assert_eq!(pg.counts().unwrap(), sled.counts().unwrap());
        assert_eq!(pg.cases().unwrap(), sled.cases().unwrap());
        assert_eq!(pg.batches().unwrap(), sled.batches().unwrap());
        assert_eq!(
            pg.f1_rows_of_districts(&[1, 70_000]).unwrap(),
            sled.f1_rows_of_districts(&[1, 70_000]).unwrap()
        );
        assert_eq!(pg.claims_of_rpi(&[7; 16]).unwrap(), vec![claim]);
        assert_eq!(
            pg.published_uploads().unwrap(),
            sled.published_uploads().unwrap()
        );
        assert_eq!(pg.contact_hashes().unwrap(), sled.contact_hashes().unwrap());
        // The audit log too (outside the digests), and its numbering goes on.
        let all = AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        };
        assert_eq!(pg.audit(&all).unwrap(), sled.audit(&all).unwrap());
        assert_eq!(pg.append_audit(&logged).unwrap(), 3);
        // The counters go on where sled's were: batch 2 was taken, not recorded.
        assert_eq!(pg.next_batch_id().unwrap(), 3);
        assert_eq!(pg.open_case(&case("next"), &code(9)).unwrap(), 4);
        assert!(matches!(
            pg.accept_upload(&code(1), &digest_of(1), NOW + 100, &[], &[]),
            Err(StoreError::Code(CodeRefusal::Used))
        ));
        assert_eq!(
            pg.repeated_upload(&code(1), &digest_of(1)).unwrap(),
            Some(a)
        );
        // A copy differs as soon as one record does.
        pg.set_follow_up(
            a,
            1,
            &FollowUp {
                status: crate::domain::store::FollowUpStatus::Closed,
                updated_at: NOW,
                updated_by: "x".into(),
            },
        )
        .unwrap();
        assert_ne!(pg.digest().unwrap(), sled.digest().unwrap());
    }

    /// The shared throttles give the answers of the in-memory [`Throttle`] on the same
    /// sequence of attempts, refunds and clears, whatever the order of keys.
    #[test]
    fn shared_throttles_answer_as_the_in_memory_ones() {
        use crate::domain::throttle::Throttle;
        use rand_chacha::ChaCha20Rng;
        use rand_core::{Rng, SeedableRng};

        let Some(cluster) = cluster() else { return };
        let pg = PostgresStore::open(&cluster.database_url()).unwrap();
        let shared = pg.shared_throttles().unwrap();
        let (limit, window) = (3, 100);
        let mut memory: Throttle<String> = Throttle::new(limit, window, 1000);
        let mut rng = ChaCha20Rng::seed_from_u64(15);
        let mut now = NOW;
        for step in 0..300 {
            now += u64::from(rng.next_u32() % 20);
            let key = format!("client-{}", rng.next_u32() % 4);
            match rng.next_u32() % 10 {
                0 => {
                    memory.refund(&key);
                    shared.refund("t", &key).unwrap();
                }
                1 => {
                    memory.clear(&key);
                    shared.clear("t", &key).unwrap();
                }
                _ => {
                    let expected = memory.check(&key, now);
                    if expected.is_ok() {
                        memory.record_failure(key.clone(), now);
                    }
                    let charge = Charge {
                        throttle: "t",
                        key: key.clone(),
                        limit,
                        window_seconds: window,
                    };
                    assert_eq!(
                        shared.charge(&[charge], now).unwrap(),
                        expected,
                        "step {step}, {key} at {now}"
                    );
                }
            }
        }
        // Two throttles charged together: the second refusing counts neither.
        let charges = |a: &str| {
            [
                Charge {
                    throttle: "pair",
                    key: a.into(),
                    limit: 5,
                    window_seconds: window,
                },
                Charge {
                    throttle: "global",
                    key: String::new(),
                    limit: 2,
                    window_seconds: window,
                },
            ]
        };
        let later = now + 1000;
        assert!(shared.charge(&charges("x"), later).unwrap().is_ok());
        assert!(shared.charge(&charges("y"), later).unwrap().is_ok());
        assert_eq!(
            shared.charge(&charges("x"), later + 10).unwrap(),
            Err(RetryAfter { seconds: 90 })
        );
        shared.refund("global", "").unwrap();
        assert!(shared.charge(&charges("x"), later + 10).unwrap().is_ok());
        // Known clients, and the purge of closed windows.
        assert!(!shared.known_client("doctor 10.0.0.1").unwrap());
        shared.remember_client("doctor 10.0.0.1", later).unwrap();
        assert!(shared.known_client("doctor 10.0.0.1").unwrap());
        assert!(shared.purge_throttles(later + window).unwrap() >= 2);
        assert!(
            shared
                .charge(&charges("x"), later + window)
                .unwrap()
                .is_ok()
        );
    }

    /// Parallel charges of one key from many connections (as from several instances) never
    /// let more than `limit` attempts through in a window.
    #[test]
    fn parallel_charges_pass_at_most_the_limit() {
        let Some(cluster) = cluster() else { return };
        let pg = PostgresStore::open(&cluster.database_url()).unwrap();
        let passed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..4 {
                        let charge = Charge {
                            throttle: "code_client",
                            key: "192.0.2.1".into(),
                            limit: 10,
                            window_seconds: 3600,
                        };
                        if pg.charge(&[charge], NOW).unwrap().is_ok() {
                            passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(passed.into_inner(), 10);
    }

    /// One section at a time across stores (processes) on one database.
    #[test]
    fn an_exclusive_section_excludes_other_stores_on_the_database() {
        let Some(cluster) = cluster() else { return };
        let url = cluster.database_url();
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        let inside = std::sync::atomic::AtomicU32::new(0);
        let most = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for store in [&one, &two, &one, &two] {
                let (inside, most) = (&inside, &most);
                s.spawn(move || {
                    for _ in 0..5 {
                        let _guard = store.exclusive(SharedLock::Publication).unwrap();
                        let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.into_inner(), 1);
        // Another section is not excluded by this one.
        let _publication = one.exclusive(SharedLock::Publication).unwrap();
        let _reports = two.exclusive(SharedLock::Reports).unwrap();
    }

    /// The generation moves when another store on the database accepts an upload or records
    /// a batch, and only then.
    #[test]
    fn the_shared_generation_moves_with_uploads_and_batches() {
        let Some(cluster) = cluster() else { return };
        let url = cluster.database_url();
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        let g0 = two.shared_generation().unwrap().unwrap();
        let a = uploaded_case(&one, 1);
        let g1 = two.shared_generation().unwrap().unwrap();
        assert_ne!(g1, g0);
        one.insert_account(&account("doctor")).unwrap();
        one.request_trace(a, "doctor", &[0], NOW).unwrap();
        assert_eq!(two.shared_generation().unwrap().unwrap(), g1);
        let id = one.take_batch_id().unwrap();
        one.record_run(&[batch(id, vec![a])]).unwrap();
        assert_ne!(two.shared_generation().unwrap().unwrap(), g1);
        // Not a record: the digest does not see it.
        assert_eq!(one.digest().unwrap(), two.digest().unwrap());
    }
}
