//! The embedded default [`Store`]: sled trees, records encoded with bincode 2.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | name | counters (`next_case_id`, `next_batch_id`) and secrets (`secret/<name>`) |
//! | `accounts` | username | [`Account`] |
//! | `units` | unit name | [`UnitRecord`] (units registered by an admin) |
//! | `sessions` | SHA-256 of the token | [`SessionRecord`] |
//! | `cases` | case id (u64 BE) | [`CaseRecord`] |
//! | `codes` | keyed hash of the declaration code | [`CodeRecord`] |
//! | `upload_digests` | keyed hash of the declaration code | digest of the upload it accepted, case id |
//! | `uploads` | case id | [`UploadRecord`] |
//! | `contacts` | case id | the case's [`ContactHash`]es |
//! | `batches` | batch id (u64 BE) | [`BatchRecord`] |
//! | `reports` | report id | [`ReportRecord`] |
//! | `claims` | RPI ‖ claim id | [`ClaimRecord`] |
//! | `f1_rows` | case id ‖ row no. (u32 BE) | [`F1RowRecord`] |
//! | `f1_by_district` | district (u32 BE) ‖ case id ‖ row no. | empty |
//! | `audit` | entry number (u64 BE) | [`AuditEntry`], appended only; outside [`Store::digest`] |
//! | `audit_meta` | `next_seq` | the next entry number; outside [`Store::digest`] |
//!
//! Every write method ends with `Db::flush`, so a method that returned `Ok` survives a crash.

use std::ops::Bound;
use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use crate::domain::files;

use super::legacy::{v1, v2};

use super::{
    AUDIT_TREE, Account, AuditEntry, AuditFilter, BatchRecord, CaseRecord, CaseScan, CaseStatus,
    ClaimRecord, CodeRecord, CodeRefusal, ContactHash, DIGESTED_TREES, F1RowRecord, FollowUp,
    RawRecord, RecordDigest, ReportRecord, Retention, Seconds, SessionRecord, SnapshotVisitor,
    Store, StoreCounts, StoreError, StoredKey, UnitRecord, UploadRecord, check_run, claim_retained,
    contact_retained, key_retained, published_cases,
};

/// How long [`SledStore::open`] waits for the store's file lock while another handle holds it.
/// sled 0.34 releases the lock from a background thread some time after its `Db` is dropped
/// (spacejam/sled#1234), so reopening a store this process has just closed can find the lock
/// still held; CI saw it. A lock that another running server holds is still refused, with
/// sled's message, once the wait is over.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The version of the record layouts this server writes, kept in the tree `schema` (outside
/// [`Store::digest`]). 1: before regions; 2: cases traced to and published in regions;
/// 3: accounts and cases belong to a treatment facility, accounts may have to change their
/// password, and the oversight role.
pub const SCHEMA_VERSION: u32 = 3;

/// A [`Store`] in a sled database.
pub struct SledStore {
    db: sled::Db,
    meta: sled::Tree,
    accounts: sled::Tree,
    units: sled::Tree,
    sessions: sled::Tree,
    cases: sled::Tree,
    codes: sled::Tree,
    upload_digests: sled::Tree,
    uploads: sled::Tree,
    contacts: sled::Tree,
    batches: sled::Tree,
    reports: sled::Tree,
    claims: sled::Tree,
    f1_rows: sled::Tree,
    f1_by_district: sled::Tree,
    audit: sled::Tree,
    audit_meta: sled::Tree,
    /// The gate between writes and [`Store::snapshot`]: every method that writes holds it
    /// shared for its whole run ([`SledStore::writing`]), a snapshot holds it alone. sled has
    /// no snapshot of several trees (its transactions cannot iterate), and a write touches
    /// several trees (an upload: its code, its case, its keys, its contacts) in one
    /// transaction, or several in turn (a purge); without the gate a snapshot reading the
    /// trees one after the other could see a case uploaded without its keys. Readers never
    /// take it.
    writes: RwLock<()>,
    /// Held by [`Store::reissue_code`] from finding a case's codes (a scan, which a sled
    /// transaction cannot do) to replacing them, so that two reissues of one case cannot each
    /// leave a code.
    reissues: Mutex<()>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(backend)
}

/// Most bytes decoding one record may claim. bincode allocates a string's buffer from its
/// length prefix before reading it: without a limit, a damaged prefix makes decoding panic
/// ("capacity overflow") or abort the process on a failed allocation, instead of returning
/// [`StoreError::Corrupt`]. The limit counts the decoded size of everything read (a `u64` claims
/// 8 bytes however short its varint); the largest record, a full contact history of
/// `MAX_UPLOAD_SIGHTINGS` hashes, claims about 1.6 MiB. The encoding does not change.
const DECODE_LIMIT: usize = 64 << 20;

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    match bincode::serde::decode_from_slice(bytes, config) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok(_) => Err(StoreError::Corrupt(format!("{what}: trailing bytes"))),
        Err(e) => Err(StoreError::Corrupt(format!("{what}: {e}"))),
    }
}

fn row_key(case_id: u64, row_no: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&case_id.to_be_bytes());
    k[8..].copy_from_slice(&row_no.to_be_bytes());
    k
}

fn district_key(district: u32, case_id: u64, row_no: u32) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&district.to_be_bytes());
    k[4..].copy_from_slice(&row_key(case_id, row_no));
    k
}

fn claim_key(claim: &ClaimRecord) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..16].copy_from_slice(&claim.rpi);
    k[16..].copy_from_slice(&claim.claim_id);
    k
}

fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("counter is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(array))
}

/// Inside a transaction: abort with a store error.
type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    what: &str,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        None => Ok(None),
        Some(bytes) => match decode(what, &bytes) {
            Ok(v) => Ok(Some(v)),
            Err(e) => abort(e),
        },
    }
}

