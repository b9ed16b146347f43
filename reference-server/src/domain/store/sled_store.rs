//! The embedded default [`Store`]: sled trees, records encoded with bincode 2.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | name | counters (`next_case_id`, `next_batch_id`) and secrets (`secret/<name>`) |
//! | `accounts` | username | [`Account`] |
//! | `sessions` | SHA-256 of the token | [`SessionRecord`] |
//! | `cases` | case id (u64 BE) | [`CaseRecord`] |
//! | `codes` | keyed hash of the declaration code | [`CodeRecord`] |
//! | `uploads` | case id | [`UploadRecord`] |
//! | `contacts` | case id | the case's [`ContactHash`]es |
//! | `batches` | batch id (u64 BE) | [`BatchRecord`] |
//! | `reports` | report id | [`ReportRecord`] |
//! | `f1_rows` | case id ‖ row no. (u32 BE) | [`F1RowRecord`] |
//! | `f1_by_district` | district (u32 BE) ‖ case id ‖ row no. | empty |
//!
//! Every write method ends with `Db::flush`, so a method that returned `Ok` survives a crash.

use std::path::Path;

use ring::digest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::{
    Account, BatchRecord, CaseRecord, CaseStatus, CodeRecord, CodeRefusal, ContactHash,
    F1RowRecord, FollowUp, ReportRecord, Seconds, SessionRecord, Store, StoreCounts, StoreError,
    StoredKey, UploadRecord, contact_retained, key_retained,
};

const TREES: [&str; 11] = [
    "meta",
    "accounts",
    "sessions",
    "cases",
    "codes",
    "uploads",
    "contacts",
    "batches",
    "reports",
    "f1_rows",
    "f1_by_district",
];

/// A [`Store`] in a sled database.
pub struct SledStore {
    db: sled::Db,
    meta: sled::Tree,
    accounts: sled::Tree,
    sessions: sled::Tree,
    cases: sled::Tree,
    codes: sled::Tree,
    uploads: sled::Tree,
    contacts: sled::Tree,
    batches: sled::Tree,
    reports: sled::Tree,
    f1_rows: sled::Tree,
    f1_by_district: sled::Tree,
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
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", dir.display())))?;
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        Ok(SledStore {
            meta: tree("meta")?,
            accounts: tree("accounts")?,
            sessions: tree("sessions")?,
            cases: tree("cases")?,
            codes: tree("codes")?,
            uploads: tree("uploads")?,
            contacts: tree("contacts")?,
            batches: tree("batches")?,
            reports: tree("reports")?,
            f1_rows: tree("f1_rows")?,
            f1_by_district: tree("f1_by_district")?,
            db,
        })
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

