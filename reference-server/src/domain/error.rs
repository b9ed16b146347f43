//! Errors the API returns: a stable machine-readable code, an HTTP status and a message.
//!
//! Clients branch on [`ErrorCode::as_str`] (`{"error": {"code": "...", "message": "..."}}`);
//! the message is for people and may change.

use std::fmt;

use crate::domain::store::{CodeRefusal, StoreError};

/// Every error the API can return. The string of each is stable across versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not the JSON the route expects, or a field is out of range.
    BadRequest,
    /// The body is longer than the route allows.
    BodyTooLarge,
    /// The request took longer than the server's timeout.
    Timeout,
    /// No route has this path.
    RouteNotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// No bearer token was given.
    Unauthenticated,
    /// The bearer token is unknown, forged or expired.
    SessionInvalid,
    /// The account's role may not use this route.
    ForbiddenRole,
    /// The account's password was set by someone else (first start, creation, reset): its
    /// sessions may only change it (`POST /api/v1/me/password`) or log out until then.
    PasswordChangeRequired,
    /// The row is in a district the unit does not cover.
    ForbiddenDistrict,
    /// Wrong user name or password.
    LoginFailed,
    /// Too many failed logins: wait.
    LoginThrottled,
    /// The new password breaks the password policy.
    PasswordRejected,
    /// An account with this name exists.
    AccountExists,
    /// The configuration has no unit with this name.
    UnknownUnit,
    /// The configuration has no treatment facility with this name.
    UnknownFacility,
    /// A region that is not 0 (the whole country) or one of the configured provinces, or no
    /// region at all.
    UnknownRegion,
    /// A unit to register has a bad name or key.
    UnitInvalid,
    /// A unit with this name exists (configured or registered).
    UnitExists,
    /// Another unit covers one of the districts of a unit to register.
    UnitDistrictTaken,
    /// No such case, row or batch.
    NotFound,
    /// The case is not in a state that allows this (e.g. tracing before the upload).
    CaseNotReady,
    /// The declaration code is malformed or opens no case.
    DeclarationCodeInvalid,
    /// The declaration code was used by an earlier upload.
    DeclarationCodeUsed,
    /// The declaration code expired.
    DeclarationCodeExpired,
    /// Too many wrong declaration codes from this client, or from everyone: wait.
    DeclarationCodeThrottled,
    /// Too many F1 reports from this client address: wait.
    ReportThrottled,
    /// The upload bytes do not parse (SPEC.md §7 and §11).
    MalformedUpload,
    /// The upload parses but breaks a rule (future or too old intervals, overlapping keys...).
    UploadRejected,
    /// The report bytes do not parse (SPEC.md §10 and §11).
    MalformedReport,
    /// The report parses but no sighting in it verifies.
    ReportRejected,
    /// A report with this identifier was received before.
    ReportDuplicate,
    /// The server is at its cap of connections or of body bytes being received: retry later
    /// (sent with `Retry-After`); nothing was changed.
    ServerBusy,
    /// The store failed; nothing was changed.
    StorageFailure,
    /// Something the server did not expect; nothing was changed.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order they are declared (the server's OpenAPI document lists each one
    /// with its status; `tests/openapi.rs` checks it from this list).
    pub const ALL: [ErrorCode; 35] = [
        ErrorCode::BadRequest,
        ErrorCode::BodyTooLarge,
        ErrorCode::Timeout,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthenticated,
        ErrorCode::SessionInvalid,
        ErrorCode::ForbiddenRole,
        ErrorCode::PasswordChangeRequired,
        ErrorCode::ForbiddenDistrict,
        ErrorCode::LoginFailed,
        ErrorCode::LoginThrottled,
        ErrorCode::PasswordRejected,
        ErrorCode::AccountExists,
        ErrorCode::UnknownUnit,
        ErrorCode::UnknownFacility,
        ErrorCode::UnknownRegion,
        ErrorCode::UnitInvalid,
        ErrorCode::UnitExists,
        ErrorCode::UnitDistrictTaken,
        ErrorCode::NotFound,
        ErrorCode::CaseNotReady,
        ErrorCode::DeclarationCodeInvalid,
        ErrorCode::DeclarationCodeUsed,
        ErrorCode::DeclarationCodeExpired,
        ErrorCode::DeclarationCodeThrottled,
        ErrorCode::ReportThrottled,
        ErrorCode::MalformedUpload,
        ErrorCode::UploadRejected,
        ErrorCode::MalformedReport,
        ErrorCode::ReportRejected,
        ErrorCode::ReportDuplicate,
        ErrorCode::ServerBusy,
        ErrorCode::StorageFailure,
        ErrorCode::Internal,
    ];

    /// The stable string clients branch on.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::SessionInvalid => "session_invalid",
            ErrorCode::ForbiddenRole => "forbidden_role",
            ErrorCode::PasswordChangeRequired => "password_change_required",
            ErrorCode::ForbiddenDistrict => "forbidden_district",
            ErrorCode::LoginFailed => "login_failed",
            ErrorCode::LoginThrottled => "login_throttled",
            ErrorCode::PasswordRejected => "password_rejected",
            ErrorCode::AccountExists => "account_exists",
            ErrorCode::UnknownUnit => "unknown_unit",
            ErrorCode::UnknownFacility => "unknown_facility",
            ErrorCode::UnknownRegion => "unknown_region",
            ErrorCode::UnitInvalid => "unit_invalid",
            ErrorCode::UnitExists => "unit_exists",
            ErrorCode::UnitDistrictTaken => "unit_district_taken",
            ErrorCode::NotFound => "not_found",
            ErrorCode::CaseNotReady => "case_not_ready",
            ErrorCode::DeclarationCodeInvalid => "declaration_code_invalid",
            ErrorCode::DeclarationCodeUsed => "declaration_code_used",
            ErrorCode::DeclarationCodeExpired => "declaration_code_expired",
            ErrorCode::DeclarationCodeThrottled => "declaration_code_throttled",
            ErrorCode::ReportThrottled => "report_throttled",
            ErrorCode::MalformedUpload => "malformed_upload",
            ErrorCode::UploadRejected => "upload_rejected",
            ErrorCode::MalformedReport => "malformed_report",
            ErrorCode::ReportRejected => "report_rejected",
            ErrorCode::ReportDuplicate => "report_duplicate",
            ErrorCode::StorageFailure => "storage_failure",
            ErrorCode::ServerBusy => "server_busy",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// For throttling errors: seconds to wait (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with its message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let code = match &e {
            StoreError::Code(CodeRefusal::Unknown) => ErrorCode::DeclarationCodeInvalid,
            StoreError::Code(CodeRefusal::Used) => ErrorCode::DeclarationCodeUsed,
            StoreError::Code(CodeRefusal::Expired) => ErrorCode::DeclarationCodeExpired,
            StoreError::AccountExists => ErrorCode::AccountExists,
            StoreError::UnitExists => ErrorCode::UnitExists,
            StoreError::NoSuchAccount
            | StoreError::NoSuchCase(_)
            | StoreError::NoSuchRow { .. } => ErrorCode::NotFound,
            StoreError::WrongCaseState { .. } => ErrorCode::CaseNotReady,
            StoreError::DuplicateReport => ErrorCode::ReportDuplicate,
            StoreError::ClaimedBefore => ErrorCode::ReportRejected,
            StoreError::Corrupt(_) | StoreError::Backend(_) => {
                tracing::error!(error = %e, "store failure");
                ErrorCode::StorageFailure
            }
        };
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` names every variant of the enum as this file declares it, in order, each once (a
    /// new code fails here until it is listed, and so reaches the OpenAPI check).
    #[test]
    fn all_lists_every_declared_code() {
        let source = include_str!("error.rs");
        let start = source
            .find("pub enum ErrorCode {")
            .expect("the enum's declaration");
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the end of the enum")];
        let declared: Vec<&str> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .map(|l| l.trim_end_matches(','))
            .collect();
        let listed: Vec<String> = ErrorCode::ALL.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(listed, declared);
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            ErrorCode::ALL.len(),
            "two codes share a string"
        );
    }
}
