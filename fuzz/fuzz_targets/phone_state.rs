//! A phone's saved state (SPEC.md appendix A): restore anything without panicking, both as
//! sealed bytes (the parts read before authentication) and as a state sealed under the right
//! key (the state parser behind the AEAD); a state that restores saves to one that restores to
//! the same phone.
#![no_main]

use bluezone_protocol::{Phone, PhoneConfig, StateKey};
use libfuzzer_sys::fuzz_target;
use ring::{aead, hmac};

const KEY: [u8; 32] = [0x11; 32];

/// `state` sealed under `KEY` as SPEC.md appendix A.1 says, with the nonce 07 × 12.
fn seal(state: &[u8]) -> Vec<u8> {
    let check = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &KEY),
        b"bluezone phone state key check v1",
    );
    let mut out = b"BZ\x07\x01".to_vec();
    out.extend_from_slice(&check.as_ref()[..8]);
    out.extend_from_slice(&[7; 12]);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &KEY).unwrap());
    let mut body = state.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key([7; 12]),
        aead::Aad::from(&out.clone()),
        &mut body,
    )
    .unwrap();
    out.extend_from_slice(&body);
    out
}

/// A generator that returns its byte, for the nonce of a save.
struct Fixed;

impl rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0x0707_0707)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0x0707_0707_0707_0707)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(7);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Fixed {}

fuzz_target!(|data: &[u8]| {
    let key = StateKey::from_bytes(KEY);
    let _ = Phone::restore(data, &key, PhoneConfig::default());
    let sealed = seal(data);
    if let Ok(phone) = Phone::restore(&sealed, &key, PhoneConfig::default()) {
        // The encoding is canonical: saving the restored phone gives back the same bytes.
        let saved = phone.save(&key, &mut Fixed).unwrap();
        assert_eq!(saved, sealed);
    }
});
