//! Publication at national scale, on one core, for filter kinds 1 (partitioned Bloom filter)
//! and 2 (Golomb-Rice compressed) side by side:
//! - building a 4,000,000-entry batch from F0 uploads (RPI derivation included);
//! - a phone matching 30,000 sightings against that batch (opened once beforehand);
//! - opening the batch (signature, and for kind 2 the check of the whole stream);
//! - a kind-2 filter of 500,000 values (a batch of the simulator's 50M-agent run) queried by
//!   the 50 sightings of a typical simulated phone and by 3,000, jumping between resume points
//!   (as a received filter does) against one sequential pass (a filter built here has none);
//! - each filter's bytes and bits per entry against the information-theoretic bound
//!   log2(1/eps), and kind 2's size as a ratio of kind 1's (printed before the timings; the
//!   timings' ratios are read off criterion's report).

use bluezone_protocol::{
    AssociatedEncryptedMetadata, BATCH_HEADER_LEN, BatchSpec, CaseId, CompressedFilter,
    CompressedParams, DEFAULT_TARGET_FP_RATE, DailyKey, DeclarationCode, F0Upload, FilterKind,
    IntervalNumber, PhoneConfig, PublicationBatch, PublishedIntervals, PublisherKeyPair,
    RollingProximityId, Sighting, UnixTime, UploadedKey, match_sightings,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::hint::black_box;

const ENTRIES: usize = 4_000_000;
const SIGHTINGS: usize = 30_000;
const DAY: u32 = 2_833_344; // a UTC midnight's interval

/// F0 uploads of 14 whole-day keys each, every interval published, 4,000,000 RPIs in all.
fn uploads(rng: &mut ChaCha20Rng) -> Vec<F0Upload> {
    let keys_needed = ENTRIES.div_ceil(144);
    let mut all = PublishedIntervals::default();
    (0..144).for_each(|j| all.insert(j));
    let mut uploads = Vec::new();
    let mut made = 0;
    while made < keys_needed {
        let n = (keys_needed - made).min(14);
        let keys = (0..n)
            .map(|d| {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                UploadedKey {
                    key: DailyKey::new(bytes, IntervalNumber(DAY + 144 * d as u32), 144).unwrap(),
                    published: all,
                }
            })
            .collect();
        uploads.push(F0Upload {
            code: DeclarationCode::new("BENCH").unwrap(),
            keys,
            contact_history: Vec::new(),
        });
        made += n;
    }
    uploads
}

fn spec(kind: FilterKind) -> BatchSpec {
    BatchSpec {
        batch_id: 1,
        region: 0,
        created_at: UnixTime(u64::from(DAY + 15 * 144) * 600),
        target_fp_rate: DEFAULT_TARGET_FP_RATE,
        filter_kind: kind,
        dummy_quantum: 0,
    }
}

fn publication(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let uploads = uploads(&mut rng);
    let publisher = PublisherKeyPair::generate(&mut rng);

    let mut group = c.benchmark_group("publication");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ENTRIES as u64));
    for kind in FilterKind::ALL {
        let k = kind.code();
        group.bench_function(
            format!("kind {k}: build 4M-entry batch from uploads"),
            |b| {
                // The builder's entry buffer is reused from batch to batch, as a server's is.
                let mut entries = Vec::with_capacity(ENTRIES + 144);
                b.iter(|| {
                    entries.clear();
                    for (case, upload) in uploads.iter().enumerate() {
                        upload.extend_published_entries(CaseId(case as u64), &mut entries);
                    }
                    entries.truncate(ENTRIES);
                    let (batch, bytes) =
                        PublicationBatch::build(&entries, &spec(kind), &publisher, &mut rng)
                            .unwrap();
                    black_box((batch.entry_count, bytes.len()))
                })
            },
        );
    }

    let mut entries = Vec::with_capacity(ENTRIES + 144);
    for (case, upload) in uploads.iter().enumerate() {
        entries.extend(upload.published_entries(CaseId(case as u64)));
    }
    entries.truncate(ENTRIES);
    for kind in FilterKind::ALL {
        let k = kind.code();
        group.bench_function(
            format!("kind {k}: parts: build from expanded entries (filter and signature)"),
            |b| {
                b.iter(|| {
                    let (batch, bytes) =
                        PublicationBatch::build(&entries, &spec(kind), &publisher, &mut rng)
                            .unwrap();
                    black_box((batch.entry_count, bytes.len()))
                })
            },
        );
    }

    // The batches a phone downloads, and 30,000 sightings (a busy fortnight), none published.
    let bound = (1.0 / DEFAULT_TARGET_FP_RATE).log2();
    let batches: Vec<(FilterKind, Vec<u8>)> = FilterKind::ALL
        .iter()
        .map(|&kind| {
            let (_, bytes) =
                PublicationBatch::build(&entries, &spec(kind), &publisher, &mut rng).unwrap();
            let filter_bytes = bytes.len() - BATCH_HEADER_LEN - 64;
            let bits_per_entry = filter_bytes as f64 * 8.0 / ENTRIES as f64;
            eprintln!(
                "{kind}: batch of {ENTRIES} entries at eps = 2^-24: {} bytes ({filter_bytes} of filter), {bits_per_entry:.2} bits per entry, bound log2(1/eps) = {bound:.0}, ratio {:.3}",
                bytes.len(),
                bits_per_entry / bound,
            );
            (kind, bytes)
        })
        .collect();
    eprintln!(
        "kind 2 / kind 1 batch bytes: {:.3}",
        batches[1].1.len() as f64 / batches[0].1.len() as f64
    );

    let sightings: Vec<Sighting> = (0..SIGHTINGS)
        .map(|i| {
            let mut rpi = [0u8; 16];
            rng.fill_bytes(&mut rpi);
            let t = UnixTime(u64::from(DAY) * 600 + (i as u64 * 40) % (14 * 86_400));
            Sighting {
                rpi: RollingProximityId(rpi),
                aem: AssociatedEncryptedMetadata([0; 4]),
                first_seen: t,
                last_seen: t.plus_seconds(300),
                scans: 2,
                rssi_min: -80,
                rssi_max: -70,
                rssi_mean: -75,
            }
        })
        .collect();
    let rule = PhoneConfig::default().risk_rule;
    let key = publisher.public_key();
    group.sample_size(20);
    for (kind, bytes) in &batches {
        let k = kind.code();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("kind {k}: open the 4M batch"), |b| {
            b.iter(|| black_box(PublicationBatch::open(bytes, &key).unwrap().entry_count))
        });
        let batch = PublicationBatch::open(bytes, &key).unwrap();
        group.throughput(Throughput::Elements(SIGHTINGS as u64));
        group.bench_function(
            format!("kind {k}: match 30k sightings against the 4M batch"),
            |b| b.iter(|| black_box(match_sightings(&batch, sightings.iter().copied(), &rule, 0))),
        );
    }
    group.finish();
    small_queries(c, &mut rng);
}

