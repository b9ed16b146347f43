//! The contacts of one day, generated on the fly.
//!
//! Contacts are never stored by the simulator: [`DayContacts`] produces them again whenever they
//! are asked for, and always identically. Each contact is produced by exactly one of its two
//! agents (its *owner*), from a random stream keyed by (seed, day, owner) (a [`SplitMix`]
//! stream: the generator asks for one per agent per day), so the contacts of any range of agents
//! can be generated independently, in any order or on any thread, and the union over all agents
//! is the same.
//!
//! Ownership: a household pair or an occupation edge belongs to its lower-indexed agent; a random
//! contact belongs to the agent that started it.
//!
//! Per owner, in this order: one contact with every later member of its household; one contact
//! with each later occupation neighbour, each with the network's daily probability; then a
//! negative binomial number of random contacts, whose partner is drawn uniformly from the
//! owner's district with probability `same_district_share` and from the whole population
//! otherwise (never the owner itself). With provinces ([`crate::scenario::Provinces`]), a
//! random partner is first, with probability `other_province_share`, a uniform agent of the
//! other provinces, and "the whole population" above becomes the owner's province. Each random
//! contact happens in transport (a bus or a tram) with probability `transport.share_of_random`,
//! decided by a draw keyed by (owner, its index among the owner's random contacts, day), so that
//! a share of 0 leaves every stream as it was.
//!
//! Each contact takes one 64-bit word from its owner's stream, its *key*, and everything else
//! about it comes from the [`SplitMix`] stream of that key, word by word: word 1 decides whether
//! it happens on a lockdown day ([`crate::scenario::Containment`]); word 2 is the uniform of its
//! distance, word 3 that of its duration (log-normal draws from its setting's [`ContactShape`],
//! each the exponential of a normal drawn by inversion, [`crate::sample::normal_quantile`]), and
//! its start is uniform over the part of the day where it fits, from word 4 on. So the owner's
//! stream moves by one word per contact whatever the contact is, and its start, duration and
//! distance are computed only when asked ([`DrawnContact::timing`], [`DrawnContact::contact`]):
//! most contacts of a day, between two agents who are neither infected nor both app users, never
//! need them.

use std::ops::Range;

use rand_core::Rng;

use crate::population::Population;
use crate::sample::{
    NegativeBinomial, SplitMix, below, bernoulli, hash_uniform, log_normal, uniform_open,
};
use crate::scenario::{
    ContactShape, MAX_DISTANCE_CM, MAX_DURATION_S, MIN_DISTANCE_CM, MIN_DURATION_S, Scenario,
};

/// Stream domain of the daily contact generator (see [`SplitMix::keyed`]).
const DOMAIN_CONTACTS: u64 = 0x636f_6e74_6163_7473; // "contacts"
/// Domain of the per-contact transport draw.
const DOMAIN_TRANSPORT: u64 = 0x7472_616e_7370_6f72; // "transpor"

/// Seconds in a simulated day.
pub const DAY_S: u32 = 86_400;

/// Where a contact happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Setting {
    /// Between members of one household.
    Household = 0,
    /// Between neighbours in a school, workplace or elderly-group network.
    Occupation = 1,
    /// Between random agents (markets, shops, neighbours, outdoors).
    Random = 2,
    /// Between random agents in a bus or a tram: the share `transport.share_of_random` of the
    /// random contacts.
    Transport = 3,
}

impl Setting {
    /// Every setting, in the order of their numbers.
    pub const ALL: [Setting; 4] = [
        Setting::Household,
        Setting::Occupation,
        Setting::Random,
        Setting::Transport,
    ];
}

/// One contact between two agents on one day. 20 bytes (the setting is one byte; the test
/// `contact_is_20_bytes` holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// The agent that owns (generated) the contact.
    pub a: u32,
    /// The other agent; never equal to `a`.
    pub b: u32,
    /// Where it happened.
    pub setting: Setting,
    /// Start, in seconds since the beginning of the day.
    pub start_offset_s: u32,
    /// Duration in seconds; `start_offset_s + duration_s` ≤ [`DAY_S`].
    pub duration_s: u32,
    /// Distance between the two people, in centimetres.
    pub distance_cm: u16,
}

/// Generator of the contacts of one day of one population.
#[derive(Debug, Clone)]
pub struct DayContacts<'a> {
    population: &'a Population,
    scenario: &'a Scenario,
    seed: u64,
    day: u32,
    /// The sampler of each owner's number of random contacts.
    random_count: NegativeBinomial,
}

