//! The SVG plots of a run, of its replicates and of a sweep, drawn with `plotters`' SVG backend
//! (plain SVG text: nothing is fetched, text is `<text>` in a sans-serif font).
//!
//! Every plot has its axes with labels and units, a legend, and a title naming its subject, the
//! scenario, the population and the seed(s). Over several replicates each line is the per-day
//! mean over the replicates where the value is defined, and the shaded band around it the 95%
//! confidence interval of that mean (Student's t, as in `summary.json`; see
//! [`Estimate`]), cut at the values the measure can take (0 for counts and rates, 0 and 1 for
//! shares); on a log axis a band that reaches down to 0 is cut at the bottom edge.
//! A single run has no band. The sweep plot shows each value's mean with its 95% interval as
//! an error bar.
//!
//! The files are a deterministic function of their data: no timestamps, and the same data
//! give the same bytes on any number of threads.

use std::io;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::types::RangedCoordu32;
use plotters::prelude::*;

use crate::sim::{COMPLETE_AFTER_DAYS, DayRow};
use crate::study::{Estimate, Replicated};

const SIZE: (u32, u32) = (900, 520);
const TITLE_FONT: u32 = 17;
const NO_APP: RGBColor = RGBColor(0xC0, 0x39, 0x2B);
const APP: RGBColor = RGBColor(0x1F, 0x5F, 0xBF);
const THIRD: RGBColor = RGBColor(0x1E, 0x8C, 0x45);
const FOURTH: RGBColor = RGBColor(0x8E, 0x44, 0xAD);
const SHADE: RGBColor = RGBColor(0xE8, 0xE8, 0xE8);

/// What a plot's title names besides its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The scenario: its file's name without `.toml` (or `default`), and the swept setting of
    /// a sweep's point (`vn-2021-delta, app.uptake_by_age=[0.2,0.2,0.2]`).
    pub scenario: String,
    /// Agents.
    pub population: u32,
    /// The seeds: one for a run, one per replicate otherwise.
    pub seeds: Vec<u64>,
}

impl Context {
    fn title(&self, subject: &str) -> String {
        let seeds = match self.seeds.as_slice() {
            [] => String::new(),
            [one] => format!("seed {one}"),
            [first, .., last] if last.wrapping_sub(*first) + 1 == self.seeds.len() as u64 => {
                format!("seeds {first}–{last}")
            }
            many => format!(
                "seeds {}",
                many.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!(
            "{subject}: {}, {} agents, {seeds}",
            self.scenario,
            thousands(u64::from(self.population))
        )
    }

    fn replicates(&self) -> usize {
        self.seeds.len()
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plot_err<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("plot: {e:?}"))
}

/// One plotted value of a day: the mean over the replicates and its 95% interval (all three
/// equal for a single run).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    mean: f64,
    low: f64,
    high: f64,
}

/// One line of a time-series plot: a label, a colour and its points by day.
struct Line {
    label: String,
    color: RGBColor,
    points: Vec<Option<Point>>,
}

/// The values a measure can take: its intervals are cut there.
#[derive(Clone, Copy)]
enum Bounds {
    /// A count or a rate: 0 or more.
    NonNegative,
    /// A share: from 0 to 1.
    Share,
}

impl Line {
    /// The line of `pick` over the replicates `runs`: per day, the estimate over the replicates
    /// where `pick` gives a value.
    fn of(
        label: &str,
        color: RGBColor,
        bounds: Bounds,
        runs: &[&[DayRow]],
        pick: impl Fn(&DayRow) -> Option<f64>,
    ) -> Line {
        let top = match bounds {
            Bounds::NonNegative => f64::INFINITY,
            Bounds::Share => 1.0,
        };
        let days = runs.iter().map(|r| r.len()).max().unwrap_or(0);
        let points = (0..days)
            .map(|d| {
                let values: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.get(d).and_then(&pick))
                    .collect();
                if values.is_empty() {
                    return None;
                }
                if let [one] = values.as_slice() {
                    return Some(Point {
                        mean: *one,
                        low: *one,
                        high: *one,
                    });
                }
                let e = Estimate::of(&values);
                Some(Point {
                    mean: e.mean,
                    low: e.ci95_low.max(0.0),
                    high: e.ci95_high.min(top),
                })
            })
            .collect();
        Line {
            label: label.to_owned(),
            color,
            points,
        }
    }

