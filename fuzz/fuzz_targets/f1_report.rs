//! F1 reports: parse anything; what parses must re-encode to the same bytes, and verify (against
//! an empty index) without panicking.
#![no_main]

use bluezone_protocol::{
    ContactHistoryStore, F1Report, PublicationIndex, RiskRule, verify_report,
};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static INDEX: LazyLock<PublicationIndex> = LazyLock::new(|| PublicationIndex::new([1; 32]));
static HISTORY: LazyLock<ContactHistoryStore> =
    LazyLock::new(|| ContactHistoryStore::new(&[2; 32]));

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = F1Report::parse(data) {
        assert_eq!(report.to_bytes().unwrap(), data);
        assert!(verify_report(&report, &INDEX, &HISTORY, &RiskRule::default(), |_| false).is_err());
    }
});