fn draw_contact(
    rng: &mut SplitMix,
    shape: &ContactShape,
    a: u32,
    b: u32,
    setting: Setting,
) -> DrawnContact {
    DrawnContact {
        a,
        b,
        setting,
        key: rng.next_u64(),
        duration_median_min: shape.duration_median_min,
        duration_sigma: shape.duration_sigma,
        distance_median_m: shape.distance_median_m,
        distance_sigma: shape.distance_sigma,
    }
}

/// A contact as the generator drew it: its agents, its setting and its key. Its start,
/// duration and distance are drawn from the key's stream when asked ([`DrawnContact::timing`],
/// [`DrawnContact::contact`]), always identically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawnContact {
    /// The owner ([`Contact::a`]).
    pub a: u32,
    /// The other agent ([`Contact::b`]).
    pub b: u32,
    /// Where it happened.
    pub setting: Setting,
    /// The word of the owner's stream every other draw of the contact comes from.
    key: u64,
    duration_median_min: f64,
    duration_sigma: f64,
    distance_median_m: f64,
    distance_sigma: f64,
}

impl DrawnContact {
    /// Word 1 of the key's stream as a uniform in (0, 1): the lockdown draw.
    fn lockdown_uniform(&self) -> f64 {
        uniform_open(&mut SplitMix::at_word(self.key, 1))
    }

    /// Start (seconds since the beginning of the day, [`Contact::start_offset_s`]) and duration
    /// (seconds, [`Contact::duration_s`]): word 3 of the key's stream makes a log-normal
    /// number of minutes, clamped to [`MIN_DURATION_S`]`..=`[`MAX_DURATION_S`] seconds and
    /// rounded to the second (half a second up: `x + ½` truncated); the start is uniform in
    /// `0..=DAY_S − duration`, from word 4 on.
    #[must_use]
    pub fn timing(&self) -> (u32, u32) {
        let mut rng = SplitMix::at_word(self.key, 3);
        let minutes = log_normal(&mut rng, self.duration_median_min, self.duration_sigma);
        let duration_s = round_clamped(minutes * 60.0, MIN_DURATION_S, MAX_DURATION_S);
        let start_offset_s = below(&mut rng, DAY_S - duration_s + 1);
        (start_offset_s, duration_s)
    }

    /// The whole contact: its timing and its distance (a log-normal number of metres from
    /// word 2 of the key's stream, clamped to [`MIN_DISTANCE_CM`]`..=`[`MAX_DISTANCE_CM`]
    /// centimetres and rounded to the centimetre as the duration is).
    #[must_use]
    pub fn contact(&self) -> Contact {
        let metres = log_normal(
            &mut SplitMix::at_word(self.key, 2),
            self.distance_median_m,
            self.distance_sigma,
        );
        let distance_cm = round_clamped(
            metres * 100.0,
            u32::from(MIN_DISTANCE_CM),
            u32::from(MAX_DISTANCE_CM),
        ) as u16;
        let (start_offset_s, duration_s) = self.timing();
        Contact {
            a: self.a,
            b: self.b,
            setting: self.setting,
            start_offset_s,
            duration_s,
            distance_cm,
        }
    }

    /// Number of 10-minute intervals the contact overlaps ([`crate::model::intervals_overlapped`]
    /// without the distance).
    #[must_use]
    pub fn intervals_overlapped(&self) -> u64 {
        let (start_offset_s, duration_s) = self.timing();
        crate::model::intervals_overlapped_by(start_offset_s, duration_s)
    }
}

/// `x` clamped to `min..=max` and rounded to an integer, half up (`x + ½` truncated: the
/// conversion is one instruction, where `f64::round` is a call into the C library on the
/// baseline x86-64 target). `NaN` gives `min`.
fn round_clamped(x: f64, min: u32, max: u32) -> u32 {
    (x.max(f64::from(min)).min(f64::from(max)) + 0.5) as u32
}

/// Uniform agent in `range` other than `me` (`range` must hold at least two agents, `me` among
/// them).
fn other_in(rng: &mut SplitMix, range: Range<u32>, me: u32) -> u32 {
    let x = range.start + below(rng, range.end - range.start - 1);
    if x >= me { x + 1 } else { x }
}

