//! `bluezone derive` against the GAEN v1.2 test vectors, and its handling of bad arguments;
//! `bluezone unit`; `bluezone bandwidth` against the targets of issue 14.

use std::process::{Command, Output};

use bluezone_testkit::gaen;

fn bluezone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluezone"))
        .args(args)
        .output()
        .expect("run bluezone")
}

fn vectors() -> gaen::GaenVectors {
    gaen::GaenVectors::official()
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

/// A fresh directory under the system's temporary directory.
fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("bluezone-cli-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn unit_keygen_and_open_round_trip_an_export() {
    use bluezone_protocol::hpke::{HpkePublicKey, derive_keypair};
    use bluezone_protocol::{ContactDetails, ReportId, SealedContactDetails, UnixTime};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    let dir = scratch_dir("unit");
    let key_path = dir.join("north.key");
    let key = key_path.to_str().unwrap();
    let made = bluezone(&[
        "unit",
        "keygen",
        "--out",
        key,
        "--name",
        "north",
        "--districts",
        "1,2",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let entry = String::from_utf8(made.stdout).unwrap();
    assert!(
        entry.starts_with("[[units]]\nname = \"north\"\ndistricts = [1, 2]\n"),
        "{entry}"
    );
    let public_hex = entry
        .lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap();
    let public = HpkePublicKey::from_bytes(&hex::decode(public_hex).unwrap()).unwrap();
    let private_text = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(private_text.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An existing key is never overwritten.
    let again = bluezone(&["unit", "keygen", "--out", key]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), private_text);

    // Two rows: one sealed to this unit, one to another unit.
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (_, other) = derive_keypair(b"another unit");
    let mut rows = Vec::new();
    for (no, (name, unit)) in [("Nguyen, Van \"A\"", public), ("Tran B", other)]
        .into_iter()
        .enumerate()
    {
        let id = ReportId([no as u8 + 1; 16]);
        let details = ContactDetails {
            phone_number: format!("8490000000{no}"),
            name: name.into(),
            district: 1,
            consent_time: UnixTime(1_700_000_000),
        };
        let sealed = SealedContactDetails::seal(&details, &id, &unit, &mut rng).unwrap();
        rows.push(bluezone_export::SealedRow {
            row: bluezone_export::F1Row {
                case_id: 7,
                no: no as u32 + 1,
                f1_id: hex::encode(id.0),
                district: 1,
                ..Default::default()
            },
            sealed_contact: hex::encode(sealed.0),
        });
    }
    // The server's export, as `GET /api/v1/units/<unit>/f1?format=csv` writes it.
    let csv = bluezone_export::write_sealed(bluezone_export::CsvFormat::MACHINE, &rows);
    let csv_path = dir.join("export.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let open = |csv: &std::path::Path| {
        bluezone(&["unit", "open", "--key", key, "--csv", csv.to_str().unwrap()])
    };
    let opened = open(&csv_path);
    assert_eq!(opened.status.code(), Some(1), "one row is not this unit's");
    let out = String::from_utf8(opened.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        bluezone_export::opened_header(bluezone_export::CsvFormat::MACHINE)
    );
    assert!(lines[0].ends_with(",follow_up_by,phone_number,name"));
    assert!(
        lines[1].ends_with(",84900000000,\"Nguyen, Van \"\"A\"\"\""),
        "{}",
        lines[1]
    );
    assert!(lines[2].ends_with(",,"), "{}", lines[2]);
    let err = String::from_utf8(opened.stderr).unwrap();
    assert!(err.contains("row 2: does not open with this key"), "{err}");

    // The console's download is for spreadsheets (a byte-order mark, times in the console's
    // zone): the opened file keeps both.
    let ict = bluezone_export::CsvFormat::spreadsheet(420);
    let local_path = dir.join("console.csv");
    std::fs::write(&local_path, bluezone_export::write_sealed(ict, &rows)).unwrap();
    let opened = open(&local_path);
    let out = String::from_utf8(opened.stdout).unwrap();
    let header = format!("\u{feff}{}\r\n", bluezone_export::opened_header(ict));
    assert!(out.starts_with(&header), "{out}");
    assert!(header.contains(",contact_time_utc+07:00,"));

    // A key file that is not a key.
    std::fs::write(dir.join("bad.key"), "not hex").unwrap();
    let bad = bluezone(&[
        "unit",
        "open",
        "--key",
        dir.join("bad.key").to_str().unwrap(),
        "--csv",
        csv_path.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));

    // A CSV that is not the server's export.
    std::fs::write(dir.join("other.csv"), "case_id,no\r\n7,1\r\n").unwrap();
    let other = bluezone(&[
        "unit",
        "open",
        "--key",
        key,
        "--csv",
        dir.join("other.csv").to_str().unwrap(),
    ]);
    assert_eq!(other.status.code(), Some(2));
    let err = String::from_utf8(other.stderr).unwrap();
    assert!(err.contains("not an F1 export"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The figure before `unit` on the first line that mentions `what`.
fn figure(text: &str, what: &str, unit: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == unit).expect("unit");
    words[at - 1].parse().expect("a number")
}

#[test]
fn bandwidth_at_its_defaults_meets_the_issue_14_targets() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/vn-2021.csv");
    let out = bluezone(&["bandwidth", "--f0-per-day", "11321", "--regions", data]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // The derived ε, printed as `derived 2^-<bits>`.
    let bits: f64 = text
        .split("derived 2^-")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .expect("a derived ε");
    let kind2 = figure(&text, "filter kind 2 (", "bits/entry");
    let kind2_bytes = figure(&text, "filter kind 2 (", "bytes/phone/day");
    let dp3t_bytes = figure(&text, "DP-3T", "bytes/phone/day");
    // The derived ε is the server's default, and at it kind 2 spends at most
    // 1.08 · log2(1/ε) bits per entry (SPEC.md §8.1.3).
    assert_eq!(
        2f64.powf(-bits),
        bluezone_protocol::DEFAULT_TARGET_FP_RATE,
        "the derived ε is not the default"
    );
    assert!(kind2 <= 1.08 * bits, "{kind2} at 2^-{bits}");
    assert!(
        kind2_bytes <= 0.7 * dp3t_bytes,
        "{kind2_bytes} vs {dp3t_bytes}"
    );
    // VN-2021: the median phone downloads at most 1 MB a day under regional batches.
    let regional = text
        .lines()
        .find(|l| l.contains("filter kind 2 regional"))
        .expect("a regional line");
    let median: f64 = regional.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(median <= 1e6, "{regional}");
    // At 2^-24 kind 2 is within 1.08 · log2(1/ε) too (its overhead shrinks as ε does).
    let out = bluezone(&["bandwidth", "--f0-per-day", "11321", "--target-fp", "2^-24"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        figure(&text, "filter kind 2 (", "bits/entry") <= 1.08 * 24.0,
        "{text}"
    );
}

#[test]
fn bandwidth_refuses_a_bad_region_file_naming_the_line() {
    let dir = scratch_dir("bad-regions");
    let path = dir.join("regions.csv");
    std::fs::write(&path, "code,name,population,cases\n1,a,10,1\n2,b,ten,1\n").unwrap();
    let out = bluezone(&[
        "bandwidth",
        "--f0-per-day",
        "100",
        "--regions",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("line 3: population `ten`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