    fn highest(&self) -> f64 {
        self.points
            .iter()
            .flatten()
            .map(|p| p.high)
            .fold(0.0, f64::max)
    }
}

/// Days (0-based, as `u32`) and their points that can be drawn, in runs of consecutive days: a
/// day without a value, or with a value at or below `floor` on a log axis, breaks the line.
fn stretches(points: &[Option<Point>], floor: Option<f64>) -> Vec<Vec<(u32, Point)>> {
    let mut out: Vec<Vec<(u32, Point)>> = Vec::new();
    let mut current = Vec::new();
    for (d, p) in points.iter().enumerate() {
        match p {
            Some(p) if floor.is_none_or(|_| p.mean > 0.0) => current.push((d as u32, *p)),
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordu32, Y>>;

/// Draws `lines` (with their bands when `bands`) on `chart`. On a log axis (`floor` given), a
/// day whose mean is 0 is marked with a triangle on the bottom edge, and band ends below the
/// floor are cut there.
fn draw_lines<'a, 'b: 'a, Y>(
    chart: &mut Chart<'a, 'b, Y>,
    lines: &[Line],
    bands: bool,
    floor: Option<f64>,
) -> io::Result<()>
where
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    let clip = |v: f64| floor.map_or(v, |f| v.max(f));
    if bands {
        for line in lines {
            for stretch in stretches(&line.points, floor) {
                let mut outline: Vec<(u32, f64)> =
                    stretch.iter().map(|&(d, p)| (d, clip(p.high))).collect();
                outline.extend(stretch.iter().rev().map(|&(d, p)| (d, clip(p.low))));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        outline,
                        line.color.mix(0.2).filled(),
                    )))
                    .map_err(plot_err)?;
            }
        }
    }
    let mut zeros = false;
    for line in lines {
        let color = line.color;
        for stretch in stretches(&line.points, floor) {
            if let [(d, p)] = stretch.as_slice() {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (*d, p.mean),
                        2,
                        color.filled(),
                    )))
                    .map_err(plot_err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(
                        stretch.iter().map(|&(d, p)| (d, p.mean)),
                        color.stroke_width(2),
                    ))
                    .map_err(plot_err)?;
            }
        }
        if let Some(f) = floor {
            let at_zero: Vec<u32> = line
                .points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.is_some_and(|p| p.mean <= 0.0))
                .map(|(d, _)| d as u32)
                .collect();
            zeros |= !at_zero.is_empty();
            chart
                .draw_series(
                    at_zero
                        .into_iter()
                        .map(|d| TriangleMarker::new((d, f), 4, color.filled())),
                )
                .map_err(plot_err)?;
        }
        chart
            .draw_series(std::iter::empty::<Circle<(u32, f64), u32>>())
            .map_err(plot_err)?
            .label(line.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if bands {
        chart
            .draw_series(std::iter::empty::<Circle<(u32, f64), u32>>())
            .map_err(plot_err)?
            .label("95% interval of the mean over the replicates")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLACK.mix(0.2).filled())
            });
    }
    if zeros {
        chart
            .draw_series(std::iter::empty::<Circle<(u32, f64), u32>>())
            .map_err(plot_err)?
            .label("day with none (0 cannot be drawn on a log axis)")
            .legend(|(x, y)| TriangleMarker::new((x + 10, y), 4, BLACK.filled()));
    }
    legend(chart, SeriesLabelPosition::UpperRight)
}

/// Draws the legend of `chart`'s labelled series at `position`.
fn legend<'a, 'b: 'a, C: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, C>,
    position: SeriesLabelPosition,
) -> io::Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(plot_err)
}

