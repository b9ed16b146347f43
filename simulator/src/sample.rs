//! The few random samplers the simulator needs, written against [`rand_core::Rng`] 0.10.
//!
//! No released `rand_distr` could be checked against `rand_core` 0.10 from this machine (the
//! registry search was unavailable), so the samplers are implemented here and tested against
//! their theoretical means and variances. All of them are deterministic functions of the
//! generator's output, so a stream seeded from [`stream_rng`] gives the same draws on every
//! machine and in every thread schedule.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// SplitMix64's increment (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): the odd integer closest to 2⁶⁴ / φ.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective mix of a 64-bit state (Stafford's variant 13).
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One step of SplitMix64, used to mix seed, domain and indices into one 64-bit stream seed.
fn splitmix64(z: u64) -> u64 {
    mix64(z.wrapping_add(GOLDEN_GAMMA))
}

/// A SplitMix64 generator (Steele, Lea and Flood 2014): one addition and one mix per 64-bit
/// word, nothing to set up. It is not cryptographic and need not be: it drives the contact
/// generator, which asks for millions of short streams a second, where [`stream_rng`]'s
/// ChaCha8 would spend more time setting up and refilling than the draws themselves take.
/// Word `k` (from 1) of the stream started at `state` is `mix64(state + k·γ)`, so a stream can
/// start at any word ([`SplitMix::at_word`]).
#[derive(Debug, Clone)]
pub struct SplitMix {
    state: u64,
}

impl SplitMix {
    /// The stream keyed by (`seed`, `domain`, `a`, `b`), as [`stream_rng`] keys its streams.
    #[must_use]
    pub fn keyed(seed: u64, domain: u64, a: u64, b: u64) -> Self {
        Self {
            state: hash64(seed, domain, a, b),
        }
    }

    /// The stream of `key`, positioned so that its next word is word `word` (from 1).
    #[must_use]
    pub fn at_word(key: u64, word: u64) -> Self {
        Self {
            state: key.wrapping_add(GOLDEN_GAMMA.wrapping_mul(word - 1)),
        }
    }
}

impl rand_core::TryRng for SplitMix {
    type Error = core::convert::Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        Ok(mix64(self.state))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// A generator for one independent stream, keyed by the run `seed`, a `domain` constant (what the
/// stream is for) and two indices (for example day and agent).
///
/// The result depends only on these four numbers, never on which thread asks or in which order.
#[must_use]
pub fn stream_rng(seed: u64, domain: u64, a: u64, b: u64) -> ChaCha8Rng {
    let mut h = splitmix64(seed ^ splitmix64(domain));
    h = splitmix64(h ^ a);
    h = splitmix64(h ^ b.rotate_left(32));
    ChaCha8Rng::seed_from_u64(h)
}

/// A 64-bit hash of (seed, domain, a, b): the cheap counterpart of [`stream_rng`] for a single
/// draw (no generator is set up), with the same keying.
#[must_use]
pub fn hash64(seed: u64, domain: u64, a: u64, b: u64) -> u64 {
    let mut h = splitmix64(seed ^ splitmix64(domain));
    h = splitmix64(h ^ a);
    splitmix64(h ^ b.rotate_left(32))
}

/// Uniform `f64` in (0, 1) from [`hash64`].
#[must_use]
pub fn hash_uniform(seed: u64, domain: u64, a: u64, b: u64) -> f64 {
    unit(hash64(seed, domain, a, b))
}

/// Standard normal `f64` from [`hash64`] ([`normal_quantile`] of one uniform derived from the
/// hash): the same keys always give the same value.
#[must_use]
pub fn hash_normal(seed: u64, domain: u64, a: u64, b: u64) -> f64 {
    normal_quantile(unit(hash64(seed, domain, a, b)))
}

/// The uniform in (0, 1) made of a word's top 53 bits: `(⌊x / 2¹¹⌋ + ½) / 2⁵³`.
#[inline]
fn unit(x: u64) -> f64 {
    ((x >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Uniform `f64` in the open interval (0, 1), with 53 random bits.
pub fn uniform_open<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    unit(rng.next_u64())
}

/// Uniform integer in `0..n` without modulo bias (Lemire's multiply-and-reject).
///
/// # Panics
/// If `n` is 0.
pub fn below<R: Rng + ?Sized>(rng: &mut R, n: u32) -> u32 {
    assert!(n > 0, "below(0)");
    let n64 = u64::from(n);
    let mut m = u64::from(rng.next_u32()) * n64;
    if (m as u32) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u32) < threshold {
            m = u64::from(rng.next_u32()) * n64;
        }
    }
    (m >> 32) as u32
}

/// `true` with probability `p` (values outside \[0, 1\] act as 0 or 1).
pub fn bernoulli<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    uniform_open(rng) < p
}