/// Uniform agent of `0..n` outside `range` (which must leave at least one).
fn outside(rng: &mut SplitMix, n: u32, range: &Range<u32>) -> u32 {
    let x = below(rng, n - range.len() as u32);
    if x >= range.start {
        x + range.len() as u32
    } else {
        x
    }
}

impl<'a> DayContacts<'a> {
    /// The generator for `day` of `population`, which must have been generated from `scenario`.
    #[must_use]
    pub fn new(population: &'a Population, scenario: &'a Scenario, seed: u64, day: u32) -> Self {
        Self {
            population,
            scenario,
            seed,
            day,
            random_count: NegativeBinomial::new(
                scenario.random.mean_initiated,
                scenario.random.dispersion,
            ),
        }
    }

    /// Calls `f` with every contact owned by agent `owner` on this day. On a lockdown day
    /// ([`crate::scenario::Containment`]) each non-household contact happens with the lockdown's
    /// share, decided by word 1 of the contact's key stream (the others are generated as on any
    /// day, so the random streams do not shift).
    ///
    /// # Panics
    /// If `owner` is not an agent of the population.
    pub fn for_each_of_agent(&self, owner: u32, mut f: impl FnMut(DrawnContact)) {
        let s = self.scenario;
        if s.containment.lockdown_on(self.day) {
            let share = s.containment.lockdown_non_household_share;
            self.generate(owner, |c| {
                if c.setting == Setting::Household || c.lockdown_uniform() < share {
                    f(c);
                }
            });
        } else {
            self.generate(owner, f);
        }
    }

    /// Every contact owned by `owner`, before any lockdown.
    fn generate(&self, owner: u32, mut f: impl FnMut(DrawnContact)) {
        let p = self.population;
        let s = self.scenario;
        let agent = p.agents()[owner as usize];
        let mut rng = SplitMix::keyed(
            self.seed,
            DOMAIN_CONTACTS,
            u64::from(self.day),
            u64::from(owner),
        );

        for other in owner + 1..p.household_members(agent.household).end {
            f(draw_contact(
                &mut rng,
                &s.household_contact,
                owner,
                other,
                Setting::Household,
            ));
        }

        let daily = agent.age_group.network(s).daily_probability;
        for &other in p.occupation_later_neighbours(owner) {
            if bernoulli(&mut rng, daily) {
                f(draw_contact(
                    &mut rng,
                    &s.occupation_contact,
                    owner,
                    other,
                    Setting::Occupation,
                ));
            }
        }

        let count = self.random_count.sample(&mut rng);
        let district = p.district_members(u32::from(agent.district));
        let province = p.province_members(agent.province);
        let provinces = s.provinces.enabled;
        let transport_share = s.transport.share_of_random;
        for k in 0..count {
            // With provinces, first: someone of another province (not drawn without, so that
            // the streams of scenarios without provinces do not shift).
            let away = provinces && bernoulli(&mut rng, s.provinces.other_province_share);
            let local =
                !away && bernoulli(&mut rng, s.random.same_district_share) && district.len() >= 2;
            let other = if away {
                outside(&mut rng, p.len(), &province)
            } else if local {
                other_in(&mut rng, district.clone(), owner)
            } else if province.len() >= 2 {
                other_in(&mut rng, province.clone(), owner)
            } else {
                other_in(&mut rng, 0..p.len(), owner)
            };
            let transport = transport_share > 0.0
                && hash_uniform(
                    self.seed,
                    DOMAIN_TRANSPORT,
                    (u64::from(owner) << 32) | k,
                    u64::from(self.day),
                ) < transport_share;
            if transport {
                f(draw_contact(
                    &mut rng,
                    &s.transport_contact,
                    owner,
                    other,
                    Setting::Transport,
                ));
            } else {
                f(draw_contact(
                    &mut rng,
                    &s.random_contact,
                    owner,
                    other,
                    Setting::Random,
                ));
            }
        }
    }

    /// Calls `f` with every contact owned by the agents in `owners`, in agent order.
    pub fn for_each(&self, owners: Range<u32>, mut f: impl FnMut(Contact)) {
        self.for_each_drawn(owners, |c| f(c.contact()));
    }

    /// [`for_each`](Self::for_each) with each contact as drawn, its distance computed only if
    /// asked ([`DrawnContact::contact`]): what the simulator's contact pass uses.
    pub fn for_each_drawn(&self, owners: Range<u32>, mut f: impl FnMut(DrawnContact)) {
        for owner in owners {
            self.for_each_of_agent(owner, &mut f);
        }
    }

