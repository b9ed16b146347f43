//! Regions: where a case's RPIs are published (SPEC.md §8.5).
//!
//! A region is a province, numbered by its official code; region 0 is the whole country. "Trace
//! F1" publishes a case to the regions the health worker chooses, each publication run builds
//! one batch per region, and a phone downloads the batches of region 0 and of the regions it
//! subscribes to (its home province and those its user adds). No location is measured or sent:
//! the choice is the health worker's at tracing and the user's in the app.

use std::fmt;

pub use bluezone_protocol::WHOLE_COUNTRY;

/// A province: its official code (SPEC.md §8.5) and its name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Its code, 1 to 65,535 (0 is the whole country, never listed).
    pub code: u16,
    /// Its name as the console shows it.
    pub name: String,
}

/// A district as the console names it: its code (the one phones report, SPEC.md §10), its
/// name and its province. Optional: a district the configuration does not name is shown by
/// its code.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct District {
    /// Its code.
    pub code: u32,
    /// Its name as the console shows it.
    pub name: String,
    /// Its province's code (one of the regions).
    pub province: u16,
}

/// The regions a deployment publishes to, and the regions "Trace F1" chooses when the health
/// worker chooses none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionConfig {
    /// The provinces, by code.
    pub regions: Vec<Region>,
    /// The default of "Trace F1" for every case: `[0]` (the whole country), or province codes.
    /// `None`: each case's own province (its facility's), the whole country for a case of no
    /// province.
    pub default_trace: Option<Vec<u16>>,
    /// The districts the console names (none by default: districts are shown by code).
    pub districts: Vec<District>,
}

impl Default for RegionConfig {
    /// Vietnam's 63 provinces (their codes in the General Statistics Office's list of
    /// administrative units, Decision 124/2004/QĐ-TTg and its amendments, as of 2021), tracing
    /// each case to its own province by default.
    fn default() -> Self {
        RegionConfig {
            regions: VIETNAM_PROVINCES
                .iter()
                .map(|&(code, name)| Region {
                    code,
                    name: name.to_owned(),
                })
                .collect(),
            default_trace: None,
            districts: Vec::new(),
        }
    }
}

/// Why a list of regions was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionError(pub String);

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegionError {}

impl RegionConfig {
    /// Check the list (codes 1 and up, each once, names of 1 to 64 characters) and the default.
    pub fn validate(&self) -> Result<(), RegionError> {
        let mut codes: Vec<u16> = Vec::with_capacity(self.regions.len());
        for r in &self.regions {
            if r.code == WHOLE_COUNTRY {
                return Err(RegionError(format!(
                    "region {:?}: code 0 is the whole country and is not listed",
                    r.name
                )));
            }
            let chars = r.name.trim().chars().count();
            if chars == 0 || chars > 64 || r.name.chars().any(char::is_control) {
                return Err(RegionError(format!(
                    "region {}: its name must be 1 to 64 printable characters",
                    r.code
                )));
            }
            if codes.contains(&r.code) {
                return Err(RegionError(format!("region {} is listed twice", r.code)));
            }
            codes.push(r.code);
        }
        let mut district_codes: Vec<u32> = Vec::with_capacity(self.districts.len());
        for d in &self.districts {
            let chars = d.name.trim().chars().count();
            if chars == 0 || chars > 64 || d.name.chars().any(char::is_control) {
                return Err(RegionError(format!(
                    "district {}: its name must be 1 to 64 printable characters",
                    d.code
                )));
            }
            if !codes.contains(&d.province) {
                return Err(RegionError(format!(
                    "district {} ({}): province {} is not one of the regions",
                    d.code, d.name, d.province
                )));
            }
            if district_codes.contains(&d.code) {
                return Err(RegionError(format!("district {} is listed twice", d.code)));
            }
            district_codes.push(d.code);
        }
        match &self.default_trace {
            Some(default) => self
                .chosen(default)
                .map(|_| ())
                .map_err(|e| RegionError(format!("default_trace_regions: {e}"))),
            None => Ok(()),
        }
    }

    /// The regions "Trace F1" publishes a case of `province` to when the health worker
    /// chooses none: the configured default, or else the province (the whole country for
    /// province 0, a case from before facilities, or a province no longer configured).
    pub fn trace_default(&self, province: u16) -> Vec<u16> {
        match &self.default_trace {
            Some(default) => default.clone(),
            None if province != WHOLE_COUNTRY && self.name(province).is_some() => vec![province],
            None => vec![WHOLE_COUNTRY],
        }
    }

