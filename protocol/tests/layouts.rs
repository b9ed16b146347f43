//! The byte layouts of SPEC.md §11 against the examples of SPEC.md §12, from their data files.

use bluezone_protocol::{
    Advertisement, AssociatedEncryptedMetadata, RollingProximityId, SightingExport, SightingLog,
    UnixTime,
};
use bluezone_testkit::gaen::GaenVectors;

/// The hex bytes of a vector file: comments dropped, white space ignored.
fn hex_file(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).expect("vector file holds hex")
}

#[test]
fn sighting_export_example_of_the_spec() {
    let gaen = GaenVectors::official();
    let (_, rpi, aem) = gaen.intervals[0];
    let advertisement = Advertisement {
        rpi: RollingProximityId(rpi),
        aem: AssociatedEncryptedMetadata(aem),
    };
    let mut log = SightingLog::default();
    log.record(&advertisement, -60, UnixTime(1_585_785_660));
    log.record(&advertisement, -70, UnixTime(1_585_785_810));
    log.record(&advertisement, -51, UnixTime(1_585_785_960));

    let expected = hex_file(include_str!("vectors/sighting-export-v1.txt"));
    let export = SightingExport::from_log(&log);
    assert_eq!(export.to_bytes().unwrap(), expected);
    assert_eq!(SightingExport::parse(&expected).unwrap(), export);
}
