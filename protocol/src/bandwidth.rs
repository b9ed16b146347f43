//! A model of what every phone downloads per day, for our publication batches (each filter
//! kind) and, on the same load, for the two designs they are an alternative to.

use crate::batch::{BATCH_HEADER_LEN, BATCH_INDEX_ENTRY_LEN, SIGNATURE_LEN};
use crate::bloom::BloomParams;
use crate::gcs::CompressedParams;
use crate::time::{INTERVALS_PER_DAY, RETENTION_DAYS};
use crate::wire::HEADER_LEN;

/// The epidemic load and publication settings the model is evaluated on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandwidthLoad {
    /// F0 cases uploading per day.
    pub f0_per_day: f64,
    /// Days of the contagious window each F0 uploads.
    pub contagious_days: f64,
    /// Share of the contagious window's intervals an F0 publishes (1 publishes them all).
    pub published_share: f64,
    /// Target false-positive rate of the filters.
    pub target_fp_rate: f64,
    /// Publication batches built per day (phones fetch each and poll the index as often).
    pub batches_per_day: u32,
}

/// One design's daily download per phone.
#[derive(Clone, Debug, PartialEq)]
pub struct BandwidthEstimate {
    /// The design, and how it is sized.
    pub model: &'static str,
    /// Identifiers or keys published per day.
    pub entries_per_day: f64,
    /// Bits per published entry.
    pub bits_per_entry: f64,
    /// Bytes each phone downloads per day, overheads included.
    pub bytes_per_phone_per_day: f64,
}

/// Bytes per key in a GAEN key export (16-byte key, rolling start and period, transmission
/// risk, with protobuf framing), the figure the issue and the GAEN server documentation use.
pub const GAEN_BYTES_PER_KEY: f64 = 28.0;
/// DP-3T's epoch length: 15 minutes, 96 EphIDs per day.
pub const DP3T_EPOCHS_PER_DAY: f64 = 96.0;
/// Cuckoo filter bucket size (entries per bucket) as DP-3T sizes it (Fan et al., 2014).
pub const CUCKOO_BUCKET_SIZE: f64 = 4.0;
/// Load factor a cuckoo filter with buckets of 4 reaches (Fan et al., 2014).
pub const CUCKOO_LOAD_FACTOR: f64 = 0.95;