    fn tree(&self, name: &str) -> &sled::Tree {
        match name {
            "meta" => &self.meta,
            "accounts" => &self.accounts,
            "sessions" => &self.sessions,
            "cases" => &self.cases,
            "codes" => &self.codes,
            "uploads" => &self.uploads,
            "contacts" => &self.contacts,
            "batches" => &self.batches,
            "reports" => &self.reports,
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

    fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.sessions
            .insert(session.token_hash, encode(session)?)
            .map_err(backend)?;
        self.flush()
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        Self::get(&self.sessions, "session", token_hash)
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.sessions.remove(token_hash).map_err(backend)?;
        self.flush()
    }

    fn open_case(&self, case: &CaseRecord, code_hash: &[u8; 32]) -> Result<u64, StoreError> {
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

    fn case(&self, case_id: u64) -> Result<Option<CaseRecord>, StoreError> {
        Self::get(&self.cases, "case", &case_id.to_be_bytes())
    }

    fn cases(&self) -> Result<Vec<CaseRecord>, StoreError> {
        Self::all(&self.cases, "case")
    }

    fn accept_upload(
        &self,
        code_hash: &[u8; 32],
        now: Seconds,
        keys: &[StoredKey],
        contact_hashes: &[ContactHash],
    ) -> Result<u64, StoreError> {
        let hashes = encode(&contact_hashes)?;
        let result = (&self.codes, &self.cases, &self.uploads, &self.contacts).transaction(
            |(codes, cases, uploads, contacts)| {
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
            },
        );
        let case_id = finish(result)?;
        self.flush()?;
        Ok(case_id)
    }

    fn request_trace(
        &self,
        case_id: u64,
        by: &str,
        now: Seconds,
    ) -> Result<CaseRecord, StoreError> {
        let key = case_id.to_be_bytes();
        let result = self.cases.transaction(|cases| {
            let Some(case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                return abort(StoreError::NoSuchCase(case_id));
            };
            match case.trace_requested(by, now) {
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

    fn uploads_to_publish(&self) -> Result<Vec<UploadRecord>, StoreError> {
        let mut out = Vec::new();
        for case in self.cases()? {
            if matches!(case.status, CaseStatus::TraceRequested { .. }) {
                let upload =
                    Self::get(&self.uploads, "upload", &case.case_id.to_be_bytes())?.ok_or(
                        StoreError::Corrupt(format!("case {} has no upload", case.case_id)),
                    )?;
                out.push(upload);
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

    fn record_batch(&self, batch: &BatchRecord) -> Result<(), StoreError> {
        let result =
            (&self.meta, &self.batches, &self.cases).transaction(|(meta, batches, cases)| {
                let expected = match meta.get("next_batch_id")? {
                    None => 1,
                    Some(bytes) => match be_u64(&bytes) {
                        Ok(n) => n,
                        Err(e) => return abort(e),
                    },
                };
                if batch.batch_id != expected {
                    return abort(StoreError::Backend(format!(
                        "batch {} recorded while {expected} was next",
                        batch.batch_id
                    )));
                }
                meta.insert("next_batch_id", &(expected + 1).to_be_bytes())?;
                tx_put(batches, &batch.batch_id.to_be_bytes(), batch)?;
                for case_id in &batch.cases {
                    let key = case_id.to_be_bytes();
                    let Some(mut case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                        return abort(StoreError::NoSuchCase(*case_id));
                    };
                    case.status = CaseStatus::Published {
                        batch_id: batch.batch_id,
                        at: batch.created_at,
                    };
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
    ) -> Result<Vec<F1RowRecord>, StoreError> {
        let result = (
            &self.reports,
            &self.cases,
            &self.f1_rows,
            &self.f1_by_district,
        )
            .transaction(|(reports, cases, f1_rows, by_district)| {
                if reports.get(report_id)?.is_some() {
                    return abort(StoreError::DuplicateReport);
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

    fn purge(&self, now: Seconds) -> Result<u64, StoreError> {
        let mut removed = 0u64;
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
        let mut ctx = digest::Context::new(&digest::SHA256);
        for name in TREES {
            ctx.update(&(name.len() as u64).to_le_bytes());
            ctx.update(name.as_bytes());
            for kv in self.tree(name).iter() {
                let (k, v) = kv.map_err(backend)?;
                ctx.update(&(k.len() as u64).to_le_bytes());
                ctx.update(&k);
                ctx.update(&(v.len() as u64).to_le_bytes());
                ctx.update(&v);
            }
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::num::NonZeroU32;
    use std::sync::Barrier;

    use crate::domain::store::{CONTACT_RETENTION_SECONDS, KEY_RETENTION_INTERVALS};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::domain::password::PasswordHash;
    use crate::domain::store::{ConfirmationRecord, FollowUpStatus, Role};

    const NOW: Seconds = 1_700_000_000;

    fn open(dir: &tempfile::TempDir) -> SledStore {
        SledStore::open(dir.path()).unwrap()
    }

    fn case(reference: &str) -> CaseRecord {
        CaseRecord {
            case_id: 0,
            reference: reference.into(),
            opened_by: "doctor".into(),
            opened_at: NOW,
            code_expires_at: NOW + 86_400,
            status: CaseStatus::AwaitingUpload,
            f1_rows: 0,
        }
    }

    fn code(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn key(n: u8, rolling_start: u32, rolling_period: u32) -> StoredKey {
        StoredKey {
            key: [n; 16],
            rolling_start,
            rolling_period,
            published: [0xff; 18],
        }
    }

    fn row(case_id: u64, district: u32, report: u8) -> F1RowRecord {
        F1RowRecord {
            case_id,
            row_no: 0,
            report_id: [report; 16],
            district,
            received_at: NOW,
            first_contact: NOW - 3600,
            last_contact: NOW - 1800,
            duration_seconds: 1800,
            min_attenuation_db: 50,
            weighted_minutes: 30,
            confirmation: ConfirmationRecord::ConfirmedBothWays,
            sealed_contact: vec![report; 176],
            follow_up: FollowUp {
                status: FollowUpStatus::New,
                updated_at: NOW,
                updated_by: String::new(),
            },
        }
    }

    fn account(name: &str) -> Account {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        Account {
            username: name.into(),
            role: Role::TreatmentFacility,
            password: PasswordHash::with_iterations(
                "correct horse battery staple",
                NonZeroU32::MIN,
                &mut rng,
            )
            .unwrap(),
            created_at: NOW,
            disabled: false,
        }
    }

    /// Open a case with `code(n)` and accept its upload: returns the case id.
    fn uploaded_case(store: &SledStore, n: u8) -> u64 {
        store
            .open_case(&case(&format!("ref-{n}")), &code(n))
            .unwrap();
        store
            .accept_upload(&code(n), NOW + 60, &[key(n, 100, 144)], &[([n; 16], NOW)])
            .unwrap()
    }

    #[test]
    fn a_code_is_consumed_by_exactly_one_of_parallel_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let case_id = store.open_case(&case("HN-1"), &code(1)).unwrap();
        assert_eq!(case_id, 1);
        let barrier = Barrier::new(8);
        let results: Vec<Result<u64, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| {
                    let (store, barrier) = (&store, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        store.accept_upload(
                            &code(1),
                            NOW + 60 + u64::from(i),
                            &[key(i, 100, 144)],
                            &[([i; 16], NOW + u64::from(i))],
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..8).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for r in &results {
            match r {
                Ok(id) => assert_eq!(*id, case_id),
                Err(StoreError::Code(CodeRefusal::Used)) => {}
                Err(e) => panic!("unexpected refusal: {e}"),
            }
        }
        // The one upload kept is the winner's, and the case says when it came.
        let winner = winners[0] as u8;
        let at = NOW + 60 + u64::from(winner);
        let upload: UploadRecord = SledStore::get(&store.uploads, "upload", &1u64.to_be_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(upload.case_id, case_id);
        assert_eq!(upload.received_at, at);
        assert_eq!(upload.keys, vec![key(winner, 100, 144)]);
        assert_eq!(
            store.contact_hashes().unwrap(),
            vec![(case_id, vec![([winner; 16], NOW + u64::from(winner))])]
        );
        assert_eq!(
            store.case(case_id).unwrap().unwrap().status,
            CaseStatus::UploadReceived { at }
        );
        let code_record: CodeRecord = SledStore::get(&store.codes, "code", &code(1))
            .unwrap()
            .unwrap();
        assert_eq!(code_record.used_at, Some(at));
        assert_eq!(store.counts().unwrap().uploads, 1);
    }

    #[test]
    fn expired_and_unknown_codes_are_refused_without_a_trace() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let case_id = store.open_case(&case("HN-1"), &code(1)).unwrap();
        let before = store.digest().unwrap();
        let expires = NOW + 86_400;
        for now in [expires, expires + 1] {
            let refused = store.accept_upload(&code(1), now, &[key(1, 100, 144)], &[]);
            assert!(
                matches!(refused, Err(StoreError::Code(CodeRefusal::Expired))),
                "{refused:?}"
            );
        }
        let refused = store.accept_upload(&code(2), NOW, &[key(1, 100, 144)], &[]);
        assert!(
            matches!(refused, Err(StoreError::Code(CodeRefusal::Unknown))),
            "{refused:?}"
        );
        assert_eq!(store.digest().unwrap(), before);
        assert_eq!(
            store.case(case_id).unwrap().unwrap().status,
            CaseStatus::AwaitingUpload
        );
        // One second before expiry the code still works; after use, it is "used", even once
        // expired.
        assert_eq!(
            store
                .accept_upload(&code(1), expires - 1, &[], &[])
                .unwrap(),
            case_id
        );
        let after = store.digest().unwrap();
        assert_ne!(after, before);
        let refused = store.accept_upload(&code(1), expires + 10, &[], &[]);
        assert!(
            matches!(refused, Err(StoreError::Code(CodeRefusal::Used))),
            "{refused:?}"
        );
        assert_eq!(store.digest().unwrap(), after);
    }

    #[test]
    fn reports_number_rows_per_case_and_refuse_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = uploaded_case(&store, 1);
        let b = uploaded_case(&store, 2);

        let stored = store
            .record_report(&[1; 16], NOW, vec![row(a, 1, 1), row(b, 2, 1)])
            .unwrap();
        assert_eq!(
            stored
                .iter()
                .map(|r| (r.case_id, r.row_no))
                .collect::<Vec<_>>(),
            vec![(a, 1), (b, 1)]
        );
        // Two rows of one case in one report get consecutive numbers.
        let stored = store
            .record_report(&[2; 16], NOW + 1, vec![row(a, 3, 2), row(a, 1, 2)])
            .unwrap();
        assert_eq!(
            stored
                .iter()
                .map(|r| (r.case_id, r.row_no))
                .collect::<Vec<_>>(),
            vec![(a, 2), (a, 3)]
        );
        assert!(store.report_seen(&[2; 16]).unwrap());
        assert!(!store.report_seen(&[3; 16]).unwrap());

        let before = store.digest().unwrap();
        let again = store.record_report(&[1; 16], NOW + 2, vec![row(b, 2, 1)]);
        assert!(
            matches!(again, Err(StoreError::DuplicateReport)),
            "{again:?}"
        );
        assert_eq!(store.digest().unwrap(), before);
        // A report naming an unknown case changes nothing either, not even its other rows.
        let unknown = store.record_report(&[4; 16], NOW + 2, vec![row(b, 2, 4), row(99, 2, 4)]);
        assert!(
            matches!(unknown, Err(StoreError::NoSuchCase(99))),
            "{unknown:?}"
        );
        assert_eq!(store.digest().unwrap(), before);
        assert!(!store.report_seen(&[4; 16]).unwrap());

        let table = store.f1_rows(a).unwrap();
        assert_eq!(
            table
                .iter()
                .map(|r| (r.row_no, r.report_id[0], r.district))
                .collect::<Vec<_>>(),
            vec![(1, 1, 1), (2, 2, 3), (3, 2, 1)]
        );
        assert_eq!(store.case(a).unwrap().unwrap().f1_rows, 3);
        assert_eq!(store.case(b).unwrap().unwrap().f1_rows, 1);
        assert_eq!(store.f1_row(a, 2).unwrap(), Some(table[1].clone()));
        assert_eq!(store.f1_row(a, 4).unwrap(), None);

        // By district, then case, then row; districts asked twice or covering nothing are
        // harmless.
        let key_of = |r: &F1RowRecord| (r.district, r.case_id, r.row_no);
        let rows = store.f1_rows_of_districts(&[3, 1, 1, 7]).unwrap();
        assert_eq!(
            rows.iter().map(key_of).collect::<Vec<_>>(),
            vec![(1, a, 1), (1, a, 3), (3, a, 2)]
        );
        let rows = store.f1_rows_of_districts(&[2]).unwrap();
        assert_eq!(rows.iter().map(key_of).collect::<Vec<_>>(), vec![(2, b, 1)]);
        assert_eq!(rows[0], store.f1_rows(b).unwrap()[0]);
        assert!(store.f1_rows_of_districts(&[]).unwrap().is_empty());

        let followed = store
            .set_follow_up(
                a,
                2,
                &FollowUp {
                    status: FollowUpStatus::Contacted,
                    updated_at: NOW + 5,
                    updated_by: "unit-worker".into(),
                },
            )
            .unwrap();
        assert_eq!(followed.follow_up.status, FollowUpStatus::Contacted);
        assert_eq!(store.f1_row(a, 2).unwrap().unwrap(), followed);
        assert!(matches!(
            store.set_follow_up(a, 9, &followed.follow_up),
            Err(StoreError::NoSuchRow { row_no: 9, .. })
        ));
    }

    #[test]
    fn parallel_reports_of_one_case_get_rows_one_to_eight() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let case_id = uploaded_case(&store, 1);
        let barrier = Barrier::new(8);
        let numbers: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..=8u8)
                .map(|i| {
                    let (store, barrier) = (&store, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let stored = store
                            .record_report(&[i; 16], NOW, vec![row(case_id, 1, i)])
                            .unwrap();
                        assert_eq!(stored.len(), 1);
                        (i, stored[0].row_no)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    let (i, row_no) = h.join().unwrap();
                    let report: ReportRecord = SledStore::get(&store.reports, "report", &[i; 16])
                        .unwrap()
                        .unwrap();
                    assert_eq!(report.rows, vec![(case_id, row_no)]);
                    row_no
                })
                .collect()
        });
        let distinct: BTreeSet<u32> = numbers.iter().copied().collect();
        assert_eq!(distinct, (1..=8).collect::<BTreeSet<u32>>(), "{numbers:?}");
        let table = store.f1_rows(case_id).unwrap();
        assert_eq!(
            table.iter().map(|r| r.row_no).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<u32>>()
        );
        // Each row is its own report's.
        for r in &table {
            assert_eq!(r.sealed_contact, vec![r.report_id[0]; 176]);
        }
        assert_eq!(store.case(case_id).unwrap().unwrap().f1_rows, 8);
        assert_eq!(store.f1_rows_of_districts(&[1]).unwrap(), table);
        assert_eq!(store.counts().unwrap().reports, 8);
    }

    #[test]
    fn record_batch_publishes_its_cases_and_only_the_next_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = uploaded_case(&store, 1);
        let b = uploaded_case(&store, 2);
        let c = uploaded_case(&store, 3);
        let awaiting = store.open_case(&case("no upload"), &code(4)).unwrap();
        assert!(matches!(
            store.request_trace(awaiting, "doctor", NOW),
            Err(StoreError::WrongCaseState { .. })
        ));
        assert!(matches!(
            store.request_trace(77, "doctor", NOW),
            Err(StoreError::NoSuchCase(77))
        ));
        for id in [a, b] {
            let traced = store.request_trace(id, "doctor", NOW + 100).unwrap();
            assert_eq!(
                traced.status,
                CaseStatus::TraceRequested {
                    at: NOW + 100,
                    by: "doctor".into()
                }
            );
        }
        // Asking again changes nothing.
        let again = store.request_trace(a, "someone else", NOW + 200).unwrap();
        assert_eq!(
            again.status,
            CaseStatus::TraceRequested {
                at: NOW + 100,
                by: "doctor".into()
            }
        );
        let waiting: Vec<u64> = store
            .uploads_to_publish()
            .unwrap()
            .iter()
            .map(|u| u.case_id)
            .collect();
        assert_eq!(waiting, vec![a, b]);
        assert!(store.published_uploads().unwrap().is_empty());
        assert_eq!(store.next_batch_id().unwrap(), 1);

        let batch = |batch_id: u64, cases: Vec<u64>| BatchRecord {
            batch_id,
            region: 0,
            created_at: NOW + 300,
            first_interval: 100,
            last_interval: 243,
            entry_count: 1024,
            published_rpis: 288,
            byte_len: 4096,
            sha256: [batch_id as u8; 32],
            cases,
        };
        let before = store.digest().unwrap();
        for wrong in [0, 2] {
            assert!(store.record_batch(&batch(wrong, vec![a, b])).is_err());
            assert_eq!(store.digest().unwrap(), before);
        }
        // A batch naming an unknown case is refused whole.
        assert!(matches!(
            store.record_batch(&batch(1, vec![a, 99])),
            Err(StoreError::NoSuchCase(99))
        ));
        assert_eq!(store.digest().unwrap(), before);
        assert_eq!(store.next_batch_id().unwrap(), 1);

        store.record_batch(&batch(1, vec![a, b])).unwrap();
        assert_eq!(store.next_batch_id().unwrap(), 2);
        assert_eq!(store.batches().unwrap(), vec![batch(1, vec![a, b])]);
        for id in [a, b] {
            assert_eq!(
                store.case(id).unwrap().unwrap().status,
                CaseStatus::Published {
                    batch_id: 1,
                    at: NOW + 300
                }
            );
        }
        assert_eq!(
            store.case(c).unwrap().unwrap().status,
            CaseStatus::UploadReceived { at: NOW + 60 }
        );
        assert!(store.uploads_to_publish().unwrap().is_empty());
        let published: Vec<(u64, Seconds)> = store
            .published_uploads()
            .unwrap()
            .iter()
            .map(|(u, at)| (u.case_id, *at))
            .collect();
        assert_eq!(published, vec![(a, NOW + 300), (b, NOW + 300)]);
        // A published case stays published when traced again.
        assert!(matches!(
            store.request_trace(a, "doctor", NOW + 400).unwrap().status,
            CaseStatus::Published { batch_id: 1, .. }
        ));
        // Batch 1 again is refused.
        let before = store.digest().unwrap();
        assert!(store.record_batch(&batch(1, vec![c])).is_err());
        assert_eq!(store.digest().unwrap(), before);

        store.request_trace(c, "doctor", NOW + 500).unwrap();
        assert_eq!(
            store
                .uploads_to_publish()
                .unwrap()
                .iter()
                .map(|u| u.case_id)
                .collect::<Vec<_>>(),
            vec![c]
        );
        store.record_batch(&batch(2, vec![c])).unwrap();
        assert_eq!(store.batches().unwrap().len(), 2);
        assert_eq!(store.published_uploads().unwrap().len(), 3);
        assert!(store.uploads_to_publish().unwrap().is_empty());
    }

    #[test]
    fn everything_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (digest, counts, secret, accounts, cases, hashes, batches, rows) = {
            let store = open(&dir);
            let secret = store.secret("codes", &mut || [7; 32]).unwrap();
            assert_eq!(secret, [7; 32]);
            // A second call keeps the first secret.
            assert_eq!(store.secret("codes", &mut || [8; 32]).unwrap(), [7; 32]);
            store.insert_account(&account("admin")).unwrap();
            store.insert_account(&account("doctor")).unwrap();
            assert!(matches!(
                store.insert_account(&account("doctor")),
                Err(StoreError::AccountExists)
            ));
            let mut disabled = account("doctor");
            disabled.disabled = true;
            store.update_account(&disabled).unwrap();
            assert!(matches!(
                store.update_account(&account("nobody")),
                Err(StoreError::NoSuchAccount)
            ));
            store
                .insert_session(&SessionRecord {
                    token_hash: [5; 32],
                    username: "admin".into(),
                    created_at: NOW,
                    expires_at: NOW + 3600,
                })
                .unwrap();
            let a = uploaded_case(&store, 1);
            let b = uploaded_case(&store, 2);
            store.open_case(&case("waiting"), &code(3)).unwrap();
            store.request_trace(a, "doctor", NOW).unwrap();
            store
                .record_batch(&BatchRecord {
                    batch_id: 1,
                    region: 0,
                    created_at: NOW + 10,
                    first_interval: 100,
                    last_interval: 243,
                    entry_count: 8,
                    published_rpis: 8,
                    byte_len: 100,
                    sha256: [1; 32],
                    cases: vec![a],
                })
                .unwrap();
            store
                .record_report(&[1; 16], NOW + 20, vec![row(a, 1, 1)])
                .unwrap();
            assert_eq!(b, 2);
            (
                store.digest().unwrap(),
                store.counts().unwrap(),
                secret,
                store.accounts().unwrap(),
                store.cases().unwrap(),
                store.contact_hashes().unwrap(),
                store.batches().unwrap(),
                store.f1_rows(a).unwrap(),
            )
        };
        assert_eq!(
            counts,
            StoreCounts {
                accounts: 2,
                sessions: 1,
                cases: 3,
                uploads: 2,
                batches: 1,
                reports: 1,
                f1_rows: 1,
            }
        );
        let store = open(&dir);
        assert_eq!(store.digest().unwrap(), digest);
        assert_eq!(store.counts().unwrap(), counts);
        assert_eq!(store.secret("codes", &mut || [9; 32]).unwrap(), secret);
        assert_eq!(store.accounts().unwrap(), accounts);
        assert!(store.account("doctor").unwrap().unwrap().disabled);
        assert!(
            store
                .account("admin")
                .unwrap()
                .unwrap()
                .password
                .verify("correct horse battery staple")
        );
        assert_eq!(store.session(&[5; 32]).unwrap().unwrap().username, "admin");
        assert_eq!(store.cases().unwrap(), cases);
        assert_eq!(store.contact_hashes().unwrap(), hashes);
        assert_eq!(
            hashes,
            vec![(1, vec![([1; 16], NOW)]), (2, vec![([2; 16], NOW)])]
        );
        assert_eq!(store.batches().unwrap(), batches);
        assert!(store.report_seen(&[1; 16]).unwrap());
        assert_eq!(store.f1_rows(1).unwrap(), rows);
        assert_eq!(store.f1_rows_of_districts(&[1]).unwrap(), rows);
        assert_eq!(store.published_uploads().unwrap().len(), 1);
        // The counters go on where they were.
        assert_eq!(store.next_batch_id().unwrap(), 2);
        assert_eq!(store.open_case(&case("next"), &code(4)).unwrap(), 4);
        // The code used before the restart stays used; the one not used still works.
        assert!(matches!(
            store.accept_upload(&code(1), NOW + 100, &[], &[]),
            Err(StoreError::Code(CodeRefusal::Used))
        ));
        assert_eq!(
            store.accept_upload(&code(3), NOW + 100, &[], &[]).unwrap(),
            3
        );
    }

    #[test]
    fn purge_erases_what_retention_no_longer_allows() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let now: Seconds = 1_700_006_400; // a multiple of 600
        let session = |n: u8, expires_at| SessionRecord {
            token_hash: [n; 32],
            username: "admin".into(),
            created_at: now - 7200,
            expires_at,
        };
        store.insert_session(&session(1, now - 1)).unwrap();
        store.insert_session(&session(2, now)).unwrap();
        store.insert_session(&session(3, now + 1)).unwrap();

        let cutoff = now - CONTACT_RETENTION_SECONDS;
        let oldest = u32::try_from(now / 600 - KEY_RETENTION_INTERVALS).unwrap();
        // Case 1: one key past retention (its last interval is `oldest - 1`), one not (its
        // last interval is `oldest`), and one hash each side of the cutoff.
        store.open_case(&case("one"), &code(1)).unwrap();
        store
            .accept_upload(
                &code(1),
                now - 60,
                &[key(1, oldest - 144, 144), key(2, oldest - 143, 144)],
                &[([1; 16], cutoff), ([2; 16], cutoff + 1)],
            )
            .unwrap();
        // Case 2: every hash is old; its keys are fresh.
        store.open_case(&case("two"), &code(2)).unwrap();
        store
            .accept_upload(
                &code(2),
                now - 60,
                &[key(3, oldest + 144, 144)],
                &[([3; 16], cutoff - 86_400)],
            )
            .unwrap();

        // Two sessions, two hashes, one key.
        assert_eq!(store.purge(now).unwrap(), 5);
        assert_eq!(store.session(&[1; 32]).unwrap(), None);
        assert_eq!(store.session(&[2; 32]).unwrap(), None);
        assert!(store.session(&[3; 32]).unwrap().is_some());
        assert_eq!(
            store.contact_hashes().unwrap(),
            vec![(1, vec![([2; 16], cutoff + 1)])]
        );
        let keys = |case_id: u64| {
            SledStore::get::<UploadRecord>(&store.uploads, "upload", &case_id.to_be_bytes())
                .unwrap()
                .unwrap()
                .keys
        };
        assert_eq!(keys(1), vec![key(2, oldest - 143, 144)]);
        assert_eq!(keys(2), vec![key(3, oldest + 144, 144)]);
        // The uploads themselves stay: the cases still have them.
        assert_eq!(store.counts().unwrap().uploads, 2);

        // Purging again at the same time removes nothing and changes nothing.
        let digest = store.digest().unwrap();
        assert_eq!(store.purge(now).unwrap(), 0);
        assert_eq!(store.digest().unwrap(), digest);
        // One second later, the last session and the last hash go; the keys stay until the
        // next interval.
        assert_eq!(store.purge(now + 1).unwrap(), 2);
        assert_eq!(store.counts().unwrap().sessions, 0);
        assert!(store.contact_hashes().unwrap().is_empty());
        assert_eq!(keys(1), vec![key(2, oldest - 143, 144)]);
        assert_eq!(store.purge(now + 600).unwrap(), 1);
        assert!(keys(1).is_empty());
    }

    #[test]
    fn the_largest_records_still_decode() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let long = "x".repeat(4096);
        let mut record = case(&long);
        record.opened_by = long.clone();
        let case_id = store.open_case(&record, &code(1)).unwrap();
        let keys: Vec<StoredKey> = (0..15u8)
            .map(|i| key(i, 100 + 144 * u32::from(i), 144))
            .collect();
        let count = bluezone_protocol::MAX_UPLOAD_SIGHTINGS;
        let hashes: Vec<ContactHash> = (0..count)
            .map(|i| {
                let mut h = [0u8; 16];
                h[..4].copy_from_slice(&i.to_be_bytes());
                (h, NOW - u64::from(i))
            })
            .collect();
        store.accept_upload(&code(1), NOW, &keys, &hashes).unwrap();
        assert_eq!(store.case(case_id).unwrap().unwrap().reference, long);
        assert_eq!(store.contact_hashes().unwrap(), vec![(case_id, hashes)]);
        store.request_trace(case_id, &long, NOW).unwrap();
        assert_eq!(store.uploads_to_publish().unwrap()[0].keys, keys);
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
            assert_corrupt(store.request_trace(a, "doctor", NOW));
            assert_corrupt(store.record_report(&[1; 16], NOW, vec![row(a, 1, 1)]));
            assert_corrupt(store.accept_upload(&code(3), NOW, &[], &[]));
            assert_eq!(store.digest().unwrap(), digest);
        }
        // Repaired, the case works again: the refusals left nothing half-written.
        store.cases.insert(a.to_be_bytes(), good).unwrap();
        store.request_trace(a, "doctor", NOW).unwrap();
        assert!(!store.report_seen(&[1; 16]).unwrap());

        store.codes.insert(code(2), vec![0xff; 3]).unwrap();
        assert_corrupt(store.accept_upload(&code(2), NOW, &[], &[]));

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
        assert_corrupt(store.purge(NOW));

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
