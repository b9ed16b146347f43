//! Per-agent traits, the infection model and the Bluetooth detection model.
//!
//! Everything an agent will do if infected (incubation, symptoms, testing delay) and everything
//! about its phone (app or not, consents, platform, calibration error, scan phase) is drawn once,
//! before the run, from a stream keyed by (seed, agent) and kept in an 8-byte [`Traits`]. The
//! same agent therefore has the same natural history in the run with the app and in the run
//! without it: the two runs differ only through what the app changes (quarantine).

use rand_chacha::ChaCha8Rng;

use crate::contacts::{Contact, Setting};
use crate::population::Population;
use crate::sample::{
    bernoulli, hash_normal, hash_uniform, log_normal, standard_normal, stream_rng,
};
use crate::scenario::{BleModel, GAMMA_PROFILE_DAYS, InfectiousnessProfile, Scenario};

/// Stream domain of the agents' traits.
const DOMAIN_TRAITS: u64 = 0x7472_6169_7473_0001;
/// Domain of the per-contact transmission draw.
const DOMAIN_TRANSMISSION: u64 = 0x7472_616e_736d_6974;
/// Domain of the per-contact, per-direction Bluetooth stream.
const DOMAIN_BLE: u64 = 0x626c_7565_746f_6f74;
/// Domain of the per-contact environment offset (shared by both directions).
const DOMAIN_ENVIRONMENT: u64 = 0x656e_7669_726f_6e6d;

/// No infection yet (in [`crate::sim`]'s per-agent infection day).
pub const NOT_INFECTED: u16 = u16::MAX;

/// Transmit power every simulated phone declares in its metadata, dBm (the protocol's assumed
/// value; calibration errors are modelled as the device's deviation from it).
pub const DECLARED_TX_POWER_DBM: i8 = -24;

/// What one agent would do if infected, and its phone. 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// Days from infection to symptom onset (at least 1).
    pub onset_days: u8,
    /// Bit flags, see the `FLAG_` constants.
    pub flags: u8,
    /// Hours from symptom onset to the confirmed test result, if tested.
    pub confirm_hours: u16,
    /// Calibration error of what the device transmits, dB.
    pub tx_offset_db: i8,
    /// Calibration error of what the device measures, dB.
    pub rx_offset_db: i8,
    /// Phase of the device's scans within the scan period, in 1/65536 of the period.
    pub scan_phase: u16,
}

const _: () = assert!(std::mem::size_of::<Traits>() == 8);

/// Never shows symptoms.
pub const FLAG_ASYMPTOMATIC: u8 = 1;
/// Would be tested and confirmed after symptom onset.
pub const FLAG_TESTED: u8 = 2;
/// Runs the app.
pub const FLAG_APP: u8 = 4;
/// Would share their contact history as a confirmed F0.
pub const FLAG_UPLOAD_CONSENT: u8 = 8;
/// Would send an F1 report after a match.
pub const FLAG_REPORT_CONSENT: u8 = 16;
/// The phone runs iOS (otherwise Android).
pub const FLAG_IOS: u8 = 32;
/// Would comply with a quarantine request.
pub const FLAG_COMPLIES: u8 = 64;

fn clamp_i8(x: f64) -> i8 {
    x.round().clamp(-127.0, 127.0) as i8
}

