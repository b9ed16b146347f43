//! The scenario: every parameter of the synthetic population and its daily contacts, read from a
//! TOML file.
//!
//! Every field has a default, documented with its source. A file only needs the fields it
//! changes; unknown fields are refused. A nested table (for example `[work]`) that is given must
//! give all its fields, so that a partial table never silently mixes in another setting's values.
//!
//! ```toml
//! population = 50000
//! districts = 5
//! household_size_weights = [0.10, 0.18, 0.21, 0.26, 0.14, 0.07, 0.04]
//!
//! [age_shares]
//! children = 0.24
//! adults = 0.68
//! elderly = 0.08
//!
//! [random]
//! mean_initiated = 2.0
//! dispersion = 0.5
//! same_district_share = 0.9
//! ```
//!
//! # The calibrated scenario `vn-2021-delta`
//!
//! `simulator/scenarios/vn-2021-delta.toml` is the Delta epidemic of Ho Chi Minh City under
//! Directive 16 in the summer of 2021. Its values and their sources (full references in the
//! file; the test `tests/calibration.rs` checks the outputs against the ranges):
//!
//! - infectiousness: [`InfectiousnessProfile::Gamma`] with mean 4.6 and SD 3.1 days, Delta's
//!   intrinsic generation time (Hart et al. 2022, Lancet Infect Dis 22:603–610,
//!   doi:10.1016/S1473-3099(22)00001-9; preprint Table S3);
//! - incubation: log-normal, median 3.48 days and log-sd 0.349, which give Delta's mean 3.7 days
//!   and 97.5th percentile 6.9 days (Ogata et al. 2022, Int J Environ Res Public Health 19:1127,
//!   doi:10.3390/ijerph19031127);
//! - asymptomatic share 0.31 and relative infectiousness 0.35 (Buitrago-Garcia et al. 2020, PLoS
//!   Med 17:e1003346, doi:10.1371/journal.pmed.1003346);
//! - household transmission: multiplier 0.0125, calibrated to a household secondary attack rate
//!   of 0.31 inside Delta's 23.5–39.3% (Madewell et al. 2022, JAMA Netw Open 5:e229317,
//!   doi:10.1001/jamanetworkopen.2022.9317, and its preprint);
//! - contacts: 7.7 a day (Horby et al. 2011, PLoS ONE 6:e16965, doi:10.1371/journal.pone.0016965);
//!   the split between settings is a modelling assumption (explained in the file);
//! - transmission rate 1.2 per hour at 1 m: calibrated to R0 5.4 without interventions, inside
//!   3.98–10.44 (Li et al. 2022, PLoS Negl Trop Dis 16:e0010048, doi:10.1371/journal.pntd.0010048)
//!   and near 5.08 (Liu and Rocklöv 2021, J Travel Med 28:taab124, doi:10.1093/jtm/taab124);
//! - containment: cases isolated and F1s quarantined away from home, for 14 days, with
//!   samples on the first and seventh day (Ho Chi Minh City CDC, July 2021, as reported in the
//!   press); Directive 16 throughout the run (Viet Nam News, July 2021) keeping 30% of
//!   non-household contacts (a modelling assumption: no source measures it);
//! - F1 test sensitivity by day since infection (Kucirka et al. 2020, Ann Intern Med
//!   173:262–267, doi:10.7326/M20-1495), result a day after the sample (assumption);
//! - seeds over the first week and an adult in every household (assumptions);
//! - Bluetooth: a tenth of the random contacts happen in a bus (an assumption; Horby et al.
//!   2011 record travel contacts but we could not read their table by location), with a
//!   path-loss line of 63.9 dB at 1 m and exponent 0.36 in transport, a per-contact environment
//!   offset of 6 dB there and 3.5 dB of per-scan spread, all fitted to
//!   Leith and Farrell's published tram measurements (PLoS ONE 2020, 15:e0239943; see
//!   [`BleEnvironment`]), 3 dB at home and 4 dB elsewhere (assumptions); the risk rule set to
//!   the ground truth's 2 m (full weight below 65 dB, the model's 2.07 m; nothing beyond).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest number of districts: the district index is stored as a `u16` in each agent.
pub const MAX_DISTRICTS: u32 = u16::MAX as u32 + 1;
/// Largest population: agent indices are `u32` and `u32::MAX` is kept free.
pub const MAX_POPULATION: u32 = u32::MAX - 1;
/// Shortest contact duration after clamping, in seconds (1 minute).
pub const MIN_DURATION_S: u32 = 60;
/// Longest contact duration after clamping, in seconds (16 hours).
pub const MAX_DURATION_S: u32 = 16 * 3600;
/// Shortest contact distance after clamping, in centimetres (10 cm).
pub const MIN_DISTANCE_CM: u16 = 10;
/// Longest contact distance after clamping, in centimetres (10 m).
pub const MAX_DISTANCE_CM: u16 = 1000;

/// A complete scenario. See the module documentation for the file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Number of agents. Default 100 000 (a size that runs in seconds; the issue's national-scale
    /// target is 1 000 000 and more).
    pub population: u32,
    /// Number of districts; the population is split evenly between them and most random contacts
    /// stay inside a district. Default 10 (a modelling choice, not a statistic; Vietnam has about
    /// 700 district-level units).
    pub districts: u32,
    /// Relative frequency of household sizes 1, 2, 3, …, in that order (they need not sum to 1).
    /// Default `[0.10, 0.18, 0.21, 0.26, 0.14, 0.07, 0.04]`, mean 3.53: Vietnam's 2019 Population
    /// and Housing Census gives an average household of 3.5 persons. Only that mean is from the
    /// census; the shape of the distribution is an illustrative assumption.
    pub household_size_weights: Vec<f64>,
    /// Shares of the three age groups.
    pub age_shares: AgeShares,
    /// School network of children (0–17).
    pub school: OccupationNetwork,
    /// Workplace network of working-age adults (18–64).
    pub work: OccupationNetwork,
    /// Daily-activity network of the elderly (65+).
    pub elderly: OccupationNetwork,
    /// Random daily contacts (markets, shops, neighbours, transport).
    pub random: RandomContacts,
    /// The share of random contacts that happen in a bus or a tram.
    pub transport: Transport,
    /// Duration and distance of household contacts: long and close.
    pub household_contact: ContactShape,
    /// Duration and distance of school, workplace and elderly-network contacts: medium.
    pub occupation_contact: ContactShape,
    /// Duration and distance of random contacts: short and farther.
    pub random_contact: ContactShape,
    /// Duration and distance of transport contacts. Default: the random contacts' shape.
    pub transport_contact: ContactShape,
    /// A true close contact (ground truth, F1): at least 15 minutes in a day within this
    /// distance, metres. Default 2.0: the definition the measurement studies of GAEN score
    /// against ("15 minutes within 2 metres", Leith and Farrell 2020, PLoS ONE 15(9):e0239943
    /// and 16(4):e0250826, following public-health guidance). The summary reports the distance
    /// the risk rule reaches under the path-loss model ([`crate::Summary::risk_rule_reach_m`]),
    /// and the per-setting rates of the risk rule are judged against this distance.
    pub close_contact_distance_m: f64,
    /// Simulated days. Default 60.
    pub days: u32,
    /// Seed of every random stream of the run. Default 1.
    pub seed: u64,
    /// Bluetooth detection between phones.
    pub ble: BleModel,
    /// The environment's bias of a contact's attenuation, per setting, drawn once per contact.
    pub ble_environment: BleEnvironment,
    /// The phones' risk rule (matching, the intervals an F0 publishes, the server's rescoring).
    pub risk_rule: RiskRuleParams,
    /// Infection and natural history.
    pub epidemic: Epidemic,
    /// App uptake and consent.
    pub app: AppUse,
    /// Testing and the health workers' delays (seed steps 2 to 7).
    pub workflow: WorkflowDelays,
    /// An optional relay attacker.
    pub relay: RelayAttack,
    /// How infectiousness varies with the days since infection.
    pub infectiousness: Infectiousness,
    /// Relative transmission per hour of contact in each setting.
    pub transmission_by_setting: TransmissionBySetting,
    /// Where isolation and quarantine happen, and lockdowns.
    pub containment: Containment,
    /// When the initial infections happen.
    pub seeding: Seeding,
    /// How ages are placed in households.
    pub households: Households,
    /// Testing of verified F1s (onward tracing).
    pub f1_testing: F1Testing,
    /// Vietnam's provinces, mobility between them and regional publication.
    pub provinces: Provinces,
}

