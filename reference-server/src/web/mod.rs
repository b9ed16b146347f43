//! The web layer: the HTTP binding of the domain ([`crate::domain`]) on hyper 1.
//!
//! The one rule of this layer: it decides nothing. Every decision is a call into the
//! [`Workflow`]; this layer routes requests, enforces body and time limits, moves bytes, maps
//! errors to their HTTP status, and renders views (JSON, CSV, HTML).
//!
//! - [`router`]: the one table of every route, and the dispatch.
//! - [`api`]: the health workers' JSON API; [`phone`]: what phones call;
//!   [`publication`]: the publication files (a [`FileSink`](publication::FileSink) and the
//!   routes that serve it); [`ops`]: health, metrics.
//! - [`console`]: the health workers' web console.
//! - [`respond`]: what every handler shares; [`listing`]: the filters and pages of lists.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Request;
use hyper::body::Incoming;
use hyper::header;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::{Endpoint, Metrics};
use crate::domain::workflow::Workflow;

pub mod api;
pub mod console;
pub mod listing;
pub mod ops;
pub mod phone;
pub mod publication;
pub mod respond;
pub mod router;

use respond::{BodyBudget, HttpResponse, error_response};

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
    /// Most connections served at once. Beyond it, [`OVERLOAD_CONNECTIONS`] more are answered
    /// one request each (`/healthz`, or `503 server_busy`) and any further one is closed at
    /// once, so the server never runs out of file descriptors and `/healthz` keeps answering.
    pub max_connections: usize,
    /// Most body bytes being received at once, all requests together; beyond it a request is
    /// refused with `503 server_busy` (see [`respond::read_body`]).
    pub body_bytes_in_flight: usize,
}

/// Connections beyond [`Limits::max_connections`] answered anyway: one request each, whose
/// head must arrive within [`OVERLOAD_HEADER_TIMEOUT`]. `/healthz` is served on them; every
/// other route gets `503 server_busy`.
pub const OVERLOAD_CONNECTIONS: usize = 8;
/// How long an overload connection may take to send its request head.
pub const OVERLOAD_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection may take to send a request head (the first, or the next on a
/// kept-alive connection).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

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
    pub console: console::ConsoleConfig,
    /// The answer times of real uploads and reports, which decoys copy.
    pub decoy_timing: phone::DecoyTiming,
    /// Set once shutdown begins: `/readyz` then answers 503 so that a load balancer stops
    /// sending traffic while in-flight requests finish.
    pub draining: AtomicBool,
    /// When this instance's next scheduled publication run is due (unix seconds); 0 when it
    /// publishes on demand only. The console tells a worker waiting for publication.
    pub next_publication: AtomicU64,
}

/// What a request's access-log line says beyond its method, path and status: the route it
/// matched and the account that made it, filled in as routing and authentication learn them.
#[derive(Debug, Default)]
pub struct RequestLog {
    /// The route's pattern (`/api/v1/cases/{id}`).
    pub route: OnceLock<&'static str>,
    /// The account, once its session is checked.
    pub account: OnceLock<String>,
}

/// A request, with what routing learnt about it.
pub struct Call {
    /// What every handler shares.
    pub state: Arc<AppState>,
    /// The request.
    pub req: Request<Incoming>,
    /// The path's parameters (`{id}` in the route), in order.
    pub params: Vec<(String, String)>,
    /// The TCP peer.
    pub peer: IpAddr,
    /// The client the throttles count against (see [`client_address`]).
    pub client: IpAddr,
    /// What the access log says of this request.
    pub log: Arc<RequestLog>,
}

impl Call {
    /// The path parameter `name` (always present: the route declares it).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
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

/// Seconds since the unix epoch, from the system clock: the one place the web layer reads the
/// time it passes to the domain.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serve `listener` until `shutdown` completes. Connections in progress are left to finish.
///
/// At most [`Limits::max_connections`] connections are served at once, and
/// [`OVERLOAD_CONNECTIONS`] more in overload (see [`Limits::max_connections`]); a connection
/// beyond both is closed as soon as it is accepted. Body bytes being received count against
/// one [`BodyBudget`] of [`Limits::body_bytes_in_flight`].
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<Drained> {
    let connections = Arc::new(Semaphore::new(state.limits.max_connections));
    let overload = Arc::new(Semaphore::new(OVERLOAD_CONNECTIONS));
    let budget = BodyBudget::new(state.limits.body_bytes_in_flight);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                // Stop accepting (the listener closes), say so to load balancers, and let every
                // connection finish the request it is in, closing kept-alive ones after it.
                drop(listener);
                state.draining.store(true, Ordering::SeqCst);
                return Ok(match tokio::time::timeout(grace, graceful.shutdown()).await {
                    Ok(()) => Drained::All,
                    Err(_) => Drained::DeadlinePassed,
                });
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (slot, overloaded) = match Arc::clone(&connections).try_acquire_owned() {
                    Ok(slot) => (slot, false),
                    Err(_) => match Arc::clone(&overload).try_acquire_owned() {
                        Ok(slot) => (slot, true),
                        Err(_) => {
                            tracing::debug!(%peer, "connection closed: at the connection cap");
                            drop(stream);
                            continue;
                        }
                    },
                };
                let state = Arc::clone(&state);
                let budget = budget.clone();
                let watched = graceful.watcher();
                tokio::spawn(async move {
                    let _slot = slot;
                    let service = service_fn(move |mut req: Request<Incoming>| {
                        let state = Arc::clone(&state);
                        req.extensions_mut().insert(budget.clone());
                        async move {
                            let response = if overloaded && req.uri().path() != "/healthz" {
                                error_response(&ApiError {
                                    retry_after: Some(1),
                                    ..ApiError::new(
                                        ErrorCode::ServerBusy,
                                        "the server is at its connection cap; retry later",
                                    )
                                })
                            } else {
                                handle(state, req, peer).await
                            };
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let mut builder = http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(if overloaded {
                            OVERLOAD_HEADER_TIMEOUT
                        } else {
                            HEADER_TIMEOUT
                        })
                        .keep_alive(!overloaded)
                        .max_buf_size(64 * 1024);
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = watched.watch(connection).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
        }
    }
}

/// How [`serve`] ended after its shutdown signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every in-flight request finished.
    All,
    /// The grace period ended first; the requests still running were cut.
    DeadlinePassed,
}

/// Routes whose client address the access log leaves out: it would tie an F0's upload or an
/// F1's report to a network address in a file that outlives the throttles' memory.
fn address_withheld(path: &str) -> bool {
    path.starts_with("/phone/")
}

/// Which latency histogram a request counts in.
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
    let log = Arc::new(RequestLog::default());
    let call = Call {
        state: Arc::clone(&state),
        req,
        params: Vec::new(),
        peer: peer.ip(),
        client,
        log: Arc::clone(&log),
    };
    let response = match tokio::time::timeout(timeout, router::dispatch(call)).await {
        Ok(response) => response,
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
    let client = if address_withheld(&path) {
        "-".to_owned()
    } else {
        client.to_string()
    };
    tracing::info!(
        target: "access",
        %method,
        route = log.route.get().copied().unwrap_or("-"),
        %path,
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        %client,
        account = log.account.get().map_or("-", String::as_str),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

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
}
