//! The seven-step workflow over a [`Store`]: what each API call does, with no HTTP in it.
//!
//! Time is a parameter of every call (`now`, seconds since the unix epoch), so the simulator
//! can drive the workflow on a virtual clock. Every protocol decision is a call into
//! `bluezone-protocol`: parsing and validating uploads and reports, expanding keys,
//! building and signing batches, verifying reports.
//!
//! One file per seed step, each an `impl Workflow` block:
//!
//! | seed step | file |
//! |---|---|
//! | 1. log in | `accounts.rs`: sessions, roles, accounts, passwords |
//! | 2. open an F0 case, get its declaration code | `cases.rs` |
//! | 3. "Send ID and contact history" | `uploads.rs` |
//! | 4. "Trace F1", publication | `publication.rs`, with the [`PublicationSink`] |
//! | 5, 6. F1 reports, verification, the F1 table | `reports.rs` |
//! | 7. rows routed to units, follow-up | `follow_up.rs` |
//!
//! What stays in memory, rebuilt from the store at start: the verification index of published
//! RPIs ([`PublicationIndex`]), the keyed hashes of the F0s' contact histories
//! ([`ContactHistoryStore`]), and the throttles (a restart forgets them).
//!
//! Several server processes may share one store (PostgreSQL): then the store says when
//! another process accepted an upload or recorded a batch ([`Store::shared_generation`]) and
//! the workflow reloads the index and the histories before it verifies a report or publishes;
//! publication runs and report verification are sections one process at a time enters
//! ([`Store::exclusive`]); and the throttles are the store's ([`Store::shared_throttles`]),
//! counting every process's attempts.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bluezone_protocol::{
    CaseId, ContactHistoryStore, PublicationIndex, PublisherKeyPair, PublisherPublicKey, UnixTime,
};
use rand_core::CryptoRng;
use ring::{digest, hmac};
use zeroize::Zeroizing;

use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::password::PasswordHash;
use crate::domain::settings::{Settings, Unit};
use crate::domain::store::{
    Account, AuditEntry, AuditFilter, Charge, Role, Seconds, SharedLock, Store, StoreCounts,
    StoreError,
};
use crate::domain::throttle::{KnownClients, RetryAfter, Throttle};

mod accounts;
mod cases;
mod follow_up;
mod publication;
mod reports;
mod units;
mod uploads;

pub use accounts::{LoginOutcome, valid_username};
pub use cases::{CODE_SHOWN_SECONDS, MAX_REFERENCE_LEN, OpenedCase};
pub use publication::{IndexScope, MemorySink, PublicationSink, PublishedFile};
pub use reports::ReportOutcome;

/// The randomness the workflow draws from: the OS generator in the server, a seeded one in the
/// simulator and tests.
pub type WorkflowRng = Box<dyn CryptoRng + Send>;

/// What a phone's upload or report was: a real one, with its outcome, or a decoy (SPEC.md
/// §7.6, §10.6), which changed nothing. The web layer answers both alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answered<T> {
    /// A real upload or report, and what it gave.
    Real(T),
    /// A decoy: nothing stored; counted apart in the metrics.
    Decoy,
}