/// Few queries against a large kind-2 filter: what each of the simulator's phones does with
/// each batch, millions of times a day at national scale.
fn small_queries(c: &mut Criterion, rng: &mut ChaCha20Rng) {
    const VALUES: usize = 500_000;
    let mut id = || {
        let mut x = [0u8; 16];
        rng.fill_bytes(&mut x);
        x
    };
    let ids: Vec<[u8; 16]> = (0..VALUES).map(|_| id()).collect();
    let params = CompressedParams::for_range(1 << 24);
    let built = CompressedFilter::build(params, [7; 16], &ids).unwrap();
    let received =
        CompressedFilter::from_parts(params, [7; 16], built.len(), built.as_bytes()).unwrap();
    let mut group = c.benchmark_group("gcs_small_queries");
    for queries in [50usize, 3_000] {
        // A tenth of the queries are members.
        let q: Vec<[u8; 16]> = (0..queries)
            .map(|i| if i % 10 == 0 { ids[i * 7] } else { id() })
            .collect();
        let mut out = Vec::new();
        group.throughput(Throughput::Elements(queries as u64));
        for (name, filter) in [("one sequential pass", &built), ("jumps", &received)] {
            group.bench_function(format!("{queries} queries, 500k values: {name}"), |b| {
                b.iter(|| {
                    filter.contains_all(black_box(&q), &mut out);
                    black_box(out.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, publication);
criterion_main!(benches);
