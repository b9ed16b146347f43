//! The files a run writes: `summary.json`, `daily.csv`, `epidemic.svg` and `recall.svg`.
//!
//! All four depend only on the scenario and the seed: no timestamps, no durations, floats rounded
//! to 6 decimals and printed by `serde_json`'s shortest round-trip formatting (CSV columns are
//! integers). Speed figures go to standard error only.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use plotters::prelude::*;

use crate::scenario::Scenario;
use crate::sim::{DayRow, Outcome};

/// Header of `daily.csv`, in column order.
pub const CSV_HEADER: &str = "day,new_infections_no_app,new_infections_app,cumulative_no_app,\
cumulative_app,infectious_no_app,infectious_app,confirmed,uploads,batches,rpis_published,\
bytes_per_phone,reports,reports_rejected,sightings_verified,f1_rows,f1_rows_one_sided,\
quarantined,phones,recall_ppm,incidence_per_million_no_app,incidence_per_million_app,true_f1,\
found_f1";

/// The daily time series as CSV text.
#[must_use]
pub fn daily_csv(rows: &[DayRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
            r.recall_ppm,
            r.incidence_per_million_no_app,
            r.incidence_per_million_app,
            r.true_f1,
            r.found_f1
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

fn plot_err<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("plot: {e:?}"))
}

/// SVG of the epidemic with and without the app: infectious agents and cumulative infections.
///
/// # Errors
/// If drawing fails.
pub fn epidemic_svg(rows: &[DayRow]) -> io::Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let max = rows
            .iter()
            .map(|r| r.cumulative_no_app.max(r.cumulative_app))
            .max()
            .unwrap_or(1)
            .max(1);
        let days = rows.len().max(2) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption("Infections with and without the app", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0u32..days, 0u64..max + max / 10 + 1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("day")
            .y_desc("agents")
            .draw()
            .map_err(plot_err)?;
        type Pick = fn(&DayRow) -> u64;
        let series: [(&str, Pick, RGBColor); 4] = [
            ("cumulative, no app", |r| r.cumulative_no_app, RED),
            ("cumulative, app", |r| r.cumulative_app, BLUE),
            ("infectious, no app", |r| r.infectious_no_app, MAGENTA),
            ("infectious, app", |r| r.infectious_app, CYAN),
        ];
        for (label, pick, color) in series {
            chart
                .draw_series(LineSeries::new(
                    rows.iter().map(|r| (r.day, pick(r))),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(text)
}

/// SVG of F1 recall over time (true F1s of published cases found so far).
///
/// # Errors
/// If drawing fails.
pub fn recall_svg(rows: &[DayRow]) -> io::Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (800, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let days = rows.len().max(2) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption("F1 recall so far", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0u32..days, 0f64..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("day")
            .y_desc("recall")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                rows.iter()
                    .map(|r| (r.day, r.recall_ppm as f64 / 1_000_000.0)),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(text)
}

/// Writes the four files into `dir` (created if missing).
///
/// # Errors
/// On any file-system or drawing error.
pub fn write_all(dir: &Path, scenario: &Scenario, outcome: &Outcome) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.json"), summary_json(scenario, outcome))?;
    std::fs::write(dir.join("daily.csv"), daily_csv(&outcome.daily))?;
    std::fs::write(dir.join("epidemic.svg"), epidemic_svg(&outcome.daily)?)?;
    std::fs::write(dir.join("recall.svg"), recall_svg(&outcome.daily)?)?;
    Ok(())
}