impl<T> Answered<T> {
    /// The outcome of a real request; `None` for a decoy.
    pub fn real(self) -> Option<T> {
        match self {
            Answered::Real(t) => Some(t),
            Answered::Decoy => None,
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
    /// The address the request came from, for the audit log (none for callers in process).
    pub client: Option<IpAddr>,
    /// Whether the account must change its password first ([`Account::must_change_password`]):
    /// then every call but the password change is refused with `password_change_required`.
    pub must_change_password: bool,
}

impl Principal {
    /// An account acting from inside the process (the simulator, benchmarks, tests), its
    /// password its own.
    pub fn in_process(username: &str, role: Role) -> Principal {
        Principal {
            username: username.to_owned(),
            role,
            client: None,
            must_change_password: false,
        }
    }
}

struct Throttles {
    login_pair: Throttle<(String, IpAddr)>,
    login_account: Throttle<String>,
    login_client: Throttle<IpAddr>,
    known_clients: KnownClients<(String, IpAddr)>,
    code_client: Throttle<IpAddr>,
    code_global: Throttle<()>,
    report_client: Throttle<IpAddr>,
}

const THROTTLE_MAX_KEYS: usize = 100_000;

/// The workflow's throttles, as [`Store::shared_throttles`] names them.
#[derive(Clone, Copy, Debug)]
enum Limit {
    LoginPair,
    LoginAccount,
    LoginClient,
    CodeClient,
    CodeGlobal,
    ReportClient,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::LoginPair => "login_pair",
            Limit::LoginAccount => "login_account",
            Limit::LoginClient => "login_client",
            Limit::CodeClient => "code_client",
            Limit::CodeGlobal => "code_global",
            Limit::ReportClient => "report_client",
        }
    }
}

/// The key of an (account, client address) pair in the shared throttles.
fn pair_key(username: &str, client: IpAddr) -> String {
    format!("{username} {client}")
}

