//! The thin HTTP layer (hyper 1): routes, body limits, timeouts, JSON views. Every decision is
//! the workflow's; this module only moves bytes and maps errors to their stable codes.
//!
//! | method and path | who | body → answer |
//! |---|---|---|
//! | `GET /healthz` | anyone | `ok` |
//! | `GET /metrics` | anyone on the listen address | Prometheus text |
//! | `GET /publication/v1/index.bin` | phones, CDN | signed batch index (SPEC.md §8) |
//! | `GET /publication/v1/batches/<id>.bin` | phones, CDN | signed batch |
//! | `GET /phone/v1/config` | phones | publisher key, units and their districts and keys |
//! | `POST /phone/v1/uploads` | phones | F0 upload bytes → `{"accepted": true}` |
//! | `POST /phone/v1/reports` | phones | F1 report bytes → `{"verified": true, "rows": n}` |
//! | `POST /api/v1/login` | health workers | `{"username", "password"}` → `{"token", "expires_at"}` |
//! | `POST /api/v1/logout`, `GET /api/v1/me`, `POST /api/v1/me/password` | any role | |
//! | `GET`/`POST /api/v1/accounts` | admin | list, create |
//! | `POST /api/v1/publication/run` | admin | build a batch now |
//! | `GET /api/v1/admin/store` | admin | record counts and digest of the store |
//! | `GET`/`POST /api/v1/cases` | treatment facility | list, open (returns the declaration code) |
//! | `GET /api/v1/cases/<id>`, `POST .../trace`, `GET .../f1` | treatment facility | case, "Trace F1", F1 table |
//! | `GET /api/v1/units/<unit>/f1[?format=csv]` | that unit's workers | the unit's F1 rows |
//! | `POST /api/v1/units/<unit>/f1/<case>/<row>/follow-up` | that unit's workers | `{"status"}` |
//!
//! | `GET /`, `/console/...` | health workers in a browser | the web console ([`crate::console`]) |
//!
//! Health workers send `Authorization: Bearer <token>` (the console: the same token in a
//! cookie). Errors are
//! `{"error": {"code", "message"}}` with the codes of [`ErrorCode`].

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::console::{self, ConsoleConfig};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{Endpoint, Metrics};
use crate::store::{
    Account, CaseRecord, CaseStatus, ConfirmationRecord, F1RowRecord, FollowUpStatus, Role,
};
use crate::workflow::{Principal, Workflow};

/// Body and time limits of the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest upload body.
    pub upload_bytes: usize,
    /// Largest report body.
    pub report_bytes: usize,
    /// Largest JSON body.
    pub json_bytes: usize,
    /// Longest a request may take, body included.
    pub request_timeout: Duration,
}

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The workflow.
    pub workflow: Workflow,
    /// The limits.
    pub limits: Limits,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`client_address`]).
    pub trusted_proxies: Vec<IpAddr>,
    /// The web console's settings.
    pub console: ConsoleConfig,
}

/// The address a request is throttled by: the TCP peer, or, when the peer is one of
/// `trusted_proxies`, the right-most address of `X-Forwarded-For` that is not itself a trusted
/// proxy (addresses further left were written by the client and prove nothing). Behind a proxy
/// that is not listed, every client has the proxy's address and shares its throttle.
pub fn client_address(
    headers: &header::HeaderMap,
    peer: IpAddr,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        hops.extend(text.split(',').map(str::trim));
    }
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) if trusted_proxies.contains(&address) => continue,
            Ok(address) => return address,
            Err(_) => return peer,
        }
    }
    peer
}

type HttpResponse = Response<Full<Bytes>>;

/// Seconds since the unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serve `listener` until `shutdown` completes. Connections in progress are left to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(state, req, peer).await) }
                    });
                    let served = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .max_buf_size(64 * 1024)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(e) = served {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
        }
    }
}

fn endpoint_of(path: &str) -> Endpoint {
    if path.starts_with("/phone/v1/uploads") {
        Endpoint::Upload
    } else if path.starts_with("/phone/v1/reports") {
        Endpoint::Report
    } else if path.starts_with("/publication/") {
        Endpoint::Publication
    } else {
        Endpoint::Api
    }
}