/// Bluetooth detection of one phone by another.
///
/// Each phone scans every `scan_period_s` seconds at its own phase (GAEN phones scan about every
/// 5 minutes for about 4 seconds: Google/Apple Exposure Notification documentation, 2020). In a
/// scan, an advertiser in range is heard with probability `detection_probability`, with
/// `RSSI = tx_power + tx_offset − path_loss(distance) − shadowing + rx_offset`, where
/// `path_loss(d) = loss_at_1m_db + 10 · path_loss_exponent · log10(d / 1 m)` and the shadowing is
/// the sum of the contact's environment offset ([`BleEnvironment`], drawn once per contact and
/// shared by both directions) and a normal per-scan term with the setting's standard deviation
/// (the fields below). Each device has a calibration
/// error on what it transmits and on what it measures (`tx_offset`, `rx_offset`), normal with
/// the platform's standard deviation. A scan whose true attenuation exceeds
/// `max_attenuation_db` hears nothing. Both directions of a pair are drawn independently, so
/// detection is not symmetric.
///
/// Defaults are modelling assumptions of the right order of magnitude (Leith and Farrell 2020
/// measured attenuations of 50 to 80 dB at 1 to 3 m indoors, with large variation between
/// environments and handsets), not fitted values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BleModel {
    /// Seconds between scans. Default 300.
    pub scan_period_s: u32,
    /// Probability that an advertiser in range is heard in one scan. Default 0.9.
    pub detection_probability: f64,
    /// Attenuation at 1 m, dB. Default 55.
    pub loss_at_1m_db: f64,
    /// Path-loss exponent. Default 3.0 (indoor, bodies between phones; free space is 2).
    pub path_loss_exponent: f64,
    /// Standard deviation of the per-scan shadowing at home, dB. Default 3.
    pub household_shadowing_db: f64,
    /// Standard deviation of the per-scan shadowing at school and work, dB. Default 5.
    pub occupation_shadowing_db: f64,
    /// Standard deviation of the per-scan shadowing in random places, dB. Default 7.
    pub random_shadowing_db: f64,
    /// Standard deviation of the per-scan shadowing in a bus or a tram, dB. Default 7 (the
    /// random places' value, so that the default scenario is unchanged; Leith and Farrell's
    /// tram data give about 3.5 dB within a 15-minute contact, see [`BleEnvironment`]).
    pub transport_shadowing_db: f64,
    /// Attenuation at 1 m in a bus or a tram, dB: transport has its own path-loss line, because
    /// in a metal-walled vehicle the attenuation hardly depends on distance. Default 55 (the
    /// general value). Leith and Farrell's tram data fit 63.9 dB at 1 m (see
    /// [`BleEnvironment`]).
    pub transport_loss_at_1m_db: f64,
    /// Path-loss exponent in a bus or a tram. Default 3.0 (the general value). The tram data
    /// fit 0.36 (3.6 dB per decade of distance).
    pub transport_path_loss_exponent: f64,
    /// Largest true attenuation still heard (receiver sensitivity), dB. Default 95.
    pub max_attenuation_db: f64,
    /// Share of phones running iOS. Default 0.3 (approximate share in Vietnam, 2021).
    pub ios_share: f64,
    /// Standard deviation of an Android device's calibration error, dB. Default 5 (many models,
    /// coarse calibration table).
    pub android_calibration_sd_db: f64,
    /// Standard deviation of an iOS device's calibration error, dB. Default 2 (few models).
    pub ios_calibration_sd_db: f64,
}

/// The risk rule phones and server use (see `bluezone_protocol::RiskRule`); its scan period is
/// [`BleModel::scan_period_s`] and its assumed transmit power −24 dBm.
///
/// Defaults: the protocol's defaults (Corona-Warn-App 2021 attenuation weights, 15 weighted
/// minutes a day).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRuleParams {
    /// Upper bounds of the first three attenuation buckets, dB. Default `[63, 73, 79]`.
    pub attenuation_bounds_db: [u8; 3],
    /// Weight of each bucket in percent. Default `[80, 100, 10, 0]`.
    pub bucket_weights_percent: [u8; 4],
    /// Weighted minutes in a day that make a contact reportable. Default 15.
    pub min_weighted_minutes: u32,
}

/// The environment's bias of a contact's attenuation: a normal offset in dB with the setting's
/// standard deviation, drawn once per contact from a draw keyed by the contact (so both
/// directions of the pair and all its scans share it) and added to every scan's path loss, on
/// top of the per-scan shadowing of [`BleModel`]. It stands for what stays the same over one
/// contact and varies from one contact to the next: the place (a metal-walled bus, a room), who
/// stands or sits between the two phones, where each phone is carried. The per-scan term
/// averages out over a contact; this one does not.
///
/// The mean offset is 0 in every setting; what the tram data say about the mean attenuation in
/// a vehicle (it hardly depends on distance) is transport's own path-loss line
/// ([`BleModel::transport_loss_at_1m_db`], [`BleModel::transport_path_loss_exponent`]). Two
/// contacts in the same bus are not correlated: the model has no vehicles or rooms, only
/// contacts.
///
/// Sources and defaults. The default is 0 everywhere, so that the default scenario's earlier
/// figures stay comparable; `vn-2021-delta` sets the values below.
///
/// - Transport: Leith and Farrell measured GAEN attenuation durations between 7 Android
///   handsets held by passengers in a Dublin light-rail tram ("Measurement-based evaluation of
///   Google/Apple Exposure Notification API for proximity detection in a light-rail tram",
///   PLoS ONE 2020;15(9):e0239943; data: github.com/doug-leith/dublintram_gaen_dataset, 70
///   handset pairs of about 15 minutes each). Over those pairs the mean attenuation follows
///   63.9 + 3.6 · log10(distance) dB (least squares; it hardly depends on distance,
///   correlation 0.15), and varies around that line with a standard deviation of 6.0 dB (5.3 dB
///   once each handset's own offset is taken out, which the model draws apart as calibration
///   error), while the spread of the attenuation within one pair's 15 minutes is about 3.4 dB
///   (our analysis of the published data; at the pairs' 0.5 to 5.2 m the line is within a few
///   dB of the general model's 55 + 30 · log10(distance), 0.5 dB above it on average). On a Dublin commuter bus the same authors found that changing the people
///   sitting in a pair of seats changes the reported attenuation by ±10 dB ("... in a commuter
///   bus", PLoS ONE 2021;16(4):e0250826). `vn-2021-delta`: 6 dB.
/// - Household, occupation (school, workplace, elderly group) and random places: no source we
///   could read gives a per-contact standard deviation. Leith and Farrell (2020, "Coronavirus
///   contact tracing: evaluating the potential of using Bluetooth received signal strength for
///   proximity detection", ACM SIGCOMM CCR 50(4)) report that the signal varies with the
///   handsets' orientation, absorption by bodies and reflection in buildings, without a figure
///   per setting. `vn-2021-delta` uses 3 dB at home, 4 dB at school and work and in random
///   places: modelling assumptions, below the metal-walled vehicles' measured 6 dB. School and
///   workplace share the occupation value (the occupation setting holds both; no source
///   separates them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BleEnvironment {
    /// Standard deviation of the per-contact offset at home, dB. Default 0.
    pub household_sd_db: f64,
    /// The same at school, at work and in elderly groups, dB. Default 0.
    pub occupation_sd_db: f64,
    /// The same in random places (markets, shops, outdoors), dB. Default 0.
    pub random_sd_db: f64,
    /// The same in a bus or a tram, dB. Default 0.
    pub transport_sd_db: f64,
}

