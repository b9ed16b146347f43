//! The seven-step workflow over a [`Store`]: what each API call does, with no HTTP in it.
//!
//! Time is a parameter of every call (`now`, seconds since the unix epoch), so the simulator
//! can drive the workflow on a virtual clock. Every protocol decision is a call into
//! `bluezone-protocol`: parsing and validating uploads and reports, expanding keys,
//! building and signing batches, verifying reports.
//!
//! What stays in memory, rebuilt from the store at start: the verification index of published
//! RPIs ([`PublicationIndex`]), the keyed hashes of the F0s' contact histories
//! ([`ContactHistoryStore`]), and the throttles (a restart forgets them).

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bluezone_protocol::{
    BatchIndex, BatchIndexEntry, BatchSpec, CaseId, Confirmation, ContactHistoryStore, DailyKey,
    F0Upload, F1Report, IntervalNumber, PublicationBatch, PublicationIndex, PublishedIntervals,
    PublisherKeyPair, RETENTION_SECONDS, RiskRule, UnixTime, UploadedKey, VerifyError,
    verify_report,
};
use rand_core::CryptoRng;
use ring::{digest, hmac};
use serde::Serialize;

use crate::code::{self, IssuedCode};
use crate::config::{Config, ThrottleConfig, Unit};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::password::PasswordHash;
use crate::store::{
    Account, BatchRecord, CaseRecord, CaseStatus, ConfirmationRecord, ContactHash, F1RowRecord,
    FollowUp, FollowUpStatus, Role, Seconds, SessionRecord, Store, StoreError, StoredKey,
    UploadRecord,
};
use crate::throttle::Throttle;

/// The publication files: `index.bin` and `batches/<id>.bin` under this directory of the data
/// directory.
pub const PUBLICATION_DIR: &str = "publication";

/// Most characters of a case's facility reference.
pub const MAX_REFERENCE_LEN: usize = 64;

/// The randomness the workflow draws from: the OS generator in the server, a seeded one in the
/// simulator and tests.
pub type WorkflowRng = Box<dyn CryptoRng + Send>;

/// What the workflow is configured with (the parts of [`Config`] it uses).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Lifetime of a declaration code, seconds.
    pub code_ttl_seconds: u64,
    /// Lifetime of a session, seconds.
    pub session_ttl_seconds: u64,
    /// Target false-positive rate of the batch filters.
    pub filter_target_fp_rate: f64,
    /// Dummy entries round batch sizes up to a multiple of this.
    pub dummy_quantum: u32,
    /// Where `index.bin` and `batches/` are written.
    pub publication_dir: PathBuf,
    /// Throttle figures.
    pub throttle: ThrottleConfig,
    /// The units.
    pub units: Vec<Unit>,
    /// The risk rule reports are rescored with.
    pub risk_rule: RiskRule,
}

impl Settings {
    /// The settings of a configuration whose units are already validated.
    pub fn from_config(config: &Config, units: Vec<Unit>) -> Settings {
        Settings {
            code_ttl_seconds: config.code_ttl_seconds,
            session_ttl_seconds: config.session_ttl_seconds,
            filter_target_fp_rate: config.filter_target_fp_rate,
            dummy_quantum: config.dummy_quantum,
            publication_dir: config.data_dir.join(PUBLICATION_DIR),
            throttle: config.throttle,
            units,
            risk_rule: RiskRule::default(),
        }
    }
}

/// Who is calling: an authenticated health worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub username: String,
    /// Its role.
    pub role: Role,
}

/// A successful login.
#[derive(Clone, Debug, Serialize)]
pub struct LoginOutcome {
    /// The bearer token (64 hex characters). Only its SHA-256 is stored.
    pub token: String,
    /// When it expires.
    pub expires_at: Seconds,
}

/// A newly opened case and its declaration code, shown once to the health worker.
#[derive(Clone, Debug)]
pub struct OpenedCase {
    /// The case.
    pub case: CaseRecord,
    /// The code to give the patient (`XXXX-XXXX-XXXX-C`).
    pub code: String,
}

/// What the phone learns from an accepted report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportOutcome {
    /// Always true: a report that does not verify is an error.
    pub verified: bool,
    /// F1 rows it created (one per F0 case it met).
    pub rows: usize,
}

struct Throttles {
    login_account: Throttle<String>,
    login_client: Throttle<IpAddr>,
    code_client: Throttle<IpAddr>,
    code_global: Throttle<()>,
}

const THROTTLE_MAX_KEYS: usize = 100_000;

/// The workflow: the store, the in-memory indexes, the publisher key and the throttles.
pub struct Workflow {
    store: Box<dyn Store>,
    settings: Settings,
    publisher: PublisherKeyPair,
    code_key: hmac::Key,
    index: RwLock<PublicationIndex>,
    index_key: [u8; 32],
    history: RwLock<ContactHistoryStore>,
    throttles: Mutex<Throttles>,
    publication: Mutex<()>,
    /// Held while `index.bin` is rebuilt and written: the hourly purge writes it outside the
    /// publication lock, and two writers would share one temporary file.
    index_file: Mutex<()>,
    rng: Mutex<WorkflowRng>,
    dummy_password: PasswordHash,
    /// Counters and latencies for `/metrics`.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Valid account names: 1 to 64 characters of `a-z 0-9 . _ -`.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn uploaded_keys(upload: &UploadRecord) -> Result<Vec<UploadedKey>, ApiError> {
    upload
        .keys
        .iter()
        .map(|k| {
            let key = DailyKey::new(k.key, IntervalNumber(k.rolling_start), k.rolling_period)
                .map_err(|e| {
                    ApiError::from(StoreError::Corrupt(format!(
                        "case {}: stored key: {e}",
                        upload.case_id
                    )))
                })?;
            Ok(UploadedKey {
                key,
                published: PublishedIntervals::from_bytes(k.published),
            })
        })
        .collect()
}

/// Write `bytes` to `path` so that a reader sees the old file or the new one, never a part:
/// a temporary file, synced, renamed over the old one, and the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