async fn handle(state: Arc<AppState>, req: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let endpoint = endpoint_of(&path);
    let timeout = state.limits.request_timeout;
    let client = client_address(req.headers(), peer.ip(), &state.trusted_proxies);
    let response = match tokio::time::timeout(timeout, route(&state, req, peer.ip(), client)).await
    {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error_response(&e),
        Err(_) => error_response(&ApiError::new(
            ErrorCode::Timeout,
            format!("request took longer than {} s", timeout.as_secs()),
        )),
    };
    let status = response.status();
    if status.is_server_error() {
        Metrics::inc(&state.workflow.metrics.server_errors);
    }
    let elapsed = started.elapsed();
    state
        .workflow
        .metrics
        .observe(endpoint, elapsed.as_secs_f64());
    tracing::debug!(%method, %path, status = status.as_u16(), micros = elapsed.as_micros() as u64, "request");
    response
}

/// The HTTP status of an error.
pub(crate) fn status_of(e: &ApiError) -> StatusCode {
    StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

fn error_response(e: &ApiError) -> HttpResponse {
    let status = status_of(e);
    let mut response = json_response(status, e.to_json());
    if let Some(seconds) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn json_response(status: StatusCode, body: String) -> HttpResponse {
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

fn ok_json(value: Value) -> Result<HttpResponse, ApiError> {
    Ok(json_response(StatusCode::OK, value.to_string()))
}

/// Run blocking work (PBKDF2, store writes with their flush, verification) off the reactor.
/// A panic inside becomes an `internal` error, never a dropped connection.
pub(crate) async fn blocking<T: Send + 'static>(
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
pub(crate) async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
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

async fn read_json<T: for<'de> Deserialize<'de>>(
    req: Request<Incoming>,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_body(req, limit).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("JSON body: {e}")))
}

fn bearer(req: &Request<Incoming>) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "Authorization header missing"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| ApiError::new(ErrorCode::SessionInvalid, "expected `Bearer <token>`"))
}

async fn principal(state: &Arc<AppState>, req: &Request<Incoming>) -> Result<Principal, ApiError> {
    let token = bearer(req)?;
    let state = Arc::clone(state);
    blocking(move || state.workflow.authenticate(&token, unix_now())).await
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound, "no such route")
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

pub(crate) fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("{text:?} is not an identifier"),
        )
    })
}

async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    peer: IpAddr,
    client: IpAddr,
) -> Result<HttpResponse, ApiError> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (segments.as_slice(), &method) {
        (["healthz"], &Method::GET) => Ok(plain(StatusCode::OK, "ok\n")),
        ([""], &Method::GET) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/console/"));
            Ok(r)
        }
        (["console", rest @ ..], _) => Ok(console::route(state, req, rest, peer, client).await),
        (["metrics"], &Method::GET) => {
            let s = Arc::clone(state);
            let text = blocking(move || {
                let counts = s.workflow.store().counts().ok();
                Ok(s.workflow.metrics.render(counts, s.workflow.index_len()))
            })
            .await?;
            let mut r = plain(StatusCode::OK, &text);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            Ok(r)
        }
        (["publication", "v1", "index.bin"], &Method::GET) => {
            let path = state.workflow.index_path();
            static_file(&req, &path, "public, max-age=60").await
        }
        (["publication", "v1", "batches", file], &Method::GET) => {
            let id: u64 = parse_id(file.strip_suffix(".bin").unwrap_or("x"))?;
            let path = state.workflow.batch_path(id);
            static_file(&req, &path, "public, max-age=1209600, immutable").await
        }
        (["phone", "v1", "config"], &Method::GET) => {
            let w = &state.workflow;
            let units: Vec<Value> = w
                .settings()
                .units
                .iter()
                .map(|u| {
                    json!({
                        "name": u.name,
                        "districts": u.districts,
                        "public_key": hex::encode(u.public_key.as_bytes()),
                    })
                })
                .collect();
            ok_json(json!({
                "publisher_key": hex::encode(w.publisher_key().0),
                "units": units,
            }))
        }
        (["phone", "v1", "uploads"], &Method::POST) => {
            let body = read_body(req, state.limits.upload_bytes).await?;
            let s = Arc::clone(state);
            blocking(move || s.workflow.accept_upload(&body, client, unix_now())).await?;
            Ok(json_response(
                StatusCode::CREATED,
                json!({"accepted": true}).to_string(),
            ))
        }
        (["phone", "v1", "reports"], &Method::POST) => {
            let body = read_body(req, state.limits.report_bytes).await?;
            let s = Arc::clone(state);
            let outcome = blocking(move || s.workflow.accept_report(&body, unix_now())).await?;
            ok_json(json!(outcome))
        }
        (["api", "v1", "login"], &Method::POST) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Login {
                username: String,
                password: String,
            }
            let login: Login = read_json(req, state.limits.json_bytes).await?;
            let s = Arc::clone(state);
            let outcome = blocking(move || {
                s.workflow
                    .login(&login.username, &login.password, client, unix_now())
            })
            .await?;
            ok_json(json!(outcome))
        }
        (["api", "v1", rest @ ..], _) => api(state, req, rest, client).await,
        (
            ["healthz"]
            | ["metrics"]
            | ["publication", "v1", ..]
            | ["phone", "v1", "config" | "uploads" | "reports"],
            _,
        ) => Err(method_not_allowed()),
        _ => Err(not_found()),
    }
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Serve a publication file with a strong ETag (its SHA-256) and `Cache-Control`, answering
/// `If-None-Match` with 304.
async fn static_file(
    req: &Request<Incoming>,
    path: &std::path::Path,
    cache_control: &'static str,
) -> Result<HttpResponse, ApiError> {
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no such publication file",
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                ErrorCode::StorageFailure,
                format!("cannot read publication file: {e}"),
            ));
        }
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let etag = format!("\"{}\"", hex::encode(digest.as_ref()));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from(bytes)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(r)
}

