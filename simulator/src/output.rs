//! The files a run writes: `summary.json`, `daily.csv` and the plots of [`plot`]
//! (`epidemic.svg`, `incidence.svg`, `r.svg`, `recall.svg`).
//!
//! All depend only on the scenario and the seed: no timestamps, no durations, floats rounded
//! to 6 decimals and printed by `serde_json`'s shortest round-trip formatting. CSV columns are
//! integers, except `r_cohort_no_app` and `r_cohort_app` (6 decimals); a value that is not
//! defined on a day (a ratio of nothing) is an empty field. Speed figures go to standard error
//! only.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::plot;
use crate::scenario::Scenario;
use crate::sim::{DayRow, Outcome};

/// Header of `daily.csv`, in column order.
pub const CSV_HEADER: &str = "day,new_infections_no_app,new_infections_app,cumulative_no_app,\
cumulative_app,infectious_no_app,infectious_app,confirmed,uploads,batches,rpis_published,\
bytes_per_phone,reports,reports_rejected,sightings_verified,f1_rows,f1_rows_one_sided,\
quarantined,phones,recall_ppm,incidence_per_million_no_app,incidence_per_million_app,true_f1,\
found_f1,recall_app_users_ppm,precision_ppm,r_cohort_no_app,r_cohort_app,r_cohort_final";

/// An optional count: empty when not defined.
fn opt(x: Option<u64>) -> String {
    x.map(|x| x.to_string()).unwrap_or_default()
}

/// An optional decimal, to 6 places: empty when not defined.
fn decimal(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.6}")).unwrap_or_default()
}

/// The daily time series as CSV text.
#[must_use]
pub fn daily_csv(rows: &[DayRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.day,
            r.new_infections_no_app,
            r.new_infections_app,
            r.cumulative_no_app,
            r.cumulative_app,
            r.infectious_no_app,
            r.infectious_app,
            r.confirmed,
            r.uploads,
            r.batches,
            r.rpis_published,
            r.bytes_per_phone,
            r.reports,
            r.reports_rejected,
            r.sightings_verified,
            r.f1_rows,
            r.f1_rows_one_sided,
            r.quarantined,
            r.phones,
            opt(r.recall_ppm),
            r.incidence_per_million_no_app,
            r.incidence_per_million_app,
            r.true_f1,
            r.found_f1,
            opt(r.recall_app_users_ppm),
            opt(r.precision_ppm),
            decimal(r.r_cohort_no_app),
            decimal(r.r_cohort_app),
            u8::from(r.r_cohort_final)
        );
    }
    out
}

/// The summary as JSON text: `{"scenario": …, "summary": …}`.
///
/// # Panics
/// Never in practice (serialising plain data).
#[must_use]
pub fn summary_json(scenario: &Scenario, outcome: &Outcome) -> String {
    let value = serde_json::json!({
        "scenario": scenario,
        "summary": outcome.summary,
    });
    let mut text = serde_json::to_string_pretty(&value).expect("plain data serialises");
    text.push('\n');
    text
}

/// Writes a run's files into `dir` (created if missing): `summary.json`, `daily.csv` and the
/// time-series plots ([`plot::time_series`]); `scenario_name` names the scenario in the plots'
/// titles.
///
/// # Errors
/// On any file-system or drawing error.
pub fn write_all(
    dir: &Path,
    scenario_name: &str,
    scenario: &Scenario,
    outcome: &Outcome,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.json"), summary_json(scenario, outcome))?;
    std::fs::write(dir.join("daily.csv"), daily_csv(&outcome.daily))?;
    let ctx = plot::Context {
        scenario: scenario_name.to_owned(),
        population: scenario.population,
        seeds: vec![scenario.seed],
    };
    for (name, svg) in plot::time_series(&ctx, &[&outcome.daily])? {
        std::fs::write(dir.join(name), svg)?;
    }
    Ok(())
}
