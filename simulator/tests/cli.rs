//! The `bluezone-sim` binary end to end: flags, the output files, no progress bar under CI,
//! byte-identical outputs (tables and plots) for the same seed and across thread counts,
//! refused scenarios.

use std::path::Path;
use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bluezone-sim"))
        .args(args)
        .env("CI", "1")
        .output()
        .expect("the binary runs")
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The plots of a run, and of a study's replicates.
const PLOTS: [&str; 4] = ["epidemic.svg", "incidence.svg", "r.svg", "recall.svg"];

/// Two runs of one two-point sweep with replicates `seeds` (on different thread counts)
/// wrote the same bytes: its table and plot, each point's summary and plots, each replicate's
/// outputs.
fn assert_same_sweep(a: &Path, b: &Path, seeds: [u64; 2]) {
    let mut files = vec!["sweep.csv".to_owned(), "sweep.svg".to_owned()];
    for sweep in ["sweep-0", "sweep-1"] {
        files.push(format!("{sweep}/summary.json"));
        files.extend(PLOTS.map(|p| format!("{sweep}/{p}")));
        for seed in seeds {
            for name in ["summary.json", "daily.csv"].into_iter().chain(PLOTS) {
                files.push(format!("{sweep}/replicates/seed-{seed}/{name}"));
            }
        }
    }
    for name in &files {
        assert_eq!(
            read(a, name),
            read(b, name),
            "{name} differs across thread counts"
        );
    }
}

#[test]
fn writes_the_outputs_and_repeats_them_byte_for_byte() {
    let tmp = std::env::temp_dir().join(format!("bluezone-sim-cli-{}", std::process::id()));
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    for dir in [&a, &b] {
        let out = sim(&[
            "--population",
            "3000",
            "--days",
            "12",
            "--seed",
            "5",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("person-days/s"), "{stderr}");
        assert!(
            !stderr.contains("ETA"),
            "progress bar shown under CI: {stderr}"
        );
    }
    for name in ["summary.json", "daily.csv"].into_iter().chain(PLOTS) {
        assert_eq!(read(&a, name), read(&b, name), "{name} differs");
    }
    let summary: serde_json::Value = serde_json::from_slice(&read(&a, "summary.json")).unwrap();
    assert_eq!(summary["summary"]["population"], 3000);
    assert_eq!(summary["summary"]["days"], 12);
    assert_eq!(summary["scenario"]["seed"], 5);
    let csv = String::from_utf8(read(&a, "daily.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13);
    assert!(
        String::from_utf8(read(&a, "epidemic.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn refuses_a_bad_scenario_file() {
    let path = std::env::temp_dir().join(format!("bluezone-sim-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "populaton = 5\n").unwrap();
    let out = sim(&[
        "--scenario",
        path.to_str().unwrap(),
        "--out",
        "/nonexistent/x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid scenario"));
    std::fs::remove_file(&path).ok();
}

/// A study (`--sweep` over one field, two replicates per value) writes the same bytes on one
/// thread and on three; its tables have a row per value and estimates with intervals; an
/// output folder that holds files is refused unless `--force`.
#[test]
fn studies_repeat_byte_for_byte_across_thread_counts_and_guard_their_folder() {
    let tmp = std::env::temp_dir().join(format!("bluezone-sim-study-{}", std::process::id()));
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    let study = |dir: &Path, threads: &str, extra: &[&str]| {
        let mut args = vec![
            "--population",
            "1500",
            "--days",
            "10",
            "--seed",
            "3",
            "--replicates",
            "2",
            "--sweep",
            "app.upload_consent=0.5,0.9",
            "--set",
            "workflow.publication_interval_hours=12",
            "--threads",
            threads,
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        sim(&args)
    };
    for (dir, threads) in [(&a, "1"), (&b, "3")] {
        let out = study(dir, threads, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_same_sweep(&a, &b, [3, 4]);
    let table = String::from_utf8(read(&a, "sweep.csv")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("key,value,replicates,infections_no_app_mean,"));
    assert!(lines[1].starts_with("app.upload_consent,\"0.5\",2,"));
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&a, "sweep-1/summary.json")).unwrap();
    assert_eq!(summary["replicates"], 2);
    assert_eq!(summary["seeds"], serde_json::json!([3, 4]));
    assert_eq!(summary["scenario"]["app"]["upload_consent"], 0.9);
    assert_eq!(
        summary["scenario"]["workflow"]["publication_interval_hours"],
        12
    );
    let recall = &summary["estimates"]["recall"];
    assert!(recall["ci95_low"].as_f64().unwrap() <= recall["mean"].as_f64().unwrap());
    assert!(recall["mean"].as_f64().unwrap() <= recall["ci95_high"].as_f64().unwrap());

    // The folder now holds files: refused, unchanged, unless --force.
    let before = read(&a, "sweep.csv");
    let refused = sim(&[
        "--population",
        "1500",
        "--days",
        "3",
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not empty"));
    assert_eq!(read(&a, "sweep.csv"), before);
    let forced = sim(&[
        "--population",
        "1500",
        "--days",
        "3",
        "--out",
        a.to_str().unwrap(),
        "--force",
    ]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    // A bad --set or --sweep is refused before anything runs.
    for bad in [
        vec!["--set", "epidemic.nonsense=1"],
        vec!["--sweep", "app.upload_consent=0.5,1.5"],
        vec!["--sweep", "no-equals-sign"],
    ] {
        let mut args = vec!["--out", b.to_str().unwrap(), "--force"];
        args.extend(bad.iter().copied());
        let out = sim(&args);
        assert!(!out.status.success(), "{bad:?} accepted");
    }
    std::fs::remove_dir_all(&tmp).ok();
}

/// The calibrated scenario, with onward tracing on and off, as a study with replicates: the
/// same bytes on one thread and on three, and the new outputs in every summary.
#[test]
fn the_calibrated_scenario_repeats_byte_for_byte_across_thread_counts() {
    let tmp = std::env::temp_dir().join(format!("bluezone-sim-delta-{}", std::process::id()));
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/vn-2021-delta.toml");
    for (dir, threads) in [("a", "1"), ("b", "3")] {
        let out = sim(&[
            "--scenario",
            scenario,
            "--population",
            "3000",
            "--days",
            "20",
            "--set",
            "epidemic.initial_infected_per_million=5000.0",
            "--replicates",
            "2",
            "--sweep",
            "f1_testing.enabled=false,true",
            "--threads",
            threads,
            "--out",
            tmp.join(dir).to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_same_sweep(&tmp.join("a"), &tmp.join("b"), [1, 2]);
    let one: serde_json::Value = serde_json::from_slice(&read(
        &tmp.join("a"),
        "sweep-1/replicates/seed-1/summary.json",
    ))
    .unwrap();
    assert_eq!(one["scenario"]["infectiousness"]["profile"], "gamma");
    assert!(one["summary"]["r_effective_without_app"].as_f64().unwrap() > 0.0);
    assert!(
        one["summary"]["cases_by_tracing_generation"][1]
            .as_u64()
            .unwrap()
            > 0
    );
    let study: serde_json::Value =
        serde_json::from_slice(&read(&tmp.join("a"), "sweep-0/summary.json")).unwrap();
    assert_eq!(
        study["estimates"]["cases_by_tracing_generation.1"]["mean"], 0.0,
        "no F1 testing, no case found by it"
    );
    std::fs::remove_dir_all(&tmp).ok();
}
