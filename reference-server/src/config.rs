//! The deployment's configuration: a TOML file, every field optional, overridden by
//! command-line flags. It configures both layers: [`Config::settings`] for the domain,
//! [`Config::limits`] and `[console]` for the web layer.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "bluezone-data"
//! # database_url = "postgres://bluezone@db.internal/bluezone"  # PostgreSQL instead of sled
//! # database_max_connections = 16   # this instance's pool
//! publication_interval_seconds = 3600
//! filter_target_fp_rate = 9.5367431640625e-7   # 2^-20 (SPEC.md §8.1.3)
//! filter_kind = 2              # 2: compressed (Golomb-Rice), 1: partitioned Bloom filter
//! dummy_quantum = 1024
//! # signing_key = "/etc/bluezone/publisher.key"  # 64 hex characters (Ed25519 seed)
//! code_ttl_seconds = 86400
//! trusted_proxies = ["10.0.0.1"]   # whose X-Forwarded-For names the client
//! max_connections = 768            # below `ulimit -n`; a few more answer /healthz only
//! max_body_bytes_in_flight = 67108864   # 64 MiB of bodies being received at once
//! shutdown_grace_seconds = 30      # after SIGTERM/SIGINT, in-flight requests get this long
//! log_format = "text"              # or "json": one object per line on standard error
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
//!
//! [[facilities]]
//! name = "bv-benh-nhiet-doi-tw"
//! province = 1                  # Hà Nội: "Trace F1" publishes its cases there by default
//!
//! # default_trace_regions = [0] # instead: every case to the whole country
//! # [[districts]]               # names the console shows for district codes
//! # code = 1
//! # name = "Ba Đình"
//! # province = 1
//! # [[regions]]                 # replaces the built-in list of Vietnam's 63 provinces
//! # code = 1
//! # name = "Hà Nội"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::regions::{District, Region, RegionConfig};
use crate::domain::settings::{
    Facility, Settings, ThrottleConfig, Unit, UnitConfig, validate_facilities, validate_units,
};
use crate::domain::store::Retention;
use crate::web::Limits;
use crate::web::console::ConsoleConfig;

/// Everything the server is configured with.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the store, the publication files and the generated keys live.
    pub data_dir: PathBuf,
    /// The PostgreSQL database to keep the records in (`postgres://user:password@host/db`),
    /// instead of the sled store under `data_dir`; several instances may share it. The
    /// publication files and the publisher key stay under `data_dir` (shared between the
    /// instances, or the same key given to each with `signing_key`).
    pub database_url: Option<String>,
    /// Most connections this instance opens to `database_url`.
    pub database_max_connections: u32,
    /// Seconds between scheduled publication runs (0: on demand only).
    pub publication_interval_seconds: u64,
    /// Target false-positive rate of the batches' Bloom filters.
    pub filter_target_fp_rate: f64,
    /// Filter kind of the batches (SPEC.md §8.1): 2, the compressed filter (the default), or
    /// 1, the partitioned Bloom filter.
    pub filter_kind: u8,
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
    /// After SIGTERM or SIGINT, how long in-flight requests may take to finish before the
    /// server exits anyway, seconds.
    pub shutdown_grace_seconds: u64,
    /// How log lines are written to standard error: `"text"` or `"json"` (one object per
    /// line).
    pub log_format: LogFormat,
    /// Most connections served at once; keep it below the process's file limit (`ulimit -n`)
    /// less about 50. A few more are answered in overload (`/healthz`, or `503 server_busy`),
    /// and any further one is closed at once.
    pub max_connections: usize,
    /// Most body bytes being received at once, all requests together; beyond it a request is
    /// refused with `503 server_busy`.
    pub max_body_bytes_in_flight: usize,
    /// Reverse proxies (load balancer, CDN edge) whose `X-Forwarded-For` header names the
    /// client that throttles count against. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The preventive-medicine units.
    pub units: Vec<UnitConfig>,
    /// The regions cases are published to (SPEC.md §8.5), each a code and a name. Default:
    /// Vietnam's 63 provinces by their official codes.
    pub regions: Option<Vec<Region>>,
    /// The regions "Trace F1" publishes every case to when the health worker chooses none:
    /// `[0]` (the whole country) or province codes. Unset (the default): each case's own
    /// province, its facility's.
    pub default_trace_regions: Option<Vec<u16>>,
    /// The districts the console names, each a code, a name and its province's code. None
    /// by default: the console shows districts by code.
    pub districts: Vec<District>,
    /// The treatment facilities, each in a province: their accounts see their own cases.
    pub facilities: Vec<Facility>,
    /// Throttle figures.
    pub throttle: ThrottleConfig,
    /// How long records about people are kept.
    pub retention: Retention,
    /// The web console.
    pub console: ConsoleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("bluezone-data"),
            database_url: None,
            database_max_connections: 16,
            publication_interval_seconds: 3600,
            filter_target_fp_rate: bluezone_protocol::DEFAULT_TARGET_FP_RATE,
            filter_kind: bluezone_protocol::FilterKind::default().code(),
            dummy_quantum: 1024,
            signing_key: None,
            code_ttl_seconds: 24 * 3600,
            session_ttl_seconds: 12 * 3600,
            max_upload_bytes: bluezone_protocol::UPLOAD_SIZE_CLASSES[5],
            max_report_bytes: bluezone_protocol::REPORT_SIZE_CLASSES[3],
            max_json_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 30,
            log_format: LogFormat::Text,
            max_connections: 768,
            max_body_bytes_in_flight: 64 << 20,
            trusted_proxies: Vec::new(),
            units: Vec::new(),
            regions: None,
            default_trace_regions: None,
            districts: Vec::new(),
            facilities: Vec::new(),
            throttle: ThrottleConfig::default(),
            retention: Retention::default(),
            console: ConsoleConfig::default(),
        }
    }
}

