//! Batch indexes, as is or signed with the fuzzer's own key (first byte picks), so that the
//! entries are parsed past the signature check; what opens must re-encode to the same bytes.
#![no_main]

use bluezone_protocol::{BatchIndex, PublisherKeyPair};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PUBLISHER: LazyLock<PublisherKeyPair> =
    LazyLock::new(|| PublisherKeyPair::from_seed([7; 32]).unwrap());

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode & 1 == 1 {
        bytes.extend_from_slice(&PUBLISHER.sign(body));
    }
    if let Ok(index) = BatchIndex::open(&bytes, &PUBLISHER.public_key()) {
        assert_eq!(index.to_bytes(&PUBLISHER).unwrap(), bytes);
    }
});