/// Standard normal draw: [`normal_quantile`] of one uniform ([`uniform_open`]), so each call
/// takes exactly one word of the stream.
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    normal_quantile(uniform_open(rng))
}

/// The standard normal quantile Φ⁻¹(`p`) for `p` in (0, 1), by Wichura's algorithm AS 241
/// (PPND16: M. J. Wichura, "The percentage points of the normal distribution", Applied
/// Statistics 37(3), 477–484, 1988), accurate to about one part in 10¹⁶. Within 0.425 of ½
/// (85% of draws) it is one rational function of `p`, with no logarithm, which is why the
/// samplers draw normals by inversion rather than by Box–Muller (a logarithm, a square root
/// and a cosine each). `p` outside (0, 1) gives ∓∞ (or NaN for NaN).
#[must_use]
// The coefficients are written as the paper prints them, so that they can be checked against it.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    // Horner's rule over coefficients listed from the constant term.
    fn poly(c: &[f64; 8], x: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
    }
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    if tail.is_nan() {
        return f64::NAN;
    }
    if tail <= 0.0 {
        return if q < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let r = (-tail.ln()).sqrt();
    let x = if r <= 5.0 {
        poly(&C, r - 1.6) / poly(&D, r - 1.6)
    } else {
        poly(&E, r - 5.0) / poly(&F, r - 5.0)
    };
    if q < 0.0 { -x } else { x }
}

/// Log-normal draw with the given median and log-scale standard deviation `sigma`, from one
/// word of the stream ([`standard_normal`]).
pub fn log_normal<R: Rng + ?Sized>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * standard_normal(rng)).exp()
}

/// Negative binomial counts with mean `m` ≥ 0 and dispersion `k` > 0 (variance `m + m²/k`),
/// drawn by inversion: a draw is the smallest `n` with `u < F(n)`, for one uniform `u`
/// ([`uniform_open`], one word of the stream) and `F` the distribution function, summed from
/// `P(0) = (k / (k + m))^k` and `P(n + 1) = P(n) · (n + k) / (n + 1) · m / (k + m)`.
///
/// `F` is tabulated when the sampler is made, up to [`NegativeBinomial::TABLE`] counts, and
/// summed on from there in the rare draw that needs more, so a draw is a short search where the
/// gamma–Poisson mixture takes a power, three logarithms, a cosine and an exponential. The sum
/// stops where `F` no longer grows in double precision past the mode: the mass left beyond it
/// (below 2⁻⁵³) goes to that last count.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeBinomial {
    /// `F(0), F(1), …`, at most `TABLE` values.
    cdf: Vec<f64>,
    /// `P(n)` of the last tabulated `n`.
    last_p: f64,
    /// Whether the table reached the end of the sum (else it goes on from its last entry).
    complete: bool,
    k: f64,
    /// `m / (k + m)`.
    ratio: f64,
    /// The mode of the distribution: past it, `P` decreases.
    mode: u64,
}

impl NegativeBinomial {
    /// Most counts tabulated (32 KiB); the default contact scenario needs about 170.
    pub const TABLE: usize = 4_096;

    /// The sampler of mean `mean` ≥ 0 and dispersion `k` > 0.
    ///
    /// # Panics
    /// If `mean` is negative or not finite, or `k` is not positive and finite (the scenario's
    /// validation refuses such values first).
    #[must_use]
    pub fn new(mean: f64, k: f64) -> Self {
        Self::with_table(mean, k, Self::TABLE)
    }

