//! The `bluezone-sim` binary end to end: flags, the four output files, no progress bar under CI,
//! byte-identical outputs for the same seed, refused scenarios.

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
    for name in ["summary.json", "daily.csv", "epidemic.svg", "recall.svg"] {
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
