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
    StoredKey, UploadRecord,
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

/// Intervals of 10 minutes in 15 days: uploaded keys are kept one day past the phones' 14-day
/// retention.
const KEY_RETENTION_INTERVALS: u64 = 15 * 144;
/// Contact hashes are kept 14 days after the sighting was last heard.
const CONTACT_RETENTION_SECONDS: u64 = 14 * 86_400;

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

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    match bincode::serde::decode_from_slice(bytes, bincode::config::standard()) {
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
                let Some(mut code) = tx_get::<CodeRecord>(codes, "code", code_hash)? else {
                    return abort(StoreError::Code(CodeRefusal::Unknown));
                };
                if code.used_at.is_some() {
                    return abort(StoreError::Code(CodeRefusal::Used));
                }
                if now >= code.expires_at {
                    return abort(StoreError::Code(CodeRefusal::Expired));
                }
                let key = code.case_id.to_be_bytes();
                let Some(mut case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                    return abort(StoreError::NoSuchCase(code.case_id));
                };
                if case.status != CaseStatus::AwaitingUpload {
                    return abort(StoreError::WrongCaseState {
                        case_id: case.case_id,
                        status: case.status,
                    });
                }
                code.used_at = Some(now);
                case.status = CaseStatus::UploadReceived { at: now };
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
            let Some(mut case) = tx_get::<CaseRecord>(cases, "case", &key)? else {
                return abort(StoreError::NoSuchCase(case_id));
            };
            match case.status {
                CaseStatus::UploadReceived { .. } => {
                    case.status = CaseStatus::TraceRequested {
                        at: now,
                        by: by.to_owned(),
                    };
                    tx_put(cases, &key, &case)?;
                    Ok((case, true))
                }
                CaseStatus::TraceRequested { .. } | CaseStatus::Published { .. } => {
                    Ok((case, false))
                }
                CaseStatus::AwaitingUpload => abort(StoreError::WrongCaseState {
                    case_id,
                    status: case.status,
                }),
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
                    case.f1_rows += 1;
                    let row = F1RowRecord {
                        row_no: case.f1_rows,
                        ..row.clone()
                    };
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
        let contact_cutoff = now.saturating_sub(CONTACT_RETENTION_SECONDS);
        for kv in self.contacts.iter() {
            let (k, v) = kv.map_err(backend)?;
            let hashes: Vec<ContactHash> = decode("contact hashes", &v)?;
            let kept: Vec<ContactHash> = hashes
                .iter()
                .copied()
                .filter(|(_, last)| *last > contact_cutoff)
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
        let oldest_interval = (now / 600).saturating_sub(KEY_RETENTION_INTERVALS);
        for kv in self.uploads.iter() {
            let (k, v) = kv.map_err(backend)?;
            let mut upload: UploadRecord = decode("upload", &v)?;
            let before = upload.keys.len();
            upload.keys.retain(|key| {
                u64::from(key.rolling_start) + u64::from(key.rolling_period) > oldest_interval
            });
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
