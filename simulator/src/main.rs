//! `bluezone-sim`: runs a scenario and writes `summary.json`, `daily.csv` and the plots
//! (`epidemic.svg`, `incidence.svg`, `r.svg`, `recall.svg`) into the output directory; with
//! `--replicates`, `--set` and `--sweep`, a study ([`bluezone_sim::study`]) with `sweep.csv`
//! and `sweep.svg`. See the crate documentation and README.md.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bluezone_sim::study::{self, Replicated};
use bluezone_sim::{Options, Scenario};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Population simulator of the Bluezone F0 → F1 workflow with real protocol phones.
#[derive(Parser, Debug)]
#[command(name = "bluezone-sim", version)]
struct Cli {
    /// Scenario file (TOML); every field optional, see the crate documentation.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Agents (overrides the scenario).
    #[arg(long)]
    population: Option<u32>,
    /// Days (overrides the scenario).
    #[arg(long)]
    days: Option<u32>,
    /// Seed (overrides the scenario).
    #[arg(long)]
    seed: Option<u64>,
    /// Output directory.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
    /// Run only the two epidemics, without the protocol layer (to measure its cost).
    #[arg(long)]
    no_protocol: bool,
    /// Every app user holds a phone from day 0 and every contact between app users is played
    /// through Bluetooth (slow; for small populations). Makes the measured shares of relevant
    /// and alone-passing sightings exact instead of measured on contacts with sources.
    #[arg(long)]
    all_phones: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the effective scenario (defaults, file and flags) as TOML and exit.
    #[arg(long)]
    print_scenario: bool,
    /// Change one scenario field, `key=value` with the key's dotted path and a TOML value
    /// (`epidemic.transmission_per_hour=0.05`, `app.uptake_by_age=[0.5,0.8,0.5]`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Replicates: the same scenario with seeds seed, seed+1, …; summary.json then holds means
    /// and 95% intervals, the plots show the means in 95% bands, and each replicate's files go
    /// to replicates/seed-<seed>/.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    replicates: u32,
    /// Sweep one field, `key=v1,v2,…`: the study (with its replicates) once per value, each in
    /// sweep-<i>/, and sweep.csv with one row per value and sweep.svg.
    #[arg(long, value_name = "KEY=V1,V2,…")]
    sweep: Option<String>,
    /// Write into a non-empty output directory (its files are replaced, others left).
    #[arg(long)]
    force: bool,
}

