//! F0 uploads and decoy uploads. The input is parsed as is, and also zero-padded to the next size class (the
//! fuzzer rarely hits an exact class length on its own), so that the structural checks,
//! validation against a fixed clock, re-encoding and expansion are all reached.
#![no_main]

use bluezone_protocol::{
    CaseId, F0Upload, UPLOAD_SIZE_CLASSES, UnixTime, UploadBody, decoy_upload, parse_upload_body,
};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    // What the server parses: a decoy, or exactly what `F0Upload::parse` accepts.
    match parse_upload_body(bytes) {
        Ok(UploadBody::Decoy) => assert_eq!(decoy_upload(bytes.len()).unwrap(), bytes),
        Ok(UploadBody::F0(upload)) => assert_eq!(F0Upload::parse(bytes).unwrap(), upload),
        Err(_) => assert!(F0Upload::parse(bytes).is_err()),
    }
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