/// Random contacts that happen in transport (a bus or a tram), split out of the random ones.
///
/// Each random contact is a transport contact with probability `share_of_random`; its partner
/// is drawn as for any random contact, its duration and distance from `transport_contact`, and
/// the transport setting has its own transmission multiplier, per-scan shadowing and
/// environment offset. Default 0 (the default scenario keeps its earlier figures).
/// Horby et al. 2011 (PLoS ONE 6:e16965) record contacts by location, travel among them, but we
/// could not read their table by location here, so `vn-2021-delta`'s share is a modelling
/// assumption (explained in the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Probability that a random contact happens in a bus or a tram. Default 0.
    pub share_of_random: f64,
}

/// Infection and natural history of each infected agent.
///
/// A contact between an infectious and a susceptible agent infects with probability
/// `1 − exp(−transmission_per_hour × hours × infectiousness × proximity)`, where `proximity` is
/// `min(1, (1 m / distance)²)` and `infectiousness` is 1 for symptomatic and
/// `asymptomatic_infectiousness` for asymptomatic cases. An agent is infectious from
/// `presymptomatic_days` before symptom onset (at least one day after infection) to
/// `symptomatic_days` after it. Incubation (infection to onset) is log-normal with median 5.1 days
/// and log-sd 0.42 by default (Lauer et al. 2020); presymptomatic spread from 2 days before onset
/// (He et al. 2020); asymptomatic share 0.3 and relative infectiousness 0.5 are within the ranges
/// of Buitrago-Garcia et al. 2020. The transmission rate is a modelling choice that gives a slowly
/// growing epidemic with the default contacts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Epidemic {
    /// Agents infected on day 0, per million agents (at least one). Default 200.
    pub initial_infected_per_million: f64,
    /// Transmission rate per hour of contact at 1 m. Default 0.04.
    pub transmission_per_hour: f64,
    /// Median incubation, days. Default 5.1.
    pub incubation_median_days: f64,
    /// Log-sd of the incubation. Default 0.42.
    pub incubation_sigma: f64,
    /// Infectious days before onset. Default 2.
    pub presymptomatic_days: u32,
    /// Infectious days from onset. Default 7.
    pub symptomatic_days: u32,
    /// Share of infections that never show symptoms. Default 0.3.
    pub asymptomatic_share: f64,
    /// Relative infectiousness of asymptomatic cases. Default 0.5.
    pub asymptomatic_infectiousness: f64,
}

/// Who runs the app and what they agree to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppUse {
    /// Uptake among children, adults and the elderly. Default `[0.3, 0.7, 0.3]`: about 57%
    /// overall with the default ages, near the 60% the seed article names as the goal.
    pub uptake_by_age: [f64; 3],
    /// Probability that a confirmed F0 with the app shares their contact history. Default 0.9.
    pub upload_consent: f64,
    /// Probability that a phone that matched sends its F1 report. Default 0.9.
    pub report_consent: f64,
    /// Whether verified F1s are asked to quarantine (home only). Default true.
    pub quarantine: bool,
    /// Days of quarantine from verification. Default 10.
    pub quarantine_days: u32,
    /// Probability that a verified F1 complies. Default 0.8.
    pub quarantine_compliance: f64,
}

/// Testing and the health workers' delays, in hours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDelays {
    /// Probability that a symptomatic case is tested and confirmed. Default 0.7.
    pub test_probability: f64,
    /// Median hours from symptom onset to the confirmed result (log-normal, log-sd 0.5).
    /// Default 48.
    pub test_delay_median_hours: f64,
    /// Step 2: hours from confirmation to the declaration code. Default 2.
    pub declaration_hours: u32,
    /// Step 3: hours from the code to the phone's upload. Default 4.
    pub upload_hours: u32,
    /// Step 4: hours from the upload to "Trace F1". Default 2.
    pub trace_hours: u32,
    /// Hours between publication batches. Default 6 (the reference server's default is 1).
    pub publication_interval_hours: u32,
    /// Hours from a batch's publication to the phones' reports (download, match, consent).
    /// Default 2.
    pub report_hours: u32,
    /// Days before onset the published contagious window starts. Default 2.
    pub contagious_days_before_onset: u32,
}

/// A relay attacker: every day, `victims_per_day` random app users hear, for
/// `duration_minutes`, the relayed advertisements of a random future F0 at attenuation
/// `attenuation_db`. The F0 never hears them. Default: no attacker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayAttack {
    /// Victims per day. Default 0.
    pub victims_per_day: u32,
    /// Minutes each victim hears the relay. Default 30.
    pub duration_minutes: u32,
    /// Attenuation of the relayed signal, dB. Default 50.
    pub attenuation_db: u8,
}

impl Default for BleModel {
    fn default() -> Self {
        Self {
            scan_period_s: 300,
            detection_probability: 0.9,
            loss_at_1m_db: 55.0,
            path_loss_exponent: 3.0,
            household_shadowing_db: 3.0,
            occupation_shadowing_db: 5.0,
            random_shadowing_db: 7.0,
            transport_shadowing_db: 7.0,
            transport_loss_at_1m_db: 55.0,
            transport_path_loss_exponent: 3.0,
            max_attenuation_db: 95.0,
            ios_share: 0.3,
            android_calibration_sd_db: 5.0,
            ios_calibration_sd_db: 2.0,
        }
    }
}

impl Default for RiskRuleParams {
    fn default() -> Self {
        Self {
            attenuation_bounds_db: [63, 73, 79],
            bucket_weights_percent: [80, 100, 10, 0],
            min_weighted_minutes: 15,
        }
    }
}

impl Default for Epidemic {
    fn default() -> Self {
        Self {
            initial_infected_per_million: 200.0,
            transmission_per_hour: 0.04,
            incubation_median_days: 5.1,
            incubation_sigma: 0.42,
            presymptomatic_days: 2,
            symptomatic_days: 7,
            asymptomatic_share: 0.3,
            asymptomatic_infectiousness: 0.5,
        }
    }
}

impl Default for AppUse {
    fn default() -> Self {
        Self {
            uptake_by_age: [0.3, 0.7, 0.3],
            upload_consent: 0.9,
            report_consent: 0.9,
            quarantine: true,
            quarantine_days: 10,
            quarantine_compliance: 0.8,
        }
    }
}