fn tx_put<T: Serialize>(tree: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    match encode(value) {
        Ok(bytes) => {
            tree.insert(key, bytes)?;
            Ok(())
        }
        Err(e) => abort(e),
    }
}

fn tx_next_id(meta: &TransactionalTree, counter: &str) -> TxResult<u64> {
    let next = match meta.get(counter)? {
        None => 1,
        Some(bytes) => match be_u64(&bytes) {
            Ok(n) => n,
            Err(e) => return abort(e),
        },
    };
    meta.insert(counter, &(next + 1).to_be_bytes())?;
    Ok(next)
}

fn finish<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    match result {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(backend(e)),
    }
}

impl From<UnabortableTransactionError> for StoreError {
    fn from(e: UnabortableTransactionError) -> StoreError {
        backend(e)
    }
}

impl SledStore {
    /// Open (or create) the store in `dir`, private to the server's user whatever the umask
    /// (it holds secrets): `dir` is made `0700` before sled opens it, so the files sled creates
    /// there are unreachable to others from the start, and each of them is made `0600` once
    /// sled has opened them ([`files`]).
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let private = |e: std::io::Error| {
            StoreError::Backend(format!("cannot make {} private: {e}", dir.display()))
        };
        files::create_private_dir(dir).map_err(private)?;
        let store = SledStore::open_trees(dir)?;
        store.migrate()?;
        files::restrict_tree(dir).map_err(private)?;
        Ok(store)
    }

    /// Bring the records to [`SCHEMA_VERSION`]: a new store is stamped with it; a store of an
    /// older version is converted in one transaction, then stamped; a newer one is refused
    /// and left untouched.
    fn migrate(&self) -> Result<(), StoreError> {
        let schema = self.db.open_tree("schema").map_err(backend)?;
        let version = match schema.get("version").map_err(backend)? {
            Some(bytes) => {
                let array: [u8; 4] = bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("schema version is not 4 bytes".into()))?;
                u32::from_be_bytes(array)
            }
            // Before versions were stamped (schema 1), or a store never written.
            None if self.accounts.is_empty() && self.cases.is_empty() => SCHEMA_VERSION,
            None => 1,
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the store's schema is version {version}, newer than this server's \
                 {SCHEMA_VERSION}: run a server at least as new as the one that wrote it"
            )));
        }
        if version < SCHEMA_VERSION {
            // Schema 2 added regions (SPEC.md §8.5), schema 3 facilities and forced password
            // changes: read each record in the layout it was written in, write it in this
            // one, both trees in one transaction.
            let mut cases = Vec::new();
            for kv in self.cases.iter() {
                let (key, bytes) = kv.map_err(backend)?;
                let old: v2::CaseRecord = if version == 1 {
                    decode::<v1::CaseRecord>("case (schema 1)", &bytes)?.upgrade()
                } else {
                    decode("case (schema 2)", &bytes)?
                };
                cases.push((key, old.upgrade()));
            }
            let mut accounts = Vec::new();
            for kv in self.accounts.iter() {
                let (key, bytes) = kv.map_err(backend)?;
                let old: v2::Account = decode("account (schema 2)", &bytes)?;
                accounts.push((key, old.upgrade()));
            }
            let result = (&self.cases, &self.accounts).transaction(|(tx_cases, tx_accounts)| {
                for (key, case) in &cases {
                    tx_put(tx_cases, key, case)?;
                }
                for (key, account) in &accounts {
                    tx_put(tx_accounts, key, account)?;
                }
                Ok(())
            });
            finish(result)?;
            tracing::info!(from = version, to = SCHEMA_VERSION, "store schema migrated");
        }
        schema
            .insert("version", &SCHEMA_VERSION.to_be_bytes())
            .map_err(backend)?;
        self.flush()
    }

    fn open_trees(dir: &Path) -> Result<SledStore, StoreError> {
        let started = Instant::now();
        let db = loop {
            match sled::Config::new()
                .path(dir)
                .mode(sled::Mode::HighThroughput)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().starts_with("could not acquire lock")
                        && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open {}: {e}",
                        dir.display()
                    )));
                }
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        Ok(SledStore {
            meta: tree("meta")?,
            accounts: tree("accounts")?,
            units: tree("units")?,
            sessions: tree("sessions")?,
            cases: tree("cases")?,
            codes: tree("codes")?,
            upload_digests: tree("upload_digests")?,
            uploads: tree("uploads")?,
            contacts: tree("contacts")?,
            batches: tree("batches")?,
            reports: tree("reports")?,
            claims: tree("claims")?,
            f1_rows: tree("f1_rows")?,
            f1_by_district: tree("f1_by_district")?,
            audit: tree("audit")?,
            audit_meta: tree("audit_meta")?,
            writes: RwLock::new(()),
            reissues: Mutex::new(()),
            db,
        })
    }

    /// Every record as stored, tree by tree in the order [`Store::digest`] hashes them, then
    /// the audit log: (tree name, key, value). For copying the store into another backend
    /// ([`super::PostgresStore::import`]).
    pub fn raw_records(
        &self,
    ) -> impl Iterator<Item = Result<(&'static str, Vec<u8>, Vec<u8>), StoreError>> + '_ {
        let audit = self.audit.iter().map(|kv| {
            let (k, v) = kv.map_err(backend)?;
            Ok(("audit", k.to_vec(), v.to_vec()))
        });
        DIGESTED_TREES
            .into_iter()
            .flat_map(move |name| {
                self.tree(name).iter().map(move |kv| {
                    let (k, v) = kv.map_err(backend)?;
                    Ok((name, k.to_vec(), v.to_vec()))
                })
            })
            .chain(audit)
    }

    /// Write `records` (a backup's, in the shared layout: [`Store::snapshot`]), written by a
    /// server whose record schema was `schema`, into the store in `dir`, which must hold no
    /// record; then open it as [`SledStore::open`] does, which converts an older schema.
    /// Returns the store and how many records were written. Not atomic: restore into a
    /// directory of its own and move it into place once this returned (as `bluezone-server
    /// restore` does).
    pub fn import(
        dir: &Path,
        schema: u32,
        records: impl Iterator<Item = Result<RawRecord, StoreError>>,
    ) -> Result<(SledStore, u64), StoreError> {
        if schema > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the records are of schema version {schema}, newer than this server's \
                 {SCHEMA_VERSION}: restore with a server at least as new as the one that wrote them"
            )));
        }
        files::create_private_dir(dir).map_err(|e| {
            StoreError::Backend(format!("cannot make {} private: {e}", dir.display()))
        })?;
        let store = SledStore::open_trees(dir)?;
        if !store.holds_nothing() {
            return Err(StoreError::Backend(format!(
                "the store in {} holds records: restore into an empty one",
                dir.display()
            )));
        }
        let mut written = 0;
        let mut next_seq = 1;
        for record in records {
            let (tree, key, value) = record?;
            if super::tree_name(tree).is_none() {
                return Err(StoreError::Corrupt(format!("unknown tree {tree:?}")));
            }
            if tree == AUDIT_TREE {
                next_seq = next_seq.max(be_u64(&key)? + 1);
            }
            store.tree(tree).insert(key, value).map_err(backend)?;
            written += 1;
        }
        store
            .audit_meta
            .insert("next_seq", &next_seq.to_be_bytes())
            .map_err(backend)?;
        let stamp = store.db.open_tree("schema").map_err(backend)?;
        stamp
            .insert("version", &schema.to_be_bytes())
            .map_err(backend)?;
        store.flush()?;
        // As `open` goes on (the store stays open: sled lets go of its lock only some
        // time after the last handle is dropped).
        store.migrate()?;
        files::restrict_tree(dir).map_err(|e| {
            StoreError::Backend(format!("cannot make {} private: {e}", dir.display()))
        })?;
        Ok((store, written))
    }

    /// Whether no tree holds a record (the audit log included).
    pub fn holds_nothing(&self) -> bool {
        DIGESTED_TREES
            .into_iter()
            .chain([AUDIT_TREE])
            .all(|name| self.tree(name).is_empty())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(backend)
    }

    fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key).map_err(backend)? {
            None => Ok(None),
            Some(bytes) => decode(what, &bytes).map(Some),
        }
    }

    fn all<T: DeserializeOwned>(tree: &sled::Tree, what: &str) -> Result<Vec<T>, StoreError> {
        tree.iter()
            .values()
            .map(|v| decode(what, &v.map_err(backend)?))
            .collect()
    }

    /// Hold the gate for a write (see the field `writes`).
    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn tree(&self, name: &str) -> &sled::Tree {
        match name {
            "audit" => &self.audit,
            "meta" => &self.meta,
            "accounts" => &self.accounts,
            "units" => &self.units,
            "sessions" => &self.sessions,
            "cases" => &self.cases,
            "codes" => &self.codes,
            "upload_digests" => &self.upload_digests,
            "uploads" => &self.uploads,
            "contacts" => &self.contacts,
            "batches" => &self.batches,
            "reports" => &self.reports,
            "claims" => &self.claims,
            "f1_rows" => &self.f1_rows,
            _ => &self.f1_by_district,
        }
    }
}

