//! A model of what every phone downloads per day, for our publication batches (each filter
//! kind) and, on the same load, for the two designs they are an alternative to.

use crate::batch::{BATCH_HEADER_LEN, BATCH_INDEX_ENTRY_LEN, FilterKind, SIGNATURE_LEN};
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
    let index_bytes = index_bytes(batches * f64::from(RETENTION_DAYS));
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

/// Bytes of a signed index listing `entries` batches (SPEC.md §8.4).
pub fn index_bytes(entries: f64) -> f64 {
    (HEADER_LEN + 12 + SIGNATURE_LEN) as f64 + (BATCH_INDEX_ENTRY_LEN as f64) * entries
}

/// Bytes of one batch file with `entries` entries under filter `kind` at `target_fp_rate`:
/// header, filter (kind 2 at its expected coded size) and signature.
pub fn batch_bytes(kind: FilterKind, entries: f64, target_fp_rate: f64) -> f64 {
    let n = entries.ceil().max(0.0) as u64;
    let filter_bits = match kind {
        FilterKind::Compressed => CompressedParams::for_target(target_fp_rate)
            .map(|p| p.expected_bits_per_value() * n as f64)
            .unwrap_or(f64::INFINITY),
        FilterKind::Bloom => BloomParams::for_target(n, target_fp_rate)
            .map(|p| f64::from(p.bits))
            .unwrap_or(f64::INFINITY),
    };
    (filter_bits / 8.0).ceil() + (BATCH_HEADER_LEN + SIGNATURE_LEN) as f64
}

/// What the default false-positive rate ε is derived from (SPEC.md §8.1.3).
///
/// A phone tests each retained sighting against each batch whose plausible window it overlaps;
/// counting every retained sighting against every batch of the day bounds that from above.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpsilonBudget {
    /// Sightings a phone holds (14 days of retention), on average: the queries it makes per
    /// batch, at most.
    pub sightings_per_phone: f64,
    /// Share of tested sightings whose own weighted exposure passes the risk rule.
    pub alone_share: f64,
    /// Pairs of relevant sightings (non-zero weight) of the same UTC day that a phone tests
    /// against one batch, on average: `Σ_d C(R_{b,d}, 2)`.
    pub pairs_per_batch: f64,
    /// Batches a phone matches per day.
    pub batches_per_day: u32,
    /// Most phone-days shown a false match, as a probability (1e-5: one phone in 100,000 a
    /// day).
    pub max_false_alert_rate: f64,
}

/// The chosen ε = 2^-bits and the figures that justify it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpsilonDerivation {
    /// ε = 2^-bits, the smallest whole `bits` whose bound meets the budget.
    pub bits: u32,
    /// 2^-bits.
    pub epsilon: f64,
    /// Queries a phone makes per day: sightings × batches.
    pub queries_per_day: f64,
    /// Of them, on sightings that pass the risk rule alone (`Q_alone`).
    pub queries_alone_per_day: f64,
    /// Same-day pairs of relevant sightings tested, summed over the day's batches (`Π`).
    pub pairs_per_day: f64,
    /// The bound on a phone-day's false-alert probability at `epsilon`.
    pub false_alert_bound: f64,
    /// The same bound at 2^-(bits-1), which exceeds the budget (infinite when bits is 1).
    pub false_alert_bound_one_bit_less: f64,
}

impl EpsilonBudget {
    /// Upper bound on the probability that a phone-day shows a false match at rate `epsilon`:
    /// `ε·Q_alone + ε²·Π`, with `Q_alone` the day's queries on sightings that pass the risk
    /// rule alone and `Π = Σ_b Σ_d C(R_{b,d}, 2)` the pairs of relevant sightings of one UTC
    /// day `d` tested against one batch `b`.
    ///
    /// A false alert needs one candidate exposure (one UTC day's hits within one batch) made
    /// of false hits that reaches the threshold. Either one of those hits is on a sighting that
    /// passes alone (at most `ε·Q_alone`, the union bound over those queries), or at least two
    /// relevant sightings of the same day tested against the same batch are false hits (at most
    /// `ε²` for each such pair, each query's false positive being independent under the
    /// batch's salt, and the union bound over pairs). Sightings of weight 0 add nothing to an
    /// exposure. `Π ≤ Σ_b C(R_b, 2) ≤ Σ_b R_b²/2` gives the looser `ε·Q_alone + Σ_b (ε·R_b)²/2`.
    pub fn false_alert_bound(&self, epsilon: f64) -> f64 {
        let batches = f64::from(self.batches_per_day);
        epsilon * self.alone_share * self.sightings_per_phone * batches
            + epsilon * epsilon * self.pairs_per_batch * batches
    }