impl Traits {
    /// The traits of agent `agent` of age group `age` (draws from its own stream).
    #[must_use]
    pub fn draw(scenario: &Scenario, seed: u64, agent: u32, age: usize) -> Self {
        let mut rng = stream_rng(seed, DOMAIN_TRAITS, u64::from(agent), 0);
        let e = &scenario.epidemic;
        let w = &scenario.workflow;
        let a = &scenario.app;
        let b = &scenario.ble;
        let incubation = log_normal(&mut rng, e.incubation_median_days, e.incubation_sigma);
        let onset_days = incubation.round().clamp(1.0, 14.0) as u8;
        let test_hours = log_normal(&mut rng, w.test_delay_median_hours, 0.5);
        let confirm_hours = test_hours.round().clamp(1.0, 24.0 * 14.0) as u16;
        let mut flags = 0;
        let mut set = |rng: &mut ChaCha8Rng, p: f64, flag: u8| {
            if bernoulli(rng, p) {
                flags |= flag;
            }
        };
        set(&mut rng, e.asymptomatic_share, FLAG_ASYMPTOMATIC);
        set(&mut rng, w.test_probability, FLAG_TESTED);
        set(&mut rng, a.uptake_by_age[age], FLAG_APP);
        set(&mut rng, a.upload_consent, FLAG_UPLOAD_CONSENT);
        set(&mut rng, a.report_consent, FLAG_REPORT_CONSENT);
        set(&mut rng, b.ios_share, FLAG_IOS);
        set(&mut rng, a.quarantine_compliance, FLAG_COMPLIES);
        let sd = if flags & FLAG_IOS != 0 {
            b.ios_calibration_sd_db
        } else {
            b.android_calibration_sd_db
        };
        let tx_offset_db = clamp_i8(sd * standard_normal(&mut rng));
        let rx_offset_db = clamp_i8(sd * standard_normal(&mut rng));
        let scan_phase = (rand_core::Rng::next_u32(&mut rng) >> 16) as u16;
        Self {
            onset_days,
            flags,
            confirm_hours,
            tx_offset_db,
            rx_offset_db,
            scan_phase,
        }
    }

    /// The traits of every agent of `population`.
    #[must_use]
    pub fn draw_all(scenario: &Scenario, seed: u64, population: &Population) -> Vec<Self> {
        use rayon::prelude::*;
        population
            .agents()
            .par_iter()
            .enumerate()
            .map(|(i, agent)| Self::draw(scenario, seed, i as u32, agent.age_group as usize))
            .collect()
    }

