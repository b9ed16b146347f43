//! `key_schedule`: expanding one daily key into its 144 RPIs, against a baseline of the bare
//! primitives the expansion cannot avoid (one HKDF-SHA256 and 144 AES-128 blocks).

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use bluezone_protocol::{DailyKey, IntervalNumber};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const TEK: [u8; 16] = [
    0x75, 0xc7, 0x34, 0xc6, 0xdd, 0x1a, 0x78, 0x2d, 0xe7, 0xa9, 0x65, 0xda, 0x5e, 0xb9, 0x31, 0x25,
];
const START: u32 = 2_642_976;

/// HKDF-SHA256 (no salt, "EN-RPIK", 16 bytes) straight from ring.
fn bare_hkdf(tek: &[u8; 16]) -> [u8; 16] {
    struct Len16;
    impl ring::hkdf::KeyType for Len16 {
        fn len(&self) -> usize {
            16
        }
    }
    let mut out = [0u8; 16];
    ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[])
        .extract(tek)
        .expand(&[b"EN-RPIK"], Len16)
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

fn key_schedule(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_schedule");
    group.throughput(Throughput::Elements(144));

    group.bench_function("baseline: 1 HKDF + 144 AES blocks", |b| {
        // The least work an expansion can do: derive RPIK, expand it for AES, write the 144
        // plaintexts into one stack buffer and encrypt them in place in one call. The
        // ciphertexts are left where they are (no copy, no allocation).
        let mut template = [0u8; 16];
        template[..6].copy_from_slice(b"EN-RPI");
        let template = Array::from(template);
        b.iter(|| {
            let cipher = Aes128::new(&Array::from(bare_hkdf(black_box(&TEK))));
            let mut blocks = [template; 144];
            for (i, block) in blocks.iter_mut().enumerate() {
                block[12..].copy_from_slice(&(START + i as u32).to_le_bytes());
            }
            cipher.encrypt_blocks(&mut blocks);
            black_box(blocks)
        })
    });

    let key = DailyKey::new(TEK, IntervalNumber(START), 144).unwrap();
    group.bench_function("DailyKey::expand (144 RPIs)", |b| {
        b.iter(|| black_box(black_box(&key).expand()))
    });
    group.bench_function("parts: RpiKey::new", |b| {
        b.iter(|| black_box(bluezone_protocol::RpiKey::new(black_box(&TEK))))
    });
    let rpi_key = bluezone_protocol::RpiKey::new(&TEK);
    group.bench_function("parts: rpis_into 144", |b| {
        let mut out = [bluezone_protocol::RollingProximityId::default(); 144];
        b.iter(|| {
            rpi_key.rpis_into(IntervalNumber(START), &mut out);
            black_box(out[0])
        })
    });
    group.finish();
}

criterion_group!(benches, key_schedule);
criterion_main!(benches);
