//! F0 uploads: parse anything, validate what parses against a fixed clock, and check that an
//! accepted upload re-encodes to the same bytes and expands without panicking.
#![no_main]

use bluezone_protocol::{CaseId, F0Upload, UnixTime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(upload) = F0Upload::parse(data) {
        assert_eq!(upload.to_bytes().unwrap(), data);
        if upload.validate(UnixTime(1_700_000_000)).is_ok() {
            let entries = upload.published_entries(CaseId(1));
            assert_eq!(entries.len(), upload.published_count());
        }
    }
});
