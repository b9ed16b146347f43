//! Operations: the root redirect, the health check and the metrics.

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::Call;
use super::respond::{HttpResponse, blocking, plain, see_other};
use crate::domain::error::ApiError;

/// `GET /`: the console.
pub async fn root(_call: Call) -> Result<HttpResponse, ApiError> {
    Ok(see_other("/console/"))
}

/// `GET /healthz`.
pub async fn healthz(_call: Call) -> Result<HttpResponse, ApiError> {
    Ok(plain(StatusCode::OK, "ok\n"))
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