impl Default for WorkflowDelays {
    fn default() -> Self {
        Self {
            test_probability: 0.7,
            test_delay_median_hours: 48.0,
            declaration_hours: 2,
            upload_hours: 4,
            trace_hours: 2,
            publication_interval_hours: 6,
            report_hours: 2,
            contagious_days_before_onset: 2,
        }
    }
}

impl Default for RelayAttack {
    fn default() -> Self {
        Self {
            victims_per_day: 0,
            duration_minutes: 30,
            attenuation_db: 50,
        }
    }
}

/// The shape of infectiousness over the days since infection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InfectiousnessProfile {
    /// Constant from `epidemic.presymptomatic_days` before symptom onset to
    /// `epidemic.symptomatic_days` after it (the default scenario's simple model).
    Flat,
    /// A gamma density over the time since infection with the given mean and standard deviation
    /// (the intrinsic generation time), scaled so that its most infectious day has weight 1.
    Gamma,
}

/// Infectiousness over the days since infection.
///
/// With the `gamma` profile, an agent infected on day `d` has on day `d + k` (k ≥ 1) the weight
/// of the gamma density's mass over `(k − ½, k + ½]` (day 1 also takes the mass before ½), divided
/// by the largest such mass, and none after day [`GAMMA_PROFILE_DAYS`]; asymptomatic agents
/// multiply it by `epidemic.asymptomatic_infectiousness`. This is the intrinsic generation time:
/// without depletion or isolation, the days from infection to onward infection follow it.
/// Default: `flat` (mean and standard deviation unused), the model the default scenario has
/// always had.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Infectiousness {
    /// `flat` or `gamma`. Default `flat`.
    pub profile: InfectiousnessProfile,
    /// Mean of the gamma profile, days. Default 4.6: Delta's intrinsic generation time, Hart et
    /// al. 2022 (see `vn-2021-delta.toml`).
    pub mean_days: f64,
    /// Standard deviation of the gamma profile, days. Default 3.1 (same source).
    pub sd_days: f64,
}

/// Last day since infection on which the gamma profile gives any infectiousness.
pub const GAMMA_PROFILE_DAYS: u32 = 21;

/// Multipliers of `epidemic.transmission_per_hour` in each setting. Default 1 everywhere (the
/// default scenario's single rate). A setting's multiplier is how a calibration matches the
/// household secondary attack rate without changing transmission elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransmissionBySetting {
    /// Household contacts. Default 1.
    pub household: f64,
    /// School, workplace and elderly-group contacts. Default 1.
    pub occupation: f64,
    /// Random contacts. Default 1.
    pub random: f64,
    /// Transport contacts. Default 1.
    pub transport: f64,
}

/// Where confirmed cases isolate and verified F1s quarantine, and a lockdown.
///
/// At home, an isolated or quarantined agent still meets its household; away from home (a
/// hospital or a centralised quarantine facility, as Vietnam practised in 2021) it meets nobody
/// of the population. During a lockdown (days `lockdown_from_day` to `lockdown_to_day`
/// inclusive) each school, workplace, elderly-group and random contact still happens with
/// probability `lockdown_non_household_share` (one draw per contact, keyed by the contact);
/// household contacts are unchanged. Defaults: both at home, no lockdown (share 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Containment {
    /// Confirmed cases isolate away from home. Default false.
    pub isolation_away_from_home: bool,
    /// Verified F1s quarantine away from home. Default false.
    pub quarantine_away_from_home: bool,
    /// First day of the lockdown. Default 0.
    pub lockdown_from_day: u32,
    /// Last day of the lockdown (inclusive). Default 0.
    pub lockdown_to_day: u32,
    /// Share of non-household contacts that still happen during the lockdown. Default 1 (no
    /// lockdown).
    pub lockdown_non_household_share: f64,
}

/// When the initial infections happen: each seed on a day drawn uniformly from the first
/// `days` days. Default 1 (every seed on day 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seeding {
    /// Days over which the seeds are spread. Default 1.
    pub days: u32,
}

/// How ages are placed in households.
///
/// With `adult_in_every_household`, the first member of every household is an adult (18–64) or
/// elderly (65+) person, in proportion to their shares, and the other members' ages are drawn
/// with shares adjusted so that the population keeps the shares of `age_shares` (children then
/// always live with an adult). Without it, every age is drawn independently. Default false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Households {
    /// Every household has an adult or elderly member. Default false.
    pub adult_in_every_household: bool,
}

/// Vietnam's provinces: agents placed by the 2019 census, random contacts across provinces,
/// seeds placed by province, and publication by region.
///
/// With `enabled`, the population is Vietnam's: the agents are split among the 63 provinces in
/// proportion to their 2019 census populations (at least one each; the figures, with their
/// sources, are `protocol/cli/data/vn-2021.csv` and its README, shared with `bluezone bandwidth
/// --regions`), and `districts` among the provinces in the same proportion (at least one each,
/// so at least 63 districts, none larger than its province's agents); households are formed
/// within a district as without provinces. A random contact is with someone of another
/// province with probability `other_province_share`, chosen uniformly among the agents of the
/// other provinces (so a province is chosen in proportion to its population: a gravity model
/// without distance decay); otherwise with someone of the agent's own district with
/// probability `random.same_district_share`, or else of its own province (without provinces:
/// of the whole population).
///
/// `other_province_share` is a modelling assumption: we found no published rate of contacts
/// between people of different provinces in Vietnam. What the sources give is of another kind:
/// the 2019 census counts 3.2% of the population aged 5 and over as having moved between
/// provinces in the five years before the census (GSO, "Results of the Viet Nam Population and
/// Housing Census 2019", chapter 7, Migration and urbanization), and Facebook's co-location
/// data were used to build district-to-district contact matrices for Vietnam in 2020 (Oxford
/// University Clinical Research Unit, M. Choisy's group), without a published share. The
/// default, 0.02 of random contacts, is of the census's order; set it with `--set` or `--sweep`
/// to see its effect.
///
/// `seeds` lists the provinces the initial infections are placed in, by GSO code, each with a
/// weight (a seed lands in a province with probability proportional to its weight, then on a
/// uniform agent of it); empty: seeds anywhere, uniformly. For the 2021 Delta wave, the August
/// 2021 case counts of `vn-2021.csv` are the natural weights (TP. Hồ Chí Minh 131,306, Hà Nội
/// 2,187).
///
/// In the protocol layer, each case is traced to its own province (what the server does by
/// default for a facility of that province), each publication run makes one batch per
/// province with cases, and every phone subscribes to its home province (and region 0, the
/// whole country): it downloads the batches of those regions and their signed indexes when
/// they change, and matches only those batches. A true F1 who lives in another province than
/// the case is therefore never notified: [`crate::Summary::true_f1_other_province`] counts
/// them. Bytes per phone per day are then reported by province (median, 95th percentile and
/// worst-off province, over phones).
///
/// Defaults: `enabled = false` (the default scenario is one national region, as before),
/// `other_province_share = 0.02`, `seeds = []`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provinces {
    /// Place the population in Vietnam's provinces and publish by region. Default false.
    pub enabled: bool,
    /// Share of random contacts with someone of another province. Default 0.02 (a modelling
    /// assumption, see above).
    pub other_province_share: f64,
    /// Provinces the seeds are placed in, with weights. Default empty (anywhere).
    pub seeds: Vec<SeedProvince>,
}

impl Default for Provinces {
    fn default() -> Self {
        Self {
            enabled: false,
            other_province_share: 0.02,
            seeds: Vec::new(),
        }
    }
}

