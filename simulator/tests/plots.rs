//! The SVG plots of the `bluezone-sim` binary: every file parses as SVG and has its title, axis
//! labels and legend; the drawn points are the numbers of `daily.csv` and `sweep.csv` (read back
//! through the axes' tick labels); bands and error bars appear with replicates and not
//! without. (Byte-identity across thread counts: `tests/cli.rs`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Colours of the lines (as in `src/plot.rs`).
const NO_APP: &str = "#C0392B";
const APP: &str = "#1F5FBF";
const PRECISION: &str = "#8E44AD";

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A CSV file as rows of named fields.
fn csv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            // sweep.csv quotes its values, which may hold commas.
            let mut fields = Vec::new();
            let (mut quoted, mut cur) = (false, String::new());
            for c in l.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                    _ => cur.push(c),
                }
            }
            fields.push(cur);
            assert_eq!(fields.len(), header.len(), "{l}");
            header.iter().map(|h| (*h).to_owned()).zip(fields).collect()
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    let v = row.get(key).unwrap_or_else(|| panic!("no column {key}"));
    (!v.is_empty()).then(|| v.parse().unwrap())
}

/// A polyline: its stroke colour, stroke width and points.
type Polyline = (String, String, Vec<(f64, f64)>);

/// What the tests read from one SVG file.
struct Svg {
    texts: Vec<(f64, f64, String, String)>,
    polylines: Vec<Polyline>,
    /// (fill colour, opacity) of the polygons.
    polygons: Vec<(String, String)>,
    /// (stroke, x1, y1, x2, y2) of every line.
    lines: Vec<(String, f64, f64, f64, f64)>,
}

fn parse(text: &str, name: &str) -> Svg {
    let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{name}");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let f = |n: roxmltree::Node, a: &str| -> f64 {
        n.attribute(a)
            .unwrap_or_else(|| panic!("{name}: no {a}"))
            .parse()
            .unwrap()
    };
    let a = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or("").to_owned();
    let mut svg = Svg {
        texts: Vec::new(),
        polylines: Vec::new(),
        polygons: Vec::new(),
        lines: Vec::new(),
    };
    for n in doc.descendants().filter(roxmltree::Node::is_element) {
        match n.tag_name().name() {
            "text" => svg.texts.push((
                f(n, "x"),
                f(n, "y"),
                a(n, "text-anchor"),
                n.text().unwrap_or("").trim().to_owned(),
            )),
            "polyline" => svg.polylines.push((
                a(n, "stroke"),
                a(n, "stroke-width"),
                a(n, "points")
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect(),
            )),
            "polygon" => svg.polygons.push((a(n, "fill"), a(n, "opacity"))),
            "line" => svg.lines.push((
                a(n, "stroke"),
                f(n, "x1"),
                f(n, "y1"),
                f(n, "x2"),
                f(n, "y2"),
            )),
            _ => {}
        }
    }
    svg
}

impl Svg {
    fn has_text(&self, part: &str) -> bool {
        self.texts.iter().any(|t| t.3.contains(part))
    }

    /// The pixel row of `value` on the y axis whose tick labels lie between rows `from` and
    /// `to`, read from its two outermost labels (`log`: on a log axis).
    fn y_pixel(&self, value: f64, log: bool, (from, to): (f64, f64)) -> f64 {
        let ticks: Vec<(f64, f64)> = self
            .texts
            .iter()
            .filter(|t| t.2 == "end" && t.1 >= from && t.1 <= to)
            .filter_map(|t| t.3.parse::<f64>().ok().map(|v| (v, t.1)))
            .collect();
        assert!(ticks.len() >= 2, "y tick labels: {ticks:?}");
        let scale = |v: f64| if log { v.log10() } else { v };
        let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
        lo.1 + (scale(value) - scale(lo.0)) * (hi.1 - lo.1) / (scale(hi.0) - scale(lo.0))
    }

    /// The day at pixel column `x`, read from the x axis's day labels.
    fn day(&self, x: f64) -> f64 {
        let ticks: Vec<(f64, f64)> = self
            .texts
            .iter()
            .filter(|t| t.2 == "middle")
            .filter_map(|t| t.3.parse::<u32>().ok().map(|d| (f64::from(d), t.0)))
            .collect();
        assert!(ticks.len() >= 2, "x tick labels: {ticks:?}");
        let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
        lo.0 + (x - lo.1) * (hi.0 - lo.0) / (hi.1 - lo.1)
    }

