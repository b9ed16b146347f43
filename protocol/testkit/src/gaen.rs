//! The GAEN v1.2 test vectors of `protocol/tests/vectors/gaen-v1.2.txt`: one parser for every
//! test that reads the file (the protocol's, the command-line tool's).

/// The text of `protocol/tests/vectors/gaen-v1.2.txt`.
pub const GAEN_V1_2: &str = include_str!("../../tests/vectors/gaen-v1.2.txt");

/// The contents of the vector file.
#[derive(Clone, Debug)]
pub struct GaenVectors {
    /// The daily key (TEK).
    pub tek: [u8; 16],
    /// RPIK derived from it.
    pub rpik: [u8; 16],
    /// AEMK derived from it.
    pub aemk: [u8; 16],
    /// The Bluetooth metadata encrypted into every AEM.
    pub metadata: [u8; 4],
    /// `(interval, rpi, aem)` for consecutive intervals.
    pub intervals: Vec<(u32, [u8; 16], [u8; 4])>,
}

impl GaenVectors {
    /// The official vectors: [`GAEN_V1_2`], parsed.
    pub fn official() -> GaenVectors {
        GaenVectors::parse(GAEN_V1_2)
    }

    /// Parse the file's text. Panics with the offending line on anything malformed: a broken
    /// vector file must fail the test that reads it.
    pub fn parse(text: &str) -> GaenVectors {
        let mut tek = None;
        let mut rpik = None;
        let mut aemk = None;
        let mut metadata = None;
        let mut intervals = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["tek", v] => tek = Some(hex_array(v, line)),
                ["rpik", v] => rpik = Some(hex_array(v, line)),
                ["aemk", v] => aemk = Some(hex_array(v, line)),
                ["metadata", v] => metadata = Some(hex_array(v, line)),
                [interval, rpi, aem] => intervals.push((
                    interval
                        .parse()
                        .unwrap_or_else(|_| panic!("bad interval in {line:?}")),
                    hex_array(rpi, line),
                    hex_array(aem, line),
                )),
                _ => panic!("unexpected line {line:?}"),
            }
        }
        GaenVectors {
            tek: tek.expect("tek line"),
            rpik: rpik.expect("rpik line"),
            aemk: aemk.expect("aemk line"),
            metadata: metadata.expect("metadata line"),
            intervals,
        }
    }
}

/// Decode `text` as exactly `N` bytes of hex; panics naming `line` otherwise.
pub fn hex_array<const N: usize>(text: &str, line: &str) -> [u8; N] {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| panic!("expected {N} bytes of hex in {line:?}"))
}
