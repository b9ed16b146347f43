//! The simulation: the epidemic with and without the app, and the protocol layer with real
//! phones and the server side of the protocol, on a virtual clock.
//!
//! # One day
//!
//! 1. **Workflow.** The workflow events that fall on the day (below) run first, in time order,
//!    each at its own time: the day's contacts are played after them, so at an event a phone
//!    holds what it heard until the day began. (The one approximation of the virtual clock:
//!    contacts of the day are taken to come after the day's events. Ground truth follows the
//!    same order, so it does not bias recall.)
//! 2. **Contacts and transmission.** The day's contacts are generated on the fly, in parallel over
//!    ranges of owners ([`DayContacts`]), and each is evaluated for both runs at once: the run
//!    *with* the app (confirmed cases isolate, verified F1s quarantine) and the run *without* it
//!    (confirmed cases isolate). A contact of an isolated or quarantined agent happens only at
//!    home. Transmission uses one uniform draw per contact shared by both runs. Infections of
//!    the day take effect at the end of the pass (an agent infected today is infectious at the
//!    earliest tomorrow), so the result does not depend on the order of the pass.
//!    What the pass needs of each agent (infected in either run, restricted, app user, source)
//!    is one byte per agent computed once a day; a contact between two agents
//!    infected in neither run who are not both app users only counts.
//! 3. **Bluetooth.** In the run with the app, every contact between two app users that involves
//!    a *source* is played through the BLE model ([`crate::model::detections`]) into real
//!    [`Phone`]s: the transmitter's [`Phone::broadcast`] at the scan time, the receiver's
//!    [`Phone::hear`] with the modelled RSSI, in both directions (independent per-scan
//!    terms, one environment offset per contact shared by both). The play runs in parallel:
//!    transmitters only read their phones ([`Phone::broadcasts_if_keyed`]: every phone holds
//!    the day's key), and each receiver hears its scans in the order of the day's contacts,
//!    so the phones end exactly as a contact-by-contact loop would leave them.
//!
//! Ground truth is the scenario's close contact (15 minutes in a day within
//! [`Scenario::close_contact_distance_m`]); the rates by setting in [`Summary`] judge the risk
//! rule (a verified F1 row) and the notify-everyone baseline (heard at all) against it, over
//! the app users who met a published case.
//!
//! The workflow runs on the reference server's library, [`Workflow`] over a [`MemoryStore`],
//! in process, in time order: at confirmation plus `declaration_hours` the treatment facility
//! opens the case and gets its declaration code ([`Workflow::open_case`], seed step 2); after
//! `upload_hours` the phone uploads with that code ([`Phone::prepare_f0_upload`], the bytes to
//! [`Workflow::accept_upload`], step 3); after `trace_hours` the facility asks to trace
//! ([`Workflow::request_trace`], step 4); every `publication_interval_hours` the server
//! publishes ([`Workflow::publish`]: a signed Bloom-filter batch and a signed index, handed to
//! a [`MemorySink`]); every phone matches the batch
//! ([`Phone::match_verified`], the batch opened once for all); after `report_hours` the
//! phones whose users consent send their F1 reports ([`Phone::prepare_f1_report`], contact
//! details sealed to the unit's HPKE key) to [`Workflow::accept_report`], which verifies them
//! (step 5 and 6); the rows it stores are read back to score them against ground truth, and
//! verified F1s are asked to quarantine. The server purges daily ([`Workflow::purge`]).
//!
//! With [`crate::scenario::F1Testing`] enabled, a verified F1 is sampled on the configured days
//! and, if positive (by the sensitivity for its days since infection), becomes a confirmed case
//! at the result: it isolates, and if it shares, its case is opened ([`Workflow::open_case`]),
//! it uploads and is traced through the same steps as any case, one tracing generation further.
//!
//! # Which phones exist (the memory scheme)
//!
//! A phone's state only matters for the F0 → F1 path if it heard, or was heard by, somebody who
//! will upload. A *source* is an app user who, once infected, will be confirmed and will share
//! their contact history; whether an agent would is drawn before the run ([`Traits`]), so it is
//! known from the day of infection. Sources are sources from the day after their infection to
//! their upload. With F1 testing, any infected app user who would share may be confirmed by a
//! test, so every such user is a source from the day after infection until its upload or the
//! last day a test could still confirm it. Real phones exist for every source and for every
//! app user who had a contact with a source (created at that contact); a phone that holds no
//! sighting and is not a source is dropped at the end of the day. Daily keys are drawn from a stream keyed by (seed, agent,
//! day), so a phone created late has exactly the keys it would have had all along.
//!
//! The full path, every app user with a phone from day 0 and every contact between app users
//! played through Bluetooth, is [`Options::all_phones`]; the test `lazy_phones_equal_all_phones`
//! checks that both give the same F1 rows, batches and reports on a small population. What the
//! lazy scheme leaves out is only sightings between non-sources, which can produce nothing
//! but filter false positives (which verification rejects); their expected number is reported
//! from the count of such sightings and the filter's target rate.
//!
//! Everything is deterministic: every random draw comes from a stream keyed by the seed and what
//! it is for ([`stream_rng`], [`crate::sample::hash64`]), parallel results are merged in a fixed
//! order, and maps iterate in key order.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bluezone_protocol::hpke::{HpkePublicKey, derive_keypair};
use bluezone_protocol::{
    CandidateExposure, ContactDetails, DEFAULT_TARGET_FP_RATE, DeclarationCode, F0Upload, F1Report,
    Phone, PhoneConfig, PublisherKeyPair, RiskRule, UnixTime, VerifiedBatch, WHOLE_COUNTRY,
    sighting_day,
};
use bluezone_server::domain::settings::{Settings, ThrottleConfig, Unit};
use bluezone_server::domain::store::{BatchRecord, ConfirmationRecord, MemoryStore, Role, Store};
use bluezone_server::domain::workflow::{
    IndexScope, MemorySink, Principal, PublicationSink, Workflow,
};
use rayon::prelude::*;

use crate::contacts::{Contact, DayContacts, DrawnContact, Setting};
use crate::model::{
    Curve, DECLARED_TX_POWER_DBM, Detection, FLAG_APP, FLAG_ASYMPTOMATIC, FLAG_COMPLIES,
    FLAG_REPORT_CONSENT, FLAG_UPLOAD_CONSENT, NOT_INFECTED, Traits, detections, distance_at_m,
    intervals_overlapped, path_loss_db, transmission_draw, transmission_probability,
};
use crate::population::Population;
use crate::sample::{below, hash_uniform, stream_rng, weighted_index};
use crate::scenario::{Scenario, ScenarioError};

/// The virtual clock's origin: 2021-01-01 00:00 UTC (day 0 of every run).
pub const EPOCH: u64 = 1_609_459_200;

const DOMAIN_SEEDING: u64 = 0x7365_6564_696e_6721;
const DOMAIN_KEYS: u64 = 0x6461_696c_796b_6579;
const DOMAIN_UPLOAD: u64 = 0x7570_6c6f_6164_2121;
const DOMAIN_REPORT: u64 = 0x7265_706f_7274_2121;
const DOMAIN_RELAY: u64 = 0x7265_6c61_7921_2121;
const DOMAIN_SERVER: u64 = 0x7365_7276_6572_2121;
const DOMAIN_F1_TEST: u64 = 0x6631_2074_6573_7421;

/// Tracing generations the summary counts apart; the last counts that generation and beyond.
pub const GENERATIONS: usize = 8;
/// Longest generation interval the histograms keep apart, days (longer ones count as this).
const MAX_GI_DAYS: usize = 31;
/// Days after an infector's infection by which its infectees are taken to be all in: the
/// reproduction numbers and the household attack rate count only infectors (households)
/// infected at least this long before the end of the run.
pub const COMPLETE_AFTER_DAYS: u32 = 22;

/// Owners per parallel work item of the contact pass.
const CHUNK: u32 = 8192;

/// Contacts whose agents' states the contact pass reads together ([`Sim::contacts_held`]).
const STATE_LOADS: usize = 64;

/// Journal contacts whose scans are held at once when a day is played through Bluetooth (about
/// 32 bytes per scan, a few dozen scans per contact).
const BLUETOOTH_SLICE: usize = 1 << 17;
/// Journal contacts per parallel work item of the Bluetooth play.
const BLUETOOTH_CHUNK: usize = 1024;

/// Phones per slice of a batch's matching ([`Sim::match_batch`]): the server accepts the
/// reports of one slice while the phones of later ones match.
const MATCH_SLICE: usize = 2048;

/// A true close contact: at least this many seconds in a day within the scenario's
/// [`Scenario::close_contact_distance_m`].
pub const CLOSE_CONTACT_SECONDS: u32 = 15 * 60;

/// How to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Run the protocol layer (phones, uploads, batches, reports, verification). Without it only
    /// the two epidemics run, and the run with the app has no quarantine: this measures the cost
    /// of the protocol layer.
    pub protocol: bool,
    /// The full path: every app user has a phone from day 0 and every contact between app users
    /// goes through Bluetooth. For tests on small populations.
    pub all_phones: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            protocol: true,
            all_phones: false,
        }
    }
}

/// One day of the time series. Counts are of that day unless named cumulative.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DayRow {
    /// Day number, from 0.
    pub day: u32,
    /// New infections without the app.
    pub new_infections_no_app: u64,
    /// New infections with the app.
    pub new_infections_app: u64,
    /// Cumulative infections without the app (initial ones included).
    pub cumulative_no_app: u64,
    /// Cumulative infections with the app.
    pub cumulative_app: u64,
    /// Infectious agents without the app.
    pub infectious_no_app: u64,
    /// Infectious agents with the app.
    pub infectious_app: u64,
    /// Cases confirmed (run with the app).
    pub confirmed: u64,
    /// F0 uploads received and validated.
    pub uploads: u64,
    /// Publication batches built.
    pub batches: u64,
    /// RPIs published (batch entries, before dummies).
    pub rpis_published: u64,
    /// Bytes every phone downloads: new batches and the signed index after each publication.
    pub bytes_per_phone: u64,
    /// F1 reports sent.
    pub reports: u64,
    /// Reports verification rejected entirely (no sighting of a published RPI passed).
    pub reports_rejected: u64,
    /// Sightings in reports, each looked up by the server (verification work).
    pub sightings_verified: u64,
    /// F1 rows verified (both ways or one-sided).
    pub f1_rows: u64,
    /// F1 rows verified one-sided.
    pub f1_rows_one_sided: u64,
    /// Agents quarantined on this day after a verified F1 row.
    pub quarantined: u64,
    /// Phones held by the simulator at the end of the day.
    pub phones: u64,
    /// Recall so far: true F1s of published cases found, in millionths (see [`Summary`]);
    /// `None` while no published case has a true F1.
    pub recall_ppm: Option<u64>,
    /// New infections without the app per million agents (rounded).
    pub incidence_per_million_no_app: u64,
    /// New infections with the app per million agents (rounded).
    pub incidence_per_million_app: u64,
    /// True F1s of the cases whose upload the server accepted this day (ground truth, fixed at
    /// the upload; see [`Summary::true_f1`]).
    pub true_f1: u64,
    /// True F1s found this day: their first verified row for that case.
    pub found_f1: u64,
    /// Recall among app users so far: true F1s with the app of published cases found, in
    /// millionths (see [`Summary::recall_app_users`]); `None` while there are none.
    pub recall_app_users_ppm: Option<u64>,
    /// Precision so far: verified F1 rows so far that are true F1s, in millionths (see
    /// [`Summary::precision`]); `None` while no row is verified.
    pub precision_ppm: Option<u64>,
    /// Cohort reproduction number without the app: infections caused, by the end of the run,
    /// by the agents infected this day (seeds included), per such agent, rounded to 6 decimals;
    /// `None` when nobody was infected this day. Final only if [`DayRow::r_cohort_final`].
    pub r_cohort_no_app: Option<f64>,
    /// The same with the app.
    pub r_cohort_app: Option<f64>,
    /// Whether this day's infected agents have all their infectees in: they were infected at
    /// least [`COMPLETE_AFTER_DAYS`] days before the end of the run. On later days the cohort
    /// numbers are too low (their infectees' infections fall after the end).
    pub r_cohort_final: bool,
}