    /// Whether a flag is set.
    #[must_use]
    pub fn has(self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether this agent, once infected, becomes a confirmed F0.
    #[must_use]
    pub fn confirmed_if_infected(self) -> bool {
        !self.has(FLAG_ASYMPTOMATIC) && self.has(FLAG_TESTED)
    }

    /// Whether this agent, once infected, shares their contact history from the app.
    #[must_use]
    pub fn uploads_if_infected(self) -> bool {
        self.confirmed_if_infected() && self.has(FLAG_APP) && self.has(FLAG_UPLOAD_CONSENT)
    }

    /// Hours from the start of the run to the confirmed result of an agent infected on
    /// `infected_day` (symptom onset is taken at noon).
    #[must_use]
    pub fn confirm_hour(self, infected_day: u16) -> u64 {
        (u64::from(infected_day) + u64::from(self.onset_days)) * 24
            + 12
            + u64::from(self.confirm_hours)
    }

    /// Relative infectiousness on `day` of an agent infected on `infected_day` (0 when not
    /// infectious), under `curve` (the scenario's [`Curve`]).
    #[must_use]
    pub fn infectiousness(
        self,
        scenario: &Scenario,
        curve: &Curve,
        infected_day: u16,
        day: u32,
    ) -> f64 {
        if infected_day == NOT_INFECTED || day <= u32::from(infected_day) {
            return 0.0;
        }
        let e = &scenario.epidemic;
        let since = day - u32::from(infected_day);
        let weight = match curve {
            Curve::Flat => {
                let onset = u32::from(self.onset_days);
                let from = onset.saturating_sub(e.presymptomatic_days).max(1);
                if since < from || since >= onset + e.symptomatic_days {
                    return 0.0;
                }
                1.0
            }
            Curve::ByDay(weights) => match weights.get(since as usize) {
                Some(&w) => w,
                None => return 0.0,
            },
        };
        if self.has(FLAG_ASYMPTOMATIC) {
            weight * e.asymptomatic_infectiousness
        } else {
            weight
        }
    }

    /// Days from infection to the end (exclusive) of the infectious period: onset plus
    /// `symptomatic_days`, or for a gamma profile the later of that and the profile's end.
    #[must_use]
    pub fn infectious_end(self, scenario: &Scenario, curve: &Curve) -> u32 {
        let flat = u32::from(self.onset_days) + scenario.epidemic.symptomatic_days;
        match curve {
            Curve::Flat => flat,
            Curve::ByDay(w) => flat.max(w.len() as u32),
        }
    }

    /// Whether a case confirmed at `confirm_hour` (hours since the start of the run) is
    /// isolated on `day`: from the day after the result to the end of its infectious period.
    #[must_use]
    pub fn isolated_after(
        self,
        scenario: &Scenario,
        curve: &Curve,
        infected_day: u16,
        confirm_hour: u64,
        day: u32,
    ) -> bool {
        let end = u64::from(infected_day) + u64::from(self.infectious_end(scenario, curve));
        u64::from(day) > confirm_hour / 24 && u64::from(day) < end
    }

    /// Whether a confirmed case is isolated on `day`: from the day after the confirmed result to
    /// the end of its infectious period.
    #[must_use]
    pub fn isolated(self, scenario: &Scenario, curve: &Curve, infected_day: u16, day: u32) -> bool {
        if infected_day == NOT_INFECTED || !self.confirmed_if_infected() {
            return false;
        }
        self.isolated_after(
            scenario,
            curve,
            infected_day,
            self.confirm_hour(infected_day),
            day,
        )
    }
}

/// Infectiousness by day since infection: the scenario's profile, computed once per run.
#[derive(Debug, Clone, PartialEq)]
pub enum Curve {
    /// Constant over the window around onset ([`InfectiousnessProfile::Flat`]).
    Flat,
    /// Weight by day since infection (index 0, the day of infection, is 0).
    ByDay(Vec<f64>),
}

impl Curve {
    /// The curve of `scenario`'s [`crate::scenario::Infectiousness`].
    #[must_use]
    pub fn of(scenario: &Scenario) -> Self {
        let i = &scenario.infectiousness;
        match i.profile {
            InfectiousnessProfile::Flat => Self::Flat,
            InfectiousnessProfile::Gamma => Self::ByDay(gamma_day_weights(
                i.mean_days,
                i.sd_days,
                GAMMA_PROFILE_DAYS,
            )),
        }
    }
}

/// Masses of a gamma density (mean, sd) over `(k − ½, k + ½]` for k = 1..=`days` (day 1 from 0),
/// divided by the largest; index 0 is 0. Midpoint rule with 2000 steps a day on the unnormalised
/// density `x^(shape−1) e^(−x/scale)`, so no gamma function is needed.
fn gamma_day_weights(mean: f64, sd: f64, days: u32) -> Vec<f64> {
    let shape = (mean / sd).powi(2);
    let scale = sd * sd / mean;
    let density = |x: f64| ((shape - 1.0) * x.ln() - x / scale).exp();
    const STEPS: u32 = 2000;
    let mut w = vec![0.0; days as usize + 1];
    for (k, slot) in w.iter_mut().enumerate().skip(1) {
        let (from, to) = if k == 1 {
            (0.0, 1.5)
        } else {
            (k as f64 - 0.5, k as f64 + 0.5)
        };
        let h = (to - from) / f64::from(STEPS);
        *slot = (0..STEPS)
            .map(|j| density(from + (f64::from(j) + 0.5) * h) * h)
            .sum();
    }
    let max = w.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        for x in &mut w {
            *x /= max;
        }
    }
    w
}

/// Keys of a contact for per-contact random draws: (owner, partner) and (day, start, setting).
#[must_use]
pub fn contact_key(c: &Contact, day: u32) -> (u64, u64) {
    (
        (u64::from(c.a) << 32) | u64::from(c.b),
        (u64::from(day) << 32) | (u64::from(c.start_offset_s) << 2) | c.setting as u64,
    )
}

/// The uniform draw deciding transmission over a contact, shared by both runs (common random
/// numbers, so that the run without the app differs only where the app changed something).
#[must_use]
pub fn transmission_draw(seed: u64, c: &Contact, day: u32) -> f64 {
    let (k1, k2) = contact_key(c, day);
    hash_uniform(seed, DOMAIN_TRANSMISSION, k1, k2)
}

