//! Writes the Kotlin, Swift and Python bindings of `bluezone-ffi`:
//!
//! ```text
//! cargo run -p bluezone-ffi --features bindgen --bin uniffi-bindgen -- <out-dir> [<library>]
//! ```
//!
//! UniFFI's library mode: the interface is read from the metadata UniFFI's macros put in the
//! compiled library, `<library>`, by default the `bluezone-ffi` shared library cargo built next
//! to this program (so the bindings always match the code just built). Writes
//! `<out-dir>/kotlin`, `<out-dir>/swift` and `<out-dir>/python`.

use std::process::ExitCode;

use camino::Utf8PathBuf;
use uniffi::{GenerateOptions, TargetLanguage};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out_dir, library) = match args.as_slice() {
        [out] => (out, None),
        [out, library] => (out, Some(Utf8PathBuf::from(library))),
        _ => {
            eprintln!("usage: uniffi-bindgen <out-dir> [<library>]");
            return ExitCode::from(2);
        }
    };
    let library = match library.map_or_else(built_library, Ok) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("uniffi-bindgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out_dir = Utf8PathBuf::from(out_dir);
    for (language, dir) in [
        (TargetLanguage::Kotlin, "kotlin"),
        (TargetLanguage::Swift, "swift"),
        (TargetLanguage::Python, "python"),
    ] {
        let options = GenerateOptions {
            languages: vec![language],
            source: library.clone(),
            out_dir: out_dir.join(dir),
            config_override: None,
            format: false,
            crate_filter: None,
            metadata_no_deps: true,
        };
        if let Err(e) = uniffi::generate(options) {
            eprintln!("uniffi-bindgen: {dir}: {e:#}");
            return ExitCode::FAILURE;
        }
        println!("{}", out_dir.join(dir));
    }
    ExitCode::SUCCESS
}

/// The shared library cargo built in the same target directory as this program.
fn built_library() -> Result<Utf8PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = exe.parent().ok_or("own path has no parent")?;
    let name = format!(
        "{}bluezone_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let library = dir.join(&name);
    if !library.exists() {
        return Err(format!(
            "{} not found: build it (cargo build -p bluezone-ffi) or pass its path",
            library.display()
        ));
    }
    Utf8PathBuf::from_path_buf(library).map_err(|p| format!("{} is not UTF-8", p.display()))
}
