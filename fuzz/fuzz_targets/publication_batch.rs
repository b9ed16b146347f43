//! Publication batches. The first input byte picks the mode: as is (almost always refused at
//! the signature, after the header and lengths are parsed), or signed with the fuzzer's own
//! publisher key first, so that everything after the signature check is reached too.
#![no_main]

use bluezone_protocol::{PublicationBatch, PublisherKeyPair, RollingProximityId};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PUBLISHER: LazyLock<PublisherKeyPair> =
    LazyLock::new(|| PublisherKeyPair::from_seed([7; 32]).unwrap());

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let key = PUBLISHER.public_key();
    let bytes = if mode & 1 == 0 {
        body.to_vec()
    } else {
        let mut signed = body.to_vec();
        signed.extend_from_slice(&PUBLISHER.sign(body));
        signed
    };
    if let Ok(batch) = PublicationBatch::open(&bytes, &key) {
        let _ = batch.may_contain(&RollingProximityId([mode; 16]));
        let _ = batch.plausible_sighting_window();
    }
});