/// Days a time-series plot spans (at least 2, so that its axis has a length).
fn days_of(lines: &[Line]) -> u32 {
    lines
        .iter()
        .map(|l| l.points.len())
        .max()
        .unwrap_or(0)
        .max(2) as u32
}

/// A time-series chart on `root`: its title, margins and label areas.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: String,
) -> ChartBuilder<'a, 'static, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", TITLE_FONT))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    builder
}

/// A time-series plot on a linear axis from 0 to `top`, with `extra` drawn first (shading).
fn linear_plot(
    ctx: &Context,
    subject: &str,
    y_desc: &str,
    lines: &[Line],
    top: f64,
    extra: impl FnOnce(&mut Chart<'_, '_, plotters::coord::types::RangedCoordf64>) -> io::Result<()>,
) -> io::Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let days = days_of(lines);
        let mut chart = frame(&root, ctx.title(subject))
            .build_cartesian_2d(0u32..days, 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("day of the run")
            .y_desc(y_desc)
            .draw()
            .map_err(plot_err)?;
        extra(&mut chart)?;
        draw_lines(&mut chart, lines, ctx.replicates() > 1, None)?;
        root.present().map_err(plot_err)?;
    }
    Ok(text)
}

/// `incidence.svg`: new infections per million agents per day, with and without the app, on a
/// log axis. A day with none is a triangle on the bottom edge; the line breaks there.
///
/// # Errors
/// If drawing fails.
pub fn incidence_svg(ctx: &Context, runs: &[&[DayRow]]) -> io::Result<String> {
    let lines = [
        Line::of("without the app", NO_APP, Bounds::NonNegative, runs, |r| {
            Some(r.incidence_per_million_no_app as f64)
        }),
        Line::of("with the app", APP, Bounds::NonNegative, runs, |r| {
            Some(r.incidence_per_million_app as f64)
        }),
    ];
    let positive = lines
        .iter()
        .flat_map(|l| l.points.iter().flatten())
        .flat_map(|p| [p.mean, p.low])
        .filter(|&v| v > 0.0);
    let lowest = positive.fold(f64::INFINITY, f64::min);
    let highest = lines.iter().map(Line::highest).fold(0.0, f64::max);
    let (floor, top) = if lowest.is_finite() {
        (
            10f64.powf(lowest.log10().floor()),
            // A decade above the highest point leaves room for the legend.
            10f64.powf(highest.log10().ceil() + 1.0),
        )
    } else {
        (1.0, 10.0)
    };
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let days = days_of(&lines);
        let mut chart = frame(&root, ctx.title("Daily incidence"))
            .build_cartesian_2d(0u32..days, (floor..top).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("day of the run")
            .y_desc("new infections per million agents per day (log scale)")
            .y_label_formatter(&|v| number(*v))
            .draw()
            .map_err(plot_err)?;
        draw_lines(&mut chart, &lines, ctx.replicates() > 1, Some(floor))?;
        root.present().map_err(plot_err)?;
    }
    Ok(text)
}

/// An axis label: whole numbers (also those a power computed a hair off) without decimals,
/// others to 6 decimals at most.
fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 * v.abs().max(1.0) {
        format!("{:.0}", v.round())
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `r.svg`: the cohort reproduction number by infection day, with and without the app (see
/// [`DayRow::r_cohort_no_app`]); the last [`COMPLETE_AFTER_DAYS`] days, whose infectees are
/// not all in, are shaded; a line marks R = 1.
///
/// # Errors
/// If drawing fails.
pub fn r_svg(ctx: &Context, runs: &[&[DayRow]]) -> io::Result<String> {
    let lines = [
        Line::of("without the app", NO_APP, Bounds::NonNegative, runs, |r| {
            r.r_cohort_no_app
        }),
        Line::of("with the app", APP, Bounds::NonNegative, runs, |r| {
            r.r_cohort_app
        }),
    ];
    let days = lines.iter().map(|l| l.points.len()).max().unwrap_or(0) as u32;
    // Room above the highest point for the legend.
    let top = (lines.iter().map(Line::highest).fold(0.0, f64::max) * 1.4).max(2.0);
    linear_plot(
        ctx,
        "Cohort reproduction number",
        "infections caused per agent infected that day",
        &lines,
        top,
        |chart| {
            let from = days.saturating_sub(COMPLETE_AFTER_DAYS);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, 0.0), (days.max(2), top)],
                    SHADE.filled(),
                )))
                .map_err(plot_err)?
                .label(format!(
                    "infected in the last {COMPLETE_AFTER_DAYS} days: infectees not all in"
                ))
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], SHADE.filled()));
            chart
                .draw_series(LineSeries::new(
                    [(0, 1.0), (days.max(2), 1.0)],
                    BLACK.stroke_width(1),
                ))
                .map_err(plot_err)?
                .label("R = 1")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
            Ok(())
        },
    )
}

