//! Sighting exports and advertisements: parse anything; what parses must re-encode to the same
//! bytes.
#![no_main]

use bluezone_protocol::{Advertisement, SightingExport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(export) = SightingExport::parse(data) {
        assert_eq!(export.to_bytes().unwrap(), data);
    }
    if let Ok(advertisement) = Advertisement::parse(data) {
        assert_eq!(advertisement.to_bytes(), data);
    }
});