/// Probability that a contact transmits, given the infector's relative infectiousness: the
/// setting's multiplier ([`crate::scenario::TransmissionBySetting`]) scales the rate.
#[must_use]
pub fn transmission_probability(scenario: &Scenario, c: &Contact, infectiousness: f64) -> f64 {
    let hours = f64::from(c.duration_s) / 3600.0;
    let metres = f64::from(c.distance_cm) / 100.0;
    let proximity = (1.0 / (metres * metres)).min(1.0);
    let t = &scenario.transmission_by_setting;
    let factor = match c.setting {
        Setting::Household => t.household,
        Setting::Occupation => t.occupation,
        Setting::Random => t.random,
        Setting::Transport => t.transport,
    };
    1.0 - (-scenario.epidemic.transmission_per_hour * factor * hours * infectiousness * proximity)
        .exp()
}

/// One scan in which a receiver heard a transmitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// Seconds since the start of the run.
    pub time_s: u64,
    /// RSSI the receiver measured, dBm.
    pub rssi_dbm: i8,
}

fn shadowing_sd(ble: &BleModel, setting: Setting) -> f64 {
    match setting {
        Setting::Household => ble.household_shadowing_db,
        Setting::Occupation => ble.occupation_shadowing_db,
        Setting::Random => ble.random_shadowing_db,
        Setting::Transport => ble.transport_shadowing_db,
    }
}

/// Standard deviation of the per-contact environment offset in a setting, dB
/// ([`crate::scenario::BleEnvironment`]).
#[must_use]
pub fn environment_sd_db(scenario: &Scenario, setting: Setting) -> f64 {
    let e = &scenario.ble_environment;
    match setting {
        Setting::Household => e.household_sd_db,
        Setting::Occupation => e.occupation_sd_db,
        Setting::Random => e.random_sd_db,
        Setting::Transport => e.transport_sd_db,
    }
}

/// The environment's offset of contact `c` of `day` in dB, added to the path loss of every scan
/// of the contact in both directions: normal with the setting's standard deviation, from a draw
/// keyed by the contact ([`contact_key`]), so it is the same for both phones and all scans, and
/// differs from one contact to the next.
#[must_use]
pub fn environment_offset_db(scenario: &Scenario, seed: u64, c: &Contact, day: u32) -> f64 {
    let sd = environment_sd_db(scenario, c.setting);
    if sd == 0.0 {
        return 0.0;
    }
    let (k1, k2) = contact_key(c, day);
    sd * hash_normal(seed, DOMAIN_ENVIRONMENT, k1, k2)
}

/// The scans in which `rx` hears `tx` during contact `c` of `day` (seconds since the start of
/// the run). `direction` is 0 when `tx` is the contact's owner, 1 otherwise; the two directions
/// use independent streams for the per-scan terms and share the contact's environment offset
/// ([`environment_offset_db`]).
#[allow(clippy::too_many_arguments)]
pub fn detections(
    scenario: &Scenario,
    seed: u64,
    c: &Contact,
    day: u32,
    tx: Traits,
    rx: Traits,
    direction: u64,
    out: &mut Vec<Detection>,
) -> usize {
    out.clear();
    let ble = &scenario.ble;
    let period = u64::from(ble.scan_period_s);
    let day_start = u64::from(day) * 86_400;
    let phase = u64::from(rx.scan_phase) * period / 65_536;
    let start = day_start + u64::from(c.start_offset_s);
    let end = start + u64::from(c.duration_s);
    // First scan at or after the start.
    let mut t = if start <= day_start + phase {
        day_start + phase
    } else {
        day_start + phase + (start - day_start - phase).div_ceil(period) * period
    };
    if t >= end {
        return 0;
    }
    let (k1, k2) = contact_key(c, day);
    let mut rng = stream_rng(seed, DOMAIN_BLE, k1, k2 ^ (direction << 63));
    let metres = (f64::from(c.distance_cm) / 100.0).max(0.01);
    let path_loss = setting_path_loss_db(ble, c.setting, metres)
        + environment_offset_db(scenario, seed, c, day);
    let sd = shadowing_sd(ble, c.setting);
    while t < end {
        let heard = bernoulli(&mut rng, ble.detection_probability);
        let noise = sd * standard_normal(&mut rng);
        let attenuation = path_loss + noise;
        if heard && attenuation <= ble.max_attenuation_db {
            let rssi = f64::from(DECLARED_TX_POWER_DBM) + f64::from(tx.tx_offset_db) - attenuation
                + f64::from(rx.rx_offset_db);
            out.push(Detection {
                time_s: t,
                rssi_dbm: rssi.round().clamp(-127.0, 0.0) as i8,
            });
        }
        t += period;
    }
    out.len()
}