/// A civil UTC time, `YYYY-MM-DDTHH:MM:SSZ`, from unix seconds.
pub fn utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Days to civil date (proleptic Gregorian), by eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn role_json(role: &Role) -> Value {
    match role {
        Role::Admin => json!({"kind": "admin"}),
        Role::TreatmentFacility => json!({"kind": "treatment_facility"}),
        Role::PreventiveUnit { unit } => json!({"kind": "preventive_unit", "unit": unit}),
    }
}

fn account_json(a: &Account) -> Value {
    json!({
        "username": a.username,
        "role": role_json(&a.role),
        "created_at": a.created_at,
        "disabled": a.disabled,
    })
}

/// The JSON view of a case.
pub fn case_json(c: &CaseRecord) -> Value {
    let (status, at, batch) = match &c.status {
        CaseStatus::AwaitingUpload => ("awaiting_upload", c.opened_at, None),
        CaseStatus::UploadReceived { at } => ("upload_received", *at, None),
        CaseStatus::TraceRequested { at, .. } => ("trace_requested", *at, None),
        CaseStatus::Published { batch_id, at } => ("published", *at, Some(*batch_id)),
    };
    json!({
        "case_id": c.case_id,
        "reference": c.reference,
        "opened_by": c.opened_by,
        "opened_at": c.opened_at,
        "code_expires_at": c.code_expires_at,
        "status": status,
        "status_at": at,
        "batch_id": batch,
        "f1_rows": c.f1_rows,
    })
}

pub(crate) fn confirmation_str(c: ConfirmationRecord) -> &'static str {
    match c {
        ConfirmationRecord::ConfirmedBothWays => "confirmed_both_ways",
        ConfirmationRecord::OneSided => "one_sided",
    }
}

pub(crate) fn follow_up_str(s: FollowUpStatus) -> &'static str {
    match s {
        FollowUpStatus::New => "new",
        FollowUpStatus::Contacted => "contacted",
        FollowUpStatus::Quarantined => "quarantined",
        FollowUpStatus::Tested => "tested",
        FollowUpStatus::Closed => "closed",
    }
}

pub(crate) fn parse_follow_up(s: &str) -> Result<FollowUpStatus, ApiError> {
    Ok(match s {
        "new" => FollowUpStatus::New,
        "contacted" => FollowUpStatus::Contacted,
        "quarantined" => FollowUpStatus::Quarantined,
        "tested" => FollowUpStatus::Tested,
        "closed" => FollowUpStatus::Closed,
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("status {other:?}: one of new, contacted, quarantined, tested, closed"),
            ));
        }
    })
}

