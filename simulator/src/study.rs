//! Studies: one scenario field changed (`--set`), replicates over seeds (`--replicates`) and
//! sweeps over one field (`--sweep`), with means and 95% intervals.
//!
//! A replicate is the same scenario with the next seed: replicate `i` of a run with seed `s`
//! uses seed `s + i`, so replicate 0 is the single run of that seed. The summary of `n`
//! replicates gives, for every number of [`Summary`] that varies, the mean, the sample standard
//! deviation and the 95% confidence interval of the mean (Student's t with `n − 1` degrees of
//! freedom). Everything is a deterministic function of the scenario and the seeds: the same
//! study gives byte-identical files on any number of threads.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use std::io;
use std::path::Path;

use crate::output;
use crate::plot;
use crate::scenario::{Scenario, ScenarioError};
use crate::sim::{DayRow, Options, Outcome, RunError, Summary, run};

/// [`Summary`] fields that describe the run rather than measure it: not averaged.
const SETTINGS: [&str; 4] = ["population", "days", "seed", "protocol"];

/// Change one field of `scenario`: `key` is its dotted path as in the scenario file
/// (`population`, `epidemic.transmission_per_hour`, `app.uptake_by_age`), `value` a TOML value
/// (`0.05`, `true`, `[0.5, 0.8, 0.5]`). The result is validated like a scenario file; nothing
/// else changes.
///
/// # Errors
/// [`ScenarioError::Parse`] for a key the scenario does not have or a value that does not
/// parse as its type; [`ScenarioError::Invalid`] for a value out of range.
pub fn set_field(scenario: &Scenario, key: &str, value: &str) -> Result<Scenario, ScenarioError> {
    let parse = |m: String| ScenarioError::Parse(format!("--set {key}={value}: {m}"));
    let mut root = toml::Value::try_from(scenario).map_err(|e| parse(e.to_string()))?;
    let new: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .map_err(|e| parse(format!("not a TOML value: {}", e.message())))?
        .remove("v")
        .ok_or_else(|| parse("no value".into()))?;
    let mut slot = &mut root;
    let mut path = String::new();
    for part in key.split('.') {
        let table = slot
            .as_table_mut()
            .ok_or_else(|| parse(format!("{path} is not a table")))?;
        let known = table.keys().cloned().collect::<Vec<_>>().join(", ");
        slot = table.get_mut(part).ok_or_else(|| {
            let within = if path.is_empty() {
                "the scenario"
            } else {
                &path
            };
            parse(format!("{within} has no field {part:?} (it has: {known})"))
        })?;
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part);
    }
    if slot.is_table() {
        return Err(parse(format!("{key} is a table; set one of its fields")));
    }
    *slot = new;
    let text = toml::to_string(&root).map_err(|e| parse(e.to_string()))?;
    Scenario::from_toml_str(&text)
}

/// The values of a `--sweep key=v1,v2,…` list: split at the commas that are outside brackets
/// and quotes, so that `app.uptake_by_age=[0.3,0.7,0.3],[0.5,0.9,0.5]` has two values.
///
/// # Errors
/// A message for an empty list or an empty value.
pub fn sweep_values(list: &str) -> Result<Vec<String>, String> {
    let mut values = Vec::new();
    let (mut depth, mut quoted, mut current) = (0i32, false, String::new());
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if depth == 0 && !quoted => {
                values.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    values.push(current);
    let values: Vec<String> = values.into_iter().map(|v| v.trim().to_owned()).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!("--sweep: an empty value in {list:?}"));
    }
    Ok(values)
}

/// Mean, spread and 95% interval of one measure over replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (0 for one replicate).
    pub sd: f64,
    /// Lower end of the 95% confidence interval of the mean.
    pub ci95_low: f64,
    /// Upper end.
    pub ci95_high: f64,
}

impl Estimate {
    /// The estimate from `values` (one per replicate).
    #[must_use]
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        if n == 0 {
            return Estimate {
                mean: f64::NAN,
                sd: f64::NAN,
                ci95_low: f64::NAN,
                ci95_high: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let half = t_975(n.saturating_sub(1)) * sd / (n as f64).sqrt();
        Estimate {
            mean: round6(mean),
            sd: round6(sd),
            ci95_low: round6(mean - half),
            ci95_high: round6(mean + half),
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%): exact
/// table values to 30, then the normal's 1.96 (within 2% beyond).
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => 0.0,
        1..=30 => TABLE[df - 1],
        _ => 1.96,
    }
}

/// What `n` replicates measured: every numeric [`Summary`] field's [`Estimate`], by name (a field
/// that holds numbers by member or index, such as `transmission_share_by_setting` or
/// `cases_by_tracing_generation`, gives one estimate per member: `field.member`, `field.index`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replicated {
    /// The seeds, one per replicate.
    pub seeds: Vec<u64>,
    /// The estimates, by [`Summary`] field.
    pub estimates: BTreeMap<String, Estimate>,
}

