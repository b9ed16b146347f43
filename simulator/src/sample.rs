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
    ((hash64(seed, domain, a, b) >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal `f64` from [`hash64`] (Box–Muller on two uniforms derived from the hash):
/// the same keys always give the same value.
#[must_use]
pub fn hash_normal(seed: u64, domain: u64, a: u64, b: u64) -> f64 {
    let h = hash64(seed, domain, a, b);
    let unit = |x: u64| ((x >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    box_muller(unit(h), unit(splitmix64(h)))
}

/// Uniform `f64` in the open interval (0, 1), with 53 random bits.
pub fn uniform_open<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
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

/// Standard normal draw (Box–Muller; the second value of the pair is discarded so that each call
/// consumes a fixed amount of the stream and keeps no state).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = uniform_open(rng);
    let u2 = uniform_open(rng);
    box_muller(u1, u2)
}

/// The standard normal [`standard_normal`] makes of two uniforms in (0, 1), the first from the
/// stream first (Box–Muller's cosine branch).
#[must_use]
pub fn box_muller(u1: f64, u2: f64) -> f64 {
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal draw with the given median and log-scale standard deviation `sigma`.
pub fn log_normal<R: Rng + ?Sized>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    let u1 = uniform_open(rng);
    let u2 = uniform_open(rng);
    log_normal_of(u1, u2, median, sigma)
}

/// The log-normal [`log_normal`] makes of the two uniforms it takes from the stream.
#[must_use]
pub fn log_normal_of(u1: f64, u2: f64, median: f64, sigma: f64) -> f64 {
    median * (sigma * box_muller(u1, u2)).exp()
}

/// Gamma draw with `shape` > 0 and `scale` > 0 (Marsaglia–Tsang, with the `U^(1/shape)` boost
/// for shape below 1). Mean `shape × scale`, variance `shape × scale²`.
pub fn gamma<R: Rng + ?Sized>(rng: &mut R, shape: f64, scale: f64) -> f64 {
    if shape < 1.0 {
        let boost = uniform_open(rng).powf(1.0 / shape);
        return gamma(rng, shape + 1.0, scale) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = standard_normal(rng);
        let v = 1.0 + c * z;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = uniform_open(rng);
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

/// Poisson draw with mean `lambda` ≥ 0 (Knuth's product method, run in chunks of at most 30 so
/// that `exp(-chunk)` never underflows; a sum of independent Poisson draws is Poisson).
pub fn poisson<R: Rng + ?Sized>(rng: &mut R, lambda: f64) -> u64 {
    let mut remaining = lambda;
    let mut count = 0u64;
    while remaining > 0.0 {
        let step = remaining.min(30.0);
        remaining -= step;
        let limit = (-step).exp();
        let mut p = uniform_open(rng);
        while p > limit {
            count += 1;
            p *= uniform_open(rng);
        }
    }
    count
}

/// Negative binomial draw with the given `mean` ≥ 0 and dispersion `k` > 0, as a gamma–Poisson
/// mixture: `λ ~ Gamma(k, mean / k)`, then `Poisson(λ)`. Variance `mean + mean² / k`.
pub fn negative_binomial<R: Rng + ?Sized>(rng: &mut R, mean: f64, k: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    let lambda = gamma(rng, k, mean / k);
    poisson(rng, lambda)
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
    }

    #[test]
    fn gamma_moments() {
        let mut rng = stream_rng(9, 0, 0, 0);
        for (shape, scale) in [(0.5, 8.0), (2.5, 1.5)] {
            let (m, v) = moments((0..100_000).map(|_| gamma(&mut rng, shape, scale)));
            let (em, ev) = (shape * scale, shape * scale * scale);
            assert!((m - em).abs() < 0.02 * em, "{shape}: mean {m} vs {em}");
            assert!((v - ev).abs() < 0.06 * ev, "{shape}: var {v} vs {ev}");
        }
    }

    #[test]
    fn poisson_moments_including_large_lambda() {
        let mut rng = stream_rng(10, 0, 0, 0);
        for lambda in [0.7, 4.0, 75.0] {
            let (m, v) = moments((0..50_000).map(|_| poisson(&mut rng, lambda) as f64));
            assert!((m - lambda).abs() < 0.02 * lambda + 0.01, "{lambda}: {m}");
            assert!((v - lambda).abs() < 0.05 * lambda + 0.02, "{lambda}: {v}");
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
    }

    #[test]
    fn negative_binomial_mean_and_variance() {
        let mut rng = stream_rng(11, 0, 0, 0);
        let (mean, k) = (4.0, 0.5);
        let (m, v) = moments((0..200_000).map(|_| negative_binomial(&mut rng, mean, k) as f64));
        let ev = mean + mean * mean / k; // 36
        assert!((m - mean).abs() < 0.05, "mean {m}");
        assert!((v - ev).abs() < 0.08 * ev, "variance {v} vs {ev}");
        assert_eq!(negative_binomial(&mut rng, 0.0, k), 0);
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
