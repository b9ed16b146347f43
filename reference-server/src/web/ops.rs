//! Operations: the root redirect, the health check and the metrics.

use std::sync::atomic::Ordering;

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::Call;
use super::respond::{HttpResponse, blocking, plain, see_other};
use crate::domain::error::ApiError;

/// `GET /`: the console.
pub async fn root(_call: Call) -> Result<HttpResponse, ApiError> {
    Ok(see_other("/console/"))
}

/// `GET /healthz`: whether the process works: `200 ok` once it has read from its store,
/// `503` with the reason when it cannot.
pub async fn healthz(call: Call) -> Result<HttpResponse, ApiError> {
    let state = call.state;
    let read = blocking(move || Ok(state.workflow.store().next_batch_id())).await?;
    Ok(match read {
        Ok(_) => plain(StatusCode::OK, "ok\n"),
        Err(e) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("store unreadable: {e}\n"),
        ),
    })
}

/// `GET /readyz`: whether this instance takes traffic: `200 ready`, or `503 draining` from
/// the moment it is asked to stop (SIGTERM, SIGINT) until it exits.
pub async fn readyz(call: Call) -> Result<HttpResponse, ApiError> {
    Ok(if call.state.draining.load(Ordering::SeqCst) {
        plain(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        plain(StatusCode::OK, "ready\n")
    })
}

/// `GET /metrics`: Prometheus text. Keep it off the public listener (see README).
pub async fn metrics(call: Call) -> Result<HttpResponse, ApiError> {
    let state = call.state;
    let text = blocking(move || {
        let counts = state.workflow.store().counts().ok();
        Ok(state
            .workflow
            .metrics
            .render(counts, state.workflow.index_len()))
    })
    .await?;
    let mut r = plain(StatusCode::OK, &text);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(r)
}