/// A province seeds are placed in, and its weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProvince {
    /// GSO code of the province (1 to 96).
    pub code: u16,
    /// Weight (non-negative; the seeds' shares are the weights over their sum).
    pub weight: f64,
}

/// Testing of verified F1s: onward tracing.
///
/// When an app user's F1 row is first verified (at the report's hour), the user is sampled on
/// each of `test_days` (days after verification) and the result comes `result_hours` later. A
/// sample taken `k` whole days after infection is positive with probability
/// `sensitivity_by_day_since_infection[k]` (0 past the end of the list; an uninfected F1 is
/// never positive). A positive F1 not already confirmed becomes a confirmed case at the result:
/// it isolates, and if it consents to share, its case is opened, it uploads and is traced like
/// any other, so tracing reaches its own F1s (the F2s of the first case) and beyond.
///
/// Defaults: `enabled = false` (the default scenario does not test F1s); when enabled, one
/// sample a day after verification with the result a day later (modelling assumptions), and the
/// sensitivity of RT-PCR by day since infection from Kucirka et al. 2020 (Ann Intern Med
/// 173:262–267, doi:10.7326/M20-1495): false-negative rate 100% on day 1, 67% on day 4, 38% on
/// day 5 (typical onset), 20% on day 8, 21% on day 9 and 66% on day 21, linearly interpolated
/// in between; sensitivity is 1 minus it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct F1Testing {
    /// Whether verified F1s are tested. Default false.
    pub enabled: bool,
    /// Days after verification on which a sample is taken. Default `[1]`.
    pub test_days: Vec<u32>,
    /// Hours from a sample to its result. Default 24.
    pub result_hours: u32,
    /// Probability that a sample is positive, by whole days since infection (index 0 is the day
    /// of infection). Default: Kucirka et al. 2020, interpolated (see above).
    pub sensitivity_by_day_since_infection: Vec<f64>,
}

/// Sensitivity of RT-PCR by whole day since infection, days 0 to 21: one minus the
/// false-negative rates of Kucirka et al. 2020 (100% on day 1, 67% on day 4, 38% on day 5, 20%
/// on day 8, 21% on day 9, 66% on day 21), linearly interpolated, rounded to 3 decimals; day 0
/// is taken as day 1.
pub const KUCIRKA_SENSITIVITY: [f64; 22] = [
    0.0, 0.0, 0.11, 0.22, 0.33, 0.62, 0.68, 0.74, 0.8, 0.79, 0.753, 0.715, 0.678, 0.64, 0.603,
    0.565, 0.528, 0.49, 0.453, 0.415, 0.378, 0.34,
];

impl Default for Infectiousness {
    fn default() -> Self {
        Self {
            profile: InfectiousnessProfile::Flat,
            mean_days: 4.6,
            sd_days: 3.1,
        }
    }
}

impl Default for TransmissionBySetting {
    fn default() -> Self {
        Self {
            household: 1.0,
            occupation: 1.0,
            random: 1.0,
            transport: 1.0,
        }
    }
}

impl Default for Containment {
    fn default() -> Self {
        Self {
            isolation_away_from_home: false,
            quarantine_away_from_home: false,
            lockdown_from_day: 0,
            lockdown_to_day: 0,
            lockdown_non_household_share: 1.0,
        }
    }
}

impl Default for Seeding {
    fn default() -> Self {
        Self { days: 1 }
    }
}

impl Default for F1Testing {
    fn default() -> Self {
        Self {
            enabled: false,
            test_days: vec![1],
            result_hours: 24,
            sensitivity_by_day_since_infection: KUCIRKA_SENSITIVITY.to_vec(),
        }
    }
}

impl Containment {
    /// Whether `day` is a lockdown day that removes some contacts.
    #[must_use]
    pub fn lockdown_on(&self, day: u32) -> bool {
        self.lockdown_non_household_share < 1.0
            && (self.lockdown_from_day..=self.lockdown_to_day).contains(&day)
    }
}

/// Shares of the age groups 0–17, 18–64 and 65+; they must sum to 1 (±0.001).
///
/// Default 0.24 / 0.68 / 0.08: approximate shares from Vietnam's 2019 Population and Housing
/// Census (rounded; the census reports finer age bands).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeShares {
    /// Share aged 0–17. Default 0.24 (approximate, 2019 census).
    pub children: f64,
    /// Share aged 18–64. Default 0.68 (approximate, 2019 census).
    pub adults: f64,
    /// Share aged 65 and over. Default 0.08 (approximate, 2019 census).
    pub elderly: f64,
}

/// A Watts–Strogatz small-world network built separately inside each group (a school, a
/// workplace, an elderly activity group) of one age group in one district.
///
/// Each member is joined to its `mean_degree / 2` nearest neighbours on each side of a ring, then
/// each edge is rewired to a random member of the group with probability `rewire_probability`.
/// Each edge is an actual contact on a given day with probability `daily_probability`, so the
/// mean number of daily contacts is about `mean_degree × daily_probability`.
///
/// Defaults are in the spirit of OpenABM-Covid19 (Hinch et al. 2021), which uses small-world
/// occupation networks with rewiring 0.1 and more daily contacts for children at school than for
/// adults at work: about 10 a day at school, 5 at work, 3 for the elderly. They are not copied
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OccupationNetwork {
    /// Number of network neighbours of each member (must be even: the ring lattice joins
    /// `mean_degree / 2` neighbours on each side). Groups smaller than `mean_degree + 1` become
    /// complete graphs.
    pub mean_degree: u32,
    /// Probability of rewiring each lattice edge to a random member of the group.
    pub rewire_probability: f64,
    /// Members per group (school, workplace); each district's members of the age group are split
    /// into groups of about this size.
    pub group_size: u32,
    /// Probability that a network edge is a contact on a given day.
    pub daily_probability: f64,
}

/// Random daily contacts: each agent starts a negative-binomial number of contacts with uniformly
/// random partners.
///
/// Each contact has two ends, so the mean number of random contacts an agent takes part in is
/// about `2 × mean_initiated`. Defaults (2 started, so about 4 per person; dispersion 0.5) are in
/// the spirit of OpenABM-Covid19's over-dispersed random network, not copied numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomContacts {
    /// Mean number of random contacts each agent starts per day, at most
    /// [`MAX_MEAN_INITIATED`]. Default 2.0.
    pub mean_initiated: f64,
    /// Negative binomial dispersion `k` (variance = mean + mean² / k; small k means a few agents
    /// have many contacts). Default 0.5.
    pub dispersion: f64,
    /// Probability that a random partner is drawn from the agent's own district rather than the
    /// whole population. Default 0.9 (a modelling choice).
    pub same_district_share: f64,
}

/// Log-normal distributions of the duration and distance of contacts in one setting.
///
/// Durations are clamped to [`MIN_DURATION_S`]..=[`MAX_DURATION_S`] and distances to
/// [`MIN_DISTANCE_CM`]..=[`MAX_DISTANCE_CM`]. Defaults are modelling assumptions chosen for
/// their order of magnitude (household: hours within a metre; work and school: tens of minutes
/// at one to two metres; random: minutes at two to three metres), not measured values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactShape {
    /// Median duration in minutes.
    pub duration_median_min: f64,
    /// Standard deviation of the log of the duration.
    pub duration_sigma: f64,
    /// Median distance in metres.
    pub distance_median_m: f64,
    /// Standard deviation of the log of the distance.
    pub distance_sigma: f64,
}