/// The path-loss model's attenuation at `metres`, dB:
/// `loss_at_1m_db + 10 · path_loss_exponent · log10(metres)`.
#[must_use]
pub fn path_loss_db(ble: &BleModel, metres: f64) -> f64 {
    ble.loss_at_1m_db + 10.0 * ble.path_loss_exponent * metres.log10()
}

/// The attenuation at `metres` in `setting`, dB: [`path_loss_db`], except in transport, which
/// has its own line (`transport_loss_at_1m_db`, `transport_path_loss_exponent`).
#[must_use]
pub fn setting_path_loss_db(ble: &BleModel, setting: Setting, metres: f64) -> f64 {
    match setting {
        Setting::Transport => {
            ble.transport_loss_at_1m_db + 10.0 * ble.transport_path_loss_exponent * metres.log10()
        }
        _ => path_loss_db(ble, metres),
    }
}

/// The distance at which the path-loss model gives `attenuation_db`, metres (the inverse of
/// [`path_loss_db`]; infinite when the exponent is 0).
#[must_use]
pub fn distance_at_m(ble: &BleModel, attenuation_db: f64) -> f64 {
    if ble.path_loss_exponent == 0.0 {
        return f64::INFINITY;
    }
    10f64.powf((attenuation_db - ble.loss_at_1m_db) / (10.0 * ble.path_loss_exponent))
}

/// Number of 10-minute intervals a contact overlaps: the RPIs each phone of the pair can see.
#[must_use]
pub fn intervals_overlapped(c: &Contact) -> u64 {
    intervals_overlapped_by(c.start_offset_s, c.duration_s)
}