    /// As [`NegativeBinomial::new`], with at most `table` ≥ 1 tabulated counts (the tests
    /// check that the table's length never changes a draw).
    fn with_table(mean: f64, k: f64, table: usize) -> Self {
        assert!(mean >= 0.0 && mean.is_finite(), "mean {mean}");
        assert!(k > 0.0 && k.is_finite(), "dispersion {k}");
        let ratio = mean / (k + mean);
        let p0 = (k * (k / (k + mean)).ln()).exp();
        let mode = if k > 1.0 {
            ((k - 1.0) * ratio / (1.0 - ratio)).floor() as u64
        } else {
            0
        };
        let mut s = Self {
            cdf: vec![p0],
            last_p: p0,
            complete: false,
            k,
            ratio,
            mode,
        };
        while s.cdf.len() < table.max(1) {
            let n = s.cdf.len() as u64 - 1;
            let f = s.cdf[n as usize];
            match s.step(n, s.last_p, f) {
                Some((p, next)) => {
                    s.cdf.push(next);
                    s.last_p = p;
                }
                None => {
                    s.complete = true;
                    break;
                }
            }
        }
        s
    }

    /// From `P(n) = p` and `F(n) = f`: `(P(n + 1), F(n + 1))`, or `None` where the sum stops.
    fn step(&self, n: u64, p: f64, f: f64) -> Option<(f64, f64)> {
        let next_p = p * ((n as f64 + self.k) / (n as f64 + 1.0)) * self.ratio;
        let next_f = f + next_p;
        if f >= 1.0 || (n >= self.mode && (next_p == 0.0 || next_f == f)) {
            None
        } else {
            Some((next_p, next_f))
        }
    }

    /// The count of the uniform `u` in (0, 1): the smallest `n` with `u < F(n)`, or the last
    /// count of the sum.
    #[must_use]
    pub fn quantile(&self, u: f64) -> u64 {
        if let Some(n) = self.cdf.iter().position(|&f| u < f) {
            return n as u64;
        }
        let mut n = self.cdf.len() as u64 - 1;
        if self.complete {
            return n;
        }
        let (mut p, mut f) = (self.last_p, self.cdf[n as usize]);
        while let Some((next_p, next_f)) = self.step(n, p, f) {
            n += 1;
            (p, f) = (next_p, next_f);
            if u < f {
                break;
            }
        }
        n
    }

    /// One draw, from one word of `rng`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        self.quantile(uniform_open(rng))
    }
}

/// In-place Fisher–Yates shuffle.
pub fn shuffle<R: Rng + ?Sized, T>(rng: &mut R, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, (i + 1) as u32) as usize;
        items.swap(i, j);
    }
}

