//! What phones call (SPEC.md §13): the configuration they pin, F0 uploads and F1 reports.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::respond::{HttpResponse, blocking, json_response, ok_json, read_body};
use super::{Call, unix_now};
use crate::domain::error::ApiError;

/// `GET /phone/v1/config`: the publisher key, the units, their districts and keys.
pub async fn config(call: Call) -> Result<HttpResponse, ApiError> {
    let w = &call.state.workflow;
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
    let regions: Vec<Value> = w
        .settings()
        .regions
        .regions
        .iter()
        .map(|r| json!({"code": r.code, "name": r.name}))
        .collect();
    ok_json(json!({
        "publisher_key": hex::encode(w.publisher_key().0),
        "units": units,
        "regions": regions,
    }))
}

/// `POST /phone/v1/uploads`: an F0 upload (SPEC.md §7) → `201 {"accepted": true}`.
pub async fn upload(call: Call) -> Result<HttpResponse, ApiError> {
    let body = read_body(call.req, call.state.limits.upload_bytes).await?;
    let (state, client) = (call.state, call.client);
    blocking(move || state.workflow.accept_upload(&body, client, unix_now())).await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({"accepted": true}).to_string(),
    ))
}

/// `POST /phone/v1/reports`: an F1 report (SPEC.md §10) → `{"verified": true, "rows": n}`.
pub async fn report(call: Call) -> Result<HttpResponse, ApiError> {
    let body = read_body(call.req, call.state.limits.report_bytes).await?;
    let (state, client) = (call.state, call.client);
    let outcome = blocking(move || state.workflow.accept_report(&body, client, unix_now())).await?;
    ok_json(json!(outcome))
}