fn key_value(text: &str, flag: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("{flag} {text:?}: expected key=value")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut scenario = match &cli.scenario {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            };
            match Scenario::from_toml_str(&text) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => Scenario::default(),
    };
    if let Some(n) = cli.population {
        scenario.population = n;
    }
    if let Some(d) = cli.days {
        scenario.days = d;
    }
    if let Some(s) = cli.seed {
        scenario.seed = s;
    }
    for set in &cli.set {
        let changed = key_value(set, "--set")
            .and_then(|(k, v)| study::set_field(&scenario, &k, &v).map_err(|e| e.to_string()));
        match changed {
            Ok(s) => scenario = s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = scenario.validate() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    // Every value of a sweep is checked before anything runs.
    let sweep = match cli.sweep.as_deref().map(|text| {
        let (key, list) = key_value(text, "--sweep")?;
        let values = study::sweep_values(&list)?;
        let scenarios = values
            .iter()
            .map(|v| study::set_field(&scenario, &key, v).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, String>((key, values, scenarios))
    }) {
        None => None,
        Some(Ok(sweep)) => Some(sweep),
        Some(Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.print_scenario {
        match toml::to_string(&scenario) {
            Ok(text) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = study::check_output_dir(&cli.out, cli.force) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    if let Some(t) = cli.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global();
    }
    // The plots' titles name the scenario by its file (or `default`), and a sweep's point by
    // its value.
    let name = cli
        .scenario
        .as_deref()
        .and_then(|p| p.file_stem())
        .map_or_else(
            || "default".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
    let studies: Vec<(PathBuf, String, Scenario)> = match &sweep {
        None => vec![(cli.out.clone(), name.clone(), scenario.clone())],
        Some((key, values, scenarios)) => scenarios
            .iter()
            .zip(values)
            .enumerate()
            .map(|(i, (s, v))| {
                (
                    cli.out.join(format!("sweep-{i}")),
                    format!("{name}, {key}={v}"),
                    s.clone(),
                )
            })
            .collect(),
    };
    let runs = studies.len() as u64 * u64::from(cli.replicates);
    let show = std::env::var_os("CI").is_none() && std::io::stderr().is_terminal();
    let bar = if show {
        let bar = ProgressBar::new(runs * u64::from(scenario.days));
        bar.set_style(
            ProgressStyle::with_template("{bar:40} day {pos}/{len}  elapsed {elapsed}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let opts = Options {
        protocol: !cli.no_protocol,
        all_phones: cli.all_phones,
    };
    let started = Instant::now();
    let mut estimates: Vec<Replicated> = Vec::new();
    for (dir, label, s) in &studies {
        let done = match study::replicate(s, cli.replicates, opts, |_| bar.inc(1)) {
            Ok(done) => done,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        match study::write_runs(dir, label, &done) {
            Ok(r) => estimates.push(r),
            Err(e) => {
                eprintln!("cannot write outputs: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some((key, values, _)) = &sweep {
        let rows: Vec<(String, Replicated)> = values
            .iter()
            .cloned()
            .zip(estimates.iter().cloned())
            .collect();
        if let Err(e) = study::write_sweep(&cli.out, &name, scenario.population, key, &rows) {
            eprintln!("cannot write sweep.csv and sweep.svg: {e}");
            return ExitCode::FAILURE;
        }
    }
    let person_days = f64::from(scenario.population) * f64::from(scenario.days) * runs as f64;
    eprintln!(
        "{runs} run(s) of {} agents x {} days in {elapsed:.1} s: {:.0} person-days/s (protocol layer {})",
        scenario.population,
        scenario.days,
        person_days / elapsed,
        if opts.protocol { "on" } else { "off" }
    );
    let mean = |r: &Replicated, m: &str| r.estimates.get(m).map_or(f64::NAN, |e| e.mean);
    for (r, (dir, _, _)) in estimates.iter().zip(&studies) {
        eprintln!(
            "{}: infections {} without the app, {} with it ({} averted); recall {}, precision {}, false alerts {}{}",
            dir.display(),
            mean(r, "infections_no_app"),
            mean(r, "infections_app"),
            mean(r, "infections_averted"),
            mean(r, "recall"),
            mean(r, "precision"),
            mean(r, "false_alerts"),
            if r.seeds.len() > 1 {
                " (means of the replicates)"
            } else {
                ""
            },
        );
    }
    if let Some(r) = estimates.first() {
        // Memory as the researcher sizing a national run needs it: the process's peak over
        // every agent, and the phones the protocol layer held at their peak.
        let (phones, bytes) = (mean(r, "peak_phones"), mean(r, "peak_phone_bytes"));
        let resident = peak_resident_bytes().map_or_else(
            || "peak resident memory unknown (no /proc/self/status)".to_string(),
            |b| {
                format!(
                    "peak resident memory {:.0} MiB, {:.0} bytes per agent",
                    b as f64 / f64::from(1 << 20),
                    b as f64 / f64::from(scenario.population)
                )
            },
        );
        let held = if opts.protocol && phones > 0.0 {
            format!(
                "; phones at their peak {phones:.0}, {:.0} bytes each (sightings, keys)",
                bytes / phones
            )
        } else {
            String::new()
        };
        eprintln!("{resident}{held}");
    }
    eprintln!("outputs in {}", cli.out.display());
    ExitCode::SUCCESS
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), where Linux gives it.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