    /// All contacts of the day in a vector: for tests and small populations only (the simulator
    /// itself streams them with [`DayContacts::for_each`]).
    #[must_use]
    pub fn collect(&self) -> Vec<Contact> {
        let mut out = Vec::new();
        self.for_each(0..self.population.len(), |c| out.push(c));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(population: u32) -> (Scenario, Population) {
        let s = Scenario {
            population,
            districts: 4,
            ..Scenario::default()
        };
        let p = Population::generate(&s, 11).unwrap();
        (s, p)
    }

    #[test]
    fn contact_is_20_bytes() {
        assert_eq!(std::mem::size_of::<Contact>(), 20);
    }

    #[test]
    fn same_seed_and_day_identical_otherwise_different() {
        let (s, p) = setup(3_000);
        let day3 = DayContacts::new(&p, &s, 7, 3).collect();
        assert_eq!(day3, DayContacts::new(&p, &s, 7, 3).collect());
        assert_ne!(day3, DayContacts::new(&p, &s, 7, 4).collect());
        assert_ne!(day3, DayContacts::new(&p, &s, 8, 3).collect());
        // Any split of the owners, in any order, gives the same contacts.
        let gen_ = DayContacts::new(&p, &s, 7, 3);
        let mut parts = Vec::new();
        gen_.for_each(1_500..3_000, |c| parts.push(c));
        gen_.for_each(0..1_500, |c| parts.push(c));
        let mut sorted = day3.clone();
        let key = |c: &Contact| (c.a, c.b, c.setting as u8, c.start_offset_s);
        sorted.sort_by_key(key);
        parts.sort_by_key(key);
        assert_eq!(sorted, parts);
    }

    #[test]
    fn contacts_follow_the_documented_key_stream() {
        // Each drawn contact's fields, read one word after the other from its key's stream
        // as the module documentation lays them out, equal what the contact computes when
        // asked (which jumps straight to the words it needs).
        let (s, p) = setup(3_000);
        let gen_ = DayContacts::new(&p, &s, 7, 2);
        let mut seen = 0;
        gen_.for_each_drawn(0..p.len(), |d| {
            let shape = match d.setting {
                Setting::Household => &s.household_contact,
                Setting::Occupation => &s.occupation_contact,
                Setting::Random => &s.random_contact,
                Setting::Transport => &s.transport_contact,
            };
            let mut words = SplitMix::at_word(d.key, 1);
            let lockdown = uniform_open(&mut words);
            let metres = log_normal(&mut words, shape.distance_median_m, shape.distance_sigma);
            let minutes = log_normal(&mut words, shape.duration_median_min, shape.duration_sigma);
            let duration_s = ((minutes * 60.0).clamp(60.0, 57_600.0) + 0.5) as u32;
            let start_offset_s = below(&mut words, DAY_S - duration_s + 1);
            let c = d.contact();
            assert_eq!(lockdown, d.lockdown_uniform());
            assert_eq!(
                (c.start_offset_s, c.duration_s),
                (start_offset_s, duration_s)
            );
            assert_eq!(
                c.distance_cm,
                ((metres * 100.0).clamp(10.0, 1000.0) + 0.5) as u16
            );
            seen += 1;
        });
        assert!(seen > 10_000, "{seen}");
    }

    #[test]
    fn contacts_are_pinned() {
        // FNV-1a over every field of two days' contacts: any change to the generator's
        // streams changes every simulated output, and must be deliberate (this value was
        // set when the counts of random contacts and the normals became draws by inversion).
        let (s, p) = setup(3_000);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for day in [0u32, 3] {
            for c in DayContacts::new(&p, &s, 7, day).collect() {
                for x in [
                    u64::from(c.a),
                    u64::from(c.b),
                    c.setting as u64,
                    u64::from(c.start_offset_s),
                    u64::from(c.duration_s),
                    u64::from(c.distance_cm),
                ] {
                    h = (h ^ x).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        assert_eq!(h, 10_611_807_707_473_945_203);
    }

    #[test]
    fn contacts_are_valid_and_follow_the_scenario() {
        let (s, p) = setup(10_000);
        let contacts = DayContacts::new(&p, &s, 1, 0).collect();
        let n = p.len();
        let mut per_setting = [0u64; 4];
        let mut random_same_district = 0u64;
        let mut dur_sum = [0f64; 4];
        for c in &contacts {
            assert!(c.a < n && c.b < n && c.a != c.b, "{c:?}");
            assert!(c.start_offset_s + c.duration_s <= DAY_S);
            assert!((MIN_DURATION_S..=MAX_DURATION_S).contains(&c.duration_s));
            assert!((MIN_DISTANCE_CM..=MAX_DISTANCE_CM).contains(&c.distance_cm));
            let (aa, ab) = (p.agents()[c.a as usize], p.agents()[c.b as usize]);
            match c.setting {
                Setting::Household => {
                    assert_eq!(aa.household, ab.household);
                    assert!(c.a < c.b);
                }
                Setting::Occupation => {
                    assert!(
                        p.occupation_later_neighbours(c.a)
                            .binary_search(&c.b)
                            .is_ok()
                    );
                    assert!(c.a < c.b);
                }
                Setting::Random => random_same_district += u64::from(aa.district == ab.district),
                Setting::Transport => panic!("the default scenario has no transport: {c:?}"),
            }
            per_setting[c.setting as usize] += 1;
            dur_sum[c.setting as usize] += f64::from(c.duration_s);
        }
        let nf = f64::from(n);
        // Every household pair meets once a day.
        let pairs: u64 = (0..p.household_count())
            .map(|h| {
                let k = p.household_members(h).len() as u64;
                k * (k - 1) / 2
            })
            .sum();
        assert_eq!(per_setting[Setting::Household as usize], pairs);
        // Occupation: each agent takes part in about degree × daily probability contacts
        // (≈ 0.24 × 9.6 + 0.68 × 5 + 0.08 × 3 ≈ 6.0); each contact has two ends.
        let occ_per_agent = 2.0 * per_setting[Setting::Occupation as usize] as f64 / nf;
        assert!(
            (occ_per_agent - 6.0).abs() < 0.3,
            "occupation per agent {occ_per_agent}"
        );
        // Random: mean_initiated started per agent.
        let started = per_setting[Setting::Random as usize] as f64 / nf;
        assert!(
            (started - 2.0).abs() < 0.15,
            "random started per agent {started}"
        );
        // 90 % same district, plus a quarter of the rest by chance (4 districts).
        let same = random_same_district as f64 / per_setting[Setting::Random as usize] as f64;
        assert!((same - 0.925).abs() < 0.02, "same-district share {same}");
        // Household contacts last longer than occupation ones, which last longer than random.
        let mean = |i: usize| dur_sum[i] / per_setting[i] as f64;
        assert!(mean(0) > mean(1) && mean(1) > mean(2));
    }

    #[test]
    fn transport_takes_its_share_of_random_contacts_and_its_own_shape() {
        let (mut s, p) = setup(10_000);
        let before = DayContacts::new(&p, &s, 1, 0).collect();
        s.transport.share_of_random = 0.25;
        s.transport_contact = ContactShape::fixed(40.0, 0.8);
        let after = DayContacts::new(&p, &s, 1, 0).collect();
        // The same contacts, partners and starts: only the setting and shape of some change.
        assert_eq!(before.len(), after.len());
        let (mut random, mut transport) = (0u64, 0u64);
        for (x, y) in before.iter().zip(&after) {
            assert_eq!((x.a, x.b), (y.a, y.b));
            match (x.setting, y.setting) {
                (Setting::Random, Setting::Random) => {
                    random += 1;
                    assert_eq!(x, y);
                }
                (Setting::Random, Setting::Transport) => {
                    transport += 1;
                    assert_eq!((y.duration_s, y.distance_cm), (2400, 80));
                }
                (a, b) => {
                    assert_eq!(a, b);
                    assert_eq!(x, y);
                }
            }
        }
        let share = transport as f64 / (random + transport) as f64;
        // About 20,000 random contacts: the share's standard error is about 0.003.
        assert!((share - 0.25).abs() < 0.015, "transport share {share}");
    }

    #[test]
    fn single_agent_districts_still_give_valid_partners() {
        let s = Scenario {
            population: 6,
            districts: 6,
            ..Scenario::default()
        };
        let p = Population::generate(&s, 1).unwrap();
        for day in 0..50 {
            DayContacts::new(&p, &s, 1, day).for_each(0..6, |c| {
                assert!(c.a != c.b && c.b < 6);
            });
        }
    }
}
