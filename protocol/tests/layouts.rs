//! The byte layouts of SPEC.md §11 against the examples of SPEC.md §12, from their data files.

use bluezone_protocol::{
    Advertisement, AssociatedEncryptedMetadata, CompressedFilter, CompressedParams,
    RollingProximityId, SightingExport, SightingLog, UnixTime,
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

/// Filter kind 2 (SPEC.md §12.4): the parameters a server derives for 2^-8, the sorted values
/// and the coded bytes of `vectors/gcs-kind2-v1.txt`, which `vectors/gcs_check.py` computes
/// independently.
#[test]
fn compressed_filter_vector_of_the_spec() {
    let text = include_str!("vectors/gcs-kind2-v1.txt");
    let field = |name: &str| -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .collect()
    };
    let one = |name: &str| field(name)[0];
    let salt: [u8; 16] = hex::decode(one("salt")).unwrap().try_into().unwrap();
    let entries: Vec<[u8; 16]> = field("entry")
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
    let log2_inv_eps: i32 = one("log2_inv_eps").parse().unwrap();
    let params = CompressedParams::for_target(2f64.powi(-log2_inv_eps)).unwrap();
    assert_eq!(params.range, one("range").parse::<u32>().unwrap());
    assert_eq!(params.rice, one("rice").parse::<u8>().unwrap());
    let values: Vec<u64> = field("value").iter().map(|v| v.parse().unwrap()).collect();
    let coded = hex::decode(one("filter")).unwrap();

    let built = CompressedFilter::build(params, salt, &entries).unwrap();
    assert_eq!(built.as_bytes(), &coded[..]);
    assert_eq!(built.values().collect::<Vec<_>>(), values);
    let read = CompressedFilter::from_parts(params, salt, entries.len() as u32, &coded).unwrap();
    assert_eq!(read.values().collect::<Vec<_>>(), values);
    assert_eq!(read.count_contained(&entries), entries.len());
}