/// The four models on `load`: ours first, filter kind 2 then kind 1, then GAEN and DP-3T.
pub fn estimate(load: &BandwidthLoad) -> Vec<BandwidthEstimate> {
    let days_published = load.f0_per_day * load.contagious_days;
    let batches = f64::from(load.batches_per_day.max(1));

    // Ours: filters sized exactly as the server sizes them, one per batch, plus the batch
    // header and signature, plus one index poll per batch listing 14 days of batches. Kind 2's
    // size is its expected coded size (the stream's length varies a little with the hashes).
    let ours_entries = days_published * f64::from(INTERVALS_PER_DAY) * load.published_share;
    let per_batch = (ours_entries / batches).ceil().max(0.0) as u64;
    let index_bytes = (HEADER_LEN + 12 + SIGNATURE_LEN) as f64
        + (BATCH_INDEX_ENTRY_LEN as f64) * batches * f64::from(RETENTION_DAYS);
    let ours = |model, filter_bits: f64| BandwidthEstimate {
        model,
        entries_per_day: ours_entries,
        bits_per_entry: if per_batch == 0 {
            0.0
        } else {
            filter_bits / per_batch as f64
        },
        bytes_per_phone_per_day: batches
            * ((filter_bits / 8.0).ceil()
                + (BATCH_HEADER_LEN + SIGNATURE_LEN) as f64
                + index_bytes),
    };
    let compressed_bits = CompressedParams::for_target(load.target_fp_rate)
        .map(|p| p.expected_bits_per_value() * per_batch as f64)
        .unwrap_or(f64::INFINITY);
    let kind2 = ours(
        "Bluezone publication batches, filter kind 2 (Golomb-Rice compressed Bloom filter, SPEC.md §8.1.2)",
        compressed_bits,
    );
    let bloom_bits = BloomParams::for_target(per_batch, load.target_fp_rate)
        .map(|p| f64::from(p.bits))
        .unwrap_or(f64::INFINITY);
    let kind1 = ours(
        "Bluezone publication batches, filter kind 1 (partitioned Bloom filter, SPEC.md §8.1.1)",
        bloom_bits,
    );

    // GAEN: every key of the window, whole, in the clear.
    let gaen = BandwidthEstimate {
        model: "GAEN key export (28 bytes per daily key; all RPIs of a key are linkable)",
        entries_per_day: days_published,
        bits_per_entry: GAEN_BYTES_PER_KEY * 8.0,
        bytes_per_phone_per_day: days_published * GAEN_BYTES_PER_KEY,
    };

    // DP-3T unlinkable design: every EphID of the window (15-minute epochs) in a cuckoo filter
    // with fingerprints of log2(2b/eps) bits at a 95% load.
    let dp3t_entries = days_published * DP3T_EPOCHS_PER_DAY;
    let fingerprint_bits = (2.0 * CUCKOO_BUCKET_SIZE / load.target_fp_rate)
        .log2()
        .ceil();
    let dp3t_bits = fingerprint_bits / CUCKOO_LOAD_FACTOR;
    let dp3t = BandwidthEstimate {
        model: "DP-3T unlinkable design (cuckoo filter, buckets of 4 at 95% load, 15-minute epochs, whole window)",
        entries_per_day: dp3t_entries,
        bits_per_entry: dp3t_bits,
        bytes_per_phone_per_day: dp3t_entries * dp3t_bits / 8.0,
    };
    vec![kind2, kind1, gaen, dp3t]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_scale_as_the_models_say() {
        let load = BandwidthLoad {
            f0_per_day: 1000.0,
            contagious_days: 5.0,
            published_share: 0.5,
            target_fp_rate: 1.0 / 16_777_216.0,
            batches_per_day: 24,
        };
        let [kind2, ours, gaen, dp3t] =
            <[BandwidthEstimate; 4]>::try_from(estimate(&load)).unwrap();
        assert_eq!(gaen.bytes_per_phone_per_day, 5000.0 * 28.0);
        assert_eq!(ours.entries_per_day, 5000.0 * 72.0);
        // Bloom filter at k = 24: log2(1/eps) / ln 2 = 34.6 bits per entry.
        assert!(
            (ours.bits_per_entry - 34.62).abs() < 0.05,
            "{}",
            ours.bits_per_entry
        );
        // Kind 2 at M = 2^24, P = 23: 23 + 1 + 1/(e^(1/2) - 1) = 25.54 bits per entry.
        assert_eq!(kind2.entries_per_day, ours.entries_per_day);
        assert!(
            (kind2.bits_per_entry - 25.54).abs() < 0.01,
            "{}",
            kind2.bits_per_entry
        );
        assert!(kind2.bytes_per_phone_per_day < ours.bytes_per_phone_per_day);
        // Cuckoo: ceil(log2(8 * 2^24)) = 27 bits, / 0.95.
        assert!((dp3t.bits_per_entry - 27.0 / 0.95).abs() < 1e-9);
        assert_eq!(dp3t.entries_per_day, 5000.0 * 96.0);
        // Publishing all intervals costs twice what publishing half does, overheads aside.
        let all = estimate(&BandwidthLoad {
            published_share: 1.0,
            ..load
        });
        let filters = |e: &BandwidthEstimate| e.entries_per_day * e.bits_per_entry / 8.0;
        assert!((filters(&all[1]) / filters(&ours) - 2.0).abs() < 0.01);
        assert!((filters(&all[0]) / filters(&kind2) - 2.0).abs() < 0.01);
    }
}
