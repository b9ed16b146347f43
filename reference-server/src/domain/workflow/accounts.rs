//! Seed step 1: health workers log in. Accounts, sessions, roles and passwords.

use std::net::IpAddr;

use serde::Serialize;
use zeroize::Zeroizing;

use super::{Limit, Principal, Workflow, lock, pair_key, sha256};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::paging::{Cursor, Page, page_of};
use crate::domain::password::PasswordHash;
use crate::domain::settings::{Facility, Unit};
use crate::domain::store::{Account, AccountFilter, Role, Seconds, SessionRecord};
use crate::domain::throttle::RetryAfter;

/// A successful login.
#[derive(Clone, Debug, Serialize)]
pub struct LoginOutcome {
    /// The bearer token (64 hex characters), wiped when dropped. Only its SHA-256 is stored.
    pub token: Zeroizing<String>,
    /// When it expires.
    pub expires_at: Seconds,
}

/// Valid account names: 1 to 64 characters of `a-z 0-9 . _ -` (the rule of facility names).
pub fn valid_username(name: &str) -> bool {
    crate::domain::settings::valid_name(name)
}

impl Workflow {
    /// Check the login throttles for `username` from `client` and count the attempt as a
    /// failure at once, under one lock, so that parallel attempts cannot all pass the check;
    /// [`password_proved`](Self::password_proved) takes it back. From an address that logged
    /// in to the account before, only the (account, address) limit applies; from any other,
    /// the account-wide and per-address limits too. Returns whether the address was known.
    fn password_attempt(
        &self,
        username: &str,
        client: IpAddr,
        now: Seconds,
    ) -> Result<bool, ApiError> {
        let throttled = |wait: RetryAfter| ApiError {
            retry_after: Some(wait.seconds),
            ..ApiError::new(ErrorCode::LoginThrottled, "too many failed logins; wait")
        };
        if let Some(shared) = self.store.shared_throttles() {
            let known = shared.known_client(&pair_key(username, client))?;
            let mut charges = vec![(Limit::LoginPair, pair_key(username, client))];
            if !known {
                charges.push((Limit::LoginAccount, username.to_owned()));
                charges.push((Limit::LoginClient, client.to_string()));
            }
            if let Some(Err(wait)) = self.charge_shared(&charges, now)? {
                return Err(throttled(wait));
            }
            return Ok(known);
        }
        let mut t = lock(&self.throttles);
        let pair = (username.to_owned(), client);
        let known = t.known_clients.contains(&pair);
        let mut checks = t.login_pair.check(&pair, now);
        if !known {
            checks = checks
                .and(t.login_account.check(&pair.0, now))
                .and(t.login_client.check(&client, now));
        }
        checks.map_err(throttled)?;
        if !known {
            t.login_account.record_failure(pair.0.clone(), now);
            t.login_client.record_failure(client, now);
        }
        t.login_pair.record_failure(pair, now);
        Ok(known)
    }

    /// The password of the attempt [`password_attempt`](Self::password_attempt) counted was
    /// right: take the failure back, and remember the address as one the account's owner uses.
    /// The account-wide count is only refunded, never cleared, so the owner's logins do not
    /// give a guesser elsewhere a fresh budget.
    fn password_proved(
        &self,
        username: &str,
        client: IpAddr,
        known: bool,
        now: Seconds,
    ) -> Result<(), ApiError> {
        if let Some(shared) = self.store.shared_throttles() {
            let pair = pair_key(username, client);
            if !known {
                shared.refund(Limit::LoginAccount.name(), username)?;
                shared.refund(Limit::LoginClient.name(), &client.to_string())?;
            }
            shared.clear(Limit::LoginPair.name(), &pair)?;
            shared.remember_client(&pair, now)?;
            return Ok(());
        }
        let mut t = lock(&self.throttles);
        let pair = (username.to_owned(), client);
        if !known {
            t.login_account.refund(&pair.0);
            t.login_client.refund(&client);
        }
        t.login_pair.clear(&pair);
        t.known_clients.insert(pair, now);
        Ok(())
    }