impl Default for AgeShares {
    fn default() -> Self {
        Self {
            children: 0.24,
            adults: 0.68,
            elderly: 0.08,
        }
    }
}

impl Default for RandomContacts {
    fn default() -> Self {
        Self {
            mean_initiated: 2.0,
            dispersion: 0.5,
            same_district_share: 0.9,
        }
    }
}

/// The default shape of random (and transport) contacts: minutes at two to three metres.
const RANDOM_CONTACT: ContactShape = ContactShape {
    duration_median_min: 5.0,
    duration_sigma: 1.0,
    distance_median_m: 2.5,
    distance_sigma: 0.6,
};

impl Default for Scenario {
    fn default() -> Self {
        Self {
            population: 100_000,
            districts: 10,
            household_size_weights: vec![0.10, 0.18, 0.21, 0.26, 0.14, 0.07, 0.04],
            age_shares: AgeShares::default(),
            // 12 × 0.8 ≈ 10 contacts a day at school.
            school: OccupationNetwork {
                mean_degree: 12,
                rewire_probability: 0.1,
                group_size: 200,
                daily_probability: 0.8,
            },
            // 10 × 0.5 = 5 contacts a day at work.
            work: OccupationNetwork {
                mean_degree: 10,
                rewire_probability: 0.1,
                group_size: 50,
                daily_probability: 0.5,
            },
            // 4 × 0.75 = 3 contacts a day in elderly activity groups.
            elderly: OccupationNetwork {
                mean_degree: 4,
                rewire_probability: 0.1,
                group_size: 30,
                daily_probability: 0.75,
            },
            random: RandomContacts::default(),
            transport: Transport::default(),
            household_contact: ContactShape {
                duration_median_min: 180.0,
                duration_sigma: 0.7,
                distance_median_m: 1.0,
                distance_sigma: 0.5,
            },
            occupation_contact: ContactShape {
                duration_median_min: 30.0,
                duration_sigma: 1.0,
                distance_median_m: 1.5,
                distance_sigma: 0.5,
            },
            random_contact: RANDOM_CONTACT,
            transport_contact: RANDOM_CONTACT,
            close_contact_distance_m: 2.0,
            days: 60,
            seed: 1,
            ble: BleModel::default(),
            ble_environment: BleEnvironment::default(),
            risk_rule: RiskRuleParams::default(),
            epidemic: Epidemic::default(),
            app: AppUse::default(),
            workflow: WorkflowDelays::default(),
            relay: RelayAttack::default(),
            infectiousness: Infectiousness::default(),
            transmission_by_setting: TransmissionBySetting::default(),
            containment: Containment::default(),
            seeding: Seeding::default(),
            households: Households::default(),
            f1_testing: F1Testing::default(),
            provinces: Provinces::default(),
        }
    }
}

/// Why a scenario was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioError {
    /// The text is not valid TOML for a scenario (syntax, wrong type, unknown field).
    Parse(String),
    /// A field has a value outside its allowed range.
    Invalid {
        /// Dotted path of the field, for example `work.mean_degree`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(msg) => write!(f, "invalid scenario file: {msg}"),
            Self::Invalid { field, reason } => {
                write!(f, "invalid scenario field `{field}`: {reason}")
            }
        }
    }
}

impl std::error::Error for ScenarioError {}

fn invalid(field: &str, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn probability(field: &str, p: f64) -> Result<(), ScenarioError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a probability in [0, 1], got {p}"),
        ))
    }
}

/// Most random contacts an agent may start a day on average ([`RandomContacts::mean_initiated`]):
/// far above any contact survey, and low enough that the count's sampler
/// ([`crate::sample::NegativeBinomial`]) starts from a probability `P(0) ≥ e^−mean` that a
/// double holds.
pub const MAX_MEAN_INITIATED: f64 = 500.0;

fn positive(field: &str, x: f64) -> Result<(), ScenarioError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be finite and positive, got {x}"),
        ))
    }
}

fn non_negative(field: &str, x: f64) -> Result<(), ScenarioError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be finite and non-negative, got {x}"),
        ))
    }
}

impl OccupationNetwork {
    fn validate(&self, name: &str) -> Result<(), ScenarioError> {
        if !self.mean_degree.is_multiple_of(2) {
            return Err(invalid(
                &format!("{name}.mean_degree"),
                format!("must be even (ring lattice), got {}", self.mean_degree),
            ));
        }
        if self.mean_degree > 1000 {
            return Err(invalid(
                &format!("{name}.mean_degree"),
                "must be at most 1000",
            ));
        }
        if self.group_size < 2 {
            return Err(invalid(&format!("{name}.group_size"), "must be at least 2"));
        }
        probability(
            &format!("{name}.rewire_probability"),
            self.rewire_probability,
        )?;
        probability(&format!("{name}.daily_probability"), self.daily_probability)
    }
}

impl ContactShape {
    /// Every contact lasts `minutes` at `metres`: no spread (for constructed cases and tests).
    #[must_use]
    pub const fn fixed(minutes: f64, metres: f64) -> Self {
        Self {
            duration_median_min: minutes,
            duration_sigma: 0.0,
            distance_median_m: metres,
            distance_sigma: 0.0,
        }
    }

    fn validate(&self, name: &str) -> Result<(), ScenarioError> {
        positive(
            &format!("{name}.duration_median_min"),
            self.duration_median_min,
        )?;
        non_negative(&format!("{name}.duration_sigma"), self.duration_sigma)?;
        positive(&format!("{name}.distance_median_m"), self.distance_median_m)?;
        non_negative(&format!("{name}.distance_sigma"), self.distance_sigma)
    }
}

