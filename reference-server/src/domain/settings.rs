//! What the workflow is configured with: the preventive-medicine units, the treatment
//! facilities, the throttle figures,
//! lifetimes and the publication's filter parameters.
//!
//! The deployment's TOML file ([`crate::config`]) deserialises into these types; nothing here
//! reads a file.

use bluezone_protocol::RiskRule;
use bluezone_protocol::hpke::HpkePublicKey;
use serde::Deserialize;

/// A preventive-medicine unit as configured: the districts it covers and the key F1 contact
/// details are sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Short name, used in accounts (`PreventiveUnit { unit }`) and URLs.
    pub name: String,
    /// District numbers it covers (the `district` field of F1 reports).
    pub districts: Vec<u32>,
    /// Its HPKE public key (X25519), 64 hex characters. The private key stays with the unit.
    pub public_key: String,
}

/// A treatment facility, as configured: its health workers' accounts name it, and the cases
/// they open belong to it and to its province.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Facility {
    /// Short name, used in accounts (`TreatmentFacility { facility }`): 1 to 64 characters of
    /// `a-z 0-9 . _ -`.
    pub name: String,
    /// Its province, by code (one of the configured regions, SPEC.md §8.5): the province's
    /// oversight accounts see its cases, and "Trace F1" publishes there by default.
    pub province: u16,
}

/// Valid account and facility names: 1 to 64 characters of `a-z 0-9 . _ -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Check the facilities: valid names, each once, each in a configured province.
pub fn validate_facilities(
    facilities: &[Facility],
    regions: &crate::domain::regions::RegionConfig,
) -> Result<(), UnitError> {
    for (i, f) in facilities.iter().enumerate() {
        if !valid_name(&f.name) {
            return Err(UnitError(format!(
                "facility {:?}: names are 1 to 64 characters of a-z 0-9 . _ -",
                f.name
            )));
        }
        if facilities[..i].iter().any(|g| g.name == f.name) {
            return Err(UnitError(format!("facility {} is listed twice", f.name)));
        }
        if f.province == crate::domain::regions::WHOLE_COUNTRY || regions.name(f.province).is_none()
        {
            return Err(UnitError(format!(
                "facility {}: province {} is not one of the configured regions",
                f.name, f.province
            )));
        }
    }
    Ok(())
}

/// A unit as the workflow uses it: validated, its key decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Its name.
    pub name: String,
    /// Its districts.
    pub districts: Vec<u32>,
    /// Its HPKE public key.
    pub public_key: HpkePublicKey,
}

/// Why a list of units cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitError(pub String);

impl std::fmt::Display for UnitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnitError {}

/// Why a unit cannot be added to the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitRefusal {
    /// Its name is not 1 to 64 characters of `a-z 0-9 -`, or its key not 64 hex characters of
    /// an X25519 public key.
    Invalid(String),
    /// Another unit has this name.
    NameTaken(String),
    /// Another unit covers one of its districts.
    DistrictTaken(String),
}

impl UnitRefusal {
    /// What is wrong, in words.
    pub fn message(&self) -> &str {
        match self {
            UnitRefusal::Invalid(m) | UnitRefusal::NameTaken(m) | UnitRefusal::DistrictTaken(m) => {
                m
            }
        }
    }
}

/// Check one unit against the units already known (name of 1 to 64 characters of `a-z 0-9 -`
/// not taken by another; key of 64 hex characters; no district another unit covers) and
/// decode its key. Configured and registered units are held to this one rule.
pub fn validate_unit(u: &UnitConfig, known: &[Unit]) -> Result<Unit, UnitRefusal> {
    if u.name.is_empty()
        || u.name.len() > 64
        || !u
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(UnitRefusal::Invalid(format!(
            "unit name {:?}: 1 to 64 characters of a-z 0-9 -",
            u.name
        )));
    }
    let key = hex::decode(&u.public_key)
        .ok()
        .and_then(|b| HpkePublicKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            UnitRefusal::Invalid(format!(
                "unit {}: public_key must be 64 hex characters",
                u.name
            ))
        })?;
    for other in known {
        if other.name == u.name {
            return Err(UnitRefusal::NameTaken(format!("unit {} twice", u.name)));
        }
        if let Some(d) = u.districts.iter().find(|d| other.districts.contains(d)) {
            return Err(UnitRefusal::DistrictTaken(format!(
                "district {d} covered by both {} and {}",
                other.name, u.name
            )));
        }
    }
    Ok(Unit {
        name: u.name.clone(),
        districts: u.districts.clone(),
        public_key: key,
    })
}

