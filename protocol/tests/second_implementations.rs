//! The test vectors of SPEC.md §12.3, §12.4 and appendix A.3, reproduced by second
//! implementations written from the specification's text in Python (kept beside the vector
//! files), so that each vector is checked by code that shares nothing with this crate.
//!
//! They need `python3` with the `cryptography` package (Debian: `python3-cryptography`, which
//! `.ci/run` installs). Without them the tests say they are skipped, except under `CI`, where
//! they fail.

use std::process::Command;

/// Run `script` from the vectors directory and return its standard output, or `None` (after
/// saying so) if Python or its `cryptography` package is missing outside CI.
fn python(script: &str) -> Option<String> {
    // The interpreter on the PATH, or Debian's, whichever has the package.
    let interpreter = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import cryptography"])
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(interpreter) = interpreter else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the cryptography package is required under CI"
        );
        eprintln!("SKIPPED: python3 with the cryptography package is not installed");
        return None;
    };
    let path = bluezone_testkit::vector_file(script);
    let out = Command::new(interpreter)
        .arg(&path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_bloom_filter_vector_is_reproduced_in_python() {
    if let Some(out) = python("bloom_check.py") {
        // SPEC.md §12.3.
        assert!(
            out.contains("positions = [65, 393, 461, 690, 1003]"),
            "{out}"
        );
        assert!(
            out.contains("(8, '0x02'), (49, '0x02'), (57, '0x20'), (86, '0x04'), (125, '0x08')"),
            "{out}"
        );
    }
}

#[test]
fn the_compressed_filter_vector_is_reproduced_in_python() {
    if let Some(out) = python("gcs_check.py") {
        assert!(out.contains("agrees"), "{out}");
    }
}

#[test]
fn the_sealed_phone_state_vector_is_reproduced_in_python() {
    if let Some(out) = python("phone_state_check.py") {
        assert!(out.contains("reproduced"), "{out}");
    }
}
