//! What every handler shares: building responses, reading bodies with their limits, running
//! blocking work off the reactor, and the HTTP status of each error code.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::error::{ApiError, ErrorCode};

/// Every answer of the server.
pub type HttpResponse = Response<Full<Bytes>>;

/// The HTTP status each error code is sent with.
pub fn status_of_code(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest
        | ErrorCode::MalformedUpload
        | ErrorCode::MalformedReport
        | ErrorCode::PasswordRejected
        | ErrorCode::UnknownUnit
        | ErrorCode::UnknownFacility
        | ErrorCode::UnknownRegion
        | ErrorCode::UnitInvalid => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated | ErrorCode::SessionInvalid | ErrorCode::LoginFailed => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::ForbiddenRole
        | ErrorCode::PasswordChangeRequired
        | ErrorCode::ForbiddenDistrict => StatusCode::FORBIDDEN,
        ErrorCode::DeclarationCodeInvalid | ErrorCode::RouteNotFound | ErrorCode::NotFound => {
            StatusCode::NOT_FOUND
        }
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::AccountExists
        | ErrorCode::UnitExists
        | ErrorCode::UnitDistrictTaken
        | ErrorCode::CaseNotReady
        | ErrorCode::DeclarationCodeUsed
        | ErrorCode::ReportDuplicate => StatusCode::CONFLICT,
        ErrorCode::DeclarationCodeExpired => StatusCode::GONE,
        ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UploadRejected | ErrorCode::ReportRejected => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::LoginThrottled
        | ErrorCode::DeclarationCodeThrottled
        | ErrorCode::ReportThrottled => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::StorageFailure | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP status of an error.
pub fn status_of(e: &ApiError) -> StatusCode {
    status_of_code(e.code)
}

/// An error as `{"error": {"code", "message"}}`, with `Retry-After` when it has one.
pub fn error_response(e: &ApiError) -> HttpResponse {
    let status = status_of(e);
    let body = serde_json::json!({
        "error": { "code": e.code.as_str(), "message": e.message }
    });
    let mut response = json_response(status, body.to_string());
    if let Some(seconds) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// A JSON body, never cached.
pub fn json_response(status: StatusCode, body: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `200 OK` with a JSON body.
pub fn ok_json(value: Value) -> Result<HttpResponse, ApiError> {
    Ok(json_response(StatusCode::OK, value.to_string()))
}

/// A UTF-8 text body.
pub fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A CSV body, never cached.
pub fn csv(text: String) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Run blocking work (PBKDF2, store writes with their flush, verification) off the reactor.
/// A panic inside becomes an `internal` error, never a dropped connection.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "request handler panicked");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}

/// The server's budget of body bytes being received at once, shared by every request (the
/// web layer puts it in each request's extensions; a request without one is not counted).
#[derive(Clone, Debug)]
pub struct BodyBudget(Arc<Semaphore>);

/// Seconds a client refused for lack of body budget is told to wait.
const BUSY_RETRY_AFTER: u64 = 5;

impl BodyBudget {
    /// A budget of `bytes` (at most [`Semaphore::MAX_PERMITS`]).
    pub fn new(bytes: usize) -> BodyBudget {
        BodyBudget(Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))))
    }

    /// Bytes of the budget not in use.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }

    /// Take `bytes` more of the budget into `held`, or refuse with `server_busy`.
    fn take(&self, held: &mut Option<OwnedSemaphorePermit>, bytes: usize) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        let taken = u32::try_from(bytes)
            .ok()
            .and_then(|n| Arc::clone(&self.0).try_acquire_many_owned(n).ok())
            .ok_or_else(|| ApiError {
                retry_after: Some(BUSY_RETRY_AFTER),
                ..ApiError::new(
                    ErrorCode::ServerBusy,
                    "the server is receiving too many bodies at once; retry later",
                )
            })?;
        match held {
            Some(permit) => permit.merge(taken),
            None => *held = Some(taken),
        }
        Ok(())
    }
}

/// Read a body of at most `limit` bytes. A longer one is refused with `body_too_large`; when
/// its declared length is at most twice the limit the rest is read and discarded first, so
/// that a client still sending gets the error instead of a reset connection.
///
/// The bytes kept count against the request's [`BodyBudget`] until this returns: a declared
/// length up to the limit is taken whole before any byte is read, other bytes as they
/// arrive; when the budget is spent the request is refused with `503 server_busy` at once.
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("body longer than {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let drain_limit = limit.saturating_mul(2);
    if declared.is_some_and(|length| length > drain_limit as u64) {
        return Err(too_large());
    }
    let budget = req.extensions().get::<BodyBudget>().cloned();
    let mut held = None;
    let mut reserved = 0usize;
    if let (Some(budget), Some(length)) = (&budget, declared) {
        reserved = usize::try_from(length).unwrap_or(usize::MAX).min(limit);
        budget.take(&mut held, reserved)?;
    }
    let mut body = req.into_body();
    let mut collected = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(ErrorCode::BadRequest, format!("cannot read the body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > drain_limit {
                return Err(too_large());
            }
            if seen <= limit {
                let kept = collected.len() + data.len();
                if let Some(budget) = &budget
                    && kept > reserved
                {
                    budget.take(&mut held, kept - reserved)?;
                    reserved = kept;
                }
                collected.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(collected))
}

/// Read a JSON body of at most `limit` bytes into `T`.
pub async fn read_json<T: for<'de> Deserialize<'de>>(
    req: Request<Incoming>,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_body(req, limit).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("JSON body: {e}")))
}

/// An identifier from the path (a case id, a row number, a batch id).
pub fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("{text:?} is not an identifier"),
        )
    })
}

/// The query parameter `name` of `req`, decoded, if present.
pub fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}