/// Totals and rates of a run. Ratios are rounded to 6 decimals.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Agents.
    pub population: u32,
    /// Days.
    pub days: u32,
    /// Seed.
    pub seed: u64,
    /// Whether the protocol layer ran.
    pub protocol: bool,
    /// App users.
    pub app_users: u64,
    /// Infections by the end, without the app.
    pub infections_no_app: u64,
    /// Infections by the end, with the app.
    pub infections_app: u64,
    /// `infections_no_app − infections_app` (negative if the app run had more).
    pub infections_averted: i64,
    /// Confirmed cases in the run with the app.
    pub confirmed: u64,
    /// Uploads validated by the server.
    pub uploads: u64,
    /// Cases published in a batch (the index cases F1 discovery is measured on).
    pub cases_published: u64,
    /// True F1s of published cases: partners with at least 15 minutes within
    /// `close_contact_distance_m` (2 m by default) on one day of the contagious window, before
    /// the upload.
    pub true_f1: u64,
    /// True F1s that run the app (the most the app can find).
    pub true_f1_with_app: u64,
    /// True F1s found (a verified row for the case from their phone).
    pub true_f1_found: u64,
    /// True F1s who live in another province than their case (0 without provinces): each
    /// case is traced to its own province and a phone matches only the batches of its home
    /// province (and region 0), so these are never notified, the cost of regional publication.
    pub true_f1_other_province: u64,
    /// Those of them who run the app (the ones national publication could have found).
    pub true_f1_other_province_with_app: u64,
    /// `true_f1_found / true_f1`.
    pub recall: f64,
    /// `true_f1_found / true_f1_with_app`.
    pub recall_app_users: f64,
    /// Verified (case, reporter) pairs.
    pub f1_verified: u64,
    /// `true_f1_found / f1_verified`.
    pub precision: f64,
    /// Verified pairs whose reporter never had a contact with the case: false alerts.
    pub false_alerts: u64,
    /// False alerts confirmed both ways (a relay can never cause one).
    pub false_alerts_confirmed_both_ways: u64,
    /// Verified pairs confirmed one-sided.
    pub one_sided: u64,
    /// Relayed (source, victim) pairs.
    pub relayed_pairs: u64,
    /// Verified pairs from relayed contacts only.
    pub relayed_verified: u64,
    /// Verified pairs per published case.
    pub notifications_per_case: f64,
    /// Mean hours from the F0's confirmation to the F1's first verified row.
    pub delay_hours_mean: f64,
    /// Median of the same.
    pub delay_hours_median: f64,
    /// Mean bytes downloaded per phone per day (the national mean, over all phones).
    pub bytes_per_phone_per_day: f64,
    /// Median over phones of the bytes a phone downloads per day, its province's batches and
    /// indexes (provinces weighted by their agents, as `bluezone bandwidth --regions`'s
    /// `median`); without provinces, the mean.
    pub bytes_per_phone_per_day_median: f64,
    /// 95th percentile of the same (`p95`).
    pub bytes_per_phone_per_day_p95: f64,
    /// The same in the worst-off province (`worst-off`).
    pub bytes_per_phone_per_day_worst_off: f64,
    /// GSO code of the worst-off province (0, the whole country, without provinces).
    pub worst_off_province: u16,
    /// Reports sent.
    pub reports: u64,
    /// Reports rejected entirely by verification, per day (filter false positives, or hits
    /// below the threshold for every case).
    pub rejected_reports_per_day: f64,
    /// Sightings in reports that the server refused, per day: filter false positives (RPIs no
    /// case published), sightings outside the time tolerance, and hits below the threshold.
    pub refused_sightings_per_day: f64,
    /// Expected filter false positives per day over all app users' phones, from the number of
    /// sightings between app users (most of which the lazy scheme does not materialise) and the
    /// filter's target rate.
    pub expected_filter_false_positives_per_day: f64,
    /// Sightings the server verified per day.
    pub sightings_verified_per_day: f64,
    /// Share of the contagious window's intervals the F0s' uploads publish: every accepted
    /// upload is parsed back with the protocol's parser ([`F0Upload::parse`]) and the set bits
    /// of its publication bitmaps that fall in [contagious_from, upload time) are counted
    /// against the intervals of that range, summed over all uploads. `bluezone bandwidth
    /// --published-share` takes it.
    pub published_interval_share: f64,
    /// Sightings an app user's phone holds on average: the sightings between app users (one per
    /// RPI heard, each direction of each contact counted apart, [`crate::model`]'s count of
    /// the intervals a contact overlaps) of the last 14 days (the retention), divided by the
    /// app users, averaged over the days with a full 14-day history (over all days if the run
    /// is shorter). It counts every contact between app users, materialised or not, so the
    /// lazy phones do not bias it.
    pub sightings_retained_per_phone: f64,
    /// Filter queries an app user's phone makes per day: the same retained sightings times the
    /// batches published that day, averaged over the same days. Each sighting is counted once
    /// per batch, an upper bound: matching tests only the sightings that overlap a batch's
    /// plausible window (its interval range widened by two hours each side), and a batch of
    /// uploads covering the last few days does not overlap the oldest sightings.
    pub queries_per_phone_per_day: f64,
    /// Share of the sightings tested against batches (those in each batch's plausible
    /// window, on the phones the simulator holds at each day's first publication run, from day
    /// 13 on when the run is that long) that are relevant, that is
    /// in an attenuation bucket of non-zero weight ([`RiskRule::is_relevant`]): only these can
    /// add to a false alert. Without [`Options::all_phones`] the phones held are the sources
    /// and those who met one, and they hold only their sightings with sources, so the share is
    /// that of contacts with sources (close contacts at home weigh more than in the whole
    /// population); with it, every sighting between app users counts and the share is exact.
    pub tested_share_relevant: f64,
    /// Share of the same tested sightings whose own weighted exposure, scored as the phone
    /// scores it ([`RiskRule::weighted_exposure`] with the assumed transmit power), passes the
    /// risk rule ([`RiskRule::passes`]): a single false hit on one of them alerts. Same bias as
    /// `tested_share_relevant`.
    pub tested_share_alone_passing: f64,
    /// Pairs of relevant sightings a phone tests against one batch, averaged over the phones
    /// held at each matching and the batches (those of each day's first run from day 13 on,
    /// as for the two shares above): `C(R_b, 2)` for `R_b` relevant tested sightings.
    /// Two false hits among them can alert together. Exact with [`Options::all_phones`];
    /// without it, far below the truth (phones hold only their sightings with sources).
    pub relevant_pairs_per_phone_batch: f64,
    /// The same, counting only pairs of sightings of the same UTC day (one candidate exposure
    /// groups one day's hits): `Σ_d C(R_{b,d}, 2)`. The pair term of the false-alert bound
    /// (SPEC.md §8.1.3). Same bias.
    pub same_day_pairs_per_phone_batch: f64,
    /// Reports verified per day.
    pub reports_per_day: f64,
    /// Most phones held at once.
    pub peak_phones: u64,
    /// Bytes those phones take ([`phone_bytes`]: struct, keys and sighting logs).
    pub peak_phone_bytes: u64,
    /// Bytes per agent of the population, traits and both runs' state.
    pub bytes_per_agent: f64,
    /// Exponential growth rate of daily infections without the app, per day: the least-squares
    /// slope of the log of the day's new infections over the growth window (from the day after
    /// the seeding plus 5 days to the last day on which cumulative infections are at most 10%
    /// of the population; days without infections left out; 0 with fewer than 4 days).
    pub growth_rate_per_day: f64,
    /// `ln 2 / growth_rate_per_day`, days (negative when the epidemic shrinks; 0 when the rate
    /// is 0).
    pub doubling_time_days: f64,
    /// Effective reproduction number without the app over the growth window, from its growth
    /// rate `r` and its simulated generation intervals (Wallinga and Lipsitch 2007):
    /// `1 / Σ_τ g(τ) e^(−rτ)`, with `g` the share of infector–infectee pairs `τ` days apart.
    pub r_effective_without_app: f64,
    /// The same for the run with the app (its own growth rate over the same kind of window,
    /// and its own generation intervals).
    pub r_effective_with_app: f64,
    /// Mean days from an infector's infection to its infectees' without the app, over the
    /// infectors infected at least 22 days before the end of the run (whose infectees are all
    /// in; all infectors if the run is shorter).
    pub generation_interval_days_mean: f64,
    /// Without the app: of the other members of households whose first infection came at
    /// least 22 days before the end of the run (on day 0 if the run is shorter), the share
    /// infected at home by a member.
    pub household_secondary_attack_rate: f64,
    /// Contacts per agent per day: every generated contact (after any lockdown, before
    /// isolation and quarantine) counted for both its agents, divided by agents and days.
    pub mean_daily_contacts: f64,
    /// Share of infections without the app by the setting of the contact that transmitted.
    pub transmission_share_by_setting: SettingShares,
    /// `f1_verified / uploads`: verified pairs per case that uploaded.
    pub notifications_per_uploading_case: f64,
    /// Confirmed cases of the run with the app by tracing generation: index 0 confirmed after
    /// symptoms, index `k` found by testing an F1 of a generation `k − 1` case (the last
    /// index counts that generation and beyond).
    pub cases_by_tracing_generation: [u64; GENERATIONS],
    /// True F1s found, by the tracing generation of their case: index 1 counts the F2s of
    /// generation-0 cases found through the generation-1 case that tracing found.
    pub true_f1_found_by_case_generation: [u64; GENERATIONS],
    /// The attenuation the path-loss model gives at `close_contact_distance_m`, dB (without
    /// shadowing or calibration error).
    pub close_contact_attenuation_db: f64,
    /// How far the risk rule reaches under the path-loss model, metres: the distance at which
    /// the model's attenuation leaves the last attenuation bucket with a non-zero weight.
    /// Attenuations are whole dB, so a bucket bound `B` takes true attenuations below `B − ½`:
    /// the default rule (weight up to 79 dB) reaches 10^((78.5 − 55) / 30) = 6.07 m. When the
    /// last bucket (beyond the third bound) has a weight, the receiver's sensitivity
    /// (`ble.max_attenuation_db`) bounds it; 0 when no bucket has a weight.
    pub risk_rule_reach_m: f64,
    /// The pairs the rates below are computed over that are true close contacts, by setting:
    /// (published case, partner) pairs where both run the app, the partner would send its F1
    /// report (so that a refusal does not count against the rule), and the two had a contact in
    /// the case's contagious window before its upload; a pair is a true close contact by the
    /// rule of [`Summary::true_f1`], and its setting is the one where the two spent the most
    /// time within the close-contact distance in that window (for a pair that is not close:
    /// the most time at any distance).
    pub close_pairs_by_setting: SettingCounts,
    /// The same pairs that are not true close contacts, by setting.
    pub non_close_pairs_by_setting: SettingCounts,
    /// The risk rule's true-positive rate by setting: close pairs with a verified F1 row (the
    /// partner's phone matched the case under the risk rule, reported, and the server verified
    /// it) / close pairs.
    pub risk_rule_true_positive_rate_by_setting: SettingShares,
    /// The risk rule's false-positive rate by setting: non-close pairs with a verified F1 row /
    /// non-close pairs.
    pub risk_rule_false_positive_rate_by_setting: SettingShares,
    /// The true-positive rate of notifying everyone the case's phone was heard by: close pairs
    /// where the partner's phone heard the case in at least one scan in the window / close
    /// pairs. The baseline the risk rule is compared with.
    pub notify_everyone_true_positive_rate_by_setting: SettingShares,
    /// The false-positive rate of the same baseline: non-close pairs heard in at least one scan
    /// / non-close pairs.
    pub notify_everyone_false_positive_rate_by_setting: SettingShares,
}

/// One value per contact setting ([`Setting`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct BySetting<T> {
    /// Household contacts.
    pub household: T,
    /// School, workplace and elderly-group contacts.
    pub occupation: T,
    /// Random contacts (markets, shops, neighbours, outdoors).
    pub random: T,
    /// Contacts in a bus or a tram.
    pub transport: T,
}

/// Shares or rates by contact setting.
pub type SettingShares = BySetting<f64>;
/// Counts by contact setting.
pub type SettingCounts = BySetting<u64>;

