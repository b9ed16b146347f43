//! Server configuration: a TOML file, every field optional, overridden by command-line flags.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "bluezone-data"
//! publication_interval_seconds = 3600
//! filter_target_fp_rate = 5.9604644775390625e-8   # 2^-24
//! dummy_quantum = 1024
//! # signing_key = "/etc/bluezone/publisher.key"  # 64 hex characters (Ed25519 seed)
//! code_ttl_seconds = 86400
//! trusted_proxies = ["10.0.0.1"]   # whose X-Forwarded-For names the client
//!
//!
//! [console]
//! utc_offset_minutes = 420     # times shown in Indochina Time
//! # secure_cookies = true      # default: Secure when a trusted proxy says X-Forwarded-Proto: https
//!
//! [[units]]
//! name = "hanoi-cdc"
//! districts = [1, 2, 3]
//! public_key = "<64 hex characters: the unit's X25519 HPKE public key>"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bluezone_protocol::hpke::HpkePublicKey;
use serde::Deserialize;

/// A preventive-medicine unit: the districts it covers and the key F1 contact details are
/// sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Short name, used in accounts (`PreventiveUnit { unit }`) and URLs.
    pub name: String,
    /// District numbers it covers (the `district` field of F1 reports).
    pub districts: Vec<u32>,
    /// Its HPKE public key (X25519), 64 hex characters. The private key stays with the unit.
    pub public_key: String,
}

/// Throttle figures (see [`crate::throttle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed logins allowed per account per window.
    pub login_failures_per_account: u32,
    /// Failed logins allowed per client address per window.
    pub login_failures_per_client: u32,
    /// The login window, seconds.
    pub login_window_seconds: u64,
    /// Wrong declaration codes allowed per client address per window.
    pub code_failures_per_client: u32,
    /// Wrong declaration codes allowed from all clients together per window.
    pub code_failures_global: u32,
    /// The declaration-code window, seconds.
    pub code_window_seconds: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            login_failures_per_account: 5,
            login_failures_per_client: 20,
            login_window_seconds: 15 * 60,
            code_failures_per_client: 10,
            code_failures_global: 100_000,
            code_window_seconds: 3600,
        }
    }
}

/// Everything the server is configured with.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the store, the publication files and the generated keys live.
    pub data_dir: PathBuf,
    /// Seconds between scheduled publication runs (0: on demand only).
    pub publication_interval_seconds: u64,
    /// Target false-positive rate of the batches' Bloom filters.
    pub filter_target_fp_rate: f64,
    /// Dummy entries round each batch's entry count up to a multiple of this (0: none).
    pub dummy_quantum: u32,
    /// File holding the publisher's Ed25519 seed as 64 hex characters. Default:
    /// `<data_dir>/publisher.key`, generated on first start.
    pub signing_key: Option<PathBuf>,
    /// Lifetime of a declaration code, seconds.
    pub code_ttl_seconds: u64,
    /// Lifetime of a health worker's session, seconds.
    pub session_ttl_seconds: u64,
    /// Largest F0 upload body, bytes (the largest size class is 4 MiB).
    pub max_upload_bytes: usize,
    /// Largest F1 report body, bytes (the largest size class is 64 KiB).
    pub max_report_bytes: usize,
    /// Largest JSON body, bytes.
    pub max_json_bytes: usize,
    /// Seconds a request may take, body included.
    pub request_timeout_seconds: u64,
    /// Reverse proxies (load balancer, CDN edge) whose `X-Forwarded-For` header names the
    /// client that throttles count against. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The preventive-medicine units.
    pub units: Vec<UnitConfig>,
    /// Throttle figures.
    pub throttle: ThrottleConfig,
    /// The web console.
    pub console: crate::console::ConsoleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("bluezone-data"),
            publication_interval_seconds: 3600,
            filter_target_fp_rate: bluezone_protocol::DEFAULT_TARGET_FP_RATE,
            dummy_quantum: 1024,
            signing_key: None,
            code_ttl_seconds: 24 * 3600,
            session_ttl_seconds: 12 * 3600,
            max_upload_bytes: bluezone_protocol::UPLOAD_SIZE_CLASSES[5],
            max_report_bytes: bluezone_protocol::REPORT_SIZE_CLASSES[3],
            max_json_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            trusted_proxies: Vec::new(),
            units: Vec::new(),
            throttle: ThrottleConfig::default(),
            console: crate::console::ConsoleConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A unit as the server uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Its name.
    pub name: String,
    /// Its districts.
    pub districts: Vec<u32>,
    /// Its HPKE public key.
    pub public_key: HpkePublicKey,
}

