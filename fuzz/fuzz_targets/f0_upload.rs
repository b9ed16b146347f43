//! F0 uploads. The input is parsed as is, and also zero-padded to the next size class (the
//! fuzzer rarely hits an exact class length on its own), so that the structural checks,
//! validation against a fixed clock, re-encoding and expansion are all reached.
#![no_main]

use bluezone_protocol::{CaseId, F0Upload, UPLOAD_SIZE_CLASSES, UnixTime};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    if let Ok(upload) = F0Upload::parse(bytes) {
        assert_eq!(upload.to_bytes().unwrap(), bytes);
        if upload.validate(UnixTime(1_700_000_000)).is_ok() {
            let entries = upload.published_entries(CaseId(1));
            assert_eq!(entries.len(), upload.published_count());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(&class) = UPLOAD_SIZE_CLASSES.iter().find(|&&c| c >= data.len()) {
        let mut padded = data.to_vec();
        padded.resize(class, 0);
        check(&padded);
    }
});