    /// Every point of the lines drawn in `color` (not the legend's two-point sample), as
    /// (day, pixel row).
    fn line_points(&self, color: &str) -> Vec<(u32, f64)> {
        let points: Vec<(u32, f64)> = self
            .polylines
            .iter()
            .filter(|p| p.0 == color && p.1 == "2" && p.2.len() > 2)
            .flat_map(|p| p.2.iter())
            .map(|&(x, y)| {
                let day = self.day(x);
                assert!((day - day.round()).abs() < 0.1, "x {x} is day {day}");
                (day.round() as u32, y)
            })
            .collect();
        assert!(points.len() > 3, "no line in {color}");
        points
    }

    /// The bands (translucent polygons) drawn in `color`, or in any colour.
    fn bands(&self, color: Option<&str>) -> usize {
        self.polygons
            .iter()
            .filter(|(fill, opacity)| opacity == "0.2" && color.is_none_or(|c| c == fill))
            .count()
    }
}

/// Every drawn point of `color` lies within 1.5 pixels of where `expected` (by day) puts it.
fn assert_points_match(
    svg: &Svg,
    color: &str,
    log: bool,
    expected: impl Fn(u32) -> Option<f64>,
    what: &str,
) {
    for (day, y) in svg.line_points(color) {
        let want = expected(day).unwrap_or_else(|| panic!("{what}: day {day} drawn, not defined"));
        let at = svg.y_pixel(want, log, (0.0, 1e9));
        assert!(
            (at - y).abs() <= 1.5,
            "{what}, day {day}: drawn at row {y}, {want} is at row {at}"
        );
    }
}