/// Index drawn with probability proportional to `weights` (non-negative, positive sum).
pub fn weighted_index<R: Rng + ?Sized>(rng: &mut R, weights: &[f64], total: f64) -> usize {
    let mut x = uniform_open(rng) * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    // Rounding can leave x a hair above the last weight: take the last positive weight.
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: impl Iterator<Item = f64>) -> (f64, f64) {
        let (mut n, mut s, mut s2) = (0.0, 0.0, 0.0);
        for x in xs {
            n += 1.0;
            s += x;
            s2 += x * x;
        }
        let mean = s / n;
        (mean, s2 / n - mean * mean)
    }

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a = stream_rng(1, 2, 3, 4).next_u64();
        assert_eq!(a, stream_rng(1, 2, 3, 4).next_u64());
        assert_ne!(a, stream_rng(1, 2, 4, 3).next_u64());
        assert_ne!(a, stream_rng(2, 2, 3, 4).next_u64());
        assert_ne!(a, stream_rng(1, 3, 3, 4).next_u64());
    }

    #[test]
    fn split_mix_is_the_published_generator_and_starts_at_any_word() {
        // SplitMix64 seeded with 1234567: the published first outputs (Rosetta Code,
        // "Pseudo-random numbers/Splitmix64", from Vigna's splitmix64.c).
        let mut g = SplitMix { state: 1_234_567 };
        assert_eq!(g.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(g.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(g.next_u64(), 9_817_491_932_198_370_423);
        let mut from_third = SplitMix::at_word(1_234_567, 3);
        assert_eq!(from_third.next_u64(), 9_817_491_932_198_370_423);
        let mut g = SplitMix::keyed(1, 2, 3, 4);
        assert_eq!(
            g.clone().next_u64(),
            SplitMix::at_word(hash64(1, 2, 3, 4), 1).next_u64()
        );
        let mut bytes = [0u8; 12];
        g.clone().fill_bytes(&mut bytes);
        let (w1, w2) = (g.next_u64(), g.next_u64());
        assert_eq!(bytes[..8], w1.to_le_bytes());
        assert_eq!(bytes[8..], w2.to_le_bytes()[..4]);
    }

    #[test]
    fn below_is_in_range_and_uniform() {
        let mut rng = stream_rng(7, 0, 0, 0);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[below(&mut rng, 7) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(below(&mut rng, 1), 0);
    }

    #[test]
    fn normal_quantile_gives_published_percentage_points() {
        // Φ⁻¹ to 16 digits: Wichura (1988), table of test values for PPND16, and the usual
        // 97.5% point. One value from each of the algorithm's three regions.
        for (p, z) in [
            (0.25, -0.674_489_750_196_081_7),
            (0.975, 1.959_963_984_540_054),
            (0.001, -3.090_232_306_167_814),
            (1e-20, -9.262_340_089_798_408),
        ] {
            let x = normal_quantile(p);
            assert!((x - z).abs() <= 4e-16 * z.abs(), "Φ⁻¹({p}) = {x}, not {z}");
        }
        assert_eq!(normal_quantile(0.5), 0.0);
        // Symmetric where 1 − p is exact (dyadic p), in each region.
        for p in [0.4375, 0.0625, 1.0 / 1024.0, 2f64.powi(-40)] {
            assert_eq!(normal_quantile(1.0 - p), -normal_quantile(p), "{p}");
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(f64::NAN).is_nan());
        // Increasing across the regions' borders (0.075 and 1 − 0.075, and r = 5).
        let ps = [
            1e-300, 1e-12, 1.3e-11, 0.0749999, 0.075, 0.0750001, 0.5, 0.925, 0.99,
        ];
        for w in ps.windows(2) {
            assert!(normal_quantile(w[0]) < normal_quantile(w[1]), "{w:?}");
        }
    }

    #[test]
    fn normal_and_log_normal_moments() {
        let mut rng = stream_rng(8, 0, 0, 0);
        let (m, v) = moments((0..100_000).map(|_| standard_normal(&mut rng)));
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.03, "{m} {v}");
        let mut xs: Vec<f64> = (0..20_001)
            .map(|_| log_normal(&mut rng, 5.0, 0.8))
            .collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[10_000];
        assert!((median - 5.0).abs() < 0.15, "{median}");
        // One word each.
        let mut a = SplitMix::at_word(5, 1);
        let z = standard_normal(&mut a);
        assert_eq!(
            z,
            normal_quantile(uniform_open(&mut SplitMix::at_word(5, 1)))
        );
        assert_eq!(a.next_u64(), SplitMix::at_word(5, 2).next_u64());
    }

    /// `P(n)` of the negative binomial of mean `m` and dispersion `k`, from the gamma function
    /// (Lanczos, g = 7, n = 9: accurate to about 15 digits), independently of the sampler's
    /// recursion.
    fn nb_pmf(n: u64, m: f64, k: f64) -> f64 {
        fn ln_gamma(x: f64) -> f64 {
            const G: [f64; 9] = [
                0.999_999_999_999_809_9,
                676.520_368_121_885_1,
                -1_259.139_216_722_402_8,
                771.323_428_777_653_1,
                -176.615_029_162_140_6,
                12.507_343_278_686_905,
                -0.138_571_095_265_720_12,
                9.984_369_578_019_572e-6,
                1.505_632_735_149_311_6e-7,
            ];
            if x < 0.5 {
                let pi = std::f64::consts::PI;
                return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
            }
            let x = x - 1.0;
            let t = x + 7.5;
            let s = G[1..]
                .iter()
                .enumerate()
                .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
            0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
        }
        let n = n as f64;
        (ln_gamma(n + k) - ln_gamma(k) - ln_gamma(n + 1.0)
            + k * (k / (k + m)).ln()
            + n * (m / (k + m)).ln())
        .exp()
    }

    #[test]
    fn negative_binomial_follows_its_distribution() {
        for (mean, k) in [(2.0, 0.5), (4.0, 0.5), (3.0, 7.5), (0.3, 2.0)] {
            let nb = NegativeBinomial::new(mean, k);
            // The tabulated distribution function against the closed form.
            for n in 0..40u64 {
                let exact: f64 = (0..=n).map(|j| nb_pmf(j, mean, k)).sum();
                let f = nb.cdf.get(n as usize).copied().unwrap_or(1.0);
                assert!(
                    (f - exact).abs() < 1e-12,
                    "({mean}, {k}) F({n}) {f} vs {exact}"
                );
            }
            // Draws: frequencies of 0..8 within 5 standard errors, mean and variance.
            let mut rng = SplitMix::keyed(11, 0, mean.to_bits(), k.to_bits());
            let draws: Vec<u64> = (0..200_000).map(|_| nb.sample(&mut rng)).collect();
            for n in 0..8 {
                let p = nb_pmf(n, mean, k);
                let seen = draws.iter().filter(|&&x| x == n).count() as f64 / 200_000.0;
                let se = (p * (1.0 - p) / 200_000.0).sqrt();
                assert!(
                    (seen - p).abs() < 5.0 * se + 1e-9,
                    "({mean}, {k}) P({n}) {seen} vs {p}"
                );
            }
            let (m, v) = moments(draws.iter().map(|&x| x as f64));
            let ev = mean + mean * mean / k;
            assert!((m - mean).abs() < 0.03 * mean, "({mean}, {k}) mean {m}");
            assert!(
                (v - ev).abs() < 0.1 * ev,
                "({mean}, {k}) variance {v} vs {ev}"
            );
        }
        let none = NegativeBinomial::new(0.0, 0.5);
        assert_eq!(none.quantile(1.0 - 1e-16), 0);
    }

    #[test]
    fn negative_binomial_draws_do_not_depend_on_the_table_length() {
        for (mean, k) in [(2.0, 0.5), (40.0, 0.1), (5.0, 30.0)] {
            let full = NegativeBinomial::with_table(mean, k, 1 << 20);
            assert!(
                full.complete,
                "({mean}, {k}) needs {} counts",
                full.cdf.len()
            );
            for table in [1, 2, 7, 60, NegativeBinomial::TABLE] {
                let short = NegativeBinomial::with_table(mean, k, table);
                assert_eq!(
                    short.complete,
                    full.cdf.len() <= table,
                    "({mean}, {k}) {table}"
                );
                let mut u = 1e-9;
                while u < 1.0 {
                    assert_eq!(
                        short.quantile(u),
                        full.quantile(u),
                        "({mean}, {k}) {table} {u}"
                    );
                    u += 0.618_033_988_75 * (1.0 - u).min(0.01);
                }
                // The far tail, where the sum stops.
                let top = 1.0 - f64::EPSILON / 2.0;
                assert_eq!(short.quantile(top), full.quantile(top));
                assert_eq!(full.quantile(top), full.cdf.len() as u64 - 1);
            }
        }
    }

    #[test]
    fn weighted_index_follows_weights() {
        let mut rng = stream_rng(12, 0, 0, 0);
        let w = [1.0, 0.0, 3.0];
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[weighted_index(&mut rng, &w, 4.0)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_500..10_500).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = stream_rng(13, 0, 0, 0);
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut rng, &mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