/// [`intervals_overlapped`] of a contact that starts `start_offset_s` into the day and lasts
/// `duration_s`.
#[must_use]
pub fn intervals_overlapped_by(start_offset_s: u32, duration_s: u32) -> u64 {
    let interval = bluezone_protocol::INTERVAL_SECONDS;
    let first = u64::from(start_offset_s) / interval;
    let last = (u64::from(start_offset_s) + u64::from(duration_s).max(1) - 1) / interval;
    last - first + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(distance_cm: u16, duration_s: u32) -> Contact {
        Contact {
            a: 1,
            b: 2,
            setting: Setting::Household,
            start_offset_s: 3600,
            duration_s,
            distance_cm,
        }
    }

    #[test]
    fn scans_every_period_and_attenuation_grows_with_distance() {
        let mut s = Scenario::default();
        s.ble.detection_probability = 1.0;
        s.ble.household_shadowing_db = 0.0;
        let t = Traits::draw(&s, 1, 1, 1);
        let flat = Traits {
            tx_offset_db: 0,
            rx_offset_db: 0,
            scan_phase: 0,
            ..t
        };
        let mut out = Vec::new();
        // 30 minutes with a 5-minute period starting on a scan: 6 scans.
        assert_eq!(
            detections(&s, 1, &contact(100, 1800), 0, flat, flat, 0, &mut out),
            6
        );
        assert!(out.iter().all(|d| d.rssi_dbm == -24 - 55));
        detections(&s, 1, &contact(200, 1800), 0, flat, flat, 0, &mut out);
        assert_eq!(out[0].rssi_dbm, -24 - 64); // 55 + 30 log10(2) ≈ 64
        // Out of range: nothing heard.
        s.ble.max_attenuation_db = 60.0;
        assert_eq!(
            detections(&s, 1, &contact(300, 1800), 0, flat, flat, 0, &mut out),
            0
        );
    }

    #[test]
    fn the_two_directions_differ_with_noise() {
        let s = Scenario::default();
        let t = Traits::draw(&s, 1, 1, 1);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        detections(&s, 1, &contact(150, 7200), 0, t, t, 0, &mut a);
        detections(&s, 1, &contact(150, 7200), 0, t, t, 1, &mut b);
        assert_ne!(a, b);
    }

    /// The attenuation the receiver computes from each detection (declared power minus RSSI).
    fn attenuations(out: &[Detection]) -> Vec<i16> {
        out.iter()
            .map(|d| i16::from(DECLARED_TX_POWER_DBM) - i16::from(d.rssi_dbm))
            .collect()
    }

    #[test]
    fn the_environment_offset_persists_over_a_contact_and_is_shared_by_both_directions() {
        let mut s = Scenario::default();
        s.ble.detection_probability = 1.0;
        s.ble.household_shadowing_db = 0.0;
        s.ble_environment.household_sd_db = 6.0;
        let flat = Traits {
            tx_offset_db: 0,
            rx_offset_db: 0,
            scan_phase: 0,
            ..Traits::draw(&s, 1, 1, 1)
        };
        let c = contact(100, 7200);
        let offset = environment_offset_db(&s, 1, &c, 0);
        assert!(offset != 0.0);
        let (mut ab, mut ba) = (Vec::new(), Vec::new());
        detections(&s, 1, &c, 0, flat, flat, 0, &mut ab);
        detections(&s, 1, &c, 0, flat, flat, 1, &mut ba);
        // Without per-scan noise every scan of both directions has path loss plus the offset.
        let expected = (55.0 + offset).round() as i16;
        assert_eq!(ab.len(), 24);
        assert!(attenuations(&ab).iter().all(|&a| a == expected), "{ab:?}");
        assert_eq!(attenuations(&ab), attenuations(&ba));
        // The same contact gives the same offset again; another contact (another day, start or
        // pair) another one.
        assert_eq!(environment_offset_db(&s, 1, &c, 0), offset);
        let others = [
            environment_offset_db(&s, 1, &c, 1),
            environment_offset_db(&s, 2, &c, 0),
            environment_offset_db(&s, 1, &Contact { b: 3, ..c }, 0),
            environment_offset_db(
                &s,
                1,
                &Contact {
                    start_offset_s: 3601,
                    ..c
                },
                0,
            ),
        ];
        assert!(others.iter().all(|&o| o != offset), "{others:?}");
        // A setting without an environment term has none.
        let work = Contact {
            setting: Setting::Occupation,
            ..c
        };
        assert_eq!(environment_offset_db(&s, 1, &work, 0), 0.0);
    }

    #[test]
    fn environment_offsets_have_each_settings_standard_deviation() {
        let s = Scenario {
            ble_environment: crate::scenario::BleEnvironment {
                household_sd_db: 3.0,
                occupation_sd_db: 4.0,
                random_sd_db: 0.0,
                transport_sd_db: 6.0,
            },
            ..Scenario::default()
        };
        const N: u32 = 20_000;
        for setting in Setting::ALL {
            let sd = environment_sd_db(&s, setting);
            let draws: Vec<f64> = (0..N)
                .map(|i| {
                    let c = Contact {
                        a: i,
                        b: i + 1,
                        setting,
                        start_offset_s: i % 3600,
                        duration_s: 600,
                        distance_cm: 100,
                    };
                    environment_offset_db(&s, 7, &c, i / 3600)
                })
                .collect();
            let mean = draws.iter().sum::<f64>() / f64::from(N);
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(N - 1);
            // Standard errors: sd / 141 for the mean, about sd / 200 for the SD.
            assert!(mean.abs() <= 0.03 * sd, "{setting:?}: mean {mean}");
            assert!(
                (var.sqrt() - sd).abs() <= 0.03 * sd,
                "{setting:?}: sd {}",
                var.sqrt()
            );
            // Normal: about 95.4% within two standard deviations.
            if sd > 0.0 {
                let within = draws.iter().filter(|x| x.abs() < 2.0 * sd).count();
                let share = within as f64 / f64::from(N);
                assert!((share - 0.9545).abs() < 0.006, "{setting:?}: {share}");
            }
        }
    }

    #[test]
    fn path_loss_and_its_inverse() {
        let mut b = Scenario::default().ble;
        // Transport follows the general line until it is given its own.
        for setting in Setting::ALL {
            assert_eq!(
                setting_path_loss_db(&b, setting, 3.0),
                path_loss_db(&b, 3.0)
            );
        }
        b.transport_loss_at_1m_db = 63.9;
        b.transport_path_loss_exponent = 0.36;
        let bus = |m| setting_path_loss_db(&b, Setting::Transport, m);
        assert!((bus(1.0) - 63.9).abs() < 1e-9 && (bus(10.0) - 67.5).abs() < 1e-9);
        assert_eq!(setting_path_loss_db(&b, Setting::Random, 1.0), 55.0);
        assert!((path_loss_db(&b, 2.0) - 64.0309).abs() < 1e-3);
        assert!((distance_at_m(&b, path_loss_db(&b, 3.7)) - 3.7).abs() < 1e-9);
        assert!((distance_at_m(&b, 78.5) - 6.07).abs() < 0.01);
    }

    #[test]
    fn infectious_window_and_isolation() {
        let s = Scenario::default();
        let mut t = Traits::draw(&s, 1, 1, 1);
        t.onset_days = 5;
        t.flags = FLAG_TESTED;
        t.confirm_hours = 36;
        let c = Curve::of(&s);
        assert_eq!(c, Curve::Flat);
        assert_eq!(t.infectiousness(&s, &c, 10, 10), 0.0);
        assert_eq!(t.infectiousness(&s, &c, 10, 12), 0.0);
        assert_eq!(t.infectiousness(&s, &c, 10, 13), 1.0); // two days before onset
        assert_eq!(t.infectiousness(&s, &c, 10, 21), 1.0);
        assert_eq!(t.infectiousness(&s, &c, 10, 22), 0.0);
        // Onset day 15 noon + 36 h = day 17; isolated from day 18.
        assert!(!t.isolated(&s, &c, 10, 17));
        assert!(t.isolated(&s, &c, 10, 18));
        t.flags |= FLAG_ASYMPTOMATIC;
        assert_eq!(t.infectiousness(&s, &c, 10, 13), 0.5);
        assert!(!t.isolated(&s, &c, 10, 18));
    }

    #[test]
    fn gamma_profile_has_the_configured_mean_and_peaks_at_one() {
        let mut s = Scenario::default();
        s.infectiousness.profile = InfectiousnessProfile::Gamma;
        let Curve::ByDay(w) = Curve::of(&s) else {
            panic!("a gamma profile gives weights by day");
        };
        assert_eq!(w.len(), GAMMA_PROFILE_DAYS as usize + 1);
        assert_eq!(w[0], 0.0);
        assert!((w.iter().copied().fold(0.0, f64::max) - 1.0).abs() < 1e-12);
        // The discrete mean of the day weights is the gamma mean (4.6 days) within the
        // truncation at 21 days and the half-day binning.
        let total: f64 = w.iter().sum();
        let mean: f64 = w.iter().enumerate().map(|(k, x)| k as f64 * x).sum::<f64>() / total;
        assert!((mean - 4.6).abs() < 0.15, "mean {mean}");
        // Infectiousness follows the profile, not the onset window.
        let t = Traits {
            onset_days: 3,
            flags: 0,
            ..Traits::draw(&s, 1, 1, 1)
        };
        let c = Curve::of(&s);
        assert_eq!(t.infectiousness(&s, &c, 0, 4), w[4]);
        assert_eq!(t.infectiousness(&s, &c, 0, 21), w[21]);
        assert_eq!(t.infectiousness(&s, &c, 0, 22), 0.0);
        assert_eq!(t.infectious_end(&s, &c), 22);
    }

    #[test]
    fn intervals_of_a_contact() {
        assert_eq!(intervals_overlapped(&contact(100, 600)), 1);
        assert_eq!(intervals_overlapped(&contact(100, 601)), 2);
    }
}