    /// Log in: check the throttles, then the password; open a session.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
        now: Seconds,
    ) -> Result<LoginOutcome, ApiError> {
        let known = self.password_attempt(username, client, now)?;
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
            // The name tried, as typed but bounded: an attacker's long names fill no disk.
            let tried: String = username.chars().take(64).collect();
            self.audit(&tried, Some(client), "login_failed", String::new(), now);
            return Err(ApiError::new(
                ErrorCode::LoginFailed,
                "wrong user name or password",
            ));
        }
        self.password_proved(username, client, known, now)?;
        self.audit(username, Some(client), "login", String::new(), now);
        let mut token = Zeroizing::new([0u8; 32]);
        lock(&self.rng).fill_bytes(&mut *token);
        let expires_at = now + self.settings.session_ttl_seconds;
        self.store.insert_session(&SessionRecord {
            token_hash: sha256(&*token),
            username: username.to_owned(),
            created_at: now,
            expires_at,
        })?;
        Ok(LoginOutcome {
            token: Zeroizing::new(hex::encode(*token)),
            expires_at,
        })
    }

    fn token_hash(token: &str) -> Result<[u8; 32], ApiError> {
        let invalid = || ApiError::new(ErrorCode::SessionInvalid, "unknown or expired session");
        let bytes = Zeroizing::new(hex::decode(token).map_err(|_| invalid())?);
        if bytes.len() != 32 {
            return Err(invalid());
        }
        Ok(sha256(&bytes))
    }

    /// The principal of a bearer token.
    pub fn authenticate(
        &self,
        token: &str,
        client: Option<IpAddr>,
        now: Seconds,
    ) -> Result<Principal, ApiError> {
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
            client,
            must_change_password: account.must_change_password,
        })
    }

    /// End the session of a bearer token.
    pub fn logout(&self, token: &str) -> Result<(), ApiError> {
        self.store.delete_session(&Self::token_hash(token)?)?;
        Ok(())
    }

    /// Refuse every call of an account that must change its password first: every role check
    /// starts with this.
    pub(super) fn require_own_password(principal: &Principal) -> Result<(), ApiError> {
        if principal.must_change_password {
            return Err(ApiError::new(
                ErrorCode::PasswordChangeRequired,
                "this password was set by someone else: change it first (POST /api/v1/me/password)",
            ));
        }
        Ok(())
    }

    pub(super) fn require_admin(principal: &Principal) -> Result<(), ApiError> {
        Self::require_own_password(principal)?;
        match principal.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::new(ErrorCode::ForbiddenRole, "admins only")),
        }
    }

    /// The facility of a treatment-facility health worker, as configured; in a deployment
    /// that configures none, the one tenant of no name and no province.
    pub(super) fn require_facility(&self, principal: &Principal) -> Result<Facility, ApiError> {
        Self::require_own_password(principal)?;
        match &principal.role {
            Role::TreatmentFacility { facility } => self.facility(facility).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownFacility,
                    format!(
                        "the account's facility {facility:?} is not configured: an admin \
                         assigns a configured one (POST /api/v1/accounts/{}/role)",
                        principal.username
                    ),
                )
            }),
            _ => Err(ApiError::new(
                ErrorCode::ForbiddenRole,
                "treatment-facility health workers only",
            )),
        }
    }

    /// Accounts that read cases: admins, treatment facilities and oversight.
    pub(super) fn require_case_reader(principal: &Principal) -> Result<(), ApiError> {
        Self::require_own_password(principal)?;
        match principal.role {
            Role::Admin | Role::TreatmentFacility { .. } | Role::Oversight { .. } => Ok(()),
            Role::PreventiveUnit { .. } => Err(ApiError::new(
                ErrorCode::ForbiddenRole,
                "treatment facilities, oversight and admins only",
            )),
        }
    }

    pub(super) fn require_unit(&self, principal: &Principal) -> Result<Unit, ApiError> {
        Self::require_own_password(principal)?;
        match &principal.role {
            Role::PreventiveUnit { unit } => self.unit(unit).ok_or_else(|| {
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

    /// The configured facility named `name`; with no facility configured, the deployment's
    /// one tenant (no name, province 0) for `""`.
    pub fn facility(&self, name: &str) -> Option<Facility> {
        let facilities = &self.settings.facilities;
        if facilities.is_empty() && name.is_empty() {
            return Some(Facility {
                name: String::new(),
                province: crate::domain::regions::WHOLE_COUNTRY,
            });
        }
        facilities.iter().find(|f| f.name == name).cloned()
    }

    /// Check that `role` names configured things: its facility, unit or province.
    fn check_role(&self, role: &Role) -> Result<(), ApiError> {
        match role {
            Role::Admin => Ok(()),
            Role::TreatmentFacility { facility } if self.facility(facility).is_none() => {
                Err(ApiError::new(
                    ErrorCode::UnknownFacility,
                    if facility.is_empty() {
                        "the configuration lists facilities: choose one".to_owned()
                    } else {
                        format!("no facility {facility} in the configuration")
                    },
                ))
            }
            Role::TreatmentFacility { .. } => Ok(()),
            Role::PreventiveUnit { unit } if self.unit(unit).is_none() => Err(ApiError::new(
                ErrorCode::UnknownUnit,
                format!("no unit {unit} in the configuration"),
            )),
            Role::PreventiveUnit { .. } => Ok(()),
            Role::Oversight { province } => match self.settings.regions.name(*province) {
                Some(_) => Ok(()),
                None => Err(ApiError::new(
                    ErrorCode::UnknownRegion,
                    format!("province {province} is not one of the configured regions"),
                )),
            },
        }
    }

    /// Create an account (admins only). With `must_change_password` (what the console and the
    /// API do unless told otherwise), the worker's first session can only replace the
    /// password the admin chose.
    pub fn create_account(
        &self,
        principal: &Principal,
        username: &str,
        password: &str,
        role: Role,
        must_change_password: bool,
        now: Seconds,
    ) -> Result<Account, ApiError> {
        Self::require_admin(principal)?;
        if !valid_username(username) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "user names are 1 to 64 characters of a-z 0-9 . _ -",
            ));
        }
        self.check_role(&role)?;
        let hash = PasswordHash::new(password, &mut *lock(&self.rng))
            .map_err(|e| ApiError::new(ErrorCode::PasswordRejected, e.to_string()))?;
        let account = Account {
            username: username.to_owned(),
            role,
            password: hash,
            created_at: now,
            disabled: false,
            must_change_password,
        };
        self.store.insert_account(&account)?;
        self.audit_by(
            principal,
            "account_created",
            format!("account {username} role {}", role_scope(&account.role)),
            now,
        );
        Ok(account)
    }

    /// Disable or enable an account (admins only). Disabling ends every session of the
    /// account at once; a disabled account cannot log in. An admin cannot disable its own
    /// account (the last admin would lock everyone out).
    pub fn set_account_disabled(
        &self,
        principal: &Principal,
        username: &str,
        disabled: bool,
        now: Seconds,
    ) -> Result<Account, ApiError> {
        Self::require_admin(principal)?;
        if disabled && username == principal.username {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "an admin cannot disable its own account",
            ));
        }
        let mut account = self.account_named(username)?;
        account.disabled = disabled;
        self.store.update_account(&account)?;
        self.store.delete_sessions_of(username, None)?;
        let action = if disabled {
            "account_disabled"
        } else {
            "account_enabled"
        };
        self.audit_by(principal, action, format!("account {username}"), now);
        Ok(account)
    }

    /// Give an account another role (admins only): a worker moving to another facility,
    /// unit or province, or an account from before facilities given its facility. Every
    /// session of the account ends. An admin cannot change its own role.
    pub fn set_role(
        &self,
        principal: &Principal,
        username: &str,
        role: Role,
        now: Seconds,
    ) -> Result<Account, ApiError> {
        Self::require_admin(principal)?;
        if username == principal.username {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "an admin cannot change its own role",
            ));
        }
        self.check_role(&role)?;
        let mut account = self.account_named(username)?;
        let object = format!("account {username} role {}", role_scope(&role));
        account.role = role;
        self.store.update_account(&account)?;
        self.store.delete_sessions_of(username, None)?;
        self.audit_by(principal, "role_changed", object, now);
        Ok(account)
    }

    /// Reset an account's password to a new random one (admins only), returned once: the
    /// admin hands it to the worker, who must change it at the next login. Every session of
    /// the account ends.
    pub fn reset_password(
        &self,
        principal: &Principal,
        username: &str,
        now: Seconds,
    ) -> Result<(Account, Zeroizing<String>), ApiError> {
        Self::require_admin(principal)?;
        let mut account = self.account_named(username)?;
        let password = Zeroizing::new(self.random_password());
        account.password = PasswordHash::new(&password, &mut *lock(&self.rng))
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        account.must_change_password = true;
        self.store.update_account(&account)?;
        self.store.delete_sessions_of(username, None)?;
        self.audit_by(
            principal,
            "password_reset",
            format!("account {username}"),
            now,
        );
        Ok((account, password))
    }

    fn account_named(&self, username: &str) -> Result<Account, ApiError> {
        self.store
            .account(username)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no account {username:?}")))
    }

    /// Every account (admins only).
    pub fn accounts(&self, principal: &Principal) -> Result<Vec<Account>, ApiError> {
        Self::require_admin(principal)?;
        Ok(self.store.accounts()?)
    }

    /// One page of the accounts `filter` admits, by name (admins only). Accounts are few (a
    /// deployment's health workers): read whole from the store and paged here.
    pub fn account_page(
        &self,
        principal: &Principal,
        filter: &AccountFilter,
        cursor: &Cursor<String>,
        limit: usize,
    ) -> Result<Page<Account, String>, ApiError> {
        let mut accounts = self.accounts(principal)?;
        accounts.retain(|a| filter.admits(a));
        accounts.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(page_of(&accounts, cursor, limit, |a| a.username.clone()))
    }

    /// Change one's own password, proving the current one, from the session of
    /// `session_token`: every other session of the account ends (whoever held one of them,
    /// perhaps the reason for the change, is out), that one stays.
    ///
    /// A wrong current password from `client` counts as a failed login of the account, so a
    /// stolen session cannot be used to guess the password faster than the login page allows.
    pub fn change_password(
        &self,
        principal: &Principal,
        session_token: &str,
        current: &str,
        new: &str,
        client: IpAddr,
        now: Seconds,
    ) -> Result<(), ApiError> {
        let keep = Self::token_hash(session_token)?;
        let known = self.password_attempt(&principal.username, client, now)?;
        let mut account = self
            .store
            .account(&principal.username)?
            .ok_or_else(|| ApiError::new(ErrorCode::SessionInvalid, "no such account"))?;
        if !account.password.verify(current) {
            Metrics::inc(&self.metrics.login_failures);
            return Err(ApiError::new(
                ErrorCode::LoginFailed,
                "the current password is wrong",
            ));
        }
        self.password_proved(&principal.username, client, known, now)?;
        if new == current {
            return Err(ApiError::new(
                ErrorCode::PasswordRejected,
                "the new password must differ from the current one",
            ));
        }
        account.password = PasswordHash::new(new, &mut *lock(&self.rng))
            .map_err(|e| ApiError::new(ErrorCode::PasswordRejected, e.to_string()))?;
        account.must_change_password = false;
        self.store.update_account(&account)?;
        self.store
            .delete_sessions_of(&principal.username, Some(&keep))?;
        self.audit_by(principal, "password_changed", String::new(), now);
        Ok(())
    }
}

/// A role as the audit log names it: its kind and its scope.
fn role_scope(role: &Role) -> String {
    match role {
        Role::Admin => Role::ADMIN.to_owned(),
        Role::TreatmentFacility { facility } => format!("{} {facility}", role.kind()),
        Role::PreventiveUnit { unit } => format!("{} {unit}", role.kind()),
        Role::Oversight { province } => format!("{} {province}", role.kind()),
    }
}
