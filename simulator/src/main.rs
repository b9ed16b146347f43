//! `bluezone-sim`: runs a scenario and writes `summary.json`, `daily.csv`, `epidemic.svg` and
//! `recall.svg` into the output directory. See the crate documentation and README.md.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bluezone_sim::{Options, Scenario, output, run};
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
    if let Err(e) = scenario.validate() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
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
    if let Some(t) = cli.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global();
    }
    let show = std::env::var_os("CI").is_none() && std::io::stderr().is_terminal();
    let bar = if show {
        let bar = ProgressBar::new(u64::from(scenario.days));
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
    let outcome = match run(&scenario, opts, |_| bar.inc(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    if let Err(e) = output::write_all(&cli.out, &scenario, &outcome) {
        eprintln!("cannot write outputs: {e}");
        return ExitCode::FAILURE;
    }
    let s = &outcome.summary;
    let person_days = f64::from(scenario.population) * f64::from(scenario.days);
    eprintln!(
        "{} agents x {} days in {elapsed:.1} s: {:.0} person-days/s (protocol layer {})",
        scenario.population,
        scenario.days,
        person_days / elapsed,
        if opts.protocol { "on" } else { "off" }
    );
    eprintln!(
        "infections: {} without the app, {} with it ({} averted); recall {} (app users {}), precision {}, false alerts {}",
        s.infections_no_app,
        s.infections_app,
        s.infections_averted,
        s.recall,
        s.recall_app_users,
        s.precision,
        s.false_alerts
    );
    eprintln!("outputs in {}", cli.out.display());
    ExitCode::SUCCESS
}
