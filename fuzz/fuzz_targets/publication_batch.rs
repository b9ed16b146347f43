//! Publication batches. The first input byte picks the mode: as is (almost always refused at
//! the signature, after the header and lengths are parsed), or signed with the fuzzer's own
//! publisher key first, so that everything after the signature check is reached too: the
//! parameters and, for filter kind 2, the whole Golomb-Rice stream. With bit 1 of the mode set,
//! the body is also fed straight to the kind-2 decoder: `P`, `M` and `n` from its first nine
//! bytes, the rest as the coded stream.
#![no_main]

use bluezone_protocol::{
    CompressedFilter, CompressedParams, PublicationBatch, PublisherKeyPair, RollingProximityId,
};
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
    let queries = [[mode; 16], [0; 16], [0xff; 16]];
    if let Ok(batch) = PublicationBatch::open(&bytes, &key) {
        let _ = batch.may_contain(&RollingProximityId([mode; 16]));
        let _ = batch.filter.count_contained(&queries);
        let _ = batch.plausible_sighting_window();
    }
    if mode & 2 != 0 && body.len() >= 9 {
        let params = CompressedParams {
            rice: body[0],
            range: u32::from_le_bytes([body[1], body[2], body[3], body[4]]),
        };
        let n = u32::from_le_bytes([body[5], body[6], body[7], body[8]]);
        if let Ok(filter) = CompressedFilter::from_parts(params, [mode; 16], n, &body[9..]) {
            let _ = filter.count_contained(&queries);
            let _ = filter.values().count();
        }
    }
});
