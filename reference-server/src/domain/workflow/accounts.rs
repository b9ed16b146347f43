//! Seed step 1: health workers log in. Accounts, sessions, roles and passwords.

use std::net::IpAddr;

use serde::Serialize;
use zeroize::Zeroizing;

use super::{Principal, Workflow, lock, sha256};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::password::PasswordHash;
use crate::domain::settings::Unit;
use crate::domain::store::{Account, Role, Seconds, SessionRecord};

/// A successful login.
#[derive(Clone, Debug, Serialize)]
pub struct LoginOutcome {
    /// The bearer token (64 hex characters), wiped when dropped. Only its SHA-256 is stored.
    pub token: Zeroizing<String>,
    /// When it expires.
    pub expires_at: Seconds,
}

/// Valid account names: 1 to 64 characters of `a-z 0-9 . _ -`.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

impl Workflow {
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

    pub(super) fn require_admin(principal: &Principal) -> Result<(), ApiError> {
        match principal.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::new(ErrorCode::ForbiddenRole, "admins only")),
        }
    }

    pub(super) fn require_facility(principal: &Principal) -> Result<(), ApiError> {
        match principal.role {
            Role::TreatmentFacility => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::ForbiddenRole,
                "treatment-facility health workers only",
            )),
        }
    }

    pub(super) fn require_unit(&self, principal: &Principal) -> Result<&Unit, ApiError> {
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

    /// Change one's own password, proving the current one, from the session of
    /// `session_token`: every other session of the account ends (whoever held one of them,
    /// perhaps the reason for the change, is out), that one stays.
    pub fn change_password(
        &self,
        principal: &Principal,
        session_token: &str,
        current: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let keep = Self::token_hash(session_token)?;
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
        self.store
            .delete_sessions_of(&principal.username, Some(&keep))?;
        Ok(())
    }
}