impl Workflow {
    /// Open the workflow on `store`: load or create the server secrets, rebuild the
    /// verification index and the contact-history store, and, if there is no account yet,
    /// create `admin` with a random password, returned here to be shown once.
    pub fn open(
        store: Box<dyn Store>,
        settings: Settings,
        publisher: PublisherKeyPair,
        mut rng: WorkflowRng,
        now: Seconds,
    ) -> Result<(Workflow, Option<String>), ApiError> {
        let mut draw = || {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            b
        };
        let code_secret = store.secret("declaration-codes", &mut draw)?;
        let history_secret = store.secret("contact-history", &mut draw)?;
        let index_key = draw();
        let dummy_password = PasswordHash::new("not a password of anyone", &mut rng)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let t = settings.throttle;
        let throttles = Throttles {
            login_account: Throttle::new(
                t.login_failures_per_account,
                t.login_window_seconds,
                THROTTLE_MAX_KEYS,
            ),
            login_client: Throttle::new(
                t.login_failures_per_client,
                t.login_window_seconds,
                THROTTLE_MAX_KEYS,
            ),
            code_client: Throttle::new(
                t.code_failures_per_client,
                t.code_window_seconds,
                THROTTLE_MAX_KEYS,
            ),
            code_global: Throttle::new(t.code_failures_global, t.code_window_seconds, 1),
        };
        let workflow = Workflow {
            store,
            settings,
            publisher,
            code_key: hmac::Key::new(hmac::HMAC_SHA256, &code_secret),
            index: RwLock::new(PublicationIndex::new(index_key)),
            index_key,
            history: RwLock::new(ContactHistoryStore::new(&history_secret)),
            throttles: Mutex::new(throttles),
            publication: Mutex::new(()),
            index_file: Mutex::new(()),
            rng: Mutex::new(rng),
            dummy_password,
            metrics: Metrics::default(),
        };
        workflow.rebuild_index()?;
        {
            let mut history = write(&workflow.history);
            for (case, hashes) in workflow.store.contact_hashes()? {
                history.store_hashes(
                    CaseId(case),
                    hashes.into_iter().map(|(h, t)| (h, UnixTime(t))),
                );
            }
        }
        let admin_password = if workflow.store.accounts()?.is_empty() {
            let password = workflow.random_password();
            let hash = PasswordHash::new(&password, &mut *lock(&workflow.rng))
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
            workflow.store.insert_account(&Account {
                username: "admin".into(),
                role: Role::Admin,
                password: hash,
                created_at: now,
                disabled: false,
            })?;
            Some(password)
        } else {
            None
        };
        workflow.write_publication_index(now)?;
        Ok((workflow, admin_password))
    }

    fn random_password(&self) -> String {
        // 20 characters of Crockford base32: 100 bits.
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
        let mut bytes = [0u8; 20];
        lock(&self.rng).fill_bytes(&mut bytes);
        bytes
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect()
    }

    fn rebuild_index(&self) -> Result<(), ApiError> {
        let mut fresh = PublicationIndex::new(self.index_key);
        for (upload, published_at) in self.store.published_uploads()? {
            let keys = uploaded_keys(&upload)?;
            fresh
                .publish_keys(&keys, CaseId(upload.case_id), UnixTime(published_at))
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        }
        *write(&self.index) = fresh;
        Ok(())
    }

    /// The store (for tests and tools).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The publisher's public key, which phones pin.
    pub fn publisher_key(&self) -> bluezone_protocol::PublisherPublicKey {
        self.publisher.public_key()
    }

    /// RPIs in the verification index.
    pub fn index_len(&self) -> usize {
        read(&self.index).len()
    }

    // ---- step 1: accounts and sessions ----

