//! What every handler shares: building responses, reading bodies with their limits, running
//! blocking work off the reactor, and the HTTP status of each error code.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;

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
        | ErrorCode::UnknownUnit => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated | ErrorCode::SessionInvalid | ErrorCode::LoginFailed => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::ForbiddenRole | ErrorCode::ForbiddenDistrict => StatusCode::FORBIDDEN,
        ErrorCode::DeclarationCodeInvalid | ErrorCode::RouteNotFound | ErrorCode::NotFound => {
            StatusCode::NOT_FOUND
        }
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::AccountExists
        | ErrorCode::CaseNotReady
        | ErrorCode::DeclarationCodeUsed
        | ErrorCode::ReportDuplicate => StatusCode::CONFLICT,
        ErrorCode::DeclarationCodeExpired => StatusCode::GONE,
        ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UploadRejected | ErrorCode::ReportRejected => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::LoginThrottled | ErrorCode::DeclarationCodeThrottled => {
            StatusCode::TOO_MANY_REQUESTS
        }
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

/// Read a body of at most `limit` bytes. A longer one is refused with `body_too_large`; when
/// its declared length is at most twice the limit the rest is read and discarded first, so
/// that a client still sending gets the error instead of a reset connection.
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