/// How log lines are written.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal only).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target` and the event's fields.
    Json,
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
        let kind = bluezone_protocol::FilterKind::from_code(self.filter_kind).ok_or_else(|| {
            ConfigError(format!(
                "filter_kind must be 1 (Bloom) or 2 (compressed), not {}",
                self.filter_kind
            ))
        })?;
        if kind == bluezone_protocol::FilterKind::Compressed
            && bluezone_protocol::CompressedParams::for_target(rate).is_err()
        {
            return Err(ConfigError(format!(
                "filter_target_fp_rate {rate} is below 1/(2^32 - 1), the least filter kind 2 reaches"
            )));
        }
        if self.code_ttl_seconds == 0 || self.session_ttl_seconds == 0 {
            return Err(ConfigError("lifetimes must be positive".into()));
        }
        if self.max_connections == 0 {
            return Err(ConfigError("max_connections must be positive".into()));
        }
        if self.max_body_bytes_in_flight < self.max_upload_bytes {
            return Err(ConfigError(format!(
                "max_body_bytes_in_flight ({}) must hold at least one upload ({} bytes)",
                self.max_body_bytes_in_flight, self.max_upload_bytes
            )));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "database_url must be a postgres:// or postgresql:// URL".into(),
            ));
        }
        if self.database_max_connections < 2 {
            return Err(ConfigError(
                "database_max_connections must be at least 2".into(),
            ));
        }
        if self.request_timeout_seconds == 0 {
            return Err(ConfigError(
                "request_timeout_seconds must be positive".into(),
            ));
        }
        let regions = self.region_config();
        regions.validate().map_err(|e| ConfigError(e.0))?;
        validate_facilities(&self.facilities, &regions).map_err(|e| ConfigError(e.0))?;
        self.retention.validate().map_err(ConfigError)?;
        validate_units(&self.units).map_err(|e| ConfigError(e.0))
    }

    fn region_config(&self) -> RegionConfig {
        let mut config = RegionConfig {
            default_trace: self.default_trace_regions.clone(),
            districts: self.districts.clone(),
            ..RegionConfig::default()
        };
        if let Some(regions) = &self.regions {
            config.regions = regions.clone();
        }
        config
    }

    /// What the workflow is configured with, given the validated `units`.
    pub fn settings(&self, units: Vec<Unit>) -> Settings {
        Settings {
            code_ttl_seconds: self.code_ttl_seconds,
            session_ttl_seconds: self.session_ttl_seconds,
            filter_target_fp_rate: self.filter_target_fp_rate,
            filter_kind: bluezone_protocol::FilterKind::from_code(self.filter_kind)
                .unwrap_or_default(),
            dummy_quantum: self.dummy_quantum,
            throttle: self.throttle,
            units,
            facilities: self.facilities.clone(),
            regions: self.region_config(),
            retention: self.retention,
            risk_rule: bluezone_protocol::RiskRule::default(),
        }
    }

    /// The web layer's body and time limits.
    pub fn limits(&self) -> Limits {
        Limits {
            upload_bytes: self.max_upload_bytes,
            report_bytes: self.max_report_bytes,
            json_bytes: self.max_json_bytes,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_seconds),
            max_connections: self.max_connections,
            body_bytes_in_flight: self.max_body_bytes_in_flight,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every key of `value`'s tables, as dotted paths (arrays are leaves).
    fn key_paths(value: &toml::Value, at: &str, out: &mut Vec<String>) {
        if let Some(table) = value.as_table() {
            for (k, v) in table {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                out.push(path.clone());
                key_paths(v, &path, out);
            }
        }
    }

    /// `reference-server/bluezone.example.toml` is the defaults, field for field, and names
    /// every field: those whose default is unset as `#: field = example`, which parse and
    /// validate once uncommented.
    #[test]
    fn the_example_file_is_the_defaults_and_names_every_field() {
        let text = include_str!("../bluezone.example.toml");
        let parsed: Config = toml::from_str(text).expect("the example parses");
        assert_eq!(parsed, Config::default());
        let full_text: String = text
            .lines()
            .map(|l| l.strip_prefix("#: ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let full: Config = toml::from_str(&full_text).expect("the uncommented example parses");
        full.validate().expect("and validates");
        assert!(full.signing_key.is_some() && full.regions.is_some());
        assert!(full.console.secure_cookies.is_some() && !full.units.is_empty());
        let (mut named, mut fields) = (Vec::new(), Vec::new());
        let written: toml::Table = toml::from_str(&full_text).unwrap();
        key_paths(&toml::Value::Table(written), "", &mut named);
        key_paths(&toml::Value::try_from(&full).unwrap(), "", &mut fields);
        named.sort();
        fields.sort();
        assert_eq!(
            named, fields,
            "the example names exactly the fields of Config"
        );
    }

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
        for bad in [
            "filter_kind = 0",
            "filter_kind = 3",
            "filter_target_fp_rate = 1e-12",
        ] {
            assert!(Config::from_toml(bad).unwrap().validate().is_err(), "{bad}");
        }
        for bad in [
            "database_url = \"mysql://db/x\"",
            "database_url = \"\"",
            "database_max_connections = 1",
        ] {
            assert!(Config::from_toml(bad).unwrap().validate().is_err(), "{bad}");
        }
        let pg = Config::from_toml("database_url = \"postgres://u@127.0.0.1/bz\"").unwrap();
        assert!(pg.validate().is_ok());
        let kind1 = Config::from_toml("filter_kind = 1").unwrap();
        let units = kind1.validate().unwrap();
        assert_eq!(
            kind1.settings(units).filter_kind,
            bluezone_protocol::FilterKind::Bloom
        );
    }
}