/// The workflow: the store, the in-memory indexes, the publisher key and the throttles.
pub struct Workflow {
    store: Box<dyn Store>,
    settings: Settings,
    /// The configured units, then those registered by an admin.
    units: RwLock<Vec<Unit>>,
    publisher: PublisherKeyPair,
    sink: Arc<dyn PublicationSink>,
    code_key: hmac::Key,
    index: RwLock<PublicationIndex>,
    /// Keys the verification index's hashes; wiped when the workflow is dropped (ring's HMAC
    /// key above keeps its own copy of the code secret, which ring does not wipe).
    index_key: Zeroizing<[u8; 32]>,
    history: RwLock<ContactHistoryStore>,
    /// Keys the contact histories' hashes (kept to rebuild them when another process sharing
    /// the store changed them).
    history_secret: Zeroizing<[u8; 32]>,
    /// The store's [`Store::shared_generation`] the index and histories were last loaded at.
    loaded_generation: Mutex<Option<u64>>,
    throttles: Mutex<Throttles>,
    publication: Mutex<()>,
    /// Held while a report is verified against the claims of earlier ones and recorded, so
    /// that parallel reports cannot together pass a bound on one-sided rows.
    reports: Mutex<()>,
    /// Held while the batch index is rebuilt and handed to the sink: the hourly purge writes
    /// it outside the publication lock, and the last index written must be built from the
    /// latest batches.
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

impl Workflow {
    /// Open the workflow on `store`: load or create the server secrets, rebuild the
    /// verification index and the contact-history store, hand a fresh batch index to `sink`,
    /// and, if there is no account yet, create `admin` with a random password, returned here
    /// to be shown once.
    pub fn open(
        store: Box<dyn Store>,
        settings: Settings,
        publisher: PublisherKeyPair,
        sink: Arc<dyn PublicationSink>,
        mut rng: WorkflowRng,
        now: Seconds,
    ) -> Result<(Workflow, Option<String>), ApiError> {
        let mut draw = || {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            b
        };
        let code_secret = Zeroizing::new(store.secret("declaration-codes", &mut draw)?);
        let history_secret = Zeroizing::new(store.secret("contact-history", &mut draw)?);
        let index_key = Zeroizing::new(draw());
        let dummy_password = PasswordHash::new("not a password of anyone", &mut rng)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let t = settings.throttle;
        let throttles = Throttles {
            login_pair: Throttle::new(
                t.login_failures_per_account,
                t.login_window_seconds,
                THROTTLE_MAX_KEYS,
            ),
            login_account: Throttle::new(
                t.login_failures_per_account_all_clients,
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
            report_client: Throttle::new(
                t.reports_per_client,
                t.report_window_seconds,
                THROTTLE_MAX_KEYS,
            ),
            known_clients: KnownClients::new(THROTTLE_MAX_KEYS),
        };
        let units = RwLock::new(units::load_units(&settings.units, &*store)?);
        let workflow = Workflow {
            store,
            settings,
            units,
            publisher,
            sink,
            code_key: hmac::Key::new(hmac::HMAC_SHA256, &*code_secret),
            index: RwLock::new(PublicationIndex::new(*index_key)),
            index_key,
            history: RwLock::new(ContactHistoryStore::new(&history_secret)),
            history_secret,
            loaded_generation: Mutex::new(None),
            throttles: Mutex::new(throttles),
            publication: Mutex::new(()),
            reports: Mutex::new(()),
            index_file: Mutex::new(()),
            rng: Mutex::new(rng),
            dummy_password,
            metrics: Metrics::default(),
        };
        workflow.catch_up(true)?;
        let admin_password = if workflow.store.accounts()?.is_empty() {
            let password = workflow.random_password();
            let hash = PasswordHash::new(&password, &mut *lock(&workflow.rng))
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
            let created = workflow.store.insert_account(&Account {
                username: "admin".into(),
                role: Role::Admin,
                password: hash,
                created_at: now,
                disabled: false,
                must_change_password: true,
            });
            match created {
                Ok(()) => Some(password),
                // Another instance sharing the store created it first: its password is the one.
                Err(StoreError::AccountExists) => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        workflow.write_publication_index(now)?;
        Ok((workflow, admin_password))
    }

    /// Load the verification index and the contact histories from the store: at start
    /// (`always`), and whenever another process sharing the store has accepted an upload or
    /// recorded a batch since the last load.
    fn catch_up(&self, always: bool) -> Result<(), ApiError> {
        let mut loaded = lock(&self.loaded_generation);
        // Read before the records: a change made while they load is seen at the next call.
        let generation = self.store.shared_generation()?;
        if !always && (generation.is_none() || generation == *loaded) {
            return Ok(());
        }
        self.rebuild_index()?;
        let mut fresh = ContactHistoryStore::new(&self.history_secret);
        for (case, hashes) in self.store.contact_hashes()? {
            fresh.store_hashes(
                CaseId(case),
                hashes.into_iter().map(|(h, t)| (h, UnixTime(t))),
            );
        }
        *write(&self.history) = fresh;
        *loaded = generation;
        Ok(())
    }

    /// `limit`'s figures, counting `key`.
    fn charge_of(&self, limit: Limit, key: String) -> Charge {
        let t = &self.settings.throttle;
        let (count, window_seconds) = match limit {
            Limit::LoginPair => (t.login_failures_per_account, t.login_window_seconds),
            Limit::LoginAccount => (
                t.login_failures_per_account_all_clients,
                t.login_window_seconds,
            ),
            Limit::LoginClient => (t.login_failures_per_client, t.login_window_seconds),
            Limit::CodeClient => (t.code_failures_per_client, t.code_window_seconds),
            Limit::CodeGlobal => (t.code_failures_global, t.code_window_seconds),
            Limit::ReportClient => (t.reports_per_client, t.report_window_seconds),
        };
        Charge {
            throttle: limit.name(),
            key,
            limit: count,
            window_seconds,
        }
    }

    /// With a store shared by several processes: check and count one attempt against every
    /// charge in the store's throttles (`Some`, the outcome). `None` when the throttles are
    /// this process's own, in memory.
    fn charge_shared(
        &self,
        charges: &[(Limit, String)],
        now: Seconds,
    ) -> Result<Option<Result<(), RetryAfter>>, ApiError> {
        let Some(shared) = self.store.shared_throttles() else {
            return Ok(None);
        };
        let charges: Vec<Charge> = charges
            .iter()
            .map(|(limit, key)| self.charge_of(*limit, key.clone()))
            .collect();
        Ok(Some(shared.charge(&charges, now)?))
    }

    /// Enter `section` across every process sharing the store (see [`Store::exclusive`]).
    fn exclusive(&self, section: SharedLock) -> Result<Box<dyn Send>, ApiError> {
        Ok(self.store.exclusive(section)?)
    }

    fn random_password(&self) -> String {
        crate::domain::password::random_password(&mut *lock(&self.rng))
    }

    /// Append to the audit log (`account` did `action` to `object`): after the action, which
    /// is committed whatever happens here; a log that cannot be written is reported in the
    /// server's log and counted in `/metrics`, never undoes the action.
    pub(super) fn audit(
        &self,
        account: &str,
        client: Option<IpAddr>,
        action: &'static str,
        object: String,
        now: Seconds,
    ) {
        debug_assert!(AuditEntry::ACTIONS.contains(&action), "{action}");
        let entry = AuditEntry {
            seq: 0,
            at: now,
            account: account.to_owned(),
            client: client.map(|c| c.to_string()),
            action: action.to_owned(),
            object,
        };
        if let Err(e) = self.store.append_audit(&entry) {
            Metrics::inc(&self.metrics.audit_failures);
            tracing::error!(error = %e, action, "audit entry not written");
        }
    }

    /// Audit what `principal` did.
    pub(super) fn audit_by(
        &self,
        principal: &Principal,
        action: &'static str,
        object: String,
        now: Seconds,
    ) {
        self.audit(&principal.username, principal.client, action, object, now);
    }

    /// The audit log, filtered (admins only); reading it is itself audited.
    pub fn audit_log(
        &self,
        principal: &Principal,
        filter: &AuditFilter,
        now: Seconds,
    ) -> Result<Vec<AuditEntry>, ApiError> {
        Self::require_admin(principal)?;
        let entries = self.store.audit(filter)?;
        self.audit_by(principal, "audit_read", String::new(), now);
        Ok(entries)
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
    pub fn publisher_key(&self) -> PublisherPublicKey {
        self.publisher.public_key()
    }

    /// RPIs in the verification index.
    pub fn index_len(&self) -> usize {
        read(&self.index).len()
    }

    /// Erase what retention no longer allows: expired sessions, contact hashes older than 14
    /// days, index entries and stored keys past their use.
    pub fn purge(&self, now: Seconds) -> Result<u64, ApiError> {
        let removed = self.store.purge(now, &self.settings.retention)?;
        self.metrics
            .retention_purged
            .fetch_add(removed, std::sync::atomic::Ordering::Relaxed);
        let removed = match self.store.shared_throttles() {
            Some(shared) => removed + shared.purge_throttles(now)?,
            None => removed,
        };
        write(&self.history).purge(UnixTime(now));
        write(&self.index).expire(UnixTime(now));
        if removed > 0 {
            self.audit(
                "-",
                None,
                "retention_purge",
                format!("{removed} records"),
                now,
            );
        }
        Ok(removed)
    }

    /// The store's record counts and digest (admins only; audited).
    pub fn store_state(
        &self,
        principal: &Principal,
        now: Seconds,
    ) -> Result<(StoreCounts, [u8; 32]), ApiError> {
        Self::require_admin(principal)?;
        let state = (self.store.counts()?, self.store.digest()?);
        self.audit_by(principal, "store_read", String::new(), now);
        Ok(state)
    }

    /// A backup of the store and of the batch files ([`crate::domain::backup`]): the file's
    /// bytes and its header (admins only). Audited before the snapshot is taken, so that the
    /// backup holds the entry that records it.
    pub fn backup(
        &self,
        principal: &Principal,
        now: Seconds,
    ) -> Result<(Vec<u8>, crate::domain::backup::Header), ApiError> {
        use crate::domain::backup::{self, BackupError};
        Self::require_admin(principal)?;
        self.audit_by(principal, "store_backup", String::new(), now);
        let publisher_key = self.publisher.public_key().0;
        backup::take(&*self.store, &|id| self.sink.batch(id), publisher_key, now).map_err(|e| {
            match e {
                BackupError::Store(e) => ApiError::from(e),
                other => {
                    tracing::error!(error = %other, "backup failed");
                    ApiError::new(ErrorCode::StorageFailure, other.to_string())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