impl<T: Copy> BySetting<T> {
    /// From values indexed by [`Setting`] number.
    fn from_array(x: [T; 4]) -> Self {
        Self {
            household: x[Setting::Household as usize],
            occupation: x[Setting::Occupation as usize],
            random: x[Setting::Random as usize],
            transport: x[Setting::Transport as usize],
        }
    }
}

impl SettingShares {
    /// `a[i] / b[i]` per setting (0 where `b[i]` is 0), rounded like every ratio.
    fn ratios(a: [u64; 4], b: [u64; 4]) -> Self {
        Self::from_array(std::array::from_fn(|i| ratio(a[i], b[i])))
    }
}

/// What a run returns.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Totals.
    pub summary: Summary,
    /// One row per day.
    pub daily: Vec<DayRow>,
    /// Verified F1 rows: (case agent, reporter agent, both ways, hours since the run started).
    pub verified: Vec<(u32, u32, bool, u64)>,
    /// Relayed (source, victim) pairs.
    pub relayed: Vec<(u32, u32)>,
}

/// A contact of a source, kept until its upload: the close ones (within the close-contact
/// distance) for the ground truth, and every one with an app user for the rates by setting.
#[derive(Debug, Clone, Copy)]
struct Met {
    partner: u32,
    day: u32,
    end_s: u64,
    start_s: u64,
    duration_s: u32,
    setting: Setting,
    /// Within the close-contact distance.
    near: bool,
}

/// A (case, partner) pair the rates by setting count (see [`Summary::close_pairs_by_setting`]).
#[derive(Debug, Clone, Copy)]
struct Pair {
    case: u64,
    partner: u32,
    setting: Setting,
    close: bool,
    /// The partner's phone heard the case in at least one scan of the window.
    heard: bool,
}

#[derive(Default)]
struct ChunkOut {
    /// (infected, infector, setting) per run.
    infections: [Vec<(u32, u32, u8)>; 2],
    contacts: u64,
    journal: Vec<Contact>,
    met: Vec<(u32, Met)>,
    app_sightings: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// Seed step 2: the health worker opens the case of this agent.
    Declare(u32),
    /// Step 3: this agent's phone uploads for this case.
    Upload(u32, u64),
    /// Step 4: "Trace F1" on this case.
    Trace(u64),
    /// The result of an F1 test of this agent, who would be a case of this tracing generation.
    Test(u32, u8),
}

struct Case {
    agent: u32,
    confirm_h: u64,
    code: String,
    published: bool,
    generation: u8,
}

/// One scan of a day's Bluetooth play: what `rx` heard, when, how loud.
struct Scan {
    payload: [u8; 20],
    rx: u32,
    time_s: u64,
    rssi_dbm: i8,
}

/// The scans of some journal contacts, and (source, receiver, first detection's time) for each
/// direction in which a source was heard ([`Sim::scans_of`]).
type Played = (Vec<Scan>, Vec<(u32, u32, u64)>);

/// The reports of some phones for one batch, in agent order: (agent, its reports).
type Reports = Vec<(u32, Vec<F1Report>)>;

/// What the server's side of a batch's reports changes ([`Acceptor::accept`]): the fields of
/// [`Sim`] that the phones' matching does not touch, so that both run at once.
struct Acceptor<'s> {
    server: &'s Workflow,
    store: &'s MemoryStore,
    s: &'s Scenario,
    traits: &'s [Traits],
    cases: &'s [Case],
    truth: &'s BTreeSet<(u64, u32)>,
    verified: &'s mut BTreeMap<(u64, u32), (bool, u64)>,
    f1_tested: &'s mut BTreeSet<u32>,
    events: &'s mut BTreeMap<(u64, Event), ()>,
    quarantine_until: &'s mut [u16],
    refused_sightings: &'s mut u64,
    row: &'s mut DayRow,
    /// When the reports reach the server, and its day.
    report_t: u64,
    report_day: u32,
}

