//! The bindings. Python end to end: the binding is generated from the cdylib cargo built for
//! this test, and `tests/two_phones.py` drives two phones through it against the real
//! `bluezone-server` binary on 127.0.0.1 (exchange, F0 upload, trace, publication, match,
//! F1 report, and a save/restore round trip after which the restored phone matches and
//! reports as the original). This side starts the server, makes the accounts and the case,
//! and checks the F1 table afterwards.
//!
//! Kotlin and Swift: generated from the same library, not compiled (Debian's kotlinc 1.3.31
//! rejects what UniFFI 0.32 writes for Kotlin 1.4 and later; protocol/ffi/README.md).
//!
//! Without python3 the Python test prints SKIPPED, except under `CI`, where it fails.

#[path = "../../../tests/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use bluezone_protocol::{ReportId, SEALED_CONTACT_DETAILS_LEN, SealedContactDetails};
use camino::Utf8PathBuf;
use harness::{Server, TestUnit, config, unix_now};
use serde_json::json;

/// Whether `program --version` runs; if not, SKIPPED (or a failure under CI).
fn tool_present(program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is required under CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: {program} not found");
    }
    ok
}

/// The `bluezone-ffi` shared library cargo built for this test: `target/<profile>/deps`,
/// where the test executable runs from.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let name = format!(
        "{}bluezone_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let library = deps.join(&name);
    assert!(library.exists(), "{} missing", library.display());
    library
}

/// The binding of `language` generated from the cdylib into `dir`, with the library copied
/// next to it (where the generated code loads it from).
pub fn generate(language: uniffi::TargetLanguage, dir: &Path) {
    let library = cdylib();
    uniffi::generate(uniffi::GenerateOptions {
        languages: vec![language],
        source: Utf8PathBuf::from_path_buf(library.clone()).expect("UTF-8 path"),
        out_dir: Utf8PathBuf::from_path_buf(dir.to_owned()).expect("UTF-8 path"),
        config_override: None,
        format: false,
        crate_filter: None,
        metadata_no_deps: true,
    })
    .expect("generate the binding");
    std::fs::copy(&library, dir.join(library.file_name().unwrap())).expect("copy the library");
}

#[test]
fn two_phones_through_the_python_binding() {
    if !tool_present("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let binding = dir.path().join("binding");
    generate(uniffi::TargetLanguage::Python, &binding);
    assert!(binding.join("bluezone_ffi.py").exists());

    let units = vec![TestUnit::new("north", vec![1])];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));
    let (admin, doctor, _) = server.set_up_accounts(&units);
    let opened = server.post_json(
        "/api/v1/cases",
        Some(&doctor),
        &json!({"reference": "PY-0001"}),
    );
    assert_eq!(opened.status, 201, "{}", opened.text());
    let opened = opened.json();
    let case_id = opened["case_id"].as_u64().unwrap();
    let now = unix_now();
    // Three hours ago, but the 30-minute meeting within one UTC day: split by midnight it would
    // give the F0 two keys, and the script expects one (the test failed when run at 02:47 UTC).
    let contact_start = {
        let start = now - 3 * 3600;
        let midnight = (start + 1800) / 86_400 * 86_400;
        if start < midnight {
            midnight - 2400
        } else {
            start
        }
    };
    let params = json!({
        "base": server.base,
        "doctor": doctor,
        "admin": admin,
        "case_id": case_id,
        "code": opened["declaration_code"],
        "now": now,
        "contact_start": contact_start,
        "phone_number": "84900000001",
        "district": 1,
        "regions": [1],
    });
    let params_path = dir.path().join("params.json");
    std::fs::write(&params_path, params.to_string()).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/two_phones.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&params_path)
        .env("PYTHONPATH", &binding)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "two_phones.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a result line")).unwrap();
    let report_id = result["report_id"].as_str().unwrap().to_owned();

    // The server verified B's report: its row is in the case's F1 table, confirmed both ways
    // (A heard B too), from the time the contact began, and the unit opens its contact details.
    let table = server.get(&format!("/api/v1/cases/{case_id}/f1"), Some(&doctor), &[]);
    assert_eq!(table.status, 200, "{}", table.text());
    let rows = table.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["f1_id"], json!(report_id));
    assert_eq!(row["confirmation"], json!("confirmed_both_ways"));
    assert_eq!(row["contact_time"], json!(contact_start));
    assert_eq!(row["district"], json!(1));
    let sealed: [u8; SEALED_CONTACT_DETAILS_LEN] =
        hex::decode(row["sealed_contact"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
    let id = ReportId(hex::decode(&report_id).unwrap().try_into().unwrap());
    let contact = SealedContactDetails(sealed)
        .open(&id, 1, &units[0].private_key)
        .expect("the unit opens the contact details");
    assert_eq!(contact.phone_number, "84900000001");
    assert_eq!(contact.name, "B");
}

/// What the one bindgen command writes for Android and iOS comes out of the library: the phone
/// class with its constructors and methods, the error, the free functions.
#[test]
fn kotlin_and_swift_sources_generate() {
    let dir = tempfile::tempdir().unwrap();
    generate(uniffi::TargetLanguage::Kotlin, &dir.path().join("kotlin"));
    generate(uniffi::TargetLanguage::Swift, &dir.path().join("swift"));
    let kotlin = std::fs::read_to_string(
        dir.path()
            .join("kotlin/uniffi/bluezone_ffi/bluezone_ffi.kt"),
    )
    .unwrap();
    let swift = std::fs::read_to_string(dir.path().join("swift/bluezone_ffi.swift")).unwrap();
    assert!(dir.path().join("swift/bluezone_ffiFFI.h").exists());
    for (source, needles) in [
        (
            &kotlin,
            &[
                "open class Phone: Disposable, AutoCloseable, PhoneInterface",
                "sealed class PhoneException: kotlin.Exception()",
                "fun `restore`(`sealed`: kotlin.ByteArray, `stateKey`: kotlin.ByteArray",
                "fun `matchBatch`(`entry`: BatchIndexEntry",
                "fun `prepareF1Report`(`exposure`: CandidateExposure",
                "fun `generateStateKey`(): kotlin.ByteArray",
            ][..],
        ),
        (
            &swift,
            &[
                "open class Phone: PhoneProtocol, @unchecked Sendable",
                "enum PhoneError: Swift.Error",
                "public static func restore(sealed: Data, stateKey: Data, settings: PhoneSettings)",
                "func matchBatch(entry: BatchIndexEntry, batch: Data",
                "func prepareF1Report(exposure: CandidateExposure",
                "public func generateStateKey() -> Data",
            ][..],
        ),
    ] {
        for needle in needles {
            assert!(source.contains(needle), "{needle:?} missing");
        }
    }
}