    /// The smallest `bits` in 1..=32 (the compressed filter's range limit) whose bound at
    /// ε = 2^-bits meets the budget, or `None` if even 2^-32 does not.
    pub fn derive(&self) -> Option<EpsilonDerivation> {
        let batches = f64::from(self.batches_per_day);
        let eps = |bits: u32| 2f64.powi(-(bits as i32));
        (1..=32u32)
            .find(|&b| self.false_alert_bound(eps(b)) <= self.max_false_alert_rate)
            .map(|bits| EpsilonDerivation {
                bits,
                epsilon: eps(bits),
                queries_per_day: self.sightings_per_phone * batches,
                queries_alone_per_day: self.alone_share * self.sightings_per_phone * batches,
                pairs_per_day: self.pairs_per_batch * batches,
                false_alert_bound: self.false_alert_bound(eps(bits)),
                false_alert_bound_one_bit_less: if bits == 1 {
                    f64::INFINITY
                } else {
                    self.false_alert_bound(eps(bits - 1))
                },
            })
    }
}

/// One region (province) of a distribution: its share of phones and of traced cases.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// Its code (GSO province code; 0 is the whole country and is not listed).
    pub code: u32,
    /// Its name.
    pub name: String,
    /// Share of the country's phones whose home region it is.
    pub phone_share: f64,
    /// Share of the traced cases traced to it (of those not traced to region 0).
    pub case_share: f64,
}

/// Daily download under regional batches, over the phones of a region distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionalEstimate {
    /// Bytes per phone per day for a phone of each region, in the order given.
    pub per_region: Vec<f64>,
    /// The phone-weighted median.
    pub median: f64,
    /// The phone-weighted 95th percentile.
    pub p95: f64,
    /// The most any phone downloads (over regions with phones).
    pub worst: f64,
    /// The region of the worst-off phone.
    pub worst_region: usize,
}

/// Expected daily download of a region's publication: its batches and its index.
///
/// `cases_per_day` cases are traced to the region; each publication run (of
/// `load.batches_per_day`) builds one batch for it if at least one case of the run is, so with
/// cases arriving as a Poisson process the region gets `B·(1 − e^(−λ/B))` batches a day. Its
/// index lists its batches of the last 14 days and is fetched only when it changed: in a run
/// that made a batch for it or in which one of its batches aged out, `B·(1 − e^(−2λ/B))` runs a
/// day (the runs 14 days apart taken as independent); an unchanged index costs no payload.
fn region_bytes_per_day(load: &BandwidthLoad, kind: FilterKind, cases_per_day: f64) -> f64 {
    if cases_per_day <= 0.0 {
        return 0.0;
    }
    let runs = f64::from(load.batches_per_day.max(1));
    let batches = runs * (1.0 - (-cases_per_day / runs).exp());
    let index_fetches = runs * (1.0 - (-2.0 * cases_per_day / runs).exp());
    let entries =
        cases_per_day * load.contagious_days * f64::from(INTERVALS_PER_DAY) * load.published_share;
    batches * batch_bytes(kind, entries / batches, load.target_fp_rate)
        + index_fetches * index_bytes(batches * f64::from(RETENTION_DAYS))
}