/// Check the configured units with [`validate_unit`], each against those before it, and
/// decode their keys.
pub fn validate_units(configured: &[UnitConfig]) -> Result<Vec<Unit>, UnitError> {
    let mut units: Vec<Unit> = Vec::new();
    for u in configured {
        let unit = validate_unit(u, &units).map_err(|e| UnitError(e.message().to_owned()))?;
        units.push(unit);
    }
    Ok(units)
}

/// Throttle figures (see [`crate::domain::throttle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed logins (and wrong current passwords on a password change) allowed per account
    /// from one client address per window. Only someone at that address can use them up.
    pub login_failures_per_account: u32,
    /// Failed logins allowed per account from all the client addresses that never logged in
    /// to it successfully, together, per window: bounds guessing spread over many addresses.
    /// An address that logged in to the account before is not held to it, so a stranger who
    /// uses it up does not lock the owner out.
    pub login_failures_per_account_all_clients: u32,
    /// Failed logins allowed per client address, over all accounts, per window; not applied to
    /// an address on an account it logged in to before. A carrier NAT shares one address among
    /// many phones, but health workers log in from a few offices.
    pub login_failures_per_client: u32,
    /// The login window, seconds.
    pub login_window_seconds: u64,
    /// Wrong declaration codes allowed per client address per window.
    pub code_failures_per_client: u32,
    /// Wrong declaration codes allowed from all clients together per window.
    pub code_failures_global: u32,
    /// The declaration-code window, seconds.
    pub code_window_seconds: u64,
    /// F1 reports allowed per client address per window, accepted or not. At Vietnam's 2021
    /// peak (11,321 F0 a day, a few dozen F1 reports each) a phone sends about 0.005 reports a
    /// day, so the default of 120 an hour serves more than 500,000 phones behind one carrier
    /// NAT address; a sender of forged or replayed reports gets 120 tries an hour.
    pub reports_per_client: u32,
    /// The report window, seconds.
    pub report_window_seconds: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            login_failures_per_account: 5,
            login_failures_per_account_all_clients: 30,
            login_failures_per_client: 20,
            login_window_seconds: 15 * 60,
            code_failures_per_client: 10,
            code_failures_global: 100_000,
            code_window_seconds: 3600,
            reports_per_client: 120,
            report_window_seconds: 3600,
        }
    }
}

/// What the workflow is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Lifetime of a declaration code, seconds.
    pub code_ttl_seconds: u64,
    /// Lifetime of a session, seconds.
    pub session_ttl_seconds: u64,
    /// Target false-positive rate of the batch filters.
    pub filter_target_fp_rate: f64,
    /// Kind of filter the batches carry (SPEC.md §8.1; kind 2, compressed, by default).
    pub filter_kind: bluezone_protocol::FilterKind,
    /// Dummy entries round batch sizes up to a multiple of this.
    pub dummy_quantum: u32,
    /// Throttle figures.
    pub throttle: ThrottleConfig,
    /// The units.
    pub units: Vec<Unit>,
    /// The treatment facilities.
    pub facilities: Vec<Facility>,
    /// The regions cases are published to, and the default of "Trace F1".
    pub regions: crate::domain::regions::RegionConfig,
    /// How long records about people are kept.
    pub retention: crate::domain::store::Retention,
    /// The risk rule reports are rescored with.
    pub risk_rule: RiskRule,
}