impl Store for SledStore {
    fn secret(
        &self,
        name: &str,
        generate: &mut dyn FnMut() -> [u8; 32],
    ) -> Result<[u8; 32], StoreError> {
        let _gate = self.writing();
        let key = format!("secret/{name}");
        let fresh = generate();
        let previous = self
            .meta
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(&fresh[..]))
            .map_err(backend)?;
        match previous {
            Ok(()) => {
                self.flush()?;
                Ok(fresh)
            }
            Err(existing) => existing
                .current
                .as_deref()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("{key} is not 32 bytes"))),
        }
    }

    fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        let _gate = self.writing();
        let bytes = encode(account)?;
        let swapped = self
            .accounts
            .compare_and_swap(
                account.username.as_bytes(),
                None as Option<&[u8]>,
                Some(bytes),
            )
            .map_err(backend)?;
        if swapped.is_err() {
            return Err(StoreError::AccountExists);
        }
        self.flush()
    }

    fn update_account(&self, account: &Account) -> Result<(), StoreError> {
        let _gate = self.writing();
        let bytes = encode(account)?;
        let result = self.accounts.transaction(|tx| {
            if tx.get(account.username.as_bytes())?.is_none() {
                return abort(StoreError::NoSuchAccount);
            }
            tx.insert(account.username.as_bytes(), bytes.clone())?;
            Ok(())
        });
        finish(result)?;
        self.flush()
    }

    fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        Self::get(&self.accounts, "account", username.as_bytes())
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Self::all(&self.accounts, "account")
    }

    fn insert_unit(&self, unit: &UnitRecord) -> Result<(), StoreError> {
        let _gate = self.writing();
        let bytes = encode(unit)?;
        let swapped = self
            .units
            .compare_and_swap(unit.name.as_bytes(), None as Option<&[u8]>, Some(bytes))
            .map_err(backend)?;
        if swapped.is_err() {
            return Err(StoreError::UnitExists);
        }
        self.flush()
    }

    fn units(&self) -> Result<Vec<UnitRecord>, StoreError> {
        Self::all(&self.units, "unit")
    }

    fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let _gate = self.writing();
        self.sessions
            .insert(session.token_hash, encode(session)?)
            .map_err(backend)?;
        self.flush()
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        Self::get(&self.sessions, "session", token_hash)
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        let _gate = self.writing();
        self.sessions.remove(token_hash).map_err(backend)?;
        self.flush()
    }

    fn delete_sessions_of(
        &self,
        username: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64, StoreError> {
        let _gate = self.writing();
        let mut ended = 0u64;
        for kv in self.sessions.iter() {
            let (k, v) = kv.map_err(backend)?;
            let session: SessionRecord = decode("session", &v)?;
            if session.username == username && keep.is_none_or(|keep| keep[..] != k[..]) {
                self.sessions.remove(k).map_err(backend)?;
                ended += 1;
            }
        }
        if ended > 0 {
            self.flush()?;
        }
        Ok(ended)
    }

    fn open_case(&self, case: &CaseRecord, code_hash: &[u8; 32]) -> Result<u64, StoreError> {
        let _gate = self.writing();
        let result = (&self.meta, &self.cases, &self.codes).transaction(|(meta, cases, codes)| {
            if codes.get(code_hash)?.is_some() {
                // 60 random bits colliding: refuse rather than overwrite.
                return abort(StoreError::Backend("declaration code collision".into()));
            }
            let case_id = tx_next_id(meta, "next_case_id")?;
            let record = CaseRecord {
                case_id,
                ..case.clone()
            };
            tx_put(cases, &case_id.to_be_bytes(), &record)?;
            tx_put(
                codes,
                code_hash,
                &CodeRecord {
                    case_id,
                    expires_at: case.code_expires_at,
                    used_at: None,
                },
            )?;
            Ok(case_id)
        });
        let case_id = finish(result)?;
        self.flush()?;
        Ok(case_id)
    }

    fn reissue_code(
        &self,
        case_id: u64,
        code_hash: &[u8; 32],
        expires_at: Seconds,
    ) -> Result<CaseRecord, StoreError> {
        let _gate = self.writing();
        let _reissuing = self.reissues.lock().unwrap_or_else(PoisonError::into_inner);
        let key = case_id.to_be_bytes();
        let mut old = Vec::new();
        for kv in self.codes.iter() {
            let (k, v) = kv.map_err(backend)?;
            if decode::<CodeRecord>("code", &v)?.case_id == case_id {
                old.push(k);
            }
        }
        let result = (&self.cases, &self.codes).transaction(|(cases, codes)| {
            let Some(case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                return abort(StoreError::NoSuchCase(case_id));
            };
            // The status is read in the transaction: an upload with the old code either
            // committed before (refused here) or finds its code removed.
            let case = match case.code_reissued(expires_at) {
                Ok(case) => case,
                Err(e) => return abort(e),
            };
            if codes.get(code_hash)?.is_some() {
                return abort(StoreError::Backend("declaration code collision".into()));
            }
            for k in &old {
                codes.remove(k)?;
            }
            tx_put(
                codes,
                code_hash,
                &CodeRecord {
                    case_id,
                    expires_at,
                    used_at: None,
                },
            )?;
            tx_put(cases, &key, &case)?;
            Ok(case)
        });
        let case = finish(result)?;
        self.flush()?;
        Ok(case)
    }

    fn case(&self, case_id: u64) -> Result<Option<CaseRecord>, StoreError> {
        Self::get(&self.cases, "case", &case_id.to_be_bytes())
    }

    fn cases(&self) -> Result<Vec<CaseRecord>, StoreError> {
        Self::all(&self.cases, "case")
    }

    fn scan_cases(&self, scan: &CaseScan) -> Result<Vec<CaseRecord>, StoreError> {
        // Keys are case numbers in big-endian bytes: their byte order is number order.
        let key = |bound: Bound<u64>| bound.map(|id| id.to_be_bytes());
        let (low, high) = scan.range();
        let stretch = self.cases.range::<[u8; 8], _>((key(low), key(high)));
        let mut page = Vec::new();
        let mut read = |value: sled::Result<(sled::IVec, sled::IVec)>| {
            let case: CaseRecord = decode("case", &value.map_err(backend)?.1)?;
            if scan.filter.admits(&case) {
                page.push(case);
            }
            Ok::<bool, StoreError>(page.len() >= scan.limit)
        };
        if scan.limit > 0 {
            if scan.ascending {
                for value in stretch {
                    if read(value)? {
                        break;
                    }
                }
            } else {
                for value in stretch.rev() {
                    if read(value)? {
                        break;
                    }
                }
            }
        }
        Ok(page)
    }

    fn accept_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
        now: Seconds,
        keys: &[StoredKey],
        contact_hashes: &[ContactHash],
    ) -> Result<u64, StoreError> {
        let _gate = self.writing();
        let hashes = encode(&contact_hashes)?;
        let trees = (
            &self.codes,
            &self.cases,
            &self.uploads,
            &self.contacts,
            &self.upload_digests,
        );
        let result = trees.transaction(|(codes, cases, uploads, contacts, digests)| {
            let Some(code) = tx_get::<CodeRecord>(codes, "code", code_hash)? else {
                return abort(StoreError::Code(CodeRefusal::Unknown));
            };
            let code = match code.used(now) {
                Ok(code) => code,
                Err(e) => return abort(e),
            };
            let key = code.case_id.to_be_bytes();
            let Some(case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                return abort(StoreError::NoSuchCase(code.case_id));
            };
            let case = match case.upload_received(now) {
                Ok(case) => case,
                Err(e) => return abort(e),
            };
            tx_put(codes, code_hash, &code)?;
            tx_put(digests, code_hash, &(*upload_digest, case.case_id))?;
            tx_put(cases, &key, &case)?;
            tx_put(
                uploads,
                &key,
                &UploadRecord {
                    case_id: case.case_id,
                    received_at: now,
                    keys: keys.to_vec(),
                },
            )?;
            contacts.insert(&key, hashes.clone())?;
            Ok(case.case_id)
        });
        let case_id = finish(result)?;
        self.flush()?;
        Ok(case_id)
    }

    fn repeated_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        let kept: Option<([u8; 32], u64)> =
            Self::get(&self.upload_digests, "upload digest", code_hash)?;
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
        let _gate = self.writing();
        let key = case_id.to_be_bytes();
        let result = self.cases.transaction(|cases| {
            let Some(case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                return abort(StoreError::NoSuchCase(case_id));
            };
            match case.trace_requested(by, regions, now) {
                Ok(Some(traced)) => {
                    tx_put(cases, &key, &traced)?;
                    Ok((traced, true))
                }
                Ok(None) => Ok((case, false)),
                Err(e) => abort(e),
            }
        });
        let (case, changed) = finish(result)?;
        if changed {
            self.flush()?;
        }
        Ok(case)
    }

    fn uploads_to_publish(&self) -> Result<Vec<(UploadRecord, Vec<u16>)>, StoreError> {
        let mut out = Vec::new();
        for case in self.cases()? {
            if let CaseStatus::TraceRequested { regions, .. } = case.status {
                let upload =
                    Self::get(&self.uploads, "upload", &case.case_id.to_be_bytes())?.ok_or(
                        StoreError::Corrupt(format!("case {} has no upload", case.case_id)),
                    )?;
                out.push((upload, regions));
            }
        }
        Ok(out)
    }

    fn published_uploads(&self) -> Result<Vec<(UploadRecord, Seconds)>, StoreError> {
        let mut out = Vec::new();
        for case in self.cases()? {
            if let CaseStatus::Published { at, .. } = case.status
                && let Some(upload) =
                    Self::get(&self.uploads, "upload", &case.case_id.to_be_bytes())?
            {
                out.push((upload, at));
            }
        }
        Ok(out)
    }

    fn contact_hashes(&self) -> Result<Vec<(u64, Vec<ContactHash>)>, StoreError> {
        self.contacts
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                Ok((be_u64(&k)?, decode("contact hashes", &v)?))
            })
            .collect()
    }

    fn next_batch_id(&self) -> Result<u64, StoreError> {
        match self.meta.get("next_batch_id").map_err(backend)? {
            None => Ok(1),
            Some(bytes) => be_u64(&bytes),
        }
    }

    fn take_batch_id(&self) -> Result<u64, StoreError> {
        let _gate = self.writing();
        let id = finish(
            self.meta
                .transaction(|meta| tx_next_id(meta, "next_batch_id")),
        )?;
        self.flush()?;
        Ok(id)
    }

    fn record_run(&self, run: &[BatchRecord]) -> Result<(), StoreError> {
        let _gate = self.writing();
        check_run(run)?;
        let published = published_cases(run);
        let mut ids: Vec<u64> = run.iter().map(|b| b.batch_id).collect();
        ids.sort_unstable();
        let result =
            (&self.meta, &self.batches, &self.cases).transaction(|(meta, batches, cases)| {
                let mut next = match meta.get("next_batch_id")? {
                    None => 1,
                    Some(bytes) => match be_u64(&bytes) {
                        Ok(n) => n,
                        Err(e) => return abort(e),
                    },
                };
                for &id in &ids {
                    if id == 0 || id > next || batches.get(id.to_be_bytes())?.is_some() {
                        return abort(StoreError::Backend(format!(
                            "batch {id} recorded while {next} was next to take"
                        )));
                    }
                    if id == next {
                        next += 1;
                    }
                }
                meta.insert("next_batch_id", &next.to_be_bytes())?;
                for batch in run {
                    tx_put(batches, &batch.batch_id.to_be_bytes(), batch)?;
                }
                for (case_id, status) in &published {
                    let key = case_id.to_be_bytes();
                    let Some(mut case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                        return abort(StoreError::NoSuchCase(*case_id));
                    };
                    case.status = status.clone();
                    tx_put(cases, &key, &case)?;
                }
                Ok(())
            });
        finish(result)?;
        self.flush()
    }

    fn batches(&self) -> Result<Vec<BatchRecord>, StoreError> {
        Self::all(&self.batches, "batch")
    }

    fn report_seen(&self, report_id: &[u8; 16]) -> Result<bool, StoreError> {
        self.reports.contains_key(report_id).map_err(backend)
    }

    fn record_report(
        &self,
        report_id: &[u8; 16],
        received_at: Seconds,
        rows: Vec<F1RowRecord>,
        claims: &[ClaimRecord],
    ) -> Result<Vec<F1RowRecord>, StoreError> {
        let _gate = self.writing();
        let result = (
            &self.reports,
            &self.cases,
            &self.f1_rows,
            &self.f1_by_district,
            &self.claims,
        )
            .transaction(|(reports, cases, f1_rows, by_district, claims_tree)| {
                if reports.get(report_id)?.is_some() {
                    return abort(StoreError::DuplicateReport);
                }
                for claim in claims {
                    let key = claim_key(claim);
                    if claims_tree.get(key)?.is_some() {
                        return abort(StoreError::ClaimedBefore);
                    }
                    tx_put(claims_tree, &key, claim)?;
                }
                let mut stored = Vec::with_capacity(rows.len());
                for row in &rows {
                    let key = row.case_id.to_be_bytes();
                    let Some(mut case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                        return abort(StoreError::NoSuchCase(row.case_id));
                    };
                    let row = case.add_f1_row(row);
                    tx_put(cases, &key, &case)?;
                    tx_put(f1_rows, &row_key(row.case_id, row.row_no), &row)?;
                    by_district.insert(
                        &district_key(row.district, row.case_id, row.row_no),
                        &[] as &[u8],
                    )?;
                    stored.push(row);
                }
                tx_put(
                    reports,
                    report_id,
                    &ReportRecord {
                        report_id: *report_id,
                        received_at,
                        rows: stored.iter().map(|r| (r.case_id, r.row_no)).collect(),
                    },
                )?;
                Ok(stored)
            });
        let stored = finish(result)?;
        self.flush()?;
        Ok(stored)
    }

    fn claims_of_rpi(&self, rpi: &[u8; 16]) -> Result<Vec<ClaimRecord>, StoreError> {
        self.claims
            .scan_prefix(rpi)
            .values()
            .map(|v| decode("claim", &v.map_err(backend)?))
            .collect()
    }

    fn f1_rows(&self, case_id: u64) -> Result<Vec<F1RowRecord>, StoreError> {
        self.f1_rows
            .scan_prefix(case_id.to_be_bytes())
            .values()
            .map(|v| decode("F1 row", &v.map_err(backend)?))
            .collect()
    }

    fn f1_rows_of_districts(&self, districts: &[u32]) -> Result<Vec<F1RowRecord>, StoreError> {
        let mut districts = districts.to_vec();
        districts.sort_unstable();
        districts.dedup();
        let mut out = Vec::new();
        for district in districts {
            for key in self
                .f1_by_district
                .scan_prefix(district.to_be_bytes())
                .keys()
            {
                let key = key.map_err(backend)?;
                let row = Self::get::<F1RowRecord>(&self.f1_rows, "F1 row", &key[4..])?
                    .ok_or_else(|| StoreError::Corrupt("district index names no row".into()))?;
                out.push(row);
            }
        }
        Ok(out)
    }

    fn f1_row(&self, case_id: u64, row_no: u32) -> Result<Option<F1RowRecord>, StoreError> {
        Self::get(&self.f1_rows, "F1 row", &row_key(case_id, row_no))
    }

    fn set_follow_up(
        &self,
        case_id: u64,
        row_no: u32,
        follow_up: &FollowUp,
    ) -> Result<F1RowRecord, StoreError> {
        let _gate = self.writing();
        let key = row_key(case_id, row_no);
        let result = self.f1_rows.transaction(|rows| {
            let Some(mut row) = tx_get::<F1RowRecord>(rows, "F1 row", &key)? else {
                return abort(StoreError::NoSuchRow { case_id, row_no });
            };
            row.follow_up = follow_up.clone();
            tx_put(rows, &key, &row)?;
            Ok(row)
        });
        let row = finish(result)?;
        self.flush()?;
        Ok(row)
    }

    fn purge(&self, now: Seconds, retention: &Retention) -> Result<u64, StoreError> {
        let _gate = self.writing();
        let mut removed = 0u64;
        // Cases past retention, and everything of theirs.
        let mut gone = Vec::new();
        for case in self.cases()? {
            if !retention.case_kept(case.opened_at, now) {
                gone.push(case.case_id);
            }
        }
        for case_id in &gone {
            let key = case_id.to_be_bytes();
            self.cases.remove(key).map_err(backend)?;
            self.uploads.remove(key).map_err(backend)?;
            self.contacts.remove(key).map_err(backend)?;
            removed += 1;
        }
        if !gone.is_empty() {
            for kv in self.codes.iter() {
                let (k, v) = kv.map_err(backend)?;
                let code: CodeRecord = decode("code", &v)?;
                if gone.contains(&code.case_id) {
                    self.codes.remove(k).map_err(backend)?;
                }
            }
            for kv in self.upload_digests.iter() {
                let (k, v) = kv.map_err(backend)?;
                let (_, case_id): ([u8; 32], u64) = decode("upload digest", &v)?;
                if gone.contains(&case_id) {
                    self.upload_digests.remove(k).map_err(backend)?;
                }
            }
        }
        // F1 rows past retention (those of the cases above too), then contact details.
        for kv in self.f1_rows.iter() {
            let (k, v) = kv.map_err(backend)?;
            let mut row: F1RowRecord = decode("F1 row", &v)?;
            if gone.contains(&row.case_id) || !retention.row_kept(row.received_at, now) {
                self.f1_rows.remove(&k).map_err(backend)?;
                self.f1_by_district
                    .remove(district_key(row.district, row.case_id, row.row_no))
                    .map_err(backend)?;
                removed += 1;
            } else if !row.sealed_contact.is_empty()
                && !retention.contact_kept(row.received_at, now)
            {
                row.sealed_contact.clear();
                self.f1_rows.insert(k, encode(&row)?).map_err(backend)?;
                removed += 1;
            }
        }
        for kv in self.reports.iter() {
            let (k, v) = kv.map_err(backend)?;
            let report: ReportRecord = decode("report", &v)?;
            if !retention.row_kept(report.received_at, now) {
                self.reports.remove(k).map_err(backend)?;
                removed += 1;
            }
        }
        for kv in self.sessions.iter() {
            let (k, v) = kv.map_err(backend)?;
            let session: SessionRecord = decode("session", &v)?;
            if session.expires_at <= now {
                self.sessions.remove(k).map_err(backend)?;
                removed += 1;
            }
        }
        for kv in self.contacts.iter() {
            let (k, v) = kv.map_err(backend)?;
            let hashes: Vec<ContactHash> = decode("contact hashes", &v)?;
            let kept: Vec<ContactHash> = hashes
                .iter()
                .copied()
                .filter(|h| contact_retained(h, now))
                .collect();
            if kept.len() != hashes.len() {
                removed += (hashes.len() - kept.len()) as u64;
                if kept.is_empty() {
                    self.contacts.remove(k).map_err(backend)?;
                } else {
                    self.contacts.insert(k, encode(&kept)?).map_err(backend)?;
                }
            }
        }
        for kv in self.claims.iter() {
            let (k, v) = kv.map_err(backend)?;
            let claim: ClaimRecord = decode("claim", &v)?;
            if !claim_retained(&claim, now) {
                self.claims.remove(k).map_err(backend)?;
                removed += 1;
            }
        }
        for kv in self.uploads.iter() {
            let (k, v) = kv.map_err(backend)?;
            let mut upload: UploadRecord = decode("upload", &v)?;
            let before = upload.keys.len();
            upload.keys.retain(|key| key_retained(key, now));
            if upload.keys.len() != before {
                removed += (before - upload.keys.len()) as u64;
                self.uploads.insert(k, encode(&upload)?).map_err(backend)?;
            }
        }
        self.flush()?;
        Ok(removed)
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        let _gate = self.writing();
        let seq = finish(
            // The counter lives beside the log, outside the digested trees.
            (&self.audit_meta, &self.audit).transaction(|(counter, audit)| {
                let seq = tx_next_id(counter, "next_seq")?;
                tx_put(
                    audit,
                    &seq.to_be_bytes(),
                    &AuditEntry {
                        seq,
                        ..entry.clone()
                    },
                )?;
                Ok(seq)
            }),
        )?;
        self.flush()?;
        Ok(seq)
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let end = filter.before_seq.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for kv in self.audit.range(..end.to_be_bytes()).rev() {
            if out.len() >= filter.limit {
                break;
            }
            let (_, bytes) = kv.map_err(backend)?;
            let entry: AuditEntry = decode("audit entry", &bytes)?;
            if filter.admits(&entry) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        Ok(StoreCounts {
            accounts: self.accounts.len() as u64,
            sessions: self.sessions.len() as u64,
            cases: self.cases.len() as u64,
            uploads: self.uploads.len() as u64,
            batches: self.batches.len() as u64,
            reports: self.reports.len() as u64,
            f1_rows: self.f1_rows.len() as u64,
        })
    }

    fn digest(&self) -> Result<[u8; 32], StoreError> {
        let mut digest = RecordDigest::new();
        for name in DIGESTED_TREES {
            for kv in self.tree(name).iter() {
                let (k, v) = kv.map_err(backend)?;
                digest.add(name, &k, &v)?;
            }
        }
        Ok(digest.finish())
    }

    /// Consistent because it holds the write gate alone (the field `writes` of
    /// [`SledStore`]): writes wait while the trees are read (reads go on), and none is half
    /// done when it starts.
    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        let _alone = self.writes.write().unwrap_or_else(PoisonError::into_inner);
        for name in DIGESTED_TREES.into_iter().chain([AUDIT_TREE]) {
            for kv in self.tree(name).iter() {
                let (k, v) = kv.map_err(backend)?;
                visit(name, &k, &v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::password::PasswordHash;
    use crate::domain::store::Role;
    use crate::domain::store::conformance::{
        Harness, NOW, account, case, code, row, store_conformance_tests, uploaded_case,
    };

    // Each store in its own directory, which outlives it so that it can be reopened.
    store_conformance_tests!(
        conformance,
        Harness::new(tempfile::tempdir().unwrap(), |dir: &tempfile::TempDir| {
            SledStore::open(dir.path()).unwrap()
        })
    );

    /// A store closed while it is being reopened is opened once sled lets its lock go (sled
    /// 0.34 lets it go from a background thread after the close), and a store that stays open
    /// is refused after [`LOCK_WAIT`] with sled's message, not opened twice.
    #[test]
    fn reopening_waits_for_the_lock_of_a_closing_store_but_not_forever() {
        let dir = tempfile::tempdir().unwrap();
        let held = SledStore::open(dir.path()).unwrap();
        held.insert_account(&account("nurse")).unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        let reopened = SledStore::open(dir.path()).unwrap();
        closer.join().unwrap();
        assert_eq!(reopened.accounts().unwrap().len(), 1);

        let started = Instant::now();
        let Err(StoreError::Backend(message)) = SledStore::open(dir.path()) else {
            panic!("a store open elsewhere was opened again");
        };
        assert!(message.contains("could not acquire lock"), "{message}");
        assert!(started.elapsed() >= LOCK_WAIT, "{:?}", started.elapsed());
        drop(reopened);
    }

    // What stays here is sled's own: damaged bytes written straight into its trees must read
    // as `StoreError::Corrupt`, not panic. That exercises this backend's bincode decoding and
    // its `DECODE_LIMIT`, which no other backend shares, so it is not in the suite.

    /// A store written before regions (schema 1, no `schema` tree) is converted on open: its
    /// traced and published cases were the whole country's, its cases and facility accounts
    /// belong to no facility. A store of a newer schema is refused, named, and left as it was.
    #[test]
    fn schema_1_is_migrated_and_a_newer_schema_refused() {
        let dir = tempfile::tempdir().unwrap();
        let old = |case_id, status| v1::CaseRecord {
            case_id,
            reference: format!("ref-{case_id}"),
            opened_by: "doctor".into(),
            opened_at: NOW,
            code_expires_at: NOW + 86_400,
            status,
            f1_rows: 2,
        };
        {
            let db = sled::open(dir.path()).unwrap();
            let cases = db.open_tree("cases").unwrap();
            let records = [
                old(1, v1::CaseStatus::AwaitingUpload),
                old(2, v1::CaseStatus::UploadReceived { at: NOW + 1 }),
                old(
                    3,
                    v1::CaseStatus::TraceRequested {
                        at: NOW + 2,
                        by: "doctor".into(),
                    },
                ),
                old(
                    4,
                    v1::CaseStatus::Published {
                        batch_id: 7,
                        at: NOW + 3,
                    },
                ),
            ];
            for r in &records {
                cases
                    .insert(r.case_id.to_be_bytes(), encode(r).unwrap())
                    .unwrap();
            }
            let accounts = db.open_tree("accounts").unwrap();
            let doctor = v2::Account {
                username: "doctor".into(),
                role: v2::Role::TreatmentFacility,
                password: PasswordHash::new(
                    "a long enough password",
                    &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1),
                )
                .unwrap(),
                created_at: NOW,
                disabled: false,
            };
            accounts.insert("doctor", encode(&doctor).unwrap()).unwrap();
            db.flush().unwrap();
        }
        let store = open(&dir);
        let doctor = store.account("doctor").unwrap().unwrap();
        assert_eq!(
            doctor.role,
            Role::TreatmentFacility {
                facility: String::new()
            }
        );
        assert!(!doctor.must_change_password && !doctor.disabled);
        assert!(doctor.password.verify("a long enough password"));
        let case = store.case(1).unwrap().unwrap();
        assert_eq!((case.facility.as_str(), case.province), ("", 0));
        let statuses: Vec<CaseStatus> = store
            .cases()
            .unwrap()
            .into_iter()
            .map(|c| c.status)
            .collect();
        assert_eq!(
            statuses,
            vec![
                CaseStatus::AwaitingUpload,
                CaseStatus::UploadReceived { at: NOW + 1 },
                CaseStatus::TraceRequested {
                    at: NOW + 2,
                    by: "doctor".into(),
                    regions: vec![0]
                },
                CaseStatus::Published {
                    at: NOW + 3,
                    batches: vec![crate::domain::store::RegionBatch {
                        region: 0,
                        batch_id: 7
                    }],
                },
            ]
        );
        let case = store.case(4).unwrap().unwrap();
        assert_eq!((case.reference.as_str(), case.f1_rows), ("ref-4", 2));
        let digest = store.digest().unwrap();
        drop(store);
        // Stamped: opening again changes nothing.
        assert_eq!(reopen(&dir).digest().unwrap(), digest);

        // A newer server wrote schema 4: refused by name, nothing touched.
        {
            let db = retried(|| sled::open(dir.path()));
            db.open_tree("schema")
                .unwrap()
                .insert("version", &4u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let refused = retried(|| match SledStore::open(dir.path()) {
            Ok(_) => Ok("opened".to_owned()),
            Err(e) if e.to_string().contains("schema") => Ok(e.to_string()),
            Err(e) => Err(e),
        });
        assert!(refused.contains("schema is version 4"), "{refused}");
        let db = retried(|| sled::open(dir.path()));
        let schema = db
            .open_tree("schema")
            .unwrap()
            .get("version")
            .unwrap()
            .unwrap();
        assert_eq!(schema.as_ref(), 4u32.to_be_bytes());
    }

    fn open(dir: &tempfile::TempDir) -> SledStore {
        SledStore::open(dir.path()).unwrap()
    }

    /// `attempt` until it succeeds (for at most 10 s): right after a database on the same
    /// directory was dropped, sled's flusher thread may hold the file lock a moment longer on
    /// a loaded machine.
    fn retried<T, E: std::fmt::Display>(mut attempt: impl FnMut() -> Result<T, E>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match attempt() {
                Ok(value) => return value,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("still failing after 10 s: {e}"),
            }
        }
    }

    /// [`open`] right after the store on `dir` was dropped (see [`retried`]).
    fn reopen(dir: &tempfile::TempDir) -> SledStore {
        retried(|| SledStore::open(dir.path()))
    }

    /// A length prefix of `len` as bincode's standard configuration writes it (a u64 varint).
    fn huge_length(len: u64) -> Vec<u8> {
        let mut bytes = vec![253];
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes
    }

    fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>) {
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "expected StoreError::Corrupt, got {result:?}"
        );
    }

    #[test]
    fn damaged_records_read_as_corrupt_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = uploaded_case(&store, 1);
        store.open_case(&case("two"), &code(2)).unwrap();
        let c = store.open_case(&case("three"), &code(3)).unwrap();
        store.insert_account(&account("admin")).unwrap();
        // A case record replaced by garbage, by a truncated record, by one with bytes
        // appended, and by one whose string length is absurd.
        let good = store.cases.get(a.to_be_bytes()).unwrap().unwrap().to_vec();
        let mut trailing = good.clone();
        trailing.push(0);
        let mut absurd = vec![1]; // case_id 1
        absurd.extend(huge_length(u64::MAX));
        let mut large = vec![1];
        large.extend(huge_length(1 << 40));
        for bad in [
            vec![0xff; 7],
            good[..good.len() - 1].to_vec(),
            trailing,
            absurd,
            large,
        ] {
            store.cases.insert(a.to_be_bytes(), bad.clone()).unwrap();
            store.cases.insert(c.to_be_bytes(), bad).unwrap();
            assert_corrupt(store.case(a));
            assert_corrupt(store.cases());
            // Inside transactions too, which then change nothing.
            let digest = store.digest().unwrap();
            assert_corrupt(store.request_trace(a, "doctor", &[0], NOW));
            assert_corrupt(store.record_report(&[1; 16], NOW, vec![row(a, 1, 1)], &[]));
            assert_corrupt(store.accept_upload(&code(3), &[0; 32], NOW, &[], &[]));
            assert_eq!(store.digest().unwrap(), digest);
        }
        // Repaired, the case works again: the refusals left nothing half-written.
        store.cases.insert(a.to_be_bytes(), good).unwrap();
        store.request_trace(a, "doctor", &[0], NOW).unwrap();
        assert!(!store.report_seen(&[1; 16]).unwrap());

        store.codes.insert(code(2), vec![0xff; 3]).unwrap();
        assert_corrupt(store.accept_upload(&code(2), &[0; 32], NOW, &[], &[]));

        let mut absurd_name = huge_length(u64::MAX);
        absurd_name.extend_from_slice(b"admin");
        store.accounts.insert("admin", absurd_name).unwrap();
        assert_corrupt(store.account("admin"));
        assert_corrupt(store.accounts());

        store
            .sessions
            .insert([1; 32], huge_length(1 << 33))
            .unwrap();
        assert_corrupt(store.session(&[1; 32]));
        assert_corrupt(store.purge(NOW, &Retention::default()));

        store.contacts.insert([1, 2, 3], vec![0]).unwrap();
        assert_corrupt(store.contact_hashes());

        store.meta.insert("next_batch_id", vec![1, 2, 3]).unwrap();
        assert_corrupt(store.next_batch_id());
        store.meta.insert("secret/codes", vec![1; 31]).unwrap();
        assert_corrupt(store.secret("codes", &mut || [0; 32]));

        store
            .f1_by_district
            .insert(district_key(5, 9, 9), &[])
            .unwrap();
        assert_corrupt(store.f1_rows_of_districts(&[5]));
    }
}
