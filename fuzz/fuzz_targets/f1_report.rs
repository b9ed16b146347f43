//! F1 reports and decoy reports. The input is parsed as is and zero-padded to the next size class; what parses
//! must re-encode to the same bytes, and verify (against an empty index) without panicking.
#![no_main]

use bluezone_protocol::{
    ContactHistoryStore, F1Report, PublicationIndex, REPORT_SIZE_CLASSES, ReportBody, RiskRule,
    NoClaims, decoy_report, parse_report_body, verify_report,
};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static INDEX: LazyLock<PublicationIndex> = LazyLock::new(|| PublicationIndex::new([1; 32]));
static HISTORY: LazyLock<ContactHistoryStore> =
    LazyLock::new(|| ContactHistoryStore::new(&[2; 32]));

fn check(bytes: &[u8]) {
    // What the server parses: a decoy, or exactly what `F1Report::parse` accepts.
    match parse_report_body(bytes) {
        Ok(ReportBody::Decoy) => assert_eq!(decoy_report(bytes.len()).unwrap(), bytes),
        Ok(ReportBody::F1(report)) => assert_eq!(F1Report::parse(bytes).unwrap(), *report),
        Err(_) => assert!(F1Report::parse(bytes).is_err()),
    }
    if let Ok(report) = F1Report::parse(bytes) {
        assert_eq!(report.to_bytes().unwrap(), bytes);
        assert!(verify_report(&report, &INDEX, &HISTORY, &RiskRule::default(), &NoClaims, |_| false).is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(&class) = REPORT_SIZE_CLASSES.iter().find(|&&c| c >= data.len()) {
        let mut padded = data.to_vec();
        padded.resize(class, 0);
        check(&padded);
    }
});