#[test]
fn plots_show_the_numbers_of_the_tables_with_bands_only_over_replicates() {
    let tmp = std::env::temp_dir().join(format!("bluezone-sim-plots-{}", std::process::id()));
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/vn-2021-delta.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_bluezone-sim"))
        .args([
            "--scenario",
            scenario,
            "--population",
            "3000",
            "--days",
            "26",
            "--seed",
            "3",
            "--set",
            "epidemic.initial_infected_per_million=5000.0",
            "--replicates",
            "2",
            "--sweep",
            "app.uptake_by_age=[0.3,0.3,0.3],[0.8,0.8,0.8]",
            "--out",
            tmp.to_str().unwrap(),
        ])
        .env("CI", "1")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let point = tmp.join("sweep-1");
    let seeds = [3u64, 4];
    let replicate = |seed: u64| point.join("replicates").join(format!("seed-{seed}"));
    let dailies: Vec<_> = seeds
        .iter()
        .map(|&s| csv(&read(&replicate(s), "daily.csv")))
        .collect();
    let plots = ["epidemic.svg", "incidence.svg", "r.svg", "recall.svg"];

    // One run (a replicate's folder): its plots, no band; the lines are daily.csv's numbers.
    let one = replicate(3);
    for name in plots {
        let svg = parse(&read(&one, name), name);
        assert!(
            svg.has_text("vn-2021-delta, app.uptake_by_age=[0.8,0.8,0.8], 3,000 agents, seed 3"),
            "{name}: title"
        );
        assert!(svg.has_text("day of the run"), "{name}: x axis label");
        assert_eq!(svg.bands(None), 0, "{name}: a band without replicates");
        assert!(!svg.has_text("95% interval"), "{name}");
    }
    let daily = &dailies[0];
    let at = |key: &'static str| move |d: u32| num(&daily[d as usize], key);
    let incidence = parse(&read(&one, "incidence.svg"), "incidence.svg");
    assert!(incidence.has_text("new infections per million agents per day (log scale)"));
    assert!(incidence.has_text("without the app") && incidence.has_text("with the app"));
    assert_points_match(
        &incidence,
        NO_APP,
        true,
        at("incidence_per_million_no_app"),
        "incidence without the app",
    );
    assert_points_match(
        &incidence,
        APP,
        true,
        at("incidence_per_million_app"),
        "incidence with the app",
    );
    // Days with no infection are marked, not drawn at a made-up height.
    let zeros = daily
        .iter()
        .filter(|r| num(r, "incidence_per_million_no_app") == Some(0.0))
        .count();
    assert_eq!(incidence.has_text("day with none"), zeros > 0);
    let r = parse(&read(&one, "r.svg"), "r.svg");
    assert!(r.has_text("infections caused per agent infected that day"));
    assert!(r.has_text("infectees not all in"));
    assert_points_match(
        &r,
        NO_APP,
        false,
        at("r_cohort_no_app"),
        "R without the app",
    );
    let recall = parse(&read(&one, "recall.svg"), "recall.svg");
    assert!(recall.has_text("recall, true F1s with the app") && recall.has_text("precision"));
    let ppm = |key: &'static str| move |d: u32| num(&daily[d as usize], key).map(|x| x / 1e6);
    assert_points_match(
        &recall,
        APP,
        false,
        ppm("recall_app_users_ppm"),
        "recall among app users",
    );
    assert_points_match(&recall, PRECISION, false, ppm("precision_ppm"), "precision");
    // The last day's cumulative figures are the summary's.
    let summary: serde_json::Value = serde_json::from_str(&read(&one, "summary.json")).unwrap();
    let last = daily.last().unwrap();
    for (column, field) in [
        ("recall_app_users_ppm", "recall_app_users"),
        ("precision_ppm", "precision"),
        ("recall_ppm", "recall"),
    ] {
        let from_csv = num(last, column).unwrap() / 1e6;
        let from_summary = summary["summary"][field].as_f64().unwrap();
        assert!((from_csv - from_summary).abs() < 2e-6, "{column}");
    }

    // Two replicates: the same plots at the point's top level, the mean line in a band.
    for name in plots {
        let svg = parse(&read(&point, name), name);
        assert!(svg.has_text("3,000 agents, seeds 3–4"), "{name}: title");
        assert!(svg.has_text("95% interval of the mean"), "{name}: legend");
        assert!(
            svg.bands(Some(NO_APP)) + svg.bands(Some(APP)) > 0,
            "{name}: no band"
        );
    }
    let incidence = parse(&read(&point, "incidence.svg"), "incidence.svg");
    let mean = |key: &'static str| {
        let dailies = &dailies;
        move |d: u32| {
            let values: Vec<f64> = dailies
                .iter()
                .filter_map(|rows| num(&rows[d as usize], key))
                .collect();
            Some(values.iter().sum::<f64>() / values.len() as f64)
        }
    };
    assert_points_match(
        &incidence,
        NO_APP,
        true,
        mean("incidence_per_million_no_app"),
        "mean incidence without the app",
    );
    let r = parse(&read(&point, "r.svg"), "r.svg");
    assert_points_match(&r, APP, false, mean("r_cohort_app"), "mean R with the app");

    // The sweep: error bars at sweep.csv's intervals, one per value and panel.
    let table = csv(&read(&tmp, "sweep.csv"));
    let sweep = parse(&read(&tmp, "sweep.svg"), "sweep.svg");
    assert!(sweep.has_text("Sweep of app.uptake_by_age: vn-2021-delta, 3,000 agents, seeds 3–4"));
    assert!(sweep.has_text("[0.3,0.3,0.3]") && sweep.has_text("[0.8,0.8,0.8]"));
    assert!(sweep.has_text("infections averted") && sweep.has_text("notifications"));
    let half = 700.0 / 2.0;
    for (color, measure, rows) in [
        (NO_APP, "infections_averted", (0.0, half)),
        (APP, "notifications_per_case", (half, 700.0)),
    ] {
        // An error bar: a vertical line from the interval's low end to its high end.
        let mut bars: Vec<(f64, f64, f64)> = sweep
            .lines
            .iter()
            .filter(|l| l.0 == color && l.1 == l.3)
            .map(|l| (l.1, l.2.max(l.4), l.2.min(l.4)))
            .collect();
        bars.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(bars.len(), table.len(), "{measure}: one bar per value");
        for (row, bar) in table.iter().zip(&bars) {
            for (end, drawn) in [("ci95_low", bar.1), ("ci95_high", bar.2)] {
                let want = num(row, &format!("{measure}_{end}")).unwrap();
                let at = sweep.y_pixel(want, false, rows);
                assert!(
                    (at - drawn).abs() <= 1.5,
                    "{measure} {end}: {want} at {at}, drawn {drawn}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
}
