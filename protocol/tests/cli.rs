//! `bluezone derive` against the GAEN v1.2 test vectors, and its handling of bad arguments.

#[path = "../../tests/support/gaen.rs"]
#[allow(dead_code)]
mod gaen;

use std::process::{Command, Output};

fn bluezone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluezone"))
        .args(args)
        .output()
        .expect("run bluezone")
}

fn vectors() -> gaen::GaenVectors {
    gaen::GaenVectors::parse(include_str!("../../tests/vectors/gaen-v1.2.txt"))
}

fn expected_lines(v: &gaen::GaenVectors, with_aem: bool) -> String {
    v.intervals
        .iter()
        .map(|(interval, rpi, aem)| {
            let mut line = format!("{interval} {}", hex::encode(rpi));
            if with_aem {
                line.push(' ');
                line.push_str(&hex::encode(aem));
            }
            line + "\n"
        })
        .collect()
}

#[test]
fn derive_prints_the_official_rpis_and_aems() {
    let v = vectors();
    let tek = hex::encode(v.tek);
    let first = v.intervals[0].0.to_string();
    let count = v.intervals.len().to_string();
    let out = bluezone(&[
        "derive",
        "--tek",
        &tek,
        "--interval",
        &first,
        "--count",
        &count,
        "--metadata",
        &hex::encode(v.metadata),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected_lines(&v, true)
    );

    let out = bluezone(&[
        "derive",
        "--tek",
        &tek,
        "--interval",
        &first,
        "--count",
        &count,
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected_lines(&v, false)
    );
}

#[test]
fn derive_starts_at_any_interval() {
    // Interval 2642976 + 100 alone gives line 100 of the vectors: the derivation does not
    // depend on where the key's validity starts.
    let v = vectors();
    let (interval, rpi, aem) = v.intervals[100];
    let out = bluezone(&[
        "derive",
        "--tek",
        &hex::encode(v.tek),
        "--interval",
        &interval.to_string(),
        "--metadata",
        "40080000",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{interval} {} {}\n", hex::encode(rpi), hex::encode(aem))
    );
}

#[test]
fn derive_refuses_bad_arguments() {
    let tek = "75c734c6dd1a782de7a965da5eb93125";
    for args in [
        &["derive", "--tek", "75c7", "--interval", "1"][..],
        &["derive", "--tek", "zz", "--interval", "1"],
        &["derive", "--tek", tek, "--interval", "-1"],
        &["derive", "--tek", tek, "--interval", "1", "--count", "0"],
        &[
            "derive",
            "--tek",
            tek,
            "--interval",
            "1",
            "--metadata",
            "400800",
        ],
        &[
            "derive",
            "--tek",
            tek,
            "--interval",
            "4294967295",
            "--count",
            "2",
        ],
    ] {
        let out = bluezone(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stdout.is_empty(), "{args:?} printed output");
        assert!(!out.stderr.is_empty(), "{args:?} gave no error message");
    }
}