impl Replicated {
    /// The estimates over `summaries`, one per replicate, in seed order.
    ///
    /// # Panics
    /// Never in practice (a [`Summary`] serialises to an object).
    #[must_use]
    pub fn of(summaries: &[Summary]) -> Replicated {
        let mut columns: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for s in summaries {
            let value = serde_json::to_value(s).expect("plain data serialises");
            for (name, v) in value.as_object().expect("an object") {
                if SETTINGS.contains(&name.as_str()) {
                    continue;
                }
                // Objects and arrays of numbers (shares by setting, counts by generation)
                // give one measure per member, named `field.member` or `field.index`.
                match v {
                    serde_json::Value::Object(members) => {
                        for (member, x) in members {
                            if let Some(x) = x.as_f64() {
                                columns
                                    .entry(format!("{name}.{member}"))
                                    .or_default()
                                    .push(x);
                            }
                        }
                    }
                    serde_json::Value::Array(items) => {
                        for (i, x) in items.iter().enumerate() {
                            if let Some(x) = x.as_f64() {
                                columns.entry(format!("{name}.{i}")).or_default().push(x);
                            }
                        }
                    }
                    _ => {
                        if let Some(x) = v.as_f64() {
                            columns.entry(name.clone()).or_default().push(x);
                        }
                    }
                }
            }
        }
        Replicated {
            seeds: summaries.iter().map(|s| s.seed).collect(),
            estimates: columns
                .into_iter()
                .map(|(name, values)| (name, Estimate::of(&values)))
                .collect(),
        }
    }

    /// The aggregate `summary.json` of a replicated run: the scenario (with the first seed),
    /// the seeds and the estimates.
    ///
    /// # Panics
    /// Never in practice (serialising plain data).
    #[must_use]
    pub fn to_json(&self, scenario: &Scenario) -> String {
        let value = serde_json::json!({
            "scenario": scenario,
            "replicates": self.seeds.len(),
            "seeds": self.seeds,
            "estimates": self.estimates,
        });
        let mut text = serde_json::to_string_pretty(&value).expect("plain data serialises");
        text.push('\n');
        text
    }
}

/// Run `replicates` replicates of `scenario` (seeds `scenario.seed`, `scenario.seed + 1`, …),
/// one after the other; `on_day` is called after every simulated day of each.
///
/// # Errors
/// The first run's error.
pub fn replicate(
    scenario: &Scenario,
    replicates: u32,
    opts: Options,
    mut on_day: impl FnMut(u32),
) -> Result<Vec<(Scenario, Outcome)>, RunError> {
    (0..u64::from(replicates.max(1)))
        .map(|i| {
            let s = Scenario {
                seed: scenario.seed.wrapping_add(i),
                ..scenario.clone()
            };
            let outcome = run(&s, opts, &mut on_day)?;
            Ok((s, outcome))
        })
        .collect()
}

/// Write the outputs of `runs` into `dir`: one run's files as they always are; for several
/// replicates, each replicate's files in `dir/replicates/seed-<seed>/`, the estimates in
/// `dir/summary.json` and the time-series plots of all replicates (mean and 95% band) in `dir`.
/// `scenario_name` names the scenario in the plots' titles. Returns the estimates.
///
/// # Errors
/// On any file-system or drawing error.
pub fn write_runs(
    dir: &Path,
    scenario_name: &str,
    runs: &[(Scenario, Outcome)],
) -> io::Result<Replicated> {
    let summaries: Vec<Summary> = runs.iter().map(|(_, o)| o.summary.clone()).collect();
    let replicated = Replicated::of(&summaries);
    match runs {
        [(scenario, outcome)] => output::write_all(dir, scenario_name, scenario, outcome)?,
        _ => {
            for (scenario, outcome) in runs {
                let sub = dir
                    .join("replicates")
                    .join(format!("seed-{}", scenario.seed));
                output::write_all(&sub, scenario_name, scenario, outcome)?;
            }
            if let Some((first, _)) = runs.first() {
                std::fs::create_dir_all(dir)?;
                std::fs::write(dir.join("summary.json"), replicated.to_json(first))?;
                let ctx = plot::Context {
                    scenario: scenario_name.to_owned(),
                    population: first.population,
                    seeds: replicated.seeds.clone(),
                };
                let daily: Vec<&[DayRow]> = runs.iter().map(|(_, o)| o.daily.as_slice()).collect();
                for (name, svg) in plot::time_series(&ctx, &daily)? {
                    std::fs::write(dir.join(name), svg)?;
                }
            }
        }
    }
    Ok(replicated)
}

/// Write a sweep's `sweep.csv` ([`sweep_csv`]) and `sweep.svg` ([`plot::sweep_svg`]) into `dir`:
/// `rows` holds each value of `key` with its estimates, `scenario_name` and `population` name
/// the study in the plot's title.
///
/// # Errors
/// On any file-system or drawing error.
pub fn write_sweep(
    dir: &Path,
    scenario_name: &str,
    population: u32,
    key: &str,
    rows: &[(String, Replicated)],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("sweep.csv"), sweep_csv(key, rows))?;
    let ctx = plot::Context {
        scenario: scenario_name.to_owned(),
        population,
        seeds: rows
            .first()
            .map(|(_, r)| r.seeds.clone())
            .unwrap_or_default(),
    };
    std::fs::write(dir.join("sweep.svg"), plot::sweep_svg(&ctx, key, rows)?)?;
    Ok(())
}