/// The JSON view of an F1 row: the columns of the seed's F1 table and the follow-up.
pub fn row_json(r: &F1RowRecord) -> Value {
    json!({
        "case_id": r.case_id,
        "no": r.row_no,
        "f1_id": hex::encode(r.report_id),
        "district": r.district,
        "sealed_contact": hex::encode(&r.sealed_contact),
        "contact_time": r.first_contact,
        "contact_time_utc": utc(r.first_contact),
        "last_contact": r.last_contact,
        "duration_seconds": r.duration_seconds,
        "min_attenuation_db": r.min_attenuation_db,
        "weighted_minutes": r.weighted_minutes,
        "confirmation": confirmation_str(r.confirmation),
        "received_at": r.received_at,
        "follow_up": {
            "status": follow_up_str(r.follow_up.status),
            "updated_at": r.follow_up.updated_at,
            "updated_by": r.follow_up.updated_by,
        },
    })
}

/// The CSV export of F1 rows (RFC 4180; every field is a number, a fixed word or hex, so no
/// field needs quoting except `updated_by`, which is a user name of `a-z 0-9 . _ -`).
pub fn rows_csv(rows: &[F1RowRecord]) -> String {
    let mut out = String::from(
        "case_id,no,f1_id,district,contact_time_utc,last_contact_utc,duration_seconds,\
         min_attenuation_db,weighted_minutes,confirmation,follow_up,follow_up_at_utc,\
         follow_up_by,sealed_contact\r\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            r.case_id,
            r.row_no,
            hex::encode(r.report_id),
            r.district,
            utc(r.first_contact),
            utc(r.last_contact),
            r.duration_seconds,
            r.min_attenuation_db,
            r.weighted_minutes,
            confirmation_str(r.confirmation),
            follow_up_str(r.follow_up.status),
            utc(r.follow_up.updated_at),
            r.follow_up.updated_by,
            hex::encode(&r.sealed_contact),
        ));
    }
    out
}