impl Config {
    /// Read a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Config::from_toml(&text)
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Check the figures and the units; return the units with their keys decoded.
    pub fn validate(&self) -> Result<Vec<Unit>, ConfigError> {
        let rate = self.filter_target_fp_rate;
        if !(rate > 0.0 && rate < 0.5) {
            return Err(ConfigError(format!(
                "filter_target_fp_rate must be in (0, 0.5), not {rate}"
            )));
        }
        if self.code_ttl_seconds == 0 || self.session_ttl_seconds == 0 {
            return Err(ConfigError("lifetimes must be positive".into()));
        }
        if self.request_timeout_seconds == 0 {
            return Err(ConfigError(
                "request_timeout_seconds must be positive".into(),
            ));
        }
        let mut units: Vec<Unit> = Vec::new();
        for u in &self.units {
            if u.name.is_empty()
                || u.name.len() > 64
                || !u
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(ConfigError(format!(
                    "unit name {:?}: 1 to 64 characters of a-z 0-9 -",
                    u.name
                )));
            }
            let key = hex::decode(&u.public_key)
                .ok()
                .and_then(|b| HpkePublicKey::from_bytes(&b).ok())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "unit {}: public_key must be 64 hex characters",
                        u.name
                    ))
                })?;
            for other in &units {
                if other.name == u.name {
                    return Err(ConfigError(format!("unit {} twice", u.name)));
                }
                if let Some(d) = u.districts.iter().find(|d| other.districts.contains(d)) {
                    return Err(ConfigError(format!(
                        "district {d} covered by both {} and {}",
                        other.name, u.name
                    )));
                }
            }
            units.push(Unit {
                name: u.name.clone(),
                districts: u.districts.clone(),
                public_key: key,
            });
        }
        Ok(units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_toml_overrides() {
        assert!(Config::default().validate().unwrap().is_empty());
        let key = "11".repeat(32);
        let config = Config::from_toml(&format!(
            "listen = \"127.0.0.1:9000\"\ncode_ttl_seconds = 60\n\
             [[units]]\nname = \"hanoi\"\ndistricts = [1, 2]\npublic_key = \"{key}\"\n"
        ))
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.code_ttl_seconds, 60);
        assert_eq!(config.session_ttl_seconds, 12 * 3600);
        let units = config.validate().unwrap();
        assert_eq!(units[0].districts, vec![1, 2]);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Config::from_toml("listen = 3").is_err());
        assert!(Config::from_toml("no_such_field = 1").is_err());
        let key = "11".repeat(32);
        let two = format!(
            "[[units]]\nname = \"a\"\ndistricts = [1]\npublic_key = \"{key}\"\n\
             [[units]]\nname = \"b\"\ndistricts = [1]\npublic_key = \"{key}\"\n"
        );
        let err = Config::from_toml(&two).unwrap().validate().unwrap_err();
        assert!(err.0.contains("district 1"), "{err}");
        let short = "[[units]]\nname = \"a\"\ndistricts = [1]\npublic_key = \"abcd\"\n";
        assert!(Config::from_toml(short).unwrap().validate().is_err());
        let rate = Config {
            filter_target_fp_rate: 0.0,
            ..Config::default()
        };
        assert!(rate.validate().is_err());
    }
}