/// `recall.svg`: F1 recall so far (over all true F1s and over those with the app) and
/// precision so far, from the run with the app (see [`DayRow::recall_ppm`]).
///
/// # Errors
/// If drawing fails.
pub fn recall_svg(ctx: &Context, runs: &[&[DayRow]]) -> io::Result<String> {
    let ppm = |x: Option<u64>| x.map(|x| x as f64 / 1e6);
    let lines = [
        Line::of(
            "recall, all true F1s",
            THIRD,
            Bounds::Share,
            runs,
            move |r| ppm(r.recall_ppm),
        ),
        Line::of(
            "recall, true F1s with the app",
            APP,
            Bounds::Share,
            runs,
            move |r| ppm(r.recall_app_users_ppm),
        ),
        Line::of("precision", FOURTH, Bounds::Share, runs, move |r| {
            ppm(r.precision_ppm)
        }),
    ];
    linear_plot(
        ctx,
        "F1 recall and precision so far",
        "share of true F1s found / of verified rows that are true",
        &lines,
        // Room above the shares for the legend.
        1.3,
        |_| Ok(()),
    )
}

/// `epidemic.svg`: cumulative infections and infectious agents with and without the app.
///
/// # Errors
/// If drawing fails.
pub fn epidemic_svg(ctx: &Context, runs: &[&[DayRow]]) -> io::Result<String> {
    let count = |f: fn(&DayRow) -> u64| move |r: &DayRow| Some(f(r) as f64);
    let lines = [
        Line::of(
            "cumulative, without the app",
            NO_APP,
            Bounds::NonNegative,
            runs,
            count(|r| r.cumulative_no_app),
        ),
        Line::of(
            "cumulative, with the app",
            APP,
            Bounds::NonNegative,
            runs,
            count(|r| r.cumulative_app),
        ),
        Line::of(
            "infectious, without the app",
            FOURTH,
            Bounds::NonNegative,
            runs,
            count(|r| r.infectious_no_app),
        ),
        Line::of(
            "infectious, with the app",
            THIRD,
            Bounds::NonNegative,
            runs,
            count(|r| r.infectious_app),
        ),
    ];
    let top = (lines.iter().map(Line::highest).fold(0.0, f64::max) * 1.4).max(1.0);
    linear_plot(ctx, "Infections", "agents", &lines, top, |_| Ok(()))
}

/// The time-series plots of `runs` (one per replicate), by file name.
///
/// # Errors
/// If drawing fails.
pub fn time_series(ctx: &Context, runs: &[&[DayRow]]) -> io::Result<Vec<(&'static str, String)>> {
    Ok(vec![
        ("epidemic.svg", epidemic_svg(ctx, runs)?),
        ("incidence.svg", incidence_svg(ctx, runs)?),
        ("r.svg", r_svg(ctx, runs)?),
        ("recall.svg", recall_svg(ctx, runs)?),
    ])
}