async fn api(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    rest: &[&str],
    _client: IpAddr,
) -> Result<HttpResponse, ApiError> {
    let method = req.method().clone();
    let who = principal(state, &req).await?;
    let s = Arc::clone(state);
    let limit = state.limits.json_bytes;
    match (rest, &method) {
        (["logout"], &Method::POST) => {
            let token = bearer(&req)?;
            blocking(move || s.workflow.logout(&token)).await?;
            ok_json(json!({"logged_out": true}))
        }
        (["me"], &Method::GET) => {
            ok_json(json!({"username": who.username, "role": role_json(&who.role)}))
        }
        (["me", "password"], &Method::POST) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Change {
                current: String,
                new: String,
            }
            let c: Change = read_json(req, limit).await?;
            blocking(move || s.workflow.change_password(&who, &c.current, &c.new)).await?;
            ok_json(json!({"changed": true}))
        }
        (["accounts"], &Method::GET) => {
            let accounts = blocking(move || s.workflow.accounts(&who)).await?;
            ok_json(Value::Array(accounts.iter().map(account_json).collect()))
        }
        (["accounts"], &Method::POST) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct NewAccount {
                username: String,
                password: String,
                role: String,
                unit: Option<String>,
            }
            let a: NewAccount = read_json(req, limit).await?;
            let role = match (a.role.as_str(), a.unit) {
                ("admin", None) => Role::Admin,
                ("treatment_facility", None) => Role::TreatmentFacility,
                ("preventive_unit", Some(unit)) => Role::PreventiveUnit { unit },
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "role: admin, treatment_facility, or preventive_unit with a unit",
                    ));
                }
            };
            let account = blocking(move || {
                s.workflow
                    .create_account(&who, &a.username, &a.password, role, unix_now())
            })
            .await?;
            Ok(json_response(
                StatusCode::CREATED,
                account_json(&account).to_string(),
            ))
        }
        (["publication", "run"], &Method::POST) => {
            let batch = blocking(move || s.workflow.publish_on_demand(&who, unix_now())).await?;
            ok_json(match batch {
                None => json!({"batch": null}),
                Some(b) => json!({"batch": {
                    "batch_id": b.batch_id,
                    "created_at": b.created_at,
                    "entry_count": b.entry_count,
                    "published_rpis": b.published_rpis,
                    "byte_len": b.byte_len,
                    "sha256": hex::encode(b.sha256),
                    "cases": b.cases,
                }}),
            })
        }
        (["admin", "store"], &Method::GET) => {
            let (counts, digest) = blocking(move || {
                if who.role != Role::Admin {
                    return Err(ApiError::new(ErrorCode::ForbiddenRole, "admins only"));
                }
                let store = s.workflow.store();
                Ok((store.counts()?, store.digest()?))
            })
            .await?;
            ok_json(json!({"counts": counts, "digest": hex::encode(digest)}))
        }
        (["cases"], &Method::GET) => {
            let cases = blocking(move || s.workflow.cases(&who)).await?;
            ok_json(Value::Array(cases.iter().map(case_json).collect()))
        }
        (["cases"], &Method::POST) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Open {
                #[serde(default)]
                reference: String,
            }
            let o: Open = read_json(req, limit).await?;
            let opened =
                blocking(move || s.workflow.open_case(&who, &o.reference, unix_now())).await?;
            let mut view = case_json(&opened.case);
            view["declaration_code"] = json!(opened.code);
            Ok(json_response(StatusCode::CREATED, view.to_string()))
        }
        (["cases", id], &Method::GET) => {
            let id: u64 = parse_id(id)?;
            let case = blocking(move || s.workflow.case(&who, id)).await?;
            ok_json(case_json(&case))
        }
        (["cases", id, "trace"], &Method::POST) => {
            let id: u64 = parse_id(id)?;
            let case = blocking(move || s.workflow.request_trace(&who, id, unix_now())).await?;
            ok_json(case_json(&case))
        }
        (["cases", id, "f1"], &Method::GET) => {
            let id: u64 = parse_id(id)?;
            let rows = blocking(move || s.workflow.f1_table(&who, id)).await?;
            ok_json(Value::Array(rows.iter().map(row_json).collect()))
        }
        (["units", unit, "f1"], &Method::GET) => {
            let csv = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "format=csv"));
            let unit = (*unit).to_owned();
            let rows = blocking(move || s.workflow.unit_rows(&who, &unit)).await?;
            if csv {
                let mut r = plain(StatusCode::OK, &rows_csv(&rows));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                );
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(r)
            } else {
                ok_json(Value::Array(rows.iter().map(row_json).collect()))
            }
        }
        (["units", unit, "f1", case, row, "follow-up"], &Method::POST) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Status {
                status: String,
            }
            let case: u64 = parse_id(case)?;
            let row: u32 = parse_id(row)?;
            let unit = (*unit).to_owned();
            let st: Status = read_json(req, limit).await?;
            let status = parse_follow_up(&st.status)?;
            let updated = blocking(move || {
                // The unit in the path must be the caller's own.
                s.workflow.unit_rows_guard(&who, &unit)?;
                s.workflow
                    .set_follow_up(&who, case, row, status, unix_now())
            })
            .await?;
            ok_json(row_json(&updated))
        }
        (
            ["logout"]
            | ["me"]
            | ["me", "password"]
            | ["accounts"]
            | ["publication", "run"]
            | ["admin", "store"]
            | ["cases"]
            | ["cases", _]
            | ["cases", _, "trace" | "f1"]
            | ["units", _, "f1"]
            | ["units", _, "f1", _, _, "follow-up"],
            _,
        ) => Err(method_not_allowed()),
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = [proxy, inner];
        let mut headers = header::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.7, 10.0.0.2"),
        );
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        // Not from a proxy: the header is ignored.
        assert_eq!(client_address(&headers, stranger, &trusted), stranger);
        // From a proxy: the right-most untrusted hop (the client wrote 1.2.3.4 itself).
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_address(&headers, proxy, &trusted), client);
        // A garbled hop, or no header: the proxy's own address.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("nonsense, 10.0.0.2"),
        );
        assert_eq!(client_address(&headers, proxy, &trusted), proxy);
        assert_eq!(
            client_address(&header::HeaderMap::new(), proxy, &trusted),
            proxy
        );
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_627_776_000 + 3_723), "2021-08-01T01:02:03Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