impl Acceptor<'_> {
    /// `agent`'s reports reach the server: each accepted row counts, makes its F1 tested (once)
    /// and quarantined.
    fn accept(&mut self, agent: u32, made: Vec<F1Report>) -> Result<(), RunError> {
        let (report_t, report_day) = (self.report_t, self.report_day);
        for report in made {
            let Ok(bytes) = report.to_bytes() else {
                continue;
            };
            self.row.reports += 1;
            self.row.sightings_verified += report.sightings.len() as u64;
            // Each phone reports from an address of its own (carrier NAT is not modelled).
            let client = IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0x0db8,
                0,
                0,
                0,
                0,
                (agent >> 16) as u16,
                agent as u16,
            ));
            if self
                .server
                .accept_report(&bytes, client, EPOCH + report_t)
                .is_err()
            {
                self.row.reports_rejected += 1;
                *self.refused_sightings += report.sightings.len() as u64;
                continue;
            }
            let stored = self
                .store
                .report(&report.report_id.0)
                .ok_or_else(|| server_err("accepted report not stored"))?;
            for (case, row_no) in stored.rows {
                let f1 = self
                    .store
                    .f1_row(case, row_no)
                    .map_err(server_err)?
                    .ok_or_else(|| server_err("stored row missing"))?;
                self.row.f1_rows += 1;
                let both = f1.confirmation == ConfirmationRecord::ConfirmedBothWays;
                self.row.f1_rows_one_sided += u64::from(!both);
                if !self.verified.contains_key(&(case, agent))
                    && self.truth.contains(&(case, agent))
                {
                    self.row.found_f1 += 1;
                }
                if self.s.f1_testing.enabled && self.f1_tested.insert(agent) {
                    let generation = self.cases[(case - 1) as usize].generation.saturating_add(1);
                    let result = u64::from(self.s.f1_testing.result_hours) * 3600;
                    for &d in &self.s.f1_testing.test_days {
                        let at = report_t + u64::from(d) * 86_400 + result;
                        self.events.insert((at, Event::Test(agent, generation)), ());
                    }
                }
                let entry = self
                    .verified
                    .entry((case, agent))
                    .or_insert((both, report_t / 3600));
                entry.0 |= both;
                let t = &self.traits[agent as usize];
                if self.s.app.quarantine && t.has(FLAG_COMPLIES) {
                    let until = (report_day + 1 + self.s.app.quarantine_days)
                        .min(u32::from(u16::MAX - 1)) as u16;
                    let current = self.quarantine_until[agent as usize];
                    if current < until {
                        if u32::from(current) <= report_day {
                            self.row.quarantined += 1;
                        }
                        self.quarantine_until[agent as usize] = until;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where an agent's contacts are restricted on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restriction {
    Free,
    Home,
    Away,
}

/// What the contact pass of a day needs to know of an agent, in one byte (computed once a day
/// by [`Sim::day_states`], so that a contact reads one byte per agent instead of the agent's
/// traits, infection days and quarantine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayState(u8);

impl DayState {
    /// Infected (on any day so far) in the run without the app, and with it.
    const INFECTED: [u8; 2] = [1, 2];
    /// Restricted to home in each run ([`Restriction::Home`]).
    const HOME: [u8; 2] = [4, 8];
    /// Away from everybody in each run ([`Restriction::Away`]).
    const AWAY: [u8; 2] = [16, 32];
    /// An app user.
    const APP: u8 = 64;
    /// A source on this day ([`Sim::is_source`]; only with the protocol layer).
    const SOURCE: u8 = 128;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn infected_in_either(self) -> bool {
        self.0 & (Self::INFECTED[0] | Self::INFECTED[1]) != 0
    }

    fn away(self, arm: usize) -> bool {
        self.has(Self::AWAY[arm])
    }

    fn free(self, arm: usize) -> bool {
        self.0 & (Self::HOME[arm] | Self::AWAY[arm]) == 0
    }
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// The scenario is invalid.
    Scenario(ScenarioError),
    /// The in-process server failed (for example, its publication directory cannot be written).
    Server(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scenario(e) => e.fmt(f),
            Self::Server(e) => write!(f, "server: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<ScenarioError> for RunError {
    fn from(e: ScenarioError) -> Self {
        Self::Scenario(e)
    }
}

fn server_err(e: impl std::fmt::Display) -> RunError {
    RunError::Server(e.to_string())
}

fn fmt6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        fmt6(a as f64 / b as f64)
    }
}

/// What [`Sim::epidemiology`] measures; index 0 without the app, 1 with it.
#[derive(Default)]
struct Epidemiology {
    growth: [f64; 2],
    r: [f64; 2],
    gi_mean: f64,
    household_sar: f64,
}

/// Least-squares slope of `y` on `x`; 0 with fewer than 4 points.
fn least_squares_slope(points: &[(f64, f64)]) -> f64 {
    if points.len() < 4 {
        return 0.0;
    }
    let k = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / k;
    let my = points.iter().map(|p| p.1).sum::<f64>() / k;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// How far the risk rule reaches under the path-loss model ([`Summary::risk_rule_reach_m`]).
#[must_use]
pub fn risk_rule_reach_m(s: &Scenario) -> f64 {
    let r = &s.risk_rule;
    match r.bucket_weights_percent.iter().rposition(|&w| w > 0) {
        None => 0.0,
        Some(3) => distance_at_m(&s.ble, s.ble.max_attenuation_db),
        Some(j) => distance_at_m(&s.ble, f64::from(r.attenuation_bounds_db[j]) - 0.5),
    }
}

/// Bytes a phone takes: the struct, its daily keys and the arrays of its sighting log as the log
/// reports them ([`bluezone_protocol::SightingLog::heap_bytes`]; the few bytes of its matched-batch
/// list aside).
#[must_use]
pub fn phone_bytes(phone: &Phone) -> u64 {
    (std::mem::size_of::<Phone>()
        + std::mem::size_of_val(phone.daily_keys())
        + phone.sightings().heap_bytes()) as u64
}

/// [`Summary`]'s bytes per phone per day by province.
struct ProvinceBytes {
    median: f64,
    p95: f64,
    worst_off: f64,
    worst_off_province: u16,
}

struct Sim<'a> {
    s: &'a Scenario,
    seed: u64,
    pop: &'a Population,
    traits: Vec<Traits>,
    opts: Options,
    /// Infection day per agent: [without the app, with the app].
    infected: [Vec<u16>; 2],
    /// Quarantined (home only) until this day, exclusive, in the run with the app.
    quarantine_until: Vec<u16>,
    rule: RiskRule,
    // Protocol layer.
    phones: BTreeMap<u32, Phone>,
    sources: BTreeSet<u32>,
    met: BTreeMap<u32, Vec<Met>>,
    /// Per source: (partner, time) of each contact in which the partner's phone heard it.
    heard: BTreeMap<u32, Vec<(u32, u64)>>,
    /// The pairs of uploaded cases the rates by setting count.
    pairs: Vec<Pair>,
    /// Close-contact distance, centimetres.
    close_cm: f64,
    real_pairs: BTreeSet<(u32, u32)>,
    relayed: BTreeSet<(u32, u32)>,
    events: BTreeMap<(u64, Event), ()>,
    unit: HpkePublicKey,
    /// The reference server's workflow over an in-memory store.
    server: Workflow,
    /// A handle on the server's store, to read back the rows a report created.
    store: MemoryStore,
    facility: Principal,
    /// Where the server's publication bytes go: memory, read back as every phone downloads them.
    publication: Arc<MemorySink>,
    cases: Vec<Case>,
    truth: BTreeSet<(u64, u32)>,
    truth_with_app: u64,
    verified: BTreeMap<(u64, u32), (bool, u64)>,
    app_sightings: Vec<u64>,
    refused_sightings: u64,
    /// Over accepted uploads: intervals of the contagious window, and those published.
    window_intervals: u64,
    window_published: u64,
    /// Over phones held at each matching: sightings tested, relevant, passing alone, pairs of
    /// relevant ones, pairs of relevant ones of the same UTC day.
    tested: [u64; 5],
    /// Phones matched, summed over batches.
    matchings: u64,
    peak_phones: u64,
    peak_phone_bytes: u64,
    curve: Curve,
    /// Agents confirmed by an F1 test (run with the app): (hour of the result, generation).
    early_confirm: BTreeMap<u32, (u64, u8)>,
    /// Agents whose case was opened.
    declared: BTreeSet<u32>,
    /// Agents whose F1 tests are scheduled (at their first verified row).
    f1_tested: BTreeSet<u32>,
    /// Seeds not yet infected, by day.
    seeds: BTreeMap<u32, Vec<u32>>,
    /// Per run: infector–infectee pairs by the infector's infection day and the days between.
    gi: [Vec<[u64; MAX_GI_DAYS + 1]>; 2],
    /// Per run: infections by setting.
    by_setting: [[u64; 4]; 2],
    /// Without the app: members of each household infected at home.
    home_infections: Vec<u8>,
    contacts: u64,
    /// Per province (index): bytes a phone of it downloaded over the run.
    province_bytes: Vec<u64>,
    /// The signed index of each region as phones last downloaded it.
    held_indexes: BTreeMap<u16, Vec<u8>>,
}

/// Whether the phone of `agent` fetches the batches of `region`: region 0's and its home
/// province's ([`Phone::batches_to_fetch`]).
fn subscribes(pop: &Population, agent: u32, region: u16) -> bool {
    region == WHOLE_COUNTRY || home_region(pop, agent) == region
}

/// The region an agent's phone subscribes to besides region 0: its home province's code (0
/// without provinces).
fn home_region(pop: &Population, agent: u32) -> u16 {
    pop.province_code(pop.agents()[agent as usize].province)
}

/// The initial infections of `scenario` over `pop`, by day: their number from
/// `epidemic.initial_infected_per_million` (at least one), each on a uniform agent (with
/// provinces and `provinces.seeds`, of a province drawn by weight), on a day drawn from the
/// first `seeding.days`.
#[must_use]
pub fn seeds(scenario: &Scenario, pop: &Population) -> BTreeMap<u32, Vec<u32>> {
    let seed = scenario.seed;
    let n = pop.len();
    let count = ((f64::from(n) * scenario.epidemic.initial_infected_per_million / 1e6).round()
        as u32)
        .clamp(1, n);
    let mut rng = stream_rng(seed, DOMAIN_SEEDING, 0, 0);
    let mut chosen = BTreeSet::new();
    let p = &scenario.provinces;
    if p.enabled && !p.seeds.is_empty() {
        // A province by weight, then an agent of it.
        let weights: Vec<f64> = (0..pop.province_count())
            .map(|i| {
                let code = pop.province_code(i as u8);
                p.seeds
                    .iter()
                    .filter(|s| s.code == code)
                    .map(|s| s.weight)
                    .sum()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let room: u32 = (0..weights.len())
            .filter(|&i| weights[i] > 0.0)
            .map(|i| pop.province_members(i as u8).len() as u32)
            .sum();
        while (chosen.len() as u32) < count.min(room) {
            let members = pop.province_members(weighted_index(&mut rng, &weights, total) as u8);
            chosen.insert(members.start + below(&mut rng, members.end - members.start));
        }
    } else {
        while (chosen.len() as u32) < count {
            chosen.insert(below(&mut rng, n));
        }
    }
    // Each seed's day, from a stream of its own (none drawn when all start on day 0).
    let days = scenario.seeding.days;
    let mut day_rng = stream_rng(seed, DOMAIN_SEEDING, 1, 0);
    let mut by_day: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for agent in chosen {
        let day = if days > 1 {
            below(&mut day_rng, days)
        } else {
            0
        };
        by_day.entry(day).or_default().push(agent);
    }
    by_day
}

fn key_rng(seed: u64, agent: u32, day: u32) -> rand_chacha::ChaCha8Rng {
    stream_rng(seed, DOMAIN_KEYS, u64::from(agent), u64::from(day))
}

/// Runs a scenario.
///
/// `progress` is called after every day with the day number.
///
/// # Errors
/// If the scenario is invalid, or the in-process server fails.
pub fn run(
    scenario: &Scenario,
    opts: Options,
    mut progress: impl FnMut(u32),
) -> Result<Outcome, RunError> {
    scenario.validate()?;
    let seed = scenario.seed;
    let pop = Population::generate(scenario, seed)?;
    let traits = Traits::draw_all(scenario, seed, &pop);
    let n = pop.len() as usize;
    let mut server_rng = stream_rng(seed, DOMAIN_SERVER, 0, 0);
    let mut secret = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut server_rng, &mut secret);
    let signer = PublisherKeyPair::generate(&mut server_rng);
    let (_, unit) = derive_keypair(&secret);
    let r = &scenario.risk_rule;
    let rule = RiskRule {
        attenuation_bounds_db: r.attenuation_bounds_db,
        bucket_weights_percent: r.bucket_weights_percent,
        min_weighted_minutes: r.min_weighted_minutes,
        scan_period_seconds: scenario.ble.scan_period_s,
        assumed_tx_power_dbm: DECLARED_TX_POWER_DBM,
    };
    let publication = Arc::new(MemorySink::new());
    let settings = Settings {
        code_ttl_seconds: 86_400,
        session_ttl_seconds: 86_400,
        filter_target_fp_rate: DEFAULT_TARGET_FP_RATE,
        // What the reference server publishes by default.
        filter_kind: bluezone_protocol::FilterKind::default(),
        dummy_quantum: 0,
        throttle: ThrottleConfig::default(),
        units: vec![Unit {
            name: "unit".into(),
            districts: (0..pop.district_count()).collect(),
            public_key: unit,
        }],
        // Without provinces every case is traced to region 0, the whole country (the facility
        // has no province): one batch per run, which every phone downloads. With provinces,
        // each case is traced to its own province ([`Sim::trace`]).
        facilities: Vec::new(),
        regions: Default::default(),
        retention: Default::default(),
        risk_rule: rule,
    };
    let store = MemoryStore::new();
    let (server, _admin_password) = Workflow::open(
        Box::new(store.clone()),
        settings,
        signer,
        Arc::clone(&publication) as Arc<dyn PublicationSink>,
        Box::new(stream_rng(seed, DOMAIN_SERVER, 1, 0)),
        EPOCH,
    )
    .map_err(server_err)?;
    let mut sim = Sim {
        s: scenario,
        seed,
        pop: &pop,
        traits,
        opts,
        infected: [vec![NOT_INFECTED; n], vec![NOT_INFECTED; n]],
        quarantine_until: vec![0; n],
        rule,
        phones: BTreeMap::new(),
        sources: BTreeSet::new(),
        met: BTreeMap::new(),
        heard: BTreeMap::new(),
        pairs: Vec::new(),
        close_cm: scenario.close_contact_distance_m * 100.0,
        real_pairs: BTreeSet::new(),
        relayed: BTreeSet::new(),
        events: BTreeMap::new(),
        unit,
        server,
        store,
        facility: Principal::in_process(
            "facility",
            Role::TreatmentFacility {
                facility: String::new(),
            },
        ),
        publication,
        cases: Vec::new(),
        truth: BTreeSet::new(),
        truth_with_app: 0,
        verified: BTreeMap::new(),
        app_sightings: Vec::new(),
        refused_sightings: 0,
        window_intervals: 0,
        window_published: 0,
        tested: [0; 5],
        matchings: 0,
        peak_phones: 0,
        peak_phone_bytes: 0,
        curve: Curve::of(scenario),
        early_confirm: BTreeMap::new(),
        declared: BTreeSet::new(),
        f1_tested: BTreeSet::new(),
        seeds: BTreeMap::new(),
        gi: [
            vec![[0; MAX_GI_DAYS + 1]; scenario.days as usize],
            vec![[0; MAX_GI_DAYS + 1]; scenario.days as usize],
        ],
        by_setting: [[0; 4]; 2],
        home_infections: vec![0; pop.household_count() as usize],
        contacts: 0,
        province_bytes: vec![0; pop.province_count() as usize],
        held_indexes: BTreeMap::new(),
    };
    sim.seed_infections();
    let mut daily = Vec::with_capacity(scenario.days as usize);
    for day in 0..scenario.days {
        let row = sim.day(day)?;
        daily.push(row);
        progress(day);
    }
    Ok(sim.finish(daily))
}

impl Sim<'_> {
    fn app(&self, agent: u32) -> bool {
        self.traits[agent as usize].has(FLAG_APP)
    }

    fn seed_infections(&mut self) {
        self.seeds = seeds(self.s, self.pop);
    }

    /// The effective confirmation of `agent` in the run with the app, if any: the earlier of an
    /// F1 test's result and the confirmation after symptoms, as (hour, tracing generation).
    fn confirmation(&self, agent: u32) -> Option<(u64, u8)> {
        let d = self.infected[1][agent as usize];
        if d == NOT_INFECTED {
            return None;
        }
        let t = self.traits[agent as usize];
        let by_symptoms = t.confirmed_if_infected().then(|| (t.confirm_hour(d), 0u8));
        match (self.early_confirm.get(&agent).copied(), by_symptoms) {
            (Some(e), Some(s)) if s.0 < e.0 => Some(s),
            (Some(e), _) => Some(e),
            (None, s) => s,
        }
    }

    /// Whether a potential source (an infected app user who would share, see [`Sim::infect`])
    /// can still be confirmed through an F1 test and upload on `day`.
    fn may_still_upload(&self, agent: u32, day: u32) -> bool {
        let d = u64::from(self.infected[1][agent as usize]);
        let f = &self.s.f1_testing;
        let w = &self.s.workflow;
        let last_sample = (d + f.sensitivity_by_day_since_infection.len() as u64) * 24;
        let last_upload = last_sample
            + 24
            + u64::from(f.result_hours)
            + u64::from(w.declaration_hours)
            + u64::from(w.upload_hours);
        u64::from(day) * 24 <= last_upload
    }

    fn infect(&mut self, agent: u32, day: u32, arms: [bool; 2]) {
        for (arm, on) in arms.iter().enumerate() {
            if *on && self.infected[arm][agent as usize] == NOT_INFECTED {
                self.infected[arm][agent as usize] = day as u16;
                if arm == 1 && self.opts.protocol {
                    let t = self.traits[agent as usize];
                    if t.uploads_if_infected() {
                        self.sources.insert(agent);
                        let declare_h = t.confirm_hour(day as u16)
                            + u64::from(self.s.workflow.declaration_hours);
                        self.events
                            .insert((declare_h * 3600, Event::Declare(agent)), ());
                    } else if self.s.f1_testing.enabled
                        && t.has(FLAG_APP)
                        && t.has(FLAG_UPLOAD_CONSENT)
                    {
                        // An F1 test may confirm it: its contacts must be heard as a source's.
                        self.sources.insert(agent);
                    }
                }
            }
        }
    }

    fn restriction(&self, arm: usize, agent: u32, day: u32) -> Restriction {
        let t = self.traits[agent as usize];
        let d = self.infected[arm][agent as usize];
        let c = &self.s.containment;
        let mut isolated = t.isolated(self.s, &self.curve, d, day);
        if arm == 1
            && !isolated
            && !self.early_confirm.is_empty()
            && let Some(&(hour, _)) = self.early_confirm.get(&agent)
        {
            isolated = t.isolated_after(self.s, &self.curve, d, hour, day);
        }
        if isolated {
            return if c.isolation_away_from_home {
                Restriction::Away
            } else {
                Restriction::Home
            };
        }
        if arm == 1 && u32::from(self.quarantine_until[agent as usize]) > day {
            return if c.quarantine_away_from_home {
                Restriction::Away
            } else {
                Restriction::Home
            };
        }
        Restriction::Free
    }

    fn is_source(&self, agent: u32, day: u32) -> bool {
        let d = self.infected[1][agent as usize];
        d != NOT_INFECTED && day > u32::from(d) && self.sources.contains(&agent)
    }

    /// Each agent's [`DayState`] for the contact pass of `day`, computed once, in parallel.
    fn day_states(&self, day: u32) -> Vec<DayState> {
        let protocol = self.opts.protocol;
        (0..self.pop.len())
            .into_par_iter()
            .map(|a| {
                let mut x = 0u8;
                for arm in 0..2 {
                    if self.infected[arm][a as usize] != NOT_INFECTED {
                        x |= DayState::INFECTED[arm];
                    }
                    x |= match self.restriction(arm, a, day) {
                        Restriction::Free => 0,
                        Restriction::Home => DayState::HOME[arm],
                        Restriction::Away => DayState::AWAY[arm],
                    };
                }
                if self.app(a) {
                    x |= DayState::APP;
                }
                if protocol && self.is_source(a, day) {
                    x |= DayState::SOURCE;
                }
                DayState(x)
            })
            .collect()
    }

    fn contact_pass(&self, day: u32) -> Vec<ChunkOut> {
        let n = self.pop.len();
        let gen_ = DayContacts::new(self.pop, self.s, self.seed, day);
        let states = self.day_states(day);
        let chunks: Vec<u32> = (0..n.div_ceil(CHUNK)).collect();
        chunks
            .par_iter()
            .map(|&k| {
                let mut out = ChunkOut::default();
                let from = k * CHUNK;
                let to = (from + CHUNK).min(n);
                let mut held = Vec::with_capacity(STATE_LOADS);
                gen_.for_each_drawn(from..to, |c| {
                    held.push(c);
                    if held.len() == STATE_LOADS {
                        self.contacts_held(&held, day, &states, &mut out);
                        held.clear();
                    }
                });
                self.contacts_held(&held, day, &states, &mut out);
                out
            })
            .collect()
    }

    /// Evaluates `held` contacts, in order, with [`Sim::one_contact`]. Both agents' states are
    /// read for all of them first: a partner is anywhere in its district or province, so at
    /// national scale most of those reads miss the cache, and reads that do not wait on one
    /// another overlap, where one contact at a time would wait for each in turn.
    fn contacts_held(
        &self,
        held: &[DrawnContact],
        day: u32,
        states: &[DayState],
        out: &mut ChunkOut,
    ) {
        let mut pairs = [(DayState(0), DayState(0)); STATE_LOADS];
        for (pair, d) in pairs.iter_mut().zip(held) {
            *pair = (states[d.a as usize], states[d.b as usize]);
        }
        for (d, &(xa, xb)) in held.iter().zip(&pairs) {
            self.one_contact(d, xa, xb, day, out);
        }
    }

    /// Evaluates one contact, whose agents' states are `xa` and `xb`, for both runs. Most
    /// contacts are between two agents neither of whom has been infected in either run and who
    /// are not both app users: they only count, and their distance is never computed.
    fn one_contact(
        &self,
        d: &DrawnContact,
        xa: DayState,
        xb: DayState,
        day: u32,
        out: &mut ChunkOut,
    ) {
        out.contacts += 1;
        let infected = xa.infected_in_either() || xb.infected_in_either();
        let protocol = self.opts.protocol;
        let both_app = xa.has(DayState::APP) && xb.has(DayState::APP);
        if !(infected || (protocol && both_app)) {
            return;
        }
        let home = d.setting == Setting::Household;
        let happens = |arm: usize| {
            !(xa.away(arm) || xb.away(arm) || (!home && (!xa.free(arm) || !xb.free(arm))))
        };
        if !infected {
            // Neither is a source (sources are infected): only the app users' sightings count,
            // and every phone plays them with `all_phones`.
            if happens(1) {
                out.app_sightings += 2 * d.intervals_overlapped();
                if self.opts.all_phones {
                    out.journal.push(d.contact());
                }
            }
            return;
        }
        let c = d.contact();
        let mut draw = None;
        for arm in 0..2 {
            if !happens(arm) {
                continue;
            }
            for (src, dst, xs, xd) in [(c.a, c.b, xa, xb), (c.b, c.a, xb, xa)] {
                if !xs.has(DayState::INFECTED[arm]) || xd.has(DayState::INFECTED[arm]) {
                    continue;
                }
                let ds = self.infected[arm][src as usize];
                let w = self.traits[src as usize].infectiousness(self.s, &self.curve, ds, day);
                if w > 0.0 {
                    let u = *draw.get_or_insert_with(|| transmission_draw(self.seed, &c, day));
                    if u < transmission_probability(self.s, &c, w) {
                        out.infections[arm].push((dst, src, c.setting as u8));
                    }
                }
            }
            if arm == 1 && protocol {
                let (sa, sb) = (xa.has(DayState::SOURCE), xb.has(DayState::SOURCE));
                if both_app {
                    out.app_sightings += 2 * intervals_overlapped(&c);
                    if sa || sb || self.opts.all_phones {
                        out.journal.push(c);
                    }
                }
                let near = f64::from(c.distance_cm) <= self.close_cm;
                if near || both_app {
                    let start_s = u64::from(day) * 86_400 + u64::from(c.start_offset_s);
                    for (src, partner, is) in [(c.a, c.b, sa), (c.b, c.a, sb)] {
                        if is {
                            out.met.push((
                                src,
                                Met {
                                    partner,
                                    day,
                                    start_s,
                                    end_s: start_s + u64::from(c.duration_s),
                                    duration_s: c.duration_s,
                                    setting: c.setting,
                                    near,
                                },
                            ));
                        }
                    }
                }
            }
        }
    }

    fn ensure_phone(&mut self, agent: u32, day: u32) {
        let seed = self.seed;
        let rule = self.rule;
        self.phones.entry(agent).or_insert_with(|| {
            let mut phone = Phone::new(PhoneConfig {
                risk_rule: rule,
                ..PhoneConfig::default()
            });
            phone.broadcast(
                UnixTime(EPOCH + u64::from(day) * 86_400),
                &mut key_rng(seed, agent, day),
            );
            phone
        });
    }

    /// `rx` hears `tx` at the given detections.
    fn play(&mut self, tx: u32, rx: u32, day: u32, found: &[Detection]) {
        for d in found {
            let now = UnixTime(EPOCH + d.time_s);
            let adv = self
                .phones
                .get_mut(&tx)
                .expect("transmitter phone")
                .broadcast(now, &mut key_rng(self.seed, tx, day));
            self.phones
                .get_mut(&rx)
                .expect("receiver phone")
                .hear(&adv.advertisement.to_bytes(), d.rssi_dbm, now)
                .expect("a 20-byte advertisement parses");
        }
    }

    /// Plays the day's journal through Bluetooth. Phones first (serial); then, a slice of the
    /// journal at a time, every contact's detections and the transmitters' advertisements
    /// in parallel (a transmitter only reads its phone: it holds the day's key), and every
    /// receiver hears its scans in parallel, in journal order (sorted stably by receiver), so
    /// each phone ends as the one-contact-at-a-time loop would leave it.
    fn bluetooth(&mut self, day: u32, journal: &[Contact]) {
        for c in journal {
            self.ensure_phone(c.a, day);
            self.ensure_phone(c.b, day);
            if self.is_source(c.a, day) || self.is_source(c.b, day) {
                self.real_pairs.insert((c.a.min(c.b), c.a.max(c.b)));
            }
        }
        for part in journal.chunks(BLUETOOTH_SLICE) {
            let played: Vec<Played> = part
                .par_chunks(BLUETOOTH_CHUNK)
                .map(|contacts| self.scans_of(day, contacts))
                .collect();
            let mut scans = Vec::with_capacity(played.iter().map(|p| p.0.len()).sum());
            for (s, heard) in played {
                scans.extend(s);
                for (tx, rx, time) in heard {
                    self.heard.entry(tx).or_default().push((rx, time));
                }
            }
            // Stable, so each receiver's scans stay in journal order (in parallel: a national
            // day's slice holds millions of scans).
            scans.par_sort_by_key(|s| s.rx);
            // The receivers' phones, each with its scans (one walk over the phones).
            let mut work: Vec<(&mut Phone, &[Scan])> = Vec::new();
            let mut rest = &scans[..];
            for (&agent, phone) in &mut self.phones {
                let Some(first) = rest.first() else { break };
                if first.rx != agent {
                    continue;
                }
                let k = rest.partition_point(|s| s.rx == agent);
                work.push((phone, &rest[..k]));
                rest = &rest[k..];
            }
            assert!(rest.is_empty(), "every receiver has a phone");
            work.par_iter_mut().for_each(|(phone, scans)| {
                for s in scans.iter() {
                    phone
                        .hear(&s.payload, s.rssi_dbm, UnixTime(EPOCH + s.time_s))
                        .expect("a 20-byte advertisement parses");
                }
            });
        }
    }

    /// The scans of `contacts` in both directions, in order, and for each direction whose
    /// transmitter is a source and was heard, (source, receiver, first detection's time).
    fn scans_of(&self, day: u32, contacts: &[Contact]) -> Played {
        let mut found = Vec::new();
        let mut broadcasts = Vec::new();
        let mut scans = Vec::new();
        let mut heard = Vec::new();
        for c in contacts {
            let (ta, tb) = (self.traits[c.a as usize], self.traits[c.b as usize]);
            for (tx, rx, ttx, trx, direction) in [(c.a, c.b, ta, tb, 0), (c.b, c.a, tb, ta, 1)] {
                detections(self.s, self.seed, c, day, ttx, trx, direction, &mut found);
                broadcasts.clear();
                let keyed = self.phones[&tx].broadcasts_if_keyed(
                    found.iter().map(|d| UnixTime(EPOCH + d.time_s)),
                    &mut broadcasts,
                );
                assert!(keyed, "every phone holds the key of the day");
                for (d, b) in found.iter().zip(&broadcasts) {
                    scans.push(Scan {
                        payload: b.advertisement.to_bytes(),
                        rx,
                        time_s: d.time_s,
                        rssi_dbm: d.rssi_dbm,
                    });
                }
                if let Some(first) = found.first()
                    && self.is_source(tx, day)
                {
                    heard.push((tx, rx, first.time_s));
                }
            }
        }
        (scans, heard)
    }

    /// The relay attacker: each victim hears, for the configured minutes, the advertisements of
    /// a source recorded where the source met somebody that day (at the start of one of its
    /// contacts, so that the relayed RPIs are ones its upload will publish). The source never
    /// hears the victim.
    fn relay(&mut self, day: u32, journal: &[Contact]) {
        let r = self.s.relay;
        if r.victims_per_day == 0 {
            return;
        }
        // (source, contact start) for every source's contact of the day.
        let mut met: Vec<(u32, u32)> = Vec::new();
        for c in journal {
            for x in [c.a, c.b] {
                if self.is_source(x, day) {
                    met.push((x, c.start_offset_s));
                }
            }
        }
        if met.is_empty() {
            return;
        }
        let n = self.pop.len();
        let mut rng = stream_rng(self.seed, DOMAIN_RELAY, u64::from(day), 0);
        for _ in 0..r.victims_per_day {
            let (source, start) = met[below(&mut rng, met.len() as u32) as usize];
            let mut victim = below(&mut rng, n);
            let mut tries = 0;
            while (!self.app(victim) || victim == source) && tries < 100 {
                victim = below(&mut rng, n);
                tries += 1;
            }
            if !self.app(victim) || victim == source {
                continue;
            }
            self.ensure_phone(source, day);
            self.ensure_phone(victim, day);
            self.relayed.insert((source, victim));
            let day_start = u64::from(day) * 86_400;
            let period = u64::from(self.s.ble.scan_period_s);
            let scans = (u64::from(r.duration_minutes) * 60).div_ceil(period);
            let rssi = (i16::from(DECLARED_TX_POWER_DBM) - i16::from(r.attenuation_db))
                .clamp(-127, 0) as i8;
            let found: Vec<Detection> = (0..scans)
                .map(|k| Detection {
                    time_s: (day_start + u64::from(start) + k * period).min(day_start + 86_399),
                    rssi_dbm: rssi,
                })
                .collect();
            self.play(source, victim, day, &found);
        }
    }

    /// Seed step 2 at `t`: the treatment facility opens the case of `agent` and gets its
    /// declaration code.
    fn declare(&mut self, agent: u32, t: u64) -> Result<(), RunError> {
        // Once per agent: an F1 test may have opened its case before its symptoms would.
        if !self.declared.insert(agent) {
            return Ok(());
        }
        let (confirm_h, generation) = self
            .confirmation(agent)
            .ok_or_else(|| server_err("a case was declared for an agent never confirmed"))?;
        let opened = self
            .server
            .open_case(&self.facility, &format!("agent {agent}"), EPOCH + t)
            .map_err(server_err)?;
        let case = opened.case.case_id;
        debug_assert_eq!(case, self.cases.len() as u64 + 1);
        self.cases.push(Case {
            agent,
            confirm_h,
            code: opened.code,
            published: false,
            generation,
        });
        let upload_s = t + u64::from(self.s.workflow.upload_hours) * 3600;
        self.events
            .insert((upload_s, Event::Upload(agent, case)), ());
        Ok(())
    }

    /// Seed step 3 for `agent` and `case` at `t`; whether the server accepted an upload. Adds
    /// the case's true F1s to the day's row when it did.
    fn upload(&mut self, agent: u32, case: u64, t: u64, row: &mut DayRow) -> bool {
        let mut new_truth = 0;
        let accepted = self.upload_inner(agent, case, t, &mut new_truth);
        if accepted {
            row.true_f1 += new_truth;
        }
        accepted
    }

    fn upload_inner(&mut self, agent: u32, case: u64, t: u64, new_truth: &mut u64) -> bool {
        let day = (t / 86_400) as u32;
        self.sources.remove(&agent);
        let infected = self.infected[1][agent as usize];
        let tr = self.traits[agent as usize];
        // The contagious window is counted back from symptom onset, or from the confirmation
        // when that comes first (an F1 found by testing) or there are no symptoms.
        let confirm_day = self.cases[(case - 1) as usize].confirm_h / 24;
        let onset_day = if tr.has(FLAG_ASYMPTOMATIC) {
            confirm_day
        } else {
            (u64::from(infected) + u64::from(tr.onset_days)).min(confirm_day)
        };
        let from_day = onset_day
            .saturating_sub(u64::from(self.s.workflow.contagious_days_before_onset))
            .max(u64::from(infected) + 1);
        let from_s = from_day * 86_400;
        // Ground truth: close contacts in the window, before the upload.
        let mut per_day: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        // Per app-user partner who would report: seconds together by setting in the window,
        // [within the close-contact distance, at any distance].
        let mut together: BTreeMap<u32, [[u64; 4]; 2]> = BTreeMap::new();
        for c in self.met.remove(&agent).unwrap_or_default() {
            if c.start_s >= from_s && c.end_s <= t {
                if c.near {
                    *per_day.entry((c.partner, c.day)).or_default() += c.duration_s;
                }
                let p = self.traits[c.partner as usize];
                if p.has(FLAG_APP) && p.has(FLAG_REPORT_CONSENT) {
                    let secs = together.entry(c.partner).or_default();
                    secs[1][c.setting as usize] += u64::from(c.duration_s);
                    if c.near {
                        secs[0][c.setting as usize] += u64::from(c.duration_s);
                    }
                }
            }
        }
        let mut close = BTreeSet::new();
        for ((partner, _), secs) in per_day {
            if secs >= CLOSE_CONTACT_SECONDS {
                close.insert(partner);
                if self.truth.insert((case, partner)) {
                    self.truth_with_app += u64::from(self.app(partner));
                    *new_truth += 1;
                }
            }
        }
        let heard: BTreeSet<u32> = self
            .heard
            .remove(&agent)
            .unwrap_or_default()
            .into_iter()
            .filter(|&(_, time)| time >= from_s && time < t)
            .map(|(partner, _)| partner)
            .collect();
        for (partner, secs) in together {
            // A close pair's setting is where it spent the most time within the distance; any
            // other pair's, where it spent the most time (the first of equals).
            let close = close.contains(&partner);
            let secs = secs[usize::from(!close)];
            let most = (0..4).fold(0, |m, i| if secs[i] > secs[m] { i } else { m });
            self.pairs.push(Pair {
                case,
                partner,
                setting: Setting::ALL[most],
                close,
                heard: heard.contains(&partner),
            });
        }
        self.ensure_phone(agent, day);
        let now = UnixTime(EPOCH + t);
        let Ok(code) = DeclarationCode::new(&self.cases[(case - 1) as usize].code) else {
            return false;
        };
        let mut rng = stream_rng(self.seed, DOMAIN_UPLOAD, u64::from(agent), u64::from(day));
        let phone = self.phones.get_mut(&agent).expect("phone");
        let Ok(upload) =
            phone.prepare_f0_upload(code, UnixTime(EPOCH + from_s), &[], now, &mut rng)
        else {
            return false;
        };
        let Ok(bytes) = upload.to_bytes() else {
            return false;
        };
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        match self.server.accept_upload(&bytes, client, EPOCH + t) {
            Ok(accepted) => {
                debug_assert_eq!(accepted.real(), Some(case));
                // What the upload publishes, read back from its bytes as the server does.
                let (from, to) = (UnixTime(EPOCH + from_s).interval(), now.interval());
                if let Ok(parsed) = F0Upload::parse(&bytes) {
                    self.window_intervals += u64::from(to.0.saturating_sub(from.0));
                    self.window_published += parsed
                        .keys
                        .iter()
                        .flat_map(|k| k.published_intervals())
                        .filter(|i| (from.0..to.0).contains(&i.0))
                        .count() as u64;
                }
                let trace_s = t + u64::from(self.s.workflow.trace_hours) * 3600;
                self.events.insert((trace_s, Event::Trace(case)), ());
                true
            }
            Err(_) => false,
        }
    }

    /// Seed step 4 at `t`: "Trace F1".
    fn trace(&mut self, case: u64, t: u64) -> Result<(), RunError> {
        if self.s.provinces.enabled {
            // The case's own province, what the server chooses by default for a facility of
            // that province.
            let agent = self.cases[(case - 1) as usize].agent;
            let region = home_region(self.pop, agent);
            self.server
                .request_trace_to(&self.facility, case, &[region], EPOCH + t)
                .map_err(server_err)?;
        } else {
            self.server
                .request_trace(&self.facility, case, EPOCH + t)
                .map_err(server_err)?;
        }
        Ok(())
    }

    /// What the filter is asked at a publication at `t`: the sightings each phone tests
    /// against the batch, how many are relevant, how many pass the risk rule alone, and their
    /// pairs. Counted once every phone has 14 days of sightings (day 13 on), if the run is
    /// that long, so that the warm-up does not dilute them, and only at each day's first
    /// publication run (at midnight), a sample that keeps the default run's cost down.
    fn count_tested(&mut self, opened: &VerifiedBatch, region: u16, t: u64) {
        if (self.s.days >= 14 && t / 86_400 < 13) || !t.is_multiple_of(86_400) {
            return;
        }
        let (from, to) = opened.plausible_sighting_window();
        let rule = self.rule;
        let pop = self.pop;
        let tested = self
            .phones
            .par_iter()
            .filter(|(agent, _)| subscribes(pop, **agent, region))
            .map(|(_, phone)| {
                let correction = phone.config().rssi_correction_db;
                // The five counts, and 1 for the phone.
                let mut n = [0u64; 6];
                // Relevant tested sightings per UTC day (what one candidate exposure groups).
                let mut per_day: Vec<(u64, u64)> = Vec::new();
                for s in phone.sightings().iter() {
                    if s.last_seen >= from && s.first_seen < to {
                        n[0] += 1;
                        n[2] += u64::from(rule.passes(rule.weighted_exposure(
                            &s,
                            rule.assumed_tx_power_dbm,
                            correction,
                        )));
                        if rule.is_relevant(&s, correction) {
                            n[1] += 1;
                            let day = sighting_day(&s);
                            match per_day.iter_mut().find(|(d, _)| *d == day) {
                                Some((_, k)) => *k += 1,
                                None => per_day.push((day, 1)),
                            }
                        }
                    }
                }
                n[3] = n[1] * n[1].saturating_sub(1) / 2;
                n[4] = per_day.iter().map(|(_, k)| k * (k - 1) / 2).sum();
                n[5] = 1;
                n
            })
            .reduce(|| [0u64; 6], |a, b| std::array::from_fn(|i| a[i] + b[i]));
        self.matchings += tested[5];
        for (total, n) in self.tested.iter_mut().zip(tested) {
            *total += n;
        }
    }

    /// A publication run at `t`, then every phone matches the new batch and reports.
    fn publish(&mut self, t: u64, row: &mut DayRow) -> Result<(), RunError> {
        // One batch per region some waiting case is traced to (region 0 only without
        // provinces).
        let run = self.server.publish(EPOCH + t).map_err(server_err)?;
        if run.is_empty() {
            return Ok(());
        }
        self.download(&run, row)?;
        for record in &run {
            self.match_batch(record, t, row)?;
        }
        Ok(())
    }

    /// What the phones of each province download after a run: the signed indexes of region 0
    /// and of their home province when they changed, and the run's batches of those regions.
    fn download(&mut self, run: &[BatchRecord], row: &mut DayRow) -> Result<(), RunError> {
        let missing = || server_err("the server kept no publication file");
        let mut changed: BTreeMap<u16, u64> = BTreeMap::new();
        let homes: BTreeSet<u16> = (0..self.pop.province_count())
            .map(|p| self.pop.province_code(p as u8))
            .chain(std::iter::once(WHOLE_COUNTRY))
            .collect();
        for &region in &homes {
            let index = (self.publication.index(IndexScope::Region(region)))
                .map_err(server_err)?
                .ok_or_else(missing)?;
            if self.held_indexes.get(&region) != Some(&index) {
                changed.insert(region, index.len() as u64);
                self.held_indexes.insert(region, index);
            }
        }
        let n = u128::from(self.pop.len());
        let mut weighted = 0u128;
        for p in 0..self.pop.province_count() {
            let home = self.pop.province_code(p as u8);
            let regions = BTreeSet::from([WHOLE_COUNTRY, home]);
            let bytes: u64 = regions
                .iter()
                .map(|r| changed.get(r).copied().unwrap_or(0))
                .chain(
                    run.iter()
                        .filter(|b| regions.contains(&b.region))
                        .map(|b| u64::from(b.byte_len)),
                )
                .sum();
            self.province_bytes[p as usize] += bytes;
            weighted += u128::from(bytes) * self.pop.province_members(p as u8).len() as u128;
        }
        row.bytes_per_phone += (weighted / n) as u64;
        Ok(())
    }

    /// Every phone subscribed to the batch's region matches it and reports.
    fn match_batch(
        &mut self,
        record: &BatchRecord,
        t: u64,
        row: &mut DayRow,
    ) -> Result<(), RunError> {
        let missing = || server_err("the server kept no publication file");
        let bytes = (self
            .publication
            .batch(record.batch_id)
            .map_err(server_err)?)
        .ok_or_else(missing)?;
        let publisher = self.server.publisher_key();
        row.batches += 1;
        row.rpis_published += u64::from(record.published_rpis);
        for c in &record.cases {
            self.cases[(c - 1) as usize].published = true;
        }
        // Every phone checks the same signed bytes: open (verify) once.
        let opened = VerifiedBatch::open(&bytes, &publisher).map_err(server_err)?;
        let region = record.region;
        self.count_tested(&opened, region, t);
        let batch_id = record.batch_id;
        let now = UnixTime(EPOCH + t);
        let report_t = t + u64::from(self.s.workflow.report_hours) * 3600;
        let report_day = (report_t / 86_400) as u32;
        let traits = &self.traits;
        let unit = &self.unit;
        let seed = self.seed;
        let pop = self.pop;
        let before = self
            .server
            .metrics
            .sightings_unverified
            .load(Ordering::Relaxed);
        // The subscribed phones in agent order, in slices. Each slice's matching (each phone's
        // own checks, risk rule and RSSI correction) and report preparation runs in parallel;
        // the server accepts the reports on a thread of its own, slice after slice in agent
        // order as the slices come in, so that it works while the phones of later slices still
        // match and the outcome is the one-phone-at-a-time loop's on any number of threads.
        let mut subscribed: Vec<(u32, &mut Phone)> = self
            .phones
            .iter_mut()
            .filter(|(agent, _)| subscribes(pop, **agent, region))
            .map(|(&agent, phone)| (agent, phone))
            .collect();
        let mut acceptor = Acceptor {
            server: &self.server,
            store: &self.store,
            s: self.s,
            traits,
            cases: &self.cases,
            truth: &self.truth,
            verified: &mut self.verified,
            f1_tested: &mut self.f1_tested,
            events: &mut self.events,
            quarantine_until: &mut self.quarantine_until,
            refused_sightings: &mut self.refused_sightings,
            row,
            report_t,
            report_day,
        };
        let (send, receive) = std::sync::mpsc::channel::<(usize, Result<Reports, RunError>)>();
        std::thread::scope(|scope| {
            let accepting = scope.spawn(move || -> Result<(), RunError> {
                let mut waiting = BTreeMap::new();
                let mut next = 0;
                for (k, slice) in receive {
                    waiting.insert(k, slice);
                    while let Some(slice) = waiting.remove(&next) {
                        for (agent, made) in slice? {
                            acceptor.accept(agent, made)?;
                        }
                        next += 1;
                    }
                }
                Ok(())
            });
            subscribed
                .par_chunks_mut(MATCH_SLICE)
                .enumerate()
                .for_each_with(send, |send, (k, slice)| {
                    let reports = slice
                        .iter_mut()
                        .filter_map(|(agent, phone)| {
                            let agent = *agent;
                            let outcome = match phone.match_verified(&opened, now) {
                                Ok(outcome) => outcome,
                                // Never: batch ids are new and the batch is matched when it
                                // is made.
                                Err(e) => {
                                    return Some(Err(server_err(format!(
                                        "phone {agent} refused batch {batch_id}: {e}"
                                    ))));
                                }
                            };
                            if outcome.hits == 0 || !traits[agent as usize].has(FLAG_REPORT_CONSENT)
                            {
                                return None;
                            }
                            let mut rng =
                                stream_rng(seed, DOMAIN_REPORT, u64::from(agent), batch_id);
                            let made: Vec<F1Report> = outcome
                                .passing()
                                .filter_map(|exposure: &CandidateExposure| {
                                    let contact = ContactDetails {
                                        phone_number: format!("84{agent:09}"),
                                        name: String::new(),
                                        district: u32::from(pop.agents()[agent as usize].district),
                                        consent_time: UnixTime(EPOCH + report_t),
                                    };
                                    phone
                                        .prepare_f1_report(exposure, &contact, unit, &mut rng)
                                        .ok()
                                })
                                .collect();
                            Some(Ok((agent, made)))
                        })
                        .collect::<Result<Reports, _>>();
                    // The accepting thread only stops early on an error, which it returns.
                    let _ = send.send((k, reports));
                });
            accepting
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        self.refused_sightings += self
            .server
            .metrics
            .sightings_unverified
            .load(Ordering::Relaxed)
            - before;
        Ok(())
    }

    fn event(&mut self, t: u64, ev: Event, row: &mut DayRow) -> Result<(), RunError> {
        match ev {
            Event::Declare(agent) => self.declare(agent, t)?,
            Event::Upload(agent, case) => {
                row.uploads += u64::from(self.upload(agent, case, t, row));
            }
            Event::Trace(case) => self.trace(case, t)?,
            Event::Test(agent, generation) => self.f1_test(agent, generation, t),
        }
        Ok(())
    }

    /// The result, at `t`, of an F1 test of `agent` (sampled `result_hours` earlier). A
    /// positive agent not yet confirmed becomes a case of tracing generation `generation`: it
    /// isolates and, if it shares, its case is opened after `declaration_hours`.
    fn f1_test(&mut self, agent: u32, generation: u8, t: u64) {
        let hour = t / 3600;
        if self.early_confirm.contains_key(&agent) || self.declared.contains(&agent) {
            return;
        }
        if let Some((h, _)) = self.confirmation(agent)
            && h <= hour
        {
            return; // Already confirmed after symptoms.
        }
        let infected = self.infected[1][agent as usize];
        if infected == NOT_INFECTED {
            return; // No false positives are modelled.
        }
        let sample = t.saturating_sub(u64::from(self.s.f1_testing.result_hours) * 3600);
        let Some(since) = (sample / 86_400).checked_sub(u64::from(infected)) else {
            return;
        };
        let sensitivity = self
            .s
            .f1_testing
            .sensitivity_by_day_since_infection
            .get(since as usize)
            .copied()
            .unwrap_or(0.0);
        if hash_uniform(self.seed, DOMAIN_F1_TEST, u64::from(agent), sample) >= sensitivity {
            return;
        }
        self.early_confirm.insert(agent, (hour, generation));
        let tr = self.traits[agent as usize];
        if self.opts.protocol
            && tr.has(FLAG_APP)
            && tr.has(FLAG_UPLOAD_CONSENT)
            && self.sources.contains(&agent)
        {
            let declare_h = hour + u64::from(self.s.workflow.declaration_hours);
            self.events
                .insert((declare_h * 3600, Event::Declare(agent)), ());
        }
    }

    fn workflow(&mut self, day: u32, row: &mut DayRow) -> Result<(), RunError> {
        let day_end = (u64::from(day) + 1) * 86_400;
        let step = u64::from(self.s.workflow.publication_interval_hours) * 3600;
        let mut tick = u64::from(day) * 86_400;
        loop {
            // Events up to the tick (all of the day after the last tick), then the publication.
            let until = tick.min(day_end - 1);
            while let Some((&(t, ev), _)) = self.events.first_key_value() {
                if t > until {
                    break;
                }
                self.events.pop_first();
                self.event(t, ev, row)?;
            }
            if tick >= day_end {
                break;
            }
            self.publish(tick, row)?;
            tick += step;
        }
        Ok(())
    }

    fn day(&mut self, day: u32) -> Result<DayRow, RunError> {
        let mut row = DayRow {
            day,
            ..DayRow::default()
        };
        let protocol = self.opts.protocol;
        for agent in self.seeds.remove(&day).unwrap_or_default() {
            self.infect(agent, day, [true, true]);
        }
        if protocol && self.s.f1_testing.enabled {
            // Potential sources that can no longer be confirmed stop being sources.
            let expired: Vec<u32> = self
                .sources
                .iter()
                .copied()
                .filter(|&a| {
                    !self.traits[a as usize].uploads_if_infected()
                        && !self.declared.contains(&a)
                        && !self.may_still_upload(a, day)
                })
                .collect();
            for a in expired {
                self.sources.remove(&a);
                self.met.remove(&a);
                self.heard.remove(&a);
            }
        }
        if protocol {
            let mut ensure: Vec<u32> = self
                .sources
                .iter()
                .copied()
                .filter(|&a| self.is_source(a, day))
                .collect();
            if self.opts.all_phones {
                ensure = (0..self.pop.len()).filter(|&a| self.app(a)).collect();
            }
            for a in ensure {
                self.ensure_phone(a, day);
            }
            let day_start = UnixTime(EPOCH + u64::from(day) * 86_400);
            let seed = self.seed;
            self.phones.par_iter_mut().for_each(|(&a, p)| {
                p.purge(day_start);
                p.broadcast(day_start, &mut key_rng(seed, a, day));
            });
            self.workflow(day, &mut row)?;
        }
        let outs = self.contact_pass(day);
        let mut infections: [Vec<(u32, u32, u8)>; 2] = [Vec::new(), Vec::new()];
        let mut journal = Vec::new();
        let mut app_sightings = 0;
        for mut o in outs {
            for (all, part) in infections.iter_mut().zip(o.infections.iter_mut()) {
                all.append(part);
            }
            journal.append(&mut o.journal);
            for (src, c) in o.met {
                self.met.entry(src).or_default().push(c);
            }
            app_sightings += o.app_sightings;
            self.contacts += o.contacts;
        }
        self.app_sightings.push(app_sightings);
        for (arm, list) in infections.iter_mut().enumerate() {
            list.sort_unstable();
            list.dedup_by_key(|x| x.0);
            for &(target, source, setting) in list.iter() {
                let mut arms = [false, false];
                arms[arm] = true;
                self.infect(target, day, arms);
                let from = u32::from(self.infected[arm][source as usize]);
                let gap = ((day - from) as usize).min(MAX_GI_DAYS);
                self.gi[arm][from as usize][gap] += 1;
                self.by_setting[arm][setting as usize] += 1;
                if arm == 0 && setting == Setting::Household as u8 {
                    let h = self.pop.agents()[target as usize].household as usize;
                    self.home_infections[h] = self.home_infections[h].saturating_add(1);
                }
            }
            if arm == 0 {
                row.new_infections_no_app = list.len() as u64;
            } else {
                row.new_infections_app = list.len() as u64;
            }
        }
        if protocol {
            self.bluetooth(day, &journal);
            self.relay(day, &journal);
            let now = UnixTime(EPOCH + (u64::from(day) + 1) * 86_400);
            self.server.purge(now.0).map_err(server_err)?;
            if !self.opts.all_phones {
                let sources = &self.sources;
                self.phones
                    .retain(|a, p| !p.sightings().is_empty() || sources.contains(a));
            }
            let bytes: u64 = self.phones.values().map(phone_bytes).sum();
            self.peak_phones = self.peak_phones.max(self.phones.len() as u64);
            self.peak_phone_bytes = self.peak_phone_bytes.max(bytes);
            row.phones = self.phones.len() as u64;
        }
        let s = self.s;
        for arm in 0..2 {
            let (cum, inf) = self.infected[arm]
                .par_iter()
                .enumerate()
                .map(|(i, &d)| {
                    if d == NOT_INFECTED {
                        (0u64, 0u64)
                    } else {
                        let w = self.traits[i].infectiousness(s, &self.curve, d, day + 1);
                        (1, u64::from(w > 0.0))
                    }
                })
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            if arm == 0 {
                row.cumulative_no_app = cum;
                row.infectious_no_app = inf;
            } else {
                row.cumulative_app = cum;
                row.infectious_app = inf;
            }
        }
        row.confirmed = (0..self.pop.len())
            .into_par_iter()
            .filter(|&i| {
                self.confirmation(i)
                    .is_some_and(|(h, _)| h / 24 == u64::from(day))
            })
            .count() as u64;
        let per_million =
            |x: u64| (x * 1_000_000 + u64::from(self.pop.len()) / 2) / u64::from(self.pop.len());
        row.incidence_per_million_no_app = per_million(row.new_infections_no_app);
        row.incidence_per_million_app = per_million(row.new_infections_app);
        let found = self
            .verified
            .keys()
            .filter(|k| self.truth.contains(k))
            .count() as u64;
        let (mut truth, mut truth_app, mut found_app) = (0u64, 0u64, 0u64);
        for k in &self.truth {
            if self.cases[(k.0 - 1) as usize].published {
                truth += 1;
                if self.app(k.1) {
                    truth_app += 1;
                    found_app += u64::from(self.verified.contains_key(k));
                }
            }
        }
        let ppm = |x: u64, of: u64| (x * 1_000_000).checked_div(of);
        row.recall_ppm = ppm(found, truth);
        row.recall_app_users_ppm = ppm(found_app, truth_app);
        row.precision_ppm = ppm(found, self.verified.len() as u64);
        Ok(row)
    }

    /// Fills the cohort reproduction numbers of `daily` (see [`DayRow::r_cohort_no_app`]) from
    /// the infector–infectee pairs by the infector's infection day.
    fn cohort_r(&self, daily: &mut [DayRow]) {
        let days = self.s.days;
        for arm in 0..2 {
            let mut cohort = vec![0u64; days as usize];
            for &d in &self.infected[arm] {
                if let Some(c) = cohort.get_mut(usize::from(d)) {
                    *c += 1;
                }
            }
            for (row, &n) in daily.iter_mut().zip(&cohort) {
                let pairs: u64 = self.gi[arm]
                    .get(row.day as usize)
                    .map_or(0, |by_gap| by_gap.iter().sum());
                let r = (n > 0).then(|| fmt6(pairs as f64 / n as f64));
                if arm == 0 {
                    row.r_cohort_no_app = r;
                } else {
                    row.r_cohort_app = r;
                }
                row.r_cohort_final = row.day + COMPLETE_AFTER_DAYS < days;
            }
        }
    }

    /// Growth rates, reproduction numbers, the mean generation interval and the household
    /// attack rate (see [`Summary`] for their definitions).
    fn epidemiology(&self, daily: &[DayRow]) -> Epidemiology {
        let n = f64::from(self.pop.len());
        let days = self.s.days as usize;
        let start = self.s.seeding.days as usize + 5;
        // Infectors whose infectees are all in: infected at least 22 days before the end.
        let complete = days.saturating_sub(COMPLETE_AFTER_DAYS as usize);
        let mut out = Epidemiology::default();
        for arm in 0..2 {
            let series: Vec<(u64, u64)> = daily
                .iter()
                .map(|r| {
                    if arm == 0 {
                        (r.new_infections_no_app, r.cumulative_no_app)
                    } else {
                        (r.new_infections_app, r.cumulative_app)
                    }
                })
                .collect();
            let end = series
                .iter()
                .rposition(|&(_, cum)| cum as f64 <= 0.1 * n)
                .unwrap_or(0);
            let points: Vec<(f64, f64)> = series
                .iter()
                .enumerate()
                .filter(|&(d, &(new, _))| d >= start && d <= end && new > 0)
                .map(|(d, &(new, _))| (d as f64, (new as f64).ln()))
                .collect();
            let r = least_squares_slope(&points);
            let cohort = if complete > 0 { complete } else { days };
            let mut hist = [0u64; MAX_GI_DAYS + 1];
            for by_day in &self.gi[arm][..cohort.min(self.gi[arm].len())] {
                for (k, x) in by_day.iter().enumerate() {
                    hist[k] += x;
                }
            }
            let pairs: u64 = hist.iter().sum();
            out.growth[arm] = r;
            if pairs > 0 {
                let m: f64 = hist
                    .iter()
                    .enumerate()
                    .map(|(k, &x)| x as f64 / pairs as f64 * (-r * k as f64).exp())
                    .sum();
                out.r[arm] = 1.0 / m;
                if arm == 0 {
                    out.gi_mean = hist
                        .iter()
                        .enumerate()
                        .map(|(k, &x)| k as f64 * x as f64)
                        .sum::<f64>()
                        / pairs as f64;
                }
            }
        }
        let (mut secondary, mut exposed) = (0u64, 0u64);
        for h in 0..self.pop.household_count() {
            let members = self.pop.household_members(h);
            if members.len() < 2 {
                continue;
            }
            let first = members
                .clone()
                .map(|i| self.infected[0][i as usize])
                .min()
                .unwrap_or(NOT_INFECTED);
            if first == NOT_INFECTED || usize::from(first) >= complete.max(1) {
                continue;
            }
            secondary += u64::from(self.home_infections[h as usize]);
            exposed += members.len() as u64 - 1;
        }
        out.household_sar = ratio(secondary, exposed);
        out
    }

    /// Bytes a phone downloads per day by province: median and 95th percentile over phones
    /// (provinces weighted by their agents, as `bluezone bandwidth --regions`), and the
    /// worst-off province.
    fn province_bytes_per_day(&self, days: f64) -> ProvinceBytes {
        let per_day = |p: usize| self.province_bytes[p] as f64 / days;
        let mut order: Vec<usize> = (0..self.province_bytes.len()).collect();
        order.sort_by(|&a, &b| per_day(a).total_cmp(&per_day(b)).then(a.cmp(&b)));
        let n = f64::from(self.pop.len());
        let quantile = |q: f64| {
            let mut seen = 0.0;
            for &p in &order {
                seen += self.pop.province_members(p as u8).len() as f64 / n;
                if seen >= q {
                    return per_day(p);
                }
            }
            order.last().map_or(0.0, |&p| per_day(p))
        };
        let worst = order.last().copied().unwrap_or(0);
        ProvinceBytes {
            median: fmt6(quantile(0.5)),
            p95: fmt6(quantile(0.95)),
            worst_off: fmt6(per_day(worst)),
            worst_off_province: self.pop.province_code(worst as u8),
        }
    }

    fn finish(self, mut daily: Vec<DayRow>) -> Outcome {
        self.cohort_r(&mut daily);
        let s = self.s;
        let days = f64::from(s.days);
        let published: BTreeSet<u64> = self
            .cases
            .iter()
            .enumerate()
            .filter(|(_, c)| c.published)
            .map(|(i, _)| i as u64 + 1)
            .collect();
        let truth: Vec<(u64, u32)> = self
            .truth
            .iter()
            .copied()
            .filter(|(c, _)| published.contains(c))
            .collect();
        let true_f1 = truth.len() as u64;
        let true_f1_with_app = truth.iter().filter(|(_, p)| self.app(*p)).count() as u64;
        let found = truth
            .iter()
            .filter(|k| self.verified.contains_key(k))
            .count() as u64;
        let elsewhere: Vec<u32> = truth
            .iter()
            .filter(|&&(c, f1)| {
                let agents = self.pop.agents();
                let case = self.cases[(c - 1) as usize].agent;
                agents[case as usize].province != agents[f1 as usize].province
            })
            .map(|&(_, f1)| f1)
            .collect();
        let province_days = self.province_bytes_per_day(days);
        let mut false_alerts = 0;
        let mut false_both = 0;
        let mut one_sided = 0;
        let mut relayed_verified = 0;
        let mut delays = Vec::new();
        let mut verified = Vec::new();
        for (&(case, reporter), &(both, hour)) in &self.verified {
            let f0 = self.cases[(case - 1) as usize].agent;
            let pair = (f0.min(reporter), f0.max(reporter));
            if !self.real_pairs.contains(&pair) {
                false_alerts += 1;
                false_both += u64::from(both);
                if self.relayed.contains(&(f0, reporter)) {
                    relayed_verified += 1;
                }
            }
            one_sided += u64::from(!both);
            if self.truth.contains(&(case, reporter)) {
                delays.push(hour.saturating_sub(self.cases[(case - 1) as usize].confirm_h));
            }
            verified.push((f0, reporter, both, hour));
        }
        delays.sort_unstable();
        let delay_mean = if delays.is_empty() {
            0.0
        } else {
            delays.iter().sum::<u64>() as f64 / delays.len() as f64
        };
        let delay_median = delays.get(delays.len() / 2).copied().unwrap_or(0) as f64;
        let total = |f: fn(&DayRow) -> u64| daily.iter().map(f).sum::<u64>();
        // Sightings retained over 14 days, each tested against every batch of the day.
        let mut expected_fp = 0.0;
        let (mut retained_sum, mut queries_sum, mut steady_days) = (0u64, 0u64, 0u64);
        let full_history = daily.len() >= 14;
        for (d, row) in daily.iter().enumerate() {
            let from = d.saturating_sub(13);
            let retained: u64 = self.app_sightings[from..=d].iter().sum();
            expected_fp += retained as f64 * row.batches as f64 * DEFAULT_TARGET_FP_RATE;
            if !full_history || d >= 13 {
                retained_sum += retained;
                queries_sum += retained * row.batches;
                steady_days += 1;
            }
        }
        let app_users = self.traits.iter().filter(|t| t.has(FLAG_APP)).count() as u64;
        let per_phone_day = |x: u64| {
            if steady_days == 0 || app_users == 0 {
                0.0
            } else {
                fmt6(x as f64 / steady_days as f64 / app_users as f64)
            }
        };
        let n = self.pop.len();
        let agent_bytes = self.pop.heap_bytes()
            + self.traits.len() * std::mem::size_of::<Traits>()
            + 2 * 2 * n as usize
            + 2 * n as usize;
        let last = daily.last().cloned().unwrap_or_default();
        let epi = self.epidemiology(&daily);
        let mut by_generation = [0u64; GENERATIONS];
        for (i, &d) in self.infected[1].iter().enumerate() {
            if d == NOT_INFECTED {
                continue;
            }
            if let Some((h, g)) = self.confirmation(i as u32)
                && h / 24 < u64::from(s.days)
            {
                by_generation[usize::from(g).min(GENERATIONS - 1)] += 1;
            }
        }
        let mut found_by_generation = [0u64; GENERATIONS];
        for k in truth.iter().filter(|k| self.verified.contains_key(k)) {
            let g = self.cases[(k.0 - 1) as usize].generation;
            found_by_generation[usize::from(g).min(GENERATIONS - 1)] += 1;
        }
        let uploads = total(|r| r.uploads);
        // Rates by setting over the pairs of published cases: [close, not close] × [all,
        // verified, heard].
        let mut by = [[[0u64; 4]; 3]; 2];
        for p in self.pairs.iter().filter(|p| published.contains(&p.case)) {
            let (k, i) = (usize::from(!p.close), p.setting as usize);
            by[k][0][i] += 1;
            by[k][1][i] += u64::from(self.verified.contains_key(&(p.case, p.partner)));
            by[k][2][i] += u64::from(p.heard);
        }
        let summary = Summary {
            population: n,
            days: s.days,
            seed: s.seed,
            protocol: self.opts.protocol,
            app_users,
            infections_no_app: last.cumulative_no_app,
            infections_app: last.cumulative_app,
            infections_averted: last.cumulative_no_app as i64 - last.cumulative_app as i64,
            confirmed: total(|r| r.confirmed),
            uploads: total(|r| r.uploads),
            cases_published: published.len() as u64,
            true_f1,
            true_f1_with_app,
            true_f1_found: found,
            true_f1_other_province: elsewhere.len() as u64,
            true_f1_other_province_with_app: elsewhere.iter().filter(|&&a| self.app(a)).count()
                as u64,
            recall: ratio(found, true_f1),
            recall_app_users: ratio(found, true_f1_with_app),
            f1_verified: self.verified.len() as u64,
            precision: ratio(found, self.verified.len() as u64),
            false_alerts,
            false_alerts_confirmed_both_ways: false_both,
            one_sided,
            relayed_pairs: self.relayed.len() as u64,
            relayed_verified,
            notifications_per_case: ratio(self.verified.len() as u64, published.len() as u64),
            delay_hours_mean: fmt6(delay_mean),
            delay_hours_median: delay_median,
            bytes_per_phone_per_day: fmt6(total(|r| r.bytes_per_phone) as f64 / days),
            bytes_per_phone_per_day_median: province_days.median,
            bytes_per_phone_per_day_p95: province_days.p95,
            bytes_per_phone_per_day_worst_off: province_days.worst_off,
            worst_off_province: province_days.worst_off_province,
            reports: total(|r| r.reports),
            rejected_reports_per_day: fmt6(total(|r| r.reports_rejected) as f64 / days),
            refused_sightings_per_day: fmt6(self.refused_sightings as f64 / days),
            expected_filter_false_positives_per_day: fmt6(expected_fp / days),
            sightings_verified_per_day: fmt6(total(|r| r.sightings_verified) as f64 / days),
            published_interval_share: ratio(self.window_published, self.window_intervals),
            sightings_retained_per_phone: per_phone_day(retained_sum),
            queries_per_phone_per_day: per_phone_day(queries_sum),
            tested_share_relevant: ratio(self.tested[1], self.tested[0]),
            tested_share_alone_passing: ratio(self.tested[2], self.tested[0]),
            relevant_pairs_per_phone_batch: ratio(self.tested[3], self.matchings),
            same_day_pairs_per_phone_batch: ratio(self.tested[4], self.matchings),
            reports_per_day: fmt6(total(|r| r.reports) as f64 / days),
            peak_phones: self.peak_phones,
            peak_phone_bytes: self.peak_phone_bytes,
            bytes_per_agent: fmt6(agent_bytes as f64 / f64::from(n)),
            growth_rate_per_day: fmt6(epi.growth[0]),
            doubling_time_days: if epi.growth[0] == 0.0 {
                0.0
            } else {
                fmt6(std::f64::consts::LN_2 / epi.growth[0])
            },
            r_effective_without_app: fmt6(epi.r[0]),
            r_effective_with_app: fmt6(epi.r[1]),
            generation_interval_days_mean: fmt6(epi.gi_mean),
            household_secondary_attack_rate: fmt6(epi.household_sar),
            mean_daily_contacts: fmt6(2.0 * self.contacts as f64 / f64::from(n) / days),
            transmission_share_by_setting: {
                let b = self.by_setting[0];
                let sum: u64 = b.iter().sum();
                SettingShares::ratios(b, [sum; 4])
            },
            notifications_per_uploading_case: ratio(self.verified.len() as u64, uploads),
            cases_by_tracing_generation: by_generation,
            true_f1_found_by_case_generation: found_by_generation,
            close_contact_attenuation_db: fmt6(path_loss_db(&s.ble, s.close_contact_distance_m)),
            risk_rule_reach_m: fmt6(risk_rule_reach_m(s)),
            close_pairs_by_setting: SettingCounts::from_array(by[0][0]),
            non_close_pairs_by_setting: SettingCounts::from_array(by[1][0]),
            risk_rule_true_positive_rate_by_setting: SettingShares::ratios(by[0][1], by[0][0]),
            risk_rule_false_positive_rate_by_setting: SettingShares::ratios(by[1][1], by[1][0]),
            notify_everyone_true_positive_rate_by_setting: SettingShares::ratios(
                by[0][2], by[0][0],
            ),
            notify_everyone_false_positive_rate_by_setting: SettingShares::ratios(
                by[1][2], by[1][0],
            ),
        };
        Outcome {
            summary,
            daily,
            verified,
            relayed: self.relayed.iter().copied().collect(),
        }
    }
}