/// `sweep.svg`: for each value of the swept `key` (in the order given, evenly spaced and
/// labelled as given), infections averted (top) and notifications per case (bottom): the mean
/// over the replicates with its 95% interval as an error bar.
///
/// # Errors
/// If drawing fails.
pub fn sweep_svg(ctx: &Context, key: &str, rows: &[(String, Replicated)]) -> io::Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (SIZE.0, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root
            .titled(
                &ctx.title(&format!("Sweep of {key}")),
                ("sans-serif", TITLE_FONT),
            )
            .map_err(plot_err)?;
        let panels = root.split_evenly((2, 1));
        let measures = [
            (
                "infections_averted",
                "infections averted (without − with the app)",
                NO_APP,
            ),
            (
                "notifications_per_case",
                "notifications (verified F1 rows) per published case",
                APP,
            ),
        ];
        let n = rows.len().max(1) as u32;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => rows
                .get(*i as usize)
                .map(|(value, _)| value.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        for (panel, (measure, y_desc, color)) in panels.iter().zip(measures) {
            let estimates: Vec<Option<&Estimate>> =
                rows.iter().map(|(_, r)| r.estimates.get(measure)).collect();
            let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
            let high = estimates
                .iter()
                .flatten()
                .map(|e| finite(e.ci95_high))
                .fold(0.0, f64::max);
            let low = estimates
                .iter()
                .flatten()
                .map(|e| finite(e.ci95_low))
                .fold(0.0, f64::min);
            let pad = if high > low { (high - low) * 0.1 } else { 1.0 };
            let mut chart = ChartBuilder::on(panel)
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    (0u32..n - 1).into_segmented(),
                    // Room above the highest bar for the legend.
                    (low - if low < 0.0 { pad } else { 0.0 })..high + 3.5 * pad,
                )
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc(format!("{key} (the values swept, in order)"))
                .y_desc(y_desc)
                .x_labels(rows.len() + 1)
                .x_label_formatter(&label)
                .y_label_formatter(&|v| number(*v))
                .disable_x_mesh()
                .draw()
                .map_err(plot_err)?;
            let at = |i: usize| SegmentValue::CenterOf(i as u32);
            chart
                .draw_series(estimates.iter().enumerate().filter_map(|(i, e)| {
                    e.map(|e| {
                        ErrorBar::new_vertical(
                            at(i),
                            e.ci95_low,
                            e.mean,
                            e.ci95_high,
                            color.stroke_width(2),
                            12,
                        )
                    })
                }))
                .map_err(plot_err)?
                .label(if ctx.replicates() > 1 {
                    "mean over the replicates, 95% interval of the mean"
                } else {
                    "one run per value"
                })
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x + 10, y - 6), (x + 10, y + 6)],
                        color.stroke_width(2),
                    )
                });
            chart
                .draw_series(estimates.iter().enumerate().filter_map(|(i, e)| {
                    e.map(|e| Circle::new((at(i), e.mean), 4, color.filled()))
                }))
                .map_err(plot_err)?;
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_name_the_scenario_population_and_seeds() {
        let mut ctx = Context {
            scenario: "vn-2021-delta".into(),
            population: 20_000,
            seeds: vec![1],
        };
        assert_eq!(
            ctx.title("Daily incidence"),
            "Daily incidence: vn-2021-delta, 20,000 agents, seed 1"
        );
        ctx.seeds = vec![1, 2, 3];
        assert!(ctx.title("x").ends_with("20,000 agents, seeds 1–3"));
        ctx.seeds = vec![1, 5];
        assert!(ctx.title("x").ends_with("seeds 1, 5"));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn lines_break_where_a_log_axis_cannot_draw() {
        let p = |v: f64| {
            Some(Point {
                mean: v,
                low: v,
                high: v,
            })
        };
        let points = [p(3.0), p(0.0), p(5.0), p(6.0), None, p(1.0)];
        let log: Vec<Vec<u32>> = stretches(&points, Some(1.0))
            .iter()
            .map(|s| s.iter().map(|x| x.0).collect())
            .collect();
        assert_eq!(log, [vec![0], vec![2, 3], vec![5]]);
        let linear: Vec<usize> = stretches(&points, None).iter().map(Vec::len).collect();
        assert_eq!(linear, [4, 1]);
    }
}