    /// Log in: check the throttles, then the password; open a session.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
        now: Seconds,
    ) -> Result<LoginOutcome, ApiError> {
        {
            // Check, and count the attempt as a failure at once (refunded if the password is
            // right), under one lock: parallel attempts cannot all pass the check.
            let mut t = lock(&self.throttles);
            let account_check = t.login_account.check(&username.to_owned(), now);
            let client_check = t.login_client.check(&client, now);
            if let Err(wait) = account_check.and(client_check) {
                return Err(ApiError {
                    retry_after: Some(wait.seconds),
                    ..ApiError::new(ErrorCode::LoginThrottled, "too many failed logins; wait")
                });
            }
            t.login_account.record_failure(username.to_owned(), now);
            t.login_client.record_failure(client, now);
        }
        let account = self.store.account(username)?;
        let ok = match &account {
            Some(a) => a.password.verify(password) && !a.disabled,
            None => {
                // Same work as for a real account, so timing does not tell which names exist.
                let _ = self.dummy_password.verify(password);
                false
            }
        };
        if !ok {
            Metrics::inc(&self.metrics.login_failures);
            return Err(ApiError::new(
                ErrorCode::LoginFailed,
                "wrong user name or password",
            ));
        }
        {
            let mut t = lock(&self.throttles);
            t.login_account.clear(&username.to_owned());
            t.login_client.refund(&client);
        }
        let mut token = [0u8; 32];
        lock(&self.rng).fill_bytes(&mut token);
        let expires_at = now + self.settings.session_ttl_seconds;
        self.store.insert_session(&SessionRecord {
            token_hash: sha256(&token),
            username: username.to_owned(),
            created_at: now,
            expires_at,
        })?;
        Ok(LoginOutcome {
            token: hex::encode(token),
            expires_at,
        })
    }

    fn token_hash(token: &str) -> Result<[u8; 32], ApiError> {
        let invalid = || ApiError::new(ErrorCode::SessionInvalid, "unknown or expired session");
        let bytes = hex::decode(token).map_err(|_| invalid())?;
        if bytes.len() != 32 {
            return Err(invalid());
        }
        Ok(sha256(&bytes))
    }

    /// The principal of a bearer token.
    pub fn authenticate(&self, token: &str, now: Seconds) -> Result<Principal, ApiError> {
        let invalid = || ApiError::new(ErrorCode::SessionInvalid, "unknown or expired session");
        let session = self
            .store
            .session(&Self::token_hash(token)?)?
            .ok_or_else(invalid)?;
        if session.expires_at <= now {
            return Err(invalid());
        }
        let account = self
            .store
            .account(&session.username)?
            .filter(|a| !a.disabled)
            .ok_or_else(invalid)?;
        Ok(Principal {
            username: account.username,
            role: account.role,
        })
    }

    /// End the session of a bearer token.
    pub fn logout(&self, token: &str) -> Result<(), ApiError> {
        self.store.delete_session(&Self::token_hash(token)?)?;
        Ok(())
    }

    fn require_admin(principal: &Principal) -> Result<(), ApiError> {
        match principal.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::new(ErrorCode::ForbiddenRole, "admins only")),
        }
    }

    fn require_facility(principal: &Principal) -> Result<(), ApiError> {
        match principal.role {
            Role::TreatmentFacility => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::ForbiddenRole,
                "treatment-facility health workers only",
            )),
        }
    }

    fn require_unit(&self, principal: &Principal) -> Result<&Unit, ApiError> {
        match &principal.role {
            Role::PreventiveUnit { unit } => self
                .settings
                .units
                .iter()
                .find(|u| &u.name == unit)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::UnknownUnit,
                        format!("unit {unit} is no longer configured"),
                    )
                }),
            _ => Err(ApiError::new(
                ErrorCode::ForbiddenRole,
                "preventive-medicine unit workers only",
            )),
        }
    }

    /// Create an account (admins only).
    pub fn create_account(
        &self,
        principal: &Principal,
        username: &str,
        password: &str,
        role: Role,
        now: Seconds,
    ) -> Result<Account, ApiError> {
        Self::require_admin(principal)?;
        if !valid_username(username) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "user names are 1 to 64 characters of a-z 0-9 . _ -",
            ));
        }
        if let Role::PreventiveUnit { unit } = &role
            && !self.settings.units.iter().any(|u| &u.name == unit)
        {
            return Err(ApiError::new(
                ErrorCode::UnknownUnit,
                format!("no unit {unit} in the configuration"),
            ));
        }
        let hash = PasswordHash::new(password, &mut *lock(&self.rng))
            .map_err(|e| ApiError::new(ErrorCode::PasswordRejected, e.to_string()))?;
        let account = Account {
            username: username.to_owned(),
            role,
            password: hash,
            created_at: now,
            disabled: false,
        };
        self.store.insert_account(&account)?;
        Ok(account)
    }

    /// Every account (admins only).
    pub fn accounts(&self, principal: &Principal) -> Result<Vec<Account>, ApiError> {
        Self::require_admin(principal)?;
        Ok(self.store.accounts()?)
    }

    /// Change one's own password, proving the current one.
    pub fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let mut account = self
            .store
            .account(&principal.username)?
            .ok_or_else(|| ApiError::new(ErrorCode::SessionInvalid, "no such account"))?;
        if !account.password.verify(current) {
            return Err(ApiError::new(
                ErrorCode::LoginFailed,
                "the current password is wrong",
            ));
        }
        account.password = PasswordHash::new(new, &mut *lock(&self.rng))
            .map_err(|e| ApiError::new(ErrorCode::PasswordRejected, e.to_string()))?;
        self.store.update_account(&account)?;
        Ok(())
    }

    // ---- step 2: F0 cases and declaration codes ----

    fn code_hash(&self, canonical: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&self.code_key, canonical.as_bytes()).as_ref());
        out
    }

    /// Open an F0 case and issue its declaration code (treatment facilities only).
    ///
    /// The store keeps only HMAC-SHA256(server secret, code). An upload's code is looked up by
    /// that keyed hash, so the lookup's timing depends on hash values an attacker cannot
    /// relate to the code typed, never on how many characters of a real code were right.
    pub fn open_case(
        &self,
        principal: &Principal,
        reference: &str,
        now: Seconds,
    ) -> Result<OpenedCase, ApiError> {
        Self::require_facility(principal)?;
        if reference.chars().count() > MAX_REFERENCE_LEN || reference.chars().any(char::is_control)
        {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("reference: at most {MAX_REFERENCE_LEN} characters, no control characters"),
            ));
        }
        let issued = IssuedCode::generate(&mut *lock(&self.rng));
        let code_expires_at = now + self.settings.code_ttl_seconds;
        let mut case = CaseRecord {
            case_id: 0,
            reference: reference.to_owned(),
            opened_by: principal.username.clone(),
            opened_at: now,
            code_expires_at,
            status: CaseStatus::AwaitingUpload,
            f1_rows: 0,
        };
        case.case_id = self
            .store
            .open_case(&case, &self.code_hash(&issued.canonical()))?;
        Ok(OpenedCase {
            case,
            code: issued.display().to_owned(),
        })
    }

    /// Every case (treatment facilities and admins).
    pub fn cases(&self, principal: &Principal) -> Result<Vec<CaseRecord>, ApiError> {
        if principal.role != Role::Admin {
            Self::require_facility(principal)?;
        }
        Ok(self.store.cases()?)
    }

    /// One case (treatment facilities and admins).
    pub fn case(&self, principal: &Principal, case_id: u64) -> Result<CaseRecord, ApiError> {
        if principal.role != Role::Admin {
            Self::require_facility(principal)?;
        }
        self.store
            .case(case_id)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no case {case_id}")))
    }

    // ---- step 3: the F0 upload ----

    /// Accept an F0 upload (SPEC.md §7) from `client`: parse, validate, consume its declaration
    /// code, keep the daily keys and the contact history's keyed hashes. Returns the case id.
    ///
    /// Wrong codes count against the client's and the global throttle; while either is
    /// exhausted every upload is refused with `declaration_code_throttled` before its code is
    /// looked at.
    pub fn accept_upload(
        &self,
        bytes: &[u8],
        client: IpAddr,
        now: Seconds,
    ) -> Result<u64, ApiError> {
        {
            // Check, and count the attempt as a wrong code at once (refunded below unless it
            // is one), under one lock: parallel guesses cannot all pass the check.
            let mut t = lock(&self.throttles);
            let checks = t
                .code_client
                .check(&client, now)
                .and(t.code_global.check(&(), now));
            if let Err(wait) = checks {
                Metrics::inc(&self.metrics.uploads_refused);
                return Err(ApiError {
                    retry_after: Some(wait.seconds),
                    ..ApiError::new(
                        ErrorCode::DeclarationCodeThrottled,
                        "too many wrong declaration codes; wait",
                    )
                });
            }
            t.code_client.record_failure(client, now);
            t.code_global.record_failure((), now);
        }
        let result = self.accept_upload_inner(bytes, now);
        let wrong_code = matches!(
            &result,
            Err(ApiError {
                code: ErrorCode::DeclarationCodeInvalid
                    | ErrorCode::DeclarationCodeUsed
                    | ErrorCode::DeclarationCodeExpired,
                ..
            })
        );
        if wrong_code {
            Metrics::inc(&self.metrics.code_failures);
        } else {
            let mut t = lock(&self.throttles);
            t.code_client.refund(&client);
            t.code_global.refund(&());
        }
        match &result {
            Ok(_) => Metrics::inc(&self.metrics.uploads_accepted),
            Err(_) => Metrics::inc(&self.metrics.uploads_refused),
        }
        result
    }

    fn accept_upload_inner(&self, bytes: &[u8], now: Seconds) -> Result<u64, ApiError> {
        let upload = F0Upload::parse(bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedUpload, e.to_string()))?;
        let canonical = code::normalize(upload.code.as_str())
            .map_err(|e| ApiError::new(ErrorCode::DeclarationCodeInvalid, e.to_string()))?;
        upload
            .validate(UnixTime(now))
            .map_err(|e| ApiError::new(ErrorCode::UploadRejected, e.to_string()))?;
        let keys: Vec<StoredKey> = upload
            .keys
            .iter()
            .map(|k| StoredKey {
                key: *k.key.key_bytes(),
                rolling_start: k.key.rolling_start().0,
                rolling_period: k.key.rolling_period(),
                published: *k.published.as_bytes(),
            })
            .collect();
        let oldest = now.saturating_sub(RETENTION_SECONDS);
        let hashes: Vec<ContactHash> = {
            let history = read(&self.history);
            upload
                .contact_history
                .iter()
                .filter(|s| s.last_seen.0 > oldest)
                .map(|s| (history.keyed_hash(&s.rpi), s.last_seen.0))
                .collect()
        };
        let case_id = self
            .store
            .accept_upload(&self.code_hash(&canonical), now, &keys, &hashes)?;
        write(&self.history).store_hashes(
            CaseId(case_id),
            hashes.into_iter().map(|(h, t)| (h, UnixTime(t))),
        );
        Ok(case_id)
    }

    // ---- step 4: Trace F1 and publication ----

    /// "Trace F1": put a case whose upload was received into the next batch.
    pub fn request_trace(
        &self,
        principal: &Principal,
        case_id: u64,
        now: Seconds,
    ) -> Result<CaseRecord, ApiError> {
        Self::require_facility(principal)?;
        Ok(self
            .store
            .request_trace(case_id, &principal.username, now)?)
    }

    /// Build a batch of every case waiting for publication, write it and a new index out, and
    /// record it. Returns `None` when no case is waiting. One runs at a time.
    pub fn publish(&self, now: Seconds) -> Result<Option<BatchRecord>, ApiError> {
        let _one_at_a_time = lock(&self.publication);
        let uploads = self.store.uploads_to_publish()?;
        if uploads.is_empty() {
            return Ok(None);
        }
        let batch_id = self.store.next_batch_id()?;
        let mut entries = Vec::new();
        {
            let mut index = write(&self.index);
            for upload in &uploads {
                let keys = uploaded_keys(upload)?;
                let published = index
                    .publish_keys(&keys, CaseId(upload.case_id), UnixTime(now))
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()));
                match published {
                    Ok(mut e) => entries.append(&mut e),
                    Err(e) => {
                        drop(index);
                        self.rebuild_index()?;
                        return Err(e);
                    }
                }
            }
        }
        let result = self.write_batch(batch_id, &entries, &uploads, now);
        if result.is_err() {
            // The index holds RPIs of a batch that was never recorded: start it again from
            // what the store says is published.
            self.rebuild_index()?;
        }
        let record = result?;
        Metrics::inc(&self.metrics.batches);
        self.metrics.published_rpis.fetch_add(
            u64::from(record.published_rpis),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.metrics.last_batch_bytes.store(
            u64::from(record.byte_len),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.metrics.last_batch_entries.store(
            u64::from(record.entry_count),
            std::sync::atomic::Ordering::Relaxed,
        );
        if let Err(e) = self.write_publication_index(now) {
            tracing::error!(error = %e, "batch recorded but index not written; retried at the next run");
        }
        tracing::info!(
            batch_id,
            cases = record.cases.len(),
            rpis = record.published_rpis,
            bytes = record.byte_len,
            "publication batch built"
        );
        Ok(Some(record))
    }

    fn write_batch(
        &self,
        batch_id: u64,
        entries: &[bluezone_protocol::PublishedEntry],
        uploads: &[UploadRecord],
        now: Seconds,
    ) -> Result<BatchRecord, ApiError> {
        let spec = BatchSpec {
            batch_id,
            region: 0,
            created_at: UnixTime(now),
            target_fp_rate: self.settings.filter_target_fp_rate,
            dummy_quantum: self.settings.dummy_quantum,
        };
        let (batch, bytes) =
            PublicationBatch::build(entries, &spec, &self.publisher, &mut *lock(&self.rng))
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let path = self.batch_path(batch_id);
        write_atomically(&path, &bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::StorageFailure,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        let described = BatchIndexEntry::describe(&batch, &bytes);
        let record = BatchRecord {
            batch_id,
            region: batch.region,
            created_at: now,
            first_interval: batch.first_interval.0,
            last_interval: batch.last_interval.0,
            entry_count: batch.entry_count,
            published_rpis: entries.len() as u32,
            byte_len: described.byte_len,
            sha256: described.sha256,
            cases: uploads.iter().map(|u| u.case_id).collect(),
        };
        self.store.record_batch(&record)?;
        Ok(record)
    }

    /// Where batch `batch_id` is written.
    pub fn batch_path(&self, batch_id: u64) -> PathBuf {
        self.settings
            .publication_dir
            .join("batches")
            .join(format!("{batch_id}.bin"))
    }

    /// Where the batch index is written.
    pub fn index_path(&self) -> PathBuf {
        self.settings.publication_dir.join("index.bin")
    }

    /// Write the signed index of the batches of the last 14 days.
    pub fn write_publication_index(&self, now: Seconds) -> Result<(), ApiError> {
        // One writer at a time, from reading the batches to the rename: the last index written
        // is then built from the latest batches.
        let _one_at_a_time = lock(&self.index_file);
        let oldest = now.saturating_sub(RETENTION_SECONDS);
        let entries = self
            .store
            .batches()?
            .into_iter()
            .filter(|b| b.created_at >= oldest)
            .map(|b| BatchIndexEntry {
                batch_id: b.batch_id,
                region: b.region,
                created_at: UnixTime(b.created_at),
                first_interval: IntervalNumber(b.first_interval),
                last_interval: IntervalNumber(b.last_interval),
                byte_len: b.byte_len,
                entry_count: b.entry_count,
                sha256: b.sha256,
            })
            .collect();
        let index = BatchIndex {
            generated_at: UnixTime(now),
            entries,
        };
        let bytes = index
            .to_bytes(&self.publisher)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let path = self.index_path();
        write_atomically(&path, &bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::StorageFailure,
                format!("cannot write {}: {e}", path.display()),
            )
        })
    }

    // ---- steps 5 and 6: F1 reports and the F1 table ----

    /// Accept an F1 report (SPEC.md §10): parse, verify exactly against the published keys and
    /// the F0s' contact histories, keep one row per case it verifies for.
    pub fn accept_report(&self, bytes: &[u8], now: Seconds) -> Result<ReportOutcome, ApiError> {
        let result = self.accept_report_inner(bytes, now);
        match &result {
            Ok(_) => Metrics::inc(&self.metrics.reports_verified),
            Err(_) => Metrics::inc(&self.metrics.reports_refused),
        }
        result
    }

    fn accept_report_inner(&self, bytes: &[u8], now: Seconds) -> Result<ReportOutcome, ApiError> {
        let report = F1Report::parse(bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedReport, e.to_string()))?;
        if !self
            .settings
            .units
            .iter()
            .any(|u| u.districts.contains(&report.district))
        {
            return Err(ApiError::new(
                ErrorCode::ReportRejected,
                format!("no unit covers district {}", report.district),
            ));
        }
        let seen = self.store.report_seen(&report.report_id.0)?;
        let verification = {
            let index = read(&self.index);
            let history = read(&self.history);
            verify_report(&report, &index, &history, &self.settings.risk_rule, |_| {
                seen
            })
        };
        let verification = verification.map_err(|e| match e {
            VerifyError::DuplicateReport(_) => {
                ApiError::new(ErrorCode::ReportDuplicate, e.to_string())
            }
            other => ApiError::new(ErrorCode::ReportRejected, other.to_string()),
        })?;
        let rows: Vec<F1RowRecord> = verification
            .rows
            .iter()
            .map(|row| F1RowRecord {
                case_id: row.case.0,
                row_no: 0,
                report_id: row.report_id.0,
                district: row.district,
                received_at: now,
                first_contact: row.first_contact.0,
                last_contact: row.last_contact.0,
                duration_seconds: row.duration_seconds,
                min_attenuation_db: row.min_attenuation_db,
                weighted_minutes: row.weighted_minutes,
                confirmation: match row.confirmation {
                    Confirmation::ConfirmedBothWays => ConfirmationRecord::ConfirmedBothWays,
                    Confirmation::OneSided => ConfirmationRecord::OneSided,
                },
                sealed_contact: row.contact.0.to_vec(),
                follow_up: FollowUp {
                    status: FollowUpStatus::New,
                    updated_at: now,
                    updated_by: String::new(),
                },
            })
            .collect();
        let stored = self.store.record_report(&report.report_id.0, now, rows)?;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        self.metrics.f1_rows.fetch_add(stored.len() as u64, relaxed);
        self.metrics
            .sightings_unverified
            .fetch_add(verification.rejected.len() as u64, relaxed);
        for row in &stored {
            match row.confirmation {
                ConfirmationRecord::ConfirmedBothWays => {
                    Metrics::inc(&self.metrics.confirmed_both_ways)
                }
                ConfirmationRecord::OneSided => Metrics::inc(&self.metrics.one_sided),
            }
        }
        Ok(ReportOutcome {
            verified: true,
            rows: stored.len(),
        })
    }

    /// The F1 table of a case (treatment facilities and admins).
    pub fn f1_table(
        &self,
        principal: &Principal,
        case_id: u64,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        self.case(principal, case_id)?;
        Ok(self.store.f1_rows(case_id)?)
    }

    // ---- step 7: routing to preventive-medicine units ----

    /// The unit of `principal`, if it is `unit_name`: a unit's worker acts for that unit only.
    pub fn unit_rows_guard(
        &self,
        principal: &Principal,
        unit_name: &str,
    ) -> Result<&Unit, ApiError> {
        let unit = self.require_unit(principal)?;
        if unit.name != unit_name {
            return Err(ApiError::new(
                ErrorCode::ForbiddenDistrict,
                format!("unit {unit_name} is not yours"),
            ));
        }
        Ok(unit)
    }

    /// The F1 rows of unit `unit_name`'s districts: only that unit's own workers may list them.
    pub fn unit_rows(
        &self,
        principal: &Principal,
        unit_name: &str,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        let unit = self.unit_rows_guard(principal, unit_name)?;
        Ok(self.store.f1_rows_of_districts(&unit.districts)?)
    }

    /// Record the follow-up of a row in one of the unit's districts.
    pub fn set_follow_up(
        &self,
        principal: &Principal,
        case_id: u64,
        row_no: u32,
        status: FollowUpStatus,
        now: Seconds,
    ) -> Result<F1RowRecord, ApiError> {
        let unit = self.require_unit(principal)?;
        let not_found = || {
            ApiError::new(
                ErrorCode::NotFound,
                format!("case {case_id} has no F1 row {row_no}"),
            )
        };
        let row = self.store.f1_row(case_id, row_no)?.ok_or_else(not_found)?;
        if !unit.districts.contains(&row.district) {
            return Err(ApiError::new(
                ErrorCode::ForbiddenDistrict,
                format!(
                    "district {} is not covered by unit {}",
                    row.district, unit.name
                ),
            ));
        }
        Ok(self.store.set_follow_up(
            case_id,
            row_no,
            &FollowUp {
                status,
                updated_at: now,
                updated_by: principal.username.clone(),
            },
        )?)
    }

    /// Erase what retention no longer allows: expired sessions, contact hashes older than 14
    /// days, index entries and stored keys past their use.
    pub fn purge(&self, now: Seconds) -> Result<u64, ApiError> {
        let removed = self.store.purge(now)?;
        write(&self.history).purge(UnixTime(now));
        write(&self.index).expire(UnixTime(now));
        Ok(removed)
    }

    /// Admin: run publication now.
    pub fn publish_on_demand(
        &self,
        principal: &Principal,
        now: Seconds,
    ) -> Result<Option<BatchRecord>, ApiError> {
        Self::require_admin(principal)?;
        self.publish(now)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bluezone_protocol::hpke::derive_keypair;
    use bluezone_protocol::{
        ContactDetails, DEFAULT_TARGET_FP_RATE, DeclarationCode, Phone, PhoneConfig, UnixTime,
    };
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::store::SledStore;

    const NOW: Seconds = 1_700_000_000;
    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const PUBLISHER_SEED: [u8; 32] = [7; 32];

    fn settings(dir: &Path) -> Settings {
        let unit = |name: &str, districts: Vec<u32>| Unit {
            name: name.into(),
            districts,
            public_key: derive_keypair(format!("unit {name}").as_bytes()).1,
        };
        Settings {
            code_ttl_seconds: 86_400,
            session_ttl_seconds: 12 * 3600,
            filter_target_fp_rate: DEFAULT_TARGET_FP_RATE,
            dummy_quantum: 0,
            publication_dir: dir.join(PUBLICATION_DIR),
            throttle: ThrottleConfig::default(),
            units: vec![unit("north", vec![1]), unit("south", vec![2])],
            risk_rule: RiskRule::default(),
        }
    }

    fn open(dir: &Path) -> (Workflow, Option<String>) {
        let store = SledStore::open(&dir.join("store")).unwrap();
        Workflow::open(
            Box::new(store),
            settings(dir),
            PublisherKeyPair::from_seed(PUBLISHER_SEED).unwrap(),
            Box::new(ChaCha20Rng::seed_from_u64(1)),
            NOW,
        )
        .unwrap()
    }

    fn principal(username: &str, role: Role) -> Principal {
        Principal {
            username: username.into(),
            role,
        }
    }

    fn admin() -> Principal {
        principal("admin", Role::Admin)
    }

    fn doctor() -> Principal {
        principal("doctor", Role::TreatmentFacility)
    }

    fn worker(unit: &str) -> Principal {
        principal(
            &format!("{unit}-worker"),
            Role::PreventiveUnit { unit: unit.into() },
        )
    }

    fn code_of(e: Result<impl std::fmt::Debug, ApiError>) -> ErrorCode {
        match e {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.code,
        }
    }

    /// Two phones that heard each other every 5 minutes for half an hour, three hours ago.
    fn phones(rng: &mut ChaCha20Rng) -> Vec<Phone> {
        let mut phones = vec![
            Phone::new(PhoneConfig::default()),
            Phone::new(PhoneConfig::default()),
        ];
        let from = NOW - 3 * 3600;
        for t in (from..from + 1800).step_by(300) {
            let sent: Vec<[u8; 20]> = phones
                .iter_mut()
                .map(|p| p.broadcast(UnixTime(t), rng).advertisement.to_bytes())
                .collect();
            phones[0].hear(&sent[1], -55, UnixTime(t)).unwrap();
            phones[1].hear(&sent[0], -55, UnixTime(t)).unwrap();
        }
        phones
    }

    /// The F0 upload of `phone` with `code`, for the last two days.
    fn upload(phone: &mut Phone, code: &str, rng: &mut ChaCha20Rng) -> bluezone_protocol::F0Upload {
        phone
            .prepare_f0_upload(
                DeclarationCode::new(code).unwrap(),
                UnixTime(NOW - 2 * 86_400),
                &[],
                UnixTime(NOW),
                rng,
            )
            .unwrap()
    }

    fn batch_files(workflow: &Workflow) -> Vec<PathBuf> {
        match fs::read_dir(workflow.settings().publication_dir.join("batches")) {
            Ok(dir) => dir.map(|e| e.unwrap().path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn first_open_creates_an_admin_whose_password_logs_in() {
        let dir = tempfile::tempdir().unwrap();
        let (workflow, password) = open(dir.path());
        let password = password.expect("first open creates admin");
        assert_eq!(password.len(), 20);
        let wrong = workflow.login("admin", "not the password at all", CLIENT, NOW);
        assert_eq!(code_of(wrong), ErrorCode::LoginFailed);
        let session = workflow.login("admin", &password, CLIENT, NOW).unwrap();
        assert_eq!(session.expires_at, NOW + 12 * 3600);
        assert_eq!(
            workflow.authenticate(&session.token, NOW + 60).unwrap(),
            admin()
        );
        assert_eq!(
            code_of(workflow.authenticate(&session.token, session.expires_at)),
            ErrorCode::SessionInvalid
        );
        let accounts = workflow.store().accounts().unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].role, Role::Admin);
        drop(workflow);

        let (workflow, again) = open(dir.path());
        assert_eq!(again, None);
        // The same admin, not a new one, and the session of before the restart still works.
        assert_eq!(workflow.store().accounts().unwrap(), accounts);
        assert_eq!(
            workflow.authenticate(&session.token, NOW + 60).unwrap(),
            admin()
        );
        workflow.logout(&session.token).unwrap();
        assert_eq!(
            code_of(workflow.authenticate(&session.token, NOW + 60)),
            ErrorCode::SessionInvalid
        );
    }

    #[test]
    fn each_role_may_do_only_its_own_steps() {
        let dir = tempfile::tempdir().unwrap();
        let (workflow, _) = open(dir.path());
        let doctor = doctor();
        let north = worker("north");
        let password = "correct horse battery staple";

        let forbidden = ErrorCode::ForbiddenRole;
        let facility_account = Role::TreatmentFacility;
        assert_eq!(
            code_of(workflow.create_account(&doctor, "eve", password, facility_account, NOW)),
            forbidden
        );
        assert_eq!(code_of(workflow.publish_on_demand(&doctor, NOW)), forbidden);
        assert_eq!(code_of(workflow.accounts(&doctor)), forbidden);
        assert_eq!(code_of(workflow.unit_rows(&doctor, "north")), forbidden);
        assert_eq!(code_of(workflow.open_case(&north, "HN-1", NOW)), forbidden);
        assert_eq!(
            code_of(workflow.open_case(&admin(), "HN-1", NOW)),
            forbidden
        );
        assert_eq!(code_of(workflow.cases(&north)), forbidden);
        assert_eq!(code_of(workflow.request_trace(&north, 1, NOW)), forbidden);
        assert_eq!(code_of(workflow.publish_on_demand(&north, NOW)), forbidden);
        assert_eq!(
            code_of(workflow.unit_rows(&north, "south")),
            ErrorCode::ForbiddenDistrict
        );
        assert_eq!(
            code_of(workflow.unit_rows(&worker("gone"), "gone")),
            ErrorCode::UnknownUnit
        );
        let unknown_unit = Role::PreventiveUnit {
            unit: "east".into(),
        };
        assert_eq!(
            code_of(workflow.create_account(&admin(), "east-worker", password, unknown_unit, NOW)),
            ErrorCode::UnknownUnit
        );
        assert_eq!(
            code_of(workflow.create_account(&admin(), "Eve!", password, Role::Admin, NOW)),
            ErrorCode::BadRequest
        );
        // Nothing was created by the refusals.
        assert_eq!(workflow.store().counts().unwrap().accounts, 1);
        assert_eq!(workflow.store().counts().unwrap().cases, 0);

        // What each may do.
        let opened = workflow.open_case(&doctor, "HN-1", NOW).unwrap();
        assert_eq!(opened.case.case_id, 1);
        assert_eq!(opened.case.status, CaseStatus::AwaitingUpload);
        assert_eq!(opened.case.code_expires_at, NOW + 86_400);
        assert!(code::normalize(&opened.code).is_ok());
        assert_eq!(workflow.cases(&doctor).unwrap(), vec![opened.case.clone()]);
        assert_eq!(workflow.case(&admin(), 1).unwrap(), opened.case);
        assert_eq!(code_of(workflow.case(&doctor, 2)), ErrorCode::NotFound);
        // Tracing before the upload is refused.
        assert_eq!(
            code_of(workflow.request_trace(&doctor, 1, NOW)),
            ErrorCode::CaseNotReady
        );
        assert!(workflow.unit_rows(&north, "north").unwrap().is_empty());
        assert_eq!(workflow.publish_on_demand(&admin(), NOW).unwrap(), None);
        assert_eq!(workflow.accounts(&admin()).unwrap().len(), 1);
    }

    #[test]
    fn publish_writes_a_signed_batch_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let (workflow, _) = open(dir.path());
        let publisher = PublisherKeyPair::from_seed(PUBLISHER_SEED)
            .unwrap()
            .public_key();
        assert_eq!(workflow.publisher_key(), publisher);
        let read_index = |w: &Workflow| {
            BatchIndex::open(&fs::read(w.index_path()).unwrap(), &publisher).unwrap()
        };
        assert!(read_index(&workflow).entries.is_empty());

        // Nothing waiting: no batch.
        assert_eq!(workflow.publish(NOW).unwrap(), None);
        assert!(batch_files(&workflow).is_empty());

        // A case whose upload arrived but was not traced is not published either.
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut phones = phones(&mut rng);
        let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
        let f0 = upload(&mut phones[0], &opened.code, &mut rng);
        let case_id = workflow
            .accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW)
            .unwrap();
        assert_eq!(workflow.publish(NOW).unwrap(), None);
        assert!(batch_files(&workflow).is_empty());

        let traced = workflow
            .request_trace(&doctor(), case_id, NOW + 10)
            .unwrap();
        assert!(matches!(traced.status, CaseStatus::TraceRequested { .. }));
        let record = workflow.publish(NOW + 20).unwrap().expect("a batch");
        assert_eq!(record.batch_id, 1);
        assert_eq!(record.cases, vec![case_id]);
        assert_eq!(record.published_rpis as usize, f0.published_count());
        assert!(record.published_rpis > 0);
        assert_eq!(batch_files(&workflow), vec![workflow.batch_path(1)]);
        assert!(
            workflow
                .batch_path(1)
                .ends_with("publication/batches/1.bin")
        );

        let bytes = fs::read(workflow.batch_path(1)).unwrap();
        let batch = PublicationBatch::open(&bytes, &publisher).unwrap();
        assert_eq!(batch.batch_id, 1);
        assert_eq!(batch.created_at, UnixTime(NOW + 20));
        assert_eq!(batch.entry_count, record.entry_count);
        assert_eq!(record.byte_len as usize, bytes.len());
        assert_eq!(record.sha256, sha256(&bytes));
        // Signed by this publisher only.
        let other = PublisherKeyPair::from_seed([8; 32]).unwrap().public_key();
        assert!(PublicationBatch::open(&bytes, &other).is_err());

        let index = read_index(&workflow);
        assert_eq!(index.generated_at, UnixTime(NOW + 20));
        assert_eq!(index.entries.len(), 1);
        let entry = &index.entries[0];
        assert_eq!(entry.batch_id, 1);
        assert_eq!(entry.sha256, sha256(&bytes));
        assert_eq!(entry.byte_len as usize, bytes.len());
        assert_eq!(entry.entry_count, batch.entry_count);
        entry.check(&bytes).unwrap();

        assert!(matches!(
            workflow.case(&doctor(), case_id).unwrap().status,
            CaseStatus::Published { batch_id: 1, at } if at == NOW + 20
        ));
        assert_eq!(workflow.index_len(), record.published_rpis as usize);
        assert_eq!(workflow.store().batches().unwrap(), vec![record.clone()]);
        // Published once only.
        assert_eq!(workflow.publish(NOW + 30).unwrap(), None);
        assert_eq!(batch_files(&workflow).len(), 1);

        // After a restart, the verification index is rebuilt from the store.
        drop(workflow);
        let (workflow, _) = open(dir.path());
        assert_eq!(workflow.index_len(), record.published_rpis as usize);
        assert_eq!(read_index(&workflow).entries.len(), 1);
        assert_eq!(workflow.store().next_batch_id().unwrap(), 2);
    }

    #[test]
    fn an_upload_consumes_its_declaration_code_once() {
        let dir = tempfile::tempdir().unwrap();
        let (workflow, _) = open(dir.path());
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut phones = phones(&mut rng);
        let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();

        // A code no case has.
        let mut guess = upload(&mut phones[0], &opened.code, &mut rng);
        let unknown = IssuedCode::generate(&mut rng);
        guess.code = DeclarationCode::new(unknown.display()).unwrap();
        assert_eq!(
            code_of(workflow.accept_upload(&guess.to_bytes().unwrap(), CLIENT, NOW)),
            ErrorCode::DeclarationCodeInvalid
        );

        let f0 = upload(&mut phones[0], &opened.code, &mut rng);
        let bytes = f0.to_bytes().unwrap();
        let case_id = workflow.accept_upload(&bytes, CLIENT, NOW + 5).unwrap();
        assert_eq!(case_id, opened.case.case_id);
        assert_eq!(
            workflow.case(&doctor(), case_id).unwrap().status,
            CaseStatus::UploadReceived { at: NOW + 5 }
        );
        let digest = workflow.store().digest().unwrap();
        assert_eq!(
            code_of(workflow.accept_upload(&bytes, CLIENT, NOW + 6)),
            ErrorCode::DeclarationCodeUsed
        );
        // The same code typed in its canonical form is the same code.
        let mut canonical = f0.clone();
        canonical.code = DeclarationCode::new(&code::normalize(&opened.code).unwrap()).unwrap();
        assert_eq!(
            code_of(workflow.accept_upload(&canonical.to_bytes().unwrap(), CLIENT, NOW + 7)),
            ErrorCode::DeclarationCodeUsed
        );
        assert_eq!(workflow.store().digest().unwrap(), digest);

        // What is kept: the keys the phone uploaded and one keyed hash per sighting.
        let hashes = workflow.store().contact_hashes().unwrap();
        assert_eq!(hashes.len(), 1);
        assert_eq!(hashes[0].0, case_id);
        assert_eq!(hashes[0].1.len(), f0.contact_history.len());
        assert!(!f0.contact_history.is_empty());
        assert!(
            hashes[0]
                .1
                .iter()
                .all(|(h, _)| f0.contact_history.iter().all(|s| h != &s.rpi.0))
        );

        // An expired code.
        let late = workflow.open_case(&doctor(), "HN-2", NOW).unwrap();
        let f0 = upload(&mut phones[1], &late.code, &mut rng);
        let expired = workflow.accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW + 86_400);
        assert_eq!(code_of(expired), ErrorCode::DeclarationCodeExpired);
        assert_eq!(
            workflow.case(&doctor(), late.case.case_id).unwrap().status,
            CaseStatus::AwaitingUpload
        );
    }

    #[test]
    fn malformed_uploads_do_not_charge_the_code_throttle() {
        let dir = tempfile::tempdir().unwrap();
        let (workflow, _) = open(dir.path());
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut phones = phones(&mut rng);
        let limit = ThrottleConfig::default().code_failures_per_client;

        for i in 0..2 * limit {
            let garbage = vec![i as u8; 64 + i as usize];
            assert_eq!(
                code_of(workflow.accept_upload(&garbage, CLIENT, NOW)),
                ErrorCode::MalformedUpload
            );
        }
        assert_eq!(
            code_of(workflow.accept_upload(&[], CLIENT, NOW)),
            ErrorCode::MalformedUpload
        );
        let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
        let f0 = upload(&mut phones[0], &opened.code, &mut rng);
        assert_eq!(
            workflow
                .accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW)
                .unwrap(),
            opened.case.case_id
        );

        // Wrong codes are charged: `limit` of them, then the client is throttled, even with a
        // right code, while another client is not.
        for _ in 0..limit {
            let mut guess = f0.clone();
            guess.code = DeclarationCode::new(IssuedCode::generate(&mut rng).display()).unwrap();
            assert_eq!(
                code_of(workflow.accept_upload(&guess.to_bytes().unwrap(), CLIENT, NOW + 1)),
                ErrorCode::DeclarationCodeInvalid
            );
        }
        let second = workflow.open_case(&doctor(), "HN-2", NOW).unwrap();
        let f0 = upload(&mut phones[1], &second.code, &mut rng);
        let bytes = f0.to_bytes().unwrap();
        let throttled = workflow.accept_upload(&bytes, CLIENT, NOW + 2).unwrap_err();
        assert_eq!(throttled.code, ErrorCode::DeclarationCodeThrottled);
        // The client's window opened at its first attempt (at NOW, refunded since).
        assert_eq!(throttled.retry_after, Some(3600 - 2));
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(
            workflow.accept_upload(&bytes, other, NOW + 2).unwrap(),
            second.case.case_id
        );
    }

    #[test]
    fn a_report_verifies_and_reaches_its_unit_only() {
        let dir = tempfile::tempdir().unwrap();
        let (workflow, _) = open(dir.path());
        let publisher = workflow.publisher_key();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut phones = phones(&mut rng);
        let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
        let f0 = upload(&mut phones[0], &opened.code, &mut rng);
        let case_id = workflow
            .accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW)
            .unwrap();
        workflow.request_trace(&doctor(), case_id, NOW).unwrap();
        workflow.publish(NOW).unwrap().expect("a batch");

        // The F1's phone fetches the batch, matches and reports (district 1: unit north).
        let index = fs::read(workflow.index_path()).unwrap();
        let f1 = &mut phones[1];
        let entries = f1
            .batches_to_fetch(&index, &publisher, UnixTime(NOW))
            .unwrap();
        assert_eq!(entries.len(), 1);
        let bytes = fs::read(workflow.batch_path(entries[0].batch_id)).unwrap();
        let outcome = f1.match_batch(&bytes, &publisher, UnixTime(NOW)).unwrap();
        let exposure = outcome.passing().next().expect("the F1 was near the F0");
        let contact = ContactDetails {
            phone_number: "84900000001".into(),
            name: String::new(),
            district: 1,
            consent_time: UnixTime(NOW),
        };
        let unit_key = workflow.settings().units[0].public_key;
        let report = f1
            .prepare_f1_report(exposure, &contact, &unit_key, &mut rng)
            .unwrap()
            .to_bytes()
            .unwrap();
        let outcome = workflow.accept_report(&report, NOW + 60).unwrap();
        assert_eq!(
            outcome,
            ReportOutcome {
                verified: true,
                rows: 1
            }
        );
        assert_eq!(
            code_of(workflow.accept_report(&report, NOW + 61)),
            ErrorCode::ReportDuplicate
        );
        assert_eq!(
            code_of(workflow.accept_report(&report[..report.len() - 1], NOW + 61)),
            ErrorCode::MalformedReport
        );

        let table = workflow.f1_table(&doctor(), case_id).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!((table[0].row_no, table[0].district), (1, 1));
        assert_eq!(table[0].confirmation, ConfirmationRecord::ConfirmedBothWays);
        assert_eq!(
            workflow.unit_rows(&worker("north"), "north").unwrap(),
            table
        );
        assert!(
            workflow
                .unit_rows(&worker("south"), "south")
                .unwrap()
                .is_empty()
        );

        // Only the unit of the row's district records its follow-up.
        assert_eq!(
            code_of(workflow.set_follow_up(
                &worker("south"),
                case_id,
                1,
                FollowUpStatus::Closed,
                NOW
            )),
            ErrorCode::ForbiddenDistrict
        );
        assert_eq!(
            code_of(workflow.set_follow_up(
                &worker("north"),
                case_id,
                2,
                FollowUpStatus::Closed,
                NOW
            )),
            ErrorCode::NotFound
        );
        let row = workflow
            .set_follow_up(
                &worker("north"),
                case_id,
                1,
                FollowUpStatus::Contacted,
                NOW + 120,
            )
            .unwrap();
        assert_eq!(
            row.follow_up,
            FollowUp {
                status: FollowUpStatus::Contacted,
                updated_at: NOW + 120,
                updated_by: "north-worker".into(),
            }
        );
        assert_eq!(workflow.f1_table(&doctor(), case_id).unwrap(), vec![row]);
    }

    #[test]
    fn parallel_index_writes_never_leave_a_torn_index() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let (workflow, _) = open(dir.path());
        let publisher = workflow.publisher_key();
        let done = AtomicBool::new(false);
        let (torn, failed) = std::thread::scope(|s| {
            // A phone fetching the index while it is rewritten.
            let reader = s.spawn(|| {
                let mut torn = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let bytes = fs::read(workflow.index_path()).unwrap_or_default();
                    if let Err(e) = BatchIndex::open(&bytes, &publisher) {
                        torn.push(format!("{} bytes: {e}", bytes.len()));
                    }
                }
                torn
            });
            // The hourly purge writes the index while a publication run may write it too.
            let writers: Vec<_> = (0..2u64)
                .map(|w| {
                    let workflow = &workflow;
                    s.spawn(move || {
                        (0..50)
                            .filter_map(|i| workflow.write_publication_index(NOW + 2 * i + w).err())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let failed: Vec<ApiError> = writers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect();
            done.store(true, Ordering::Relaxed);
            (reader.join().unwrap_or_default(), failed)
        });
        assert!(failed.is_empty(), "index writes failed: {failed:?}");
        assert!(torn.is_empty(), "torn index read: {torn:?}");
        BatchIndex::open(&fs::read(workflow.index_path()).unwrap(), &publisher).unwrap();
    }
}