/// The daily download of each region's phones when each run publishes one batch per region
/// with cases, and a phone fetches region 0's (the whole country's) and its home region's.
///
/// `national_case_share` of the cases are traced to region 0, the rest spread over `regions`
/// by their `case_share` (shares are normalised to sum to 1, as are phone shares).
pub fn regional(
    load: &BandwidthLoad,
    kind: FilterKind,
    regions: &[Region],
    national_case_share: f64,
) -> RegionalEstimate {
    let case_total: f64 = regions.iter().map(|r| r.case_share).sum();
    let phone_total: f64 = regions.iter().map(|r| r.phone_share).sum();
    let national = region_bytes_per_day(load, kind, load.f0_per_day * national_case_share);
    let per_region: Vec<f64> = regions
        .iter()
        .map(|r| {
            let share = if case_total > 0.0 {
                r.case_share / case_total
            } else {
                0.0
            };
            national
                + region_bytes_per_day(
                    load,
                    kind,
                    load.f0_per_day * (1.0 - national_case_share) * share,
                )
        })
        .collect();
    let mut order: Vec<usize> = (0..regions.len())
        .filter(|&i| regions[i].phone_share > 0.0)
        .collect();
    order.sort_by(|&a, &b| per_region[a].total_cmp(&per_region[b]));
    let quantile = |q: f64| {
        let mut seen = 0.0;
        for &i in &order {
            seen += regions[i].phone_share / phone_total;
            if seen >= q {
                return per_region[i];
            }
        }
        order.last().map_or(0.0, |&i| per_region[i])
    };
    let worst_region = order.last().copied().unwrap_or(0);
    RegionalEstimate {
        median: quantile(0.5),
        p95: quantile(0.95),
        worst: order.last().map_or(0.0, |&i| per_region[i]),
        worst_region,
        per_region,
    }
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

    fn budget() -> EpsilonBudget {
        EpsilonBudget {
            sightings_per_phone: 1000.0,
            alone_share: 0.02,
            pairs_per_batch: 5000.0,
            batches_per_day: 24,
            max_false_alert_rate: 1e-5,
        }
    }

    #[test]
    fn derived_epsilon_is_the_largest_power_of_two_meeting_the_budget() {
        let b = budget();
        let d = b.derive().unwrap();
        // Q_alone = 0.02 · 1000 · 24 = 480 queries; Π = 5000 · 24 pairs.
        assert_eq!(d.queries_per_day, 24_000.0);
        assert_eq!(d.queries_alone_per_day, 480.0);
        assert_eq!(d.pairs_per_day, 120_000.0);
        assert!(d.false_alert_bound <= 1e-5, "{d:?}");
        assert!(d.false_alert_bound_one_bit_less > 1e-5, "{d:?}");
        assert_eq!(d.false_alert_bound, b.false_alert_bound(d.epsilon));
        // 480 ε + 120000 ε² ≤ 1e-5 first at ε = 2^-26 (480 · 1.49e-8 = 7.2e-6).
        assert_eq!(d.bits, 26);
        // A budget ten times looser buys about log2(10) = 3.3 bits.
        let loose = EpsilonBudget {
            max_false_alert_rate: 1e-4,
            ..b
        };
        assert_eq!(loose.derive().unwrap().bits, 23);
        // Nothing passes alone: only pairs, 120000 ε² ≤ 1e-5 first at 2^-17.
        let pairs = EpsilonBudget {
            alone_share: 0.0,
            ..b
        };
        let p = pairs.derive().unwrap();
        assert_eq!(p.bits, 17);
        assert!(pairs.false_alert_bound(2.0 * p.epsilon) > 1e-5);
        // Unreachable budgets say so.
        let impossible = EpsilonBudget {
            max_false_alert_rate: 1e-30,
            ..b
        };
        assert_eq!(impossible.derive(), None);
    }

    fn load() -> BandwidthLoad {
        BandwidthLoad {
            f0_per_day: 11_321.0,
            contagious_days: 5.0,
            published_share: 0.5,
            target_fp_rate: 1.0 / 16_777_216.0,
            batches_per_day: 24,
        }
    }

    fn provinces(cases: &[f64]) -> Vec<Region> {
        cases
            .iter()
            .enumerate()
            .map(|(i, &c)| Region {
                code: i as u32 + 1,
                name: format!("r{i}"),
                phone_share: 1.0,
                case_share: c,
            })
            .collect()
    }

    #[test]
    fn phones_outside_the_only_affected_region_download_nothing_but_polls() {
        let mut cases = vec![0.0; 10];
        cases[3] = 7.0;
        for kind in [FilterKind::Compressed, FilterKind::Bloom] {
            let r = regional(&load(), kind, &provinces(&cases), 0.0);
            for (i, bytes) in r.per_region.iter().enumerate() {
                if i == 3 {
                    assert!(*bytes > 1e6, "{bytes}");
                } else {
                    assert_eq!(*bytes, 0.0);
                }
            }
            assert_eq!(
                (r.median, r.p95, r.worst, r.worst_region),
                (0.0, r.per_region[3], r.per_region[3], 3)
            );
            // With a share traced to region 0, every phone pays for it.
            let with_national = regional(&load(), kind, &provinces(&cases), 0.1);
            assert!(with_national.per_region[0] > 0.0);
            assert!(with_national.per_region[3] < r.per_region[3] + with_national.per_region[0]);
        }
    }

    #[test]
    fn regional_figures_meet_the_national_one_where_they_should() {
        let national = estimate(&load());
        for (kind, line) in [(FilterKind::Compressed, 0), (FilterKind::Bloom, 1)] {
            // Everything traced to region 0: everyone downloads the national figure.
            let all_national = regional(&load(), kind, &provinces(&[1.0; 63]), 1.0);
            let want = national[line].bytes_per_phone_per_day;
            for bytes in &all_national.per_region {
                assert!((bytes / want - 1.0).abs() < 1e-3, "{bytes} vs {want}");
            }
            // Cases uniform over 63 regions: each phone gets 1/63 of the entries, and the 63
            // regions together publish what the national batches do, plus the overheads of
            // more, smaller batches and indexes.
            let uniform = regional(&load(), kind, &provinces(&[1.0; 63]), 0.0);
            let filters = national[line].entries_per_day * national[line].bits_per_entry / 8.0;
            let together = 63.0 * uniform.per_region[0];
            assert!(
                uniform
                    .per_region
                    .iter()
                    .all(|&b| b == uniform.per_region[0])
            );
            assert!(together > filters, "{together} vs {filters}");
            let overheads = 63.0 * 24.0 * (4096.0 + index_bytes(24.0 * 14.0));
            assert!(together < filters + overheads, "{together} vs {filters}");
            assert_eq!(uniform.median, uniform.per_region[0]);
        }
    }
}