/// Whether `dir` may receive outputs: it is missing or empty, or `force` is given.
///
/// # Errors
/// A message naming the folder when it holds files and `force` is not given, or when it
/// cannot be read.
pub fn check_output_dir(dir: &Path, force: bool) -> Result<(), String> {
    let empty = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
        Ok(mut entries) => entries.next().is_none(),
    };
    if empty || force {
        Ok(())
    } else {
        Err(format!(
            "{} is not empty: choose another --out, or add --force to write over its files",
            dir.display()
        ))
    }
}

/// The measures a sweep table reports, each as mean and 95% interval.
pub const SWEEP_MEASURES: [&str; 11] = [
    "infections_no_app",
    "infections_app",
    "infections_averted",
    "recall",
    "precision",
    "notifications_per_case",
    "false_alerts",
    "bytes_per_phone_per_day",
    "r_effective_without_app",
    "r_effective_with_app",
    "notifications_per_uploading_case",
];

/// The sweep table as CSV: one row per value of `key`, with the replicates and, for each of
/// [`SWEEP_MEASURES`], its mean and 95% interval.
#[must_use]
pub fn sweep_csv(key: &str, rows: &[(String, Replicated)]) -> String {
    let mut out = String::from("key,value,replicates");
    for m in SWEEP_MEASURES {
        let _ = write!(out, ",{m}_mean,{m}_ci95_low,{m}_ci95_high");
    }
    out.push('\n');
    for (value, r) in rows {
        // A value may hold commas (an array): quoted, as RFC 4180 says.
        let _ = write!(
            out,
            "{key},\"{}\",{}",
            value.replace('"', "\"\""),
            r.seeds.len()
        );
        for m in SWEEP_MEASURES {
            match r.estimates.get(m) {
                Some(e) => {
                    let _ = write!(out, ",{},{},{}", e.mean, e.ci95_low, e.ci95_high);
                }
                None => out.push_str(",,,"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_changes_exactly_one_field() {
        let base = Scenario::default();
        let changed = set_field(&base, "epidemic.transmission_per_hour", "0.05").unwrap();
        assert!((changed.epidemic.transmission_per_hour - 0.05).abs() < 1e-12);
        let (a, b) = (
            toml::Value::try_from(&base).unwrap(),
            toml::Value::try_from(&changed).unwrap(),
        );
        let differing = differences(&a, &b, "");
        assert_eq!(differing, vec!["epidemic.transmission_per_hour".to_owned()]);
        let changed = set_field(&base, "app.uptake_by_age", "[0.5, 0.8, 0.5]").unwrap();
        assert_eq!(changed.app.uptake_by_age, [0.5, 0.8, 0.5]);
        let changed = set_field(&base, "population", "5000").unwrap();
        assert_eq!(changed.population, 5000);
    }

    fn differences(a: &toml::Value, b: &toml::Value, at: &str) -> Vec<String> {
        match (a.as_table(), b.as_table()) {
            (Some(x), Some(y)) => x
                .iter()
                .flat_map(|(k, v)| {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    differences(v, &y[k], &path)
                })
                .collect(),
            _ if a == b => Vec::new(),
            _ => vec![at.to_owned()],
        }
    }

    #[test]
    fn set_refuses_unknown_keys_wrong_types_and_bad_ranges() {
        let base = Scenario::default();
        let err = |k: &str, v: &str| set_field(&base, k, v).unwrap_err().to_string();
        assert!(err("epidemic.nonsense", "1").contains("has no field \"nonsense\""));
        assert!(err("nonsense", "1").contains("the scenario has no field"));
        assert!(err("epidemic", "1").contains("is a table"));
        assert!(err("population", "\"many\"").contains("population"));
        assert!(err("population", "not toml").contains("not a TOML value"));
        assert!(err("app.upload_consent", "1.5").contains("upload_consent"));
    }

    #[test]
    fn sweep_values_split_outside_brackets() {
        assert_eq!(sweep_values("0.1, 0.2,0.3").unwrap(), ["0.1", "0.2", "0.3"]);
        assert_eq!(
            sweep_values("[0.3,0.7,0.3],[0.5,0.9,0.5]").unwrap(),
            ["[0.3,0.7,0.3]", "[0.5,0.9,0.5]"]
        );
        assert!(sweep_values("0.1,,0.2").is_err());
    }

    #[test]
    fn estimates_use_students_t() {
        let e = Estimate::of(&[1.0, 2.0, 3.0]);
        assert_eq!((e.mean, e.sd), (2.0, 1.0));
        // t(2) = 4.303: 2 ± 4.303 / sqrt(3).
        assert!((e.ci95_high - (2.0 + 4.303 / 3f64.sqrt())).abs() < 1e-6);
        let one = Estimate::of(&[5.0]);
        assert_eq!((one.ci95_low, one.ci95_high), (5.0, 5.0));
    }
}