    /// The name of region `code` (the whole country for 0).
    pub fn name(&self, code: u16) -> Option<&str> {
        self.regions
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.name.as_str())
    }

    /// District `code` as the console shows it: "name (province)" when the configuration
    /// names it, else its code.
    pub fn district_label(&self, code: u32) -> String {
        match self.districts.iter().find(|d| d.code == code) {
            Some(d) => match self.name(d.province) {
                Some(province) => format!("{} ({province})", d.name),
                None => d.name.clone(),
            },
            None => code.to_string(),
        }
    }

    /// `chosen` as a case is traced to: ascending, each once, every code 0 or a listed
    /// province, at least one; 0 with provinces is just 0 (the whole country holds them).
    pub fn chosen(&self, chosen: &[u16]) -> Result<Vec<u16>, RegionError> {
        if chosen.is_empty() {
            return Err(RegionError(
                "choose at least one region (0: the whole country)".into(),
            ));
        }
        if let Some(unknown) = chosen
            .iter()
            .find(|&&c| c != WHOLE_COUNTRY && self.name(c).is_none())
        {
            return Err(RegionError(format!(
                "region {unknown} is not one of the configured regions (0: the whole country)"
            )));
        }
        if chosen.contains(&WHOLE_COUNTRY) {
            return Ok(vec![WHOLE_COUNTRY]);
        }
        let mut out = chosen.to_vec();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Vietnam's provinces and centrally-run cities of 2004-2025, by code.
pub const VIETNAM_PROVINCES: [(u16, &str); 63] = [
    (1, "Hà Nội"),
    (2, "Hà Giang"),
    (4, "Cao Bằng"),
    (6, "Bắc Kạn"),
    (8, "Tuyên Quang"),
    (10, "Lào Cai"),
    (11, "Điện Biên"),
    (12, "Lai Châu"),
    (14, "Sơn La"),
    (15, "Yên Bái"),
    (17, "Hòa Bình"),
    (19, "Thái Nguyên"),
    (20, "Lạng Sơn"),
    (22, "Quảng Ninh"),
    (24, "Bắc Giang"),
    (25, "Phú Thọ"),
    (26, "Vĩnh Phúc"),
    (27, "Bắc Ninh"),
    (30, "Hải Dương"),
    (31, "Hải Phòng"),
    (33, "Hưng Yên"),
    (34, "Thái Bình"),
    (35, "Hà Nam"),
    (36, "Nam Định"),
    (37, "Ninh Bình"),
    (38, "Thanh Hóa"),
    (40, "Nghệ An"),
    (42, "Hà Tĩnh"),
    (44, "Quảng Bình"),
    (45, "Quảng Trị"),
    (46, "Thừa Thiên Huế"),
    (48, "Đà Nẵng"),
    (49, "Quảng Nam"),
    (51, "Quảng Ngãi"),
    (52, "Bình Định"),
    (54, "Phú Yên"),
    (56, "Khánh Hòa"),
    (58, "Ninh Thuận"),
    (60, "Bình Thuận"),
    (62, "Kon Tum"),
    (64, "Gia Lai"),
    (66, "Đắk Lắk"),
    (67, "Đắk Nông"),
    (68, "Lâm Đồng"),
    (70, "Bình Phước"),
    (72, "Tây Ninh"),
    (74, "Bình Dương"),
    (75, "Đồng Nai"),
    (77, "Bà Rịa - Vũng Tàu"),
    (79, "TP. Hồ Chí Minh"),
    (80, "Long An"),
    (82, "Tiền Giang"),
    (83, "Bến Tre"),
    (84, "Trà Vinh"),
    (86, "Vĩnh Long"),
    (87, "Đồng Tháp"),
    (89, "An Giang"),
    (91, "Kiên Giang"),
    (92, "Cần Thơ"),
    (93, "Hậu Giang"),
    (94, "Sóc Trăng"),
    (95, "Bạc Liêu"),
    (96, "Cà Mau"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_is_valid_and_codes_ascend() {
        let config = RegionConfig::default();
        config.validate().unwrap();
        assert!(VIETNAM_PROVINCES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(config.name(79), Some("TP. Hồ Chí Minh"));
        assert_eq!(config.name(3), None);
    }

    #[test]
    fn a_choice_is_normalised_or_refused_with_its_reason() {
        let config = RegionConfig::default();
        assert_eq!(config.chosen(&[79, 74, 79]).unwrap(), vec![74, 79]);
        assert_eq!(config.chosen(&[79, 0]).unwrap(), vec![0]);
        assert!(config.chosen(&[]).unwrap_err().0.contains("at least one"));
        assert!(config.chosen(&[3]).unwrap_err().0.contains("region 3"));
    }

    #[test]
    fn a_bad_list_is_refused() {
        let mut config = RegionConfig::default();
        config.regions.push(Region {
            code: 79,
            name: "again".into(),
        });
        assert!(config.validate().unwrap_err().0.contains("twice"));
        let config = RegionConfig {
            default_trace: Some(vec![3]),
            ..RegionConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .0
                .contains("default_trace_regions")
        );
        let config = RegionConfig {
            regions: vec![Region {
                code: 0,
                name: "x".into(),
            }],
            default_trace: Some(vec![0]),
            districts: Vec::new(),
        };
        assert!(config.validate().unwrap_err().0.contains("code 0"));
    }

    #[test]
    fn trace_defaults_to_the_province_unless_configured() {
        let mut config = RegionConfig::default();
        assert_eq!(config.trace_default(79), vec![79]);
        // No province (a case from before facilities), or one no longer listed.
        assert_eq!(config.trace_default(0), vec![0]);
        assert_eq!(config.trace_default(3), vec![0]);
        config.default_trace = Some(vec![1, 79]);
        assert_eq!(config.trace_default(48), vec![1, 79]);
    }

    #[test]
    fn districts_are_named_with_their_province_or_shown_by_code() {
        let config = RegionConfig {
            districts: vec![District {
                code: 760,
                name: "Quận 1".into(),
                province: 79,
            }],
            ..RegionConfig::default()
        };
        config.validate().unwrap();
        assert_eq!(config.district_label(760), "Quận 1 (TP. Hồ Chí Minh)");
        assert_eq!(config.district_label(761), "761");
        let refused = |districts: Vec<District>| {
            let config = RegionConfig {
                districts,
                ..RegionConfig::default()
            };
            config.validate().unwrap_err().0
        };
        let d = |code, name: &str, province| District {
            code,
            name: name.into(),
            province,
        };
        assert!(refused(vec![d(1, "A", 3)]).contains("province 3"));
        assert!(refused(vec![d(1, "A", 1), d(1, "B", 1)]).contains("twice"));
        assert!(refused(vec![d(1, " ", 1)]).contains("1 to 64"));
    }
}