impl Scenario {
    /// Parses a scenario from TOML text and validates it.
    ///
    /// # Errors
    /// [`ScenarioError::Parse`] for bad TOML, wrong types or unknown fields;
    /// [`ScenarioError::Invalid`] for out-of-range values.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.population < 2 || self.population > MAX_POPULATION {
            return Err(invalid(
                "population",
                format!("must be in 2..={MAX_POPULATION}"),
            ));
        }
        if self.districts == 0 || self.districts > MAX_DISTRICTS {
            return Err(invalid(
                "districts",
                format!("must be in 1..={MAX_DISTRICTS}"),
            ));
        }
        if self.districts > self.population {
            return Err(invalid("districts", "must not exceed the population"));
        }
        let w = &self.household_size_weights;
        if w.is_empty() || w.len() > 100 {
            return Err(invalid(
                "household_size_weights",
                "must list 1 to 100 sizes",
            ));
        }
        if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(invalid(
                "household_size_weights",
                "weights must be finite and non-negative",
            ));
        }
        if w.iter().sum::<f64>() <= 0.0 {
            return Err(invalid(
                "household_size_weights",
                "weights must not all be zero",
            ));
        }
        let a = &self.age_shares;
        non_negative("age_shares.children", a.children)?;
        non_negative("age_shares.adults", a.adults)?;
        non_negative("age_shares.elderly", a.elderly)?;
        let sum = a.children + a.adults + a.elderly;
        if (sum - 1.0).abs() > 1e-3 {
            return Err(invalid("age_shares", format!("must sum to 1, got {sum}")));
        }
        self.school.validate("school")?;
        self.work.validate("work")?;
        self.elderly.validate("elderly")?;
        non_negative("random.mean_initiated", self.random.mean_initiated)?;
        if self.random.mean_initiated > MAX_MEAN_INITIATED {
            return Err(invalid(
                "random.mean_initiated",
                format!(
                    "must be at most {MAX_MEAN_INITIATED} contacts a day, got {}",
                    self.random.mean_initiated
                ),
            ));
        }
        positive("random.dispersion", self.random.dispersion)?;
        probability(
            "random.same_district_share",
            self.random.same_district_share,
        )?;
        self.household_contact.validate("household_contact")?;
        self.occupation_contact.validate("occupation_contact")?;
        self.random_contact.validate("random_contact")?;
        self.transport_contact.validate("transport_contact")?;
        probability("transport.share_of_random", self.transport.share_of_random)?;
        let d = self.close_contact_distance_m;
        if !(d.is_finite() && (0.1..=10.0).contains(&d)) {
            return Err(invalid(
                "close_contact_distance_m",
                format!("must be in 0.1..=10 (metres), got {d}"),
            ));
        }
        self.validate_model()
    }

    fn validate_model(&self) -> Result<(), ScenarioError> {
        if self.days == 0 || self.days > 3650 {
            return Err(invalid("days", "must be in 1..=3650"));
        }
        let b = &self.ble;
        if b.scan_period_s == 0 || b.scan_period_s > 3600 {
            return Err(invalid("ble.scan_period_s", "must be in 1..=3600"));
        }
        probability("ble.detection_probability", b.detection_probability)?;
        non_negative("ble.loss_at_1m_db", b.loss_at_1m_db)?;
        non_negative("ble.path_loss_exponent", b.path_loss_exponent)?;
        non_negative("ble.household_shadowing_db", b.household_shadowing_db)?;
        non_negative("ble.occupation_shadowing_db", b.occupation_shadowing_db)?;
        non_negative("ble.random_shadowing_db", b.random_shadowing_db)?;
        non_negative("ble.transport_shadowing_db", b.transport_shadowing_db)?;
        non_negative("ble.transport_loss_at_1m_db", b.transport_loss_at_1m_db)?;
        non_negative(
            "ble.transport_path_loss_exponent",
            b.transport_path_loss_exponent,
        )?;
        let e = &self.ble_environment;
        for (field, sd) in [
            ("household_sd_db", e.household_sd_db),
            ("occupation_sd_db", e.occupation_sd_db),
            ("random_sd_db", e.random_sd_db),
            ("transport_sd_db", e.transport_sd_db),
        ] {
            non_negative(&format!("ble_environment.{field}"), sd)?;
        }
        non_negative("ble.max_attenuation_db", b.max_attenuation_db)?;
        probability("ble.ios_share", b.ios_share)?;
        non_negative("ble.android_calibration_sd_db", b.android_calibration_sd_db)?;
        non_negative("ble.ios_calibration_sd_db", b.ios_calibration_sd_db)?;
        let r = &self.risk_rule;
        if !r.attenuation_bounds_db.is_sorted() {
            return Err(invalid(
                "risk_rule.attenuation_bounds_db",
                "must be ascending",
            ));
        }
        if r.bucket_weights_percent.iter().any(|&w| w > 100) {
            return Err(invalid(
                "risk_rule.bucket_weights_percent",
                "must be at most 100",
            ));
        }
        let e = &self.epidemic;
        non_negative(
            "epidemic.initial_infected_per_million",
            e.initial_infected_per_million,
        )?;
        non_negative("epidemic.transmission_per_hour", e.transmission_per_hour)?;
        positive("epidemic.incubation_median_days", e.incubation_median_days)?;
        non_negative("epidemic.incubation_sigma", e.incubation_sigma)?;
        if e.presymptomatic_days > 14 || e.symptomatic_days == 0 || e.symptomatic_days > 30 {
            return Err(invalid(
                "epidemic.symptomatic_days",
                "presymptomatic_days must be at most 14 and symptomatic_days in 1..=30",
            ));
        }
        probability("epidemic.asymptomatic_share", e.asymptomatic_share)?;
        probability(
            "epidemic.asymptomatic_infectiousness",
            e.asymptomatic_infectiousness,
        )?;
        let a = &self.app;
        for (i, u) in a.uptake_by_age.iter().enumerate() {
            probability(&format!("app.uptake_by_age[{i}]"), *u)?;
        }
        probability("app.upload_consent", a.upload_consent)?;
        probability("app.report_consent", a.report_consent)?;
        probability("app.quarantine_compliance", a.quarantine_compliance)?;
        if a.quarantine_days > 60 {
            return Err(invalid("app.quarantine_days", "must be at most 60"));
        }
        let w = &self.workflow;
        probability("workflow.test_probability", w.test_probability)?;
        positive(
            "workflow.test_delay_median_hours",
            w.test_delay_median_hours,
        )?;
        if w.publication_interval_hours == 0 || w.publication_interval_hours > 24 {
            return Err(invalid(
                "workflow.publication_interval_hours",
                "must be in 1..=24",
            ));
        }
        if w.declaration_hours + w.upload_hours + w.trace_hours + w.report_hours > 24 * 7 {
            return Err(invalid(
                "workflow.declaration_hours",
                "the delays of steps 2 to 5 must add up to at most a week",
            ));
        }
        if w.contagious_days_before_onset > 10 {
            return Err(invalid(
                "workflow.contagious_days_before_onset",
                "must be at most 10",
            ));
        }
        if self.relay.duration_minutes == 0 || self.relay.duration_minutes > 600 {
            return Err(invalid("relay.duration_minutes", "must be in 1..=600"));
        }
        self.validate_extensions()
    }

    fn validate_extensions(&self) -> Result<(), ScenarioError> {
        let i = &self.infectiousness;
        positive("infectiousness.mean_days", i.mean_days)?;
        positive("infectiousness.sd_days", i.sd_days)?;
        let t = &self.transmission_by_setting;
        non_negative("transmission_by_setting.household", t.household)?;
        non_negative("transmission_by_setting.occupation", t.occupation)?;
        non_negative("transmission_by_setting.random", t.random)?;
        non_negative("transmission_by_setting.transport", t.transport)?;
        let c = &self.containment;
        probability(
            "containment.lockdown_non_household_share",
            c.lockdown_non_household_share,
        )?;
        if c.lockdown_to_day < c.lockdown_from_day {
            return Err(invalid(
                "containment.lockdown_to_day",
                "must not be before lockdown_from_day",
            ));
        }
        if self.seeding.days == 0 || self.seeding.days > self.days {
            return Err(invalid("seeding.days", "must be in 1..=days"));
        }
        let f = &self.f1_testing;
        if f.test_days.is_empty() || f.test_days.len() > 30 || f.test_days.iter().any(|&d| d > 60) {
            return Err(invalid(
                "f1_testing.test_days",
                "must list 1 to 30 days, each at most 60",
            ));
        }
        if f.result_hours > 24 * 14 {
            return Err(invalid("f1_testing.result_hours", "must be at most 336"));
        }
        let sens = &f.sensitivity_by_day_since_infection;
        if sens.len() > 60 {
            return Err(invalid(
                "f1_testing.sensitivity_by_day_since_infection",
                "must list at most 60 days",
            ));
        }
        for (k, p) in sens.iter().enumerate() {
            probability(
                &format!("f1_testing.sensitivity_by_day_since_infection[{k}]"),
                *p,
            )?;
        }
        self.validate_provinces()
    }

    fn validate_provinces(&self) -> Result<(), ScenarioError> {
        let p = &self.provinces;
        probability("provinces.other_province_share", p.other_province_share)?;
        for (i, seed) in p.seeds.iter().enumerate() {
            if crate::provinces::by_code(seed.code).is_none() {
                return Err(invalid(
                    &format!("provinces.seeds[{i}].code"),
                    format!("{} is not the GSO code of a province", seed.code),
                ));
            }
            non_negative(&format!("provinces.seeds[{i}].weight"), seed.weight)?;
        }
        if !p.seeds.is_empty() && p.seeds.iter().map(|s| s.weight).sum::<f64>() <= 0.0 {
            return Err(invalid("provinces.seeds", "weights must not all be zero"));
        }
        let count = crate::provinces::vietnam().len() as u32;
        if p.enabled && self.population < 2 * count {
            return Err(invalid(
                "population",
                format!(
                    "must be at least {} with provinces (two agents a province)",
                    2 * count
                ),
            ));
        }
        Ok(())
    }

    /// Mean household size implied by [`Scenario::household_size_weights`].
    #[must_use]
    pub fn mean_household_size(&self) -> f64 {
        let w = &self.household_size_weights;
        let total: f64 = w.iter().sum();
        w.iter()
            .enumerate()
            .map(|(i, x)| (i + 1) as f64 * x)
            .sum::<f64>()
            / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ScenarioError) -> String {
        match err {
            ScenarioError::Invalid { field, .. } => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_validate_and_match_sources() {
        let s = Scenario::default();
        s.validate().unwrap();
        assert!((s.mean_household_size() - 3.5).abs() < 0.05);
        let daily = |n: &OccupationNetwork| f64::from(n.mean_degree) * n.daily_probability;
        assert!((daily(&s.school) - 10.0).abs() < 0.5);
        assert!((daily(&s.work) - 5.0).abs() < 0.5);
        assert_eq!(s.work.rewire_probability, 0.1);
        assert_eq!(s.random.dispersion, 0.5);
    }

    #[test]
    fn empty_file_is_the_default_and_round_trips() {
        assert_eq!(Scenario::from_toml_str("").unwrap(), Scenario::default());
        let text = toml::to_string(&Scenario::default()).unwrap();
        assert_eq!(Scenario::from_toml_str(&text).unwrap(), Scenario::default());
    }

    #[test]
    fn the_documented_scenario_file_is_the_default() {
        let text = include_str!("../docs/scenario.toml");
        assert_eq!(Scenario::from_toml_str(text).unwrap(), Scenario::default());
    }

    #[test]
    fn partial_file_overrides_only_its_fields() {
        let s = Scenario::from_toml_str(
            "population = 5000\n[work]\nmean_degree = 6\nrewire_probability = 0.2\n\
             group_size = 20\ndaily_probability = 1.0\n",
        )
        .unwrap();
        assert_eq!(s.population, 5000);
        assert_eq!(s.work.mean_degree, 6);
        assert_eq!(s.school, Scenario::default().school);
    }

    #[test]
    fn parse_errors() {
        for text in [
            "populaton = 5",             // unknown field
            "population = \"many\"",     // wrong type
            "[work]\nmean_degree = 6\n", // incomplete nested table
            "[random]\nmean_initiated = 1.0\ndispersion = 0.5\nsame_district_share = 0.9\nx = 1\n",
            "population = ", // syntax
        ] {
            assert!(
                matches!(Scenario::from_toml_str(text), Err(ScenarioError::Parse(_))),
                "{text:?}"
            );
        }
    }

    type Mutation = Box<dyn Fn(&mut Scenario)>;

    #[test]
    fn invalid_values_name_their_field() {
        let cases: Vec<(&str, Mutation)> = vec![
            ("population", Box::new(|s| s.population = 1)),
            (
                "population",
                Box::new(|s| {
                    s.population = 100;
                    s.districts = 10;
                    s.provinces.enabled = true;
                }),
            ),
            (
                "provinces.other_province_share",
                Box::new(|s| s.provinces.other_province_share = 1.5),
            ),
            (
                "provinces.seeds[0].code",
                Box::new(|s| {
                    s.provinces.seeds = vec![SeedProvince {
                        code: 3,
                        weight: 1.0,
                    }];
                }),
            ),
            (
                "provinces.seeds[1].weight",
                Box::new(|s| {
                    s.provinces.seeds = vec![
                        SeedProvince {
                            code: 79,
                            weight: 1.0,
                        },
                        SeedProvince {
                            code: 1,
                            weight: -1.0,
                        },
                    ];
                }),
            ),
            (
                "provinces.seeds",
                Box::new(|s| {
                    s.provinces.seeds = vec![SeedProvince {
                        code: 79,
                        weight: 0.0,
                    }];
                }),
            ),
            ("districts", Box::new(|s| s.districts = 0)),
            ("districts", Box::new(|s| s.districts = 70_000)),
            (
                "household_size_weights",
                Box::new(|s| s.household_size_weights.clear()),
            ),
            (
                "household_size_weights",
                Box::new(|s| s.household_size_weights = vec![0.0, 0.0]),
            ),
            (
                "household_size_weights",
                Box::new(|s| s.household_size_weights[0] = -1.0),
            ),
            ("age_shares", Box::new(|s| s.age_shares.adults = 0.5)),
            (
                "age_shares.elderly",
                Box::new(|s| s.age_shares.elderly = f64::NAN),
            ),
            ("work.mean_degree", Box::new(|s| s.work.mean_degree = 5)),
            ("school.group_size", Box::new(|s| s.school.group_size = 1)),
            (
                "elderly.rewire_probability",
                Box::new(|s| s.elderly.rewire_probability = 1.5),
            ),
            (
                "work.daily_probability",
                Box::new(|s| s.work.daily_probability = -0.1),
            ),
            ("random.dispersion", Box::new(|s| s.random.dispersion = 0.0)),
            (
                "random.mean_initiated",
                Box::new(|s| s.random.mean_initiated = -1.0),
            ),
            (
                "random.mean_initiated",
                Box::new(|s| s.random.mean_initiated = 501.0),
            ),
            (
                "random.same_district_share",
                Box::new(|s| s.random.same_district_share = 2.0),
            ),
            (
                "household_contact.duration_median_min",
                Box::new(|s| {
                    s.household_contact.duration_median_min = 0.0;
                }),
            ),
            (
                "random_contact.distance_sigma",
                Box::new(|s| s.random_contact.distance_sigma = -1.0),
            ),
            (
                "transport_contact.duration_median_min",
                Box::new(|s| s.transport_contact.duration_median_min = f64::NAN),
            ),
            (
                "transport.share_of_random",
                Box::new(|s| s.transport.share_of_random = 1.5),
            ),
            (
                "close_contact_distance_m",
                Box::new(|s| s.close_contact_distance_m = 0.0),
            ),
            (
                "ble_environment.transport_sd_db",
                Box::new(|s| s.ble_environment.transport_sd_db = -2.0),
            ),
            (
                "ble.transport_shadowing_db",
                Box::new(|s| s.ble.transport_shadowing_db = f64::INFINITY),
            ),
            (
                "transmission_by_setting.transport",
                Box::new(|s| s.transmission_by_setting.transport = -1.0),
            ),
        ];
        for (field, mutate) in cases {
            let mut s = Scenario::default();
            mutate(&mut s);
            assert_eq!(field_of(s.validate().unwrap_err()), field);
        }
        let err = Scenario::from_toml_str("population = 1").unwrap_err();
        assert!(err.to_string().contains("`population`"), "{err}");
    }
}
