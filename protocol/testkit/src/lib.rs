//! Helpers shared by the tests and benchmarks of several Bluezone crates: where the test-vector
//! files are and how to read the GAEN ones, phones that hear each other, and fixed times.
//!
//! A dev-dependency only: nothing here belongs in a phone or a server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod gaen;
pub mod postgres;

use std::borrow::BorrowMut;
use std::path::PathBuf;

use bluezone_protocol::{Phone, UnixTime};
use rand_core::CryptoRng;

/// The folder of the test-vector files (`protocol/tests/vectors/`).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors"))
}

/// The path of the test-vector file `name` in [`vectors_dir`].
pub fn vector_file(name: &str) -> PathBuf {
    vectors_dir().join(name)
}

/// A UTC midnight (2023-11-15; interval 2,833,344, a multiple of 144).
pub const MIDNIGHT: u64 = 1_700_006_400;

/// `seconds` into day `day` after [`MIDNIGHT`].
pub fn at(day: u64, seconds: u64) -> UnixTime {
    UnixTime(MIDNIGHT + day * 86_400 + seconds)
}

/// Every 5 minutes from `from` (included) to `to` (excluded), every phone broadcasts, and for
/// each `(listener, speaker, rssi)` the listener hears the speaker's advertisement.
///
/// `phones` holds the phones themselves or mutable references to them.
pub fn scan<R: CryptoRng + ?Sized, P: BorrowMut<Phone>>(
    rng: &mut R,
    phones: &mut [P],
    from: UnixTime,
    to: UnixTime,
    hearing: &[(usize, usize, i8)],
) {
    let mut now = from;
    while now < to {
        let sent: Vec<[u8; 20]> = phones
            .iter_mut()
            .map(|p| p.borrow_mut().broadcast(now, rng).advertisement.to_bytes())
            .collect();
        for &(listener, speaker, rssi) in hearing {
            phones[listener]
                .borrow_mut()
                .hear(&sent[speaker], rssi, now)
                .expect("20-byte advertisement");
        }
        now = now.plus_seconds(300);
    }
}
