//! What phones call (SPEC.md §13): the configuration they pin, F0 uploads and F1 reports.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

use super::respond::{HttpResponse, blocking, json_response, ok_json, read_body};
use super::{AppState, Call, unix_now};
use crate::domain::error::ApiError;
use crate::domain::settings::Unit;
use crate::domain::workflow::{Answered, ReportOutcome};

/// A unit as the config route and the units API show it: `{"name", "districts", "public_key"}`.
pub fn unit_json(u: &Unit) -> Value {
    json!({
        "name": u.name,
        "districts": u.districts,
        "public_key": hex::encode(u.public_key.as_bytes()),
    })
}

/// `GET /phone/v1/config`: the publisher key, the units (configured and registered), their
/// districts and keys.
pub async fn config(call: Call) -> Result<HttpResponse, ApiError> {
    let w = &call.state.workflow;
    // Read again from the store (another instance may have registered one): off the runtime.
    let state = Arc::clone(&call.state);
    let units = blocking(move || Ok(state.workflow.units())).await?;
    let units: Vec<Value> = units.iter().map(unit_json).collect();
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

/// How long the server took over its latest real answers of one kind (accepted uploads, or
/// verified reports) of each length (size class), so that a decoy is answered after as long as
/// a real one of its length (SPEC.md §13): each decoy is held for one of the last
/// [`AnswerTimes::KEPT`] durations of its length, drawn at random, so decoys and real requests
/// of one size class share one distribution of answer times.
#[derive(Debug)]
pub struct AnswerTimes {
    kept: Mutex<BTreeMap<usize, VecDeque<Duration>>>,
    /// What a decoy waits while no real answer is kept yet (just after a start).
    initial: Duration,
}

impl AnswerTimes {
    /// How many durations are kept per length.
    pub const KEPT: usize = 64;

    /// No duration kept yet; decoys wait `initial` until one of their length is.
    pub fn new(initial: Duration) -> AnswerTimes {
        AnswerTimes {
            kept: Mutex::new(BTreeMap::new()),
            initial,
        }
    }

    /// Keep the duration of a real answer to a body of `len` bytes (a size class: the
    /// protocol refuses other lengths, so at most ten keys).
    pub fn record(&self, len: usize, took: Duration) {
        let mut all = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let kept = all.entry(len).or_default();
        if kept.len() == Self::KEPT {
            kept.pop_front();
        }
        kept.push_back(took);
    }

    /// A duration for a decoy of `len` bytes: one of those kept for that length, drawn
    /// uniformly.
    pub fn draw(&self, len: usize) -> Duration {
        let all = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let Some(kept) = all.get(&len).filter(|k| !k.is_empty()) else {
            return self.initial;
        };
        let mut bytes = [0u8; 8];
        // Without OS randomness, the latest duration (still one of a real answer).
        let pick = match getrandom::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes) % kept.len() as u64,
            Err(_) => kept.len() as u64 - 1,
        };
        kept[pick as usize]
    }
}

/// The answer times of real uploads and reports that decoys copy.
#[derive(Debug)]
pub struct DecoyTiming {
    /// Accepted uploads.
    pub uploads: AnswerTimes,
    /// Verified reports.
    pub reports: AnswerTimes,
}

impl Default for DecoyTiming {
    /// Before any real answer of their length, decoys wait the median the load benchmark measured for real
    /// ones (README, "Load": uploads p50 4.3 ms, reports 4.0 ms).
    fn default() -> Self {
        DecoyTiming {
            uploads: AnswerTimes::new(Duration::from_micros(4_300)),
            reports: AnswerTimes::new(Duration::from_micros(4_000)),
        }
    }
}

/// Run `work` (an upload or a report) on a blocking thread; a real answer's duration is kept
/// in `times`, a decoy holds its thread until as long as a drawn real one has passed (a
/// thread's sleep is precise to tens of microseconds, where the async timer rounds up to the
/// next millisecond: real answers take a millisecond or less).
async fn answered_alike<T: Send + 'static>(
    times: fn(&AppState) -> &AnswerTimes,
    state: Arc<AppState>,
    body: Bytes,
    work: impl FnOnce(&AppState, &[u8]) -> Result<Answered<T>, ApiError> + Send + 'static,
) -> Result<Answered<T>, ApiError> {
    blocking(move || {
        let started = Instant::now();
        let answered = work(&state, &body)?;
        let times = times(&state);
        match &answered {
            Answered::Real(_) => times.record(body.len(), started.elapsed()),
            Answered::Decoy => {
                let hold = times.draw(body.len());
                std::thread::sleep(hold.saturating_sub(started.elapsed()));
            }
        }
        Ok(answered)
    })
    .await
}

/// `POST /phone/v1/uploads`: an F0 upload (SPEC.md §7) → `201 {"accepted": true}`; a decoy
/// (§7.6) gets the same answer after as long, and changes nothing.
pub async fn upload(call: Call) -> Result<HttpResponse, ApiError> {
    let body = read_body(call.req, call.state.limits.upload_bytes).await?;
    let client = call.client;
    answered_alike(
        |s| &s.decoy_timing.uploads,
        call.state,
        body,
        move |s, body| s.workflow.accept_upload(body, client, unix_now()),
    )
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({"accepted": true}).to_string(),
    ))
}

/// `POST /phone/v1/reports`: an F1 report (SPEC.md §10) → `{"verified": true, "rows": n}`; a
/// decoy (§10.6) gets `{"verified": true, "rows": 1}`, the answer of nearly every real report,
/// after as long, and changes nothing.
pub async fn report(call: Call) -> Result<HttpResponse, ApiError> {
    let body = read_body(call.req, call.state.limits.report_bytes).await?;
    let client = call.client;
    let answered = answered_alike(
        |s| &s.decoy_timing.reports,
        call.state,
        body,
        move |s, body| s.workflow.accept_report(body, client, unix_now()),
    )
    .await?;
    let outcome = answered.real().unwrap_or(ReportOutcome {
        verified: true,
        rows: 1,
    });
    ok_json(json!(outcome))
}
