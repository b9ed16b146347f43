//! F0 declaration codes: issued by a health worker when opening an F0 case, typed by the F0
//! into the phone app, and sent with the F0 upload.
//!
//! A code is 12 data characters from Crockford's base32 alphabet ([`ALPHABET`]), carrying 60
//! random bits, followed by one check character from the same alphabet. It is displayed as
//! `XXXX-XXXX-XXXX-C`; its canonical form is the 13 characters without dashes. Both forms are
//! valid [`bluezone_protocol::DeclarationCode`] text.
//!
//! The check character: with `v_k` the alphabet index of character `k` of the canonical form
//! (`k` from 0 to 12, check character last), it is the one for which
//! `Σ α^(12−k)·v_k = 0` in GF(32) = GF(2)\[x\]/(x⁵ + x² + 1), with α = x. As α has order 31,
//! the 13 weights are distinct and nonzero, so every single-character substitution and every
//! transposition of two distinct characters, adjacent or not, changes the sum and is detected.
//! (Luhn mod 32 was not used: it misses the adjacent transposition `0Z` ↔ `Z0`.)
//!
//! The console also shows the code as a QR code for the phone app to scan ([`qr_code`],
//! SPEC.md §7.4): its payload is the displayed form's 16 ASCII bytes, which the app uses as if
//! typed.

use std::fmt;

use rand_core::CryptoRng;

/// Crockford's base32 alphabet: the character at index `v` encodes the 5-bit value `v`.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Data characters in a code.
pub const DATA_CHARS: usize = 12;
/// Characters in the canonical form: the data characters and the check character.
pub const CANONICAL_LEN: usize = DATA_CHARS + 1;
/// Characters in the displayed form `XXXX-XXXX-XXXX-C`.
pub const DISPLAY_LEN: usize = CANONICAL_LEN + 3;

/// Bits of entropy in a code: 5 per data character.
pub const ENTROPY_BITS: u32 = 5 * DATA_CHARS as u32;

/// An F0 declaration code as issued to a health worker.
///
/// Its `Debug` form is redacted: a live code authorises an F0 upload.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCode {
    canonical: [u8; CANONICAL_LEN],
    display: String,
}

impl IssuedCode {
    /// Draw a fresh code: 60 uniformly random bits, then its check character.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> IssuedCode {
        let bits = rng.next_u64() >> (64 - ENTROPY_BITS);
        let mut values = [0u8; CANONICAL_LEN];
        for (i, v) in values[..DATA_CHARS].iter_mut().enumerate() {
            *v = ((bits >> (5 * (DATA_CHARS - 1 - i))) & 31) as u8;
        }
        values[DATA_CHARS] = check_value(&values[..DATA_CHARS]);
        let canonical = values.map(|v| ALPHABET[usize::from(v)]);
        let mut display = String::with_capacity(DISPLAY_LEN);
        for (i, &c) in canonical.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                display.push('-');
            }
            display.push(char::from(c));
        }
        IssuedCode { canonical, display }
    }

    /// The displayed form, `XXXX-XXXX-XXXX-C`, as shown to the health worker and the F0.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The canonical form: the 13 characters without dashes, as [`normalize`] returns it.
    pub fn canonical(&self) -> String {
        self.canonical.iter().map(|&c| char::from(c)).collect()
    }
}

impl fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuedCode(<redacted>)")
    }
}

/// The QR code of a declaration code in its displayed form `XXXX-XXXX-XXXX-C` (SPEC.md
/// §7.4): those 16 bytes as one alphanumeric-mode segment, version 1 (21 × 21 modules), error
/// correction level Q (a quarter of the code may be lost), drawn with a quiet zone of
/// [`QR_QUIET_ZONE`] modules. `None` for text that is no displayed form.
pub fn qr_code(display: &str) -> Option<qrcode::QrCode> {
    use qrcode::bits::Bits;
    use qrcode::{EcLevel, Version};
    let shape_ok = display.len() == DISPLAY_LEN
        && display.bytes().enumerate().all(|(i, b)| {
            if i % 5 == 4 {
                b == b'-'
            } else {
                ALPHABET.contains(&b)
            }
        });
    if !shape_ok {
        return None;
    }
    let mut bits = Bits::new(Version::Normal(1));
    bits.push_alphanumeric_data(display.as_bytes()).ok()?;
    bits.push_terminator(EcLevel::Q).ok()?;
    qrcode::QrCode::with_bits(bits, EcLevel::Q).ok()
}

/// Light modules around a QR code, as its standard asks (ISO/IEC 18004 §6.3.8).
pub const QR_QUIET_ZONE: usize = 4;

/// Why a typed code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeError {
    /// A character that is neither in the alphabet, nor a look-alike of one (`O`, `I`, `L`,
    /// either case), nor a separator (`-`, space).
    BadCharacter,
    /// Not 13 characters once separators are removed; carries the count found.
    BadLength(usize),
    /// The check character does not match the data characters: a typing error.
    BadCheckCharacter,
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::BadCharacter => {
                f.write_str("declaration code has a character outside its alphabet")
            }
            CodeError::BadLength(found) => write!(
                f,
                "declaration code has {found} characters, expected {CANONICAL_LEN}"
            ),
            CodeError::BadCheckCharacter => {
                f.write_str("declaration code check character does not match: a typing error")
            }
        }
    }
}

impl std::error::Error for CodeError {}

/// Turn a code as typed into its canonical form.
///
/// Removes `-` and spaces, uppercases ASCII letters, maps Crockford's look-alikes `O` → `0`
/// and `I`, `L` → `1`, then checks the length and the check character.
pub fn normalize(input: &str) -> Result<String, CodeError> {
    let mut values = [0u8; CANONICAL_LEN];
    let mut found = 0usize;
    for ch in input.chars() {
        if ch == '-' || ch == ' ' {
            continue;
        }
        let value = value_of(ch).ok_or(CodeError::BadCharacter)?;
        if let Some(slot) = values.get_mut(found) {
            *slot = value;
        }
        found += 1;
    }
    if found != CANONICAL_LEN {
        return Err(CodeError::BadLength(found));
    }
    if weighted_sum(&values) != 0 {
        return Err(CodeError::BadCheckCharacter);
    }
    Ok(values
        .iter()
        .map(|&v| char::from(ALPHABET[usize::from(v)]))
        .collect())
}

/// The check value (alphabet index of the check character) of the data values `data`:
/// the one that makes [`weighted_sum`] of the whole code 0.
fn check_value(data: &[u8]) -> u8 {
    times_alpha(weighted_sum(data))
}

/// `Σ α^(n−1−k)·v_k` over the 5-bit values `v_0 .. v_(n−1)`, by Horner's rule.
fn weighted_sum(values: &[u8]) -> u8 {
    values.iter().fold(0, |acc, &v| times_alpha(acc) ^ (v & 31))
}

/// Multiplication by α = x in GF(2)\[x\]/(x⁵ + x² + 1), on 5-bit values.
fn times_alpha(v: u8) -> u8 {
    let shifted = (v & 31) << 1;
    if shifted & 32 != 0 {
        shifted ^ 0b10_0101
    } else {
        shifted
    }
}

/// The 5-bit value of one typed character, after uppercasing and look-alike mapping.
fn value_of(ch: char) -> Option<u8> {
    let upper = match ch.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    if !upper.is_ascii() {
        return None;
    }
    let byte = upper as u8;
    ALPHABET.iter().position(|&a| a == byte).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluezone_protocol::DeclarationCode;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// Alphabet indices of `chars`, or `None` if one is outside [`ALPHABET`].
    fn values(chars: &[u8]) -> Option<Vec<u8>> {
        chars
            .iter()
            .map(|&c| ALPHABET.iter().position(|&a| a == c).map(|v| v as u8))
            .collect()
    }

    fn is_consistent(chars: &[u8]) -> bool {
        values(chars).is_some_and(|v| weighted_sum(&v) == 0)
    }

    fn check_character(data: &[u8]) -> Option<u8> {
        values(data).map(|v| ALPHABET[usize::from(check_value(&v))])
    }

    fn codes(seed: u64, n: usize) -> Vec<IssuedCode> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..n).map(|_| IssuedCode::generate(&mut rng)).collect()
    }

    #[test]
    fn alpha_has_order_31_so_all_weights_are_distinct() {
        let mut seen = [false; 32];
        let mut p = 1u8;
        for _ in 0..31 {
            assert!(p != 0 && !seen[usize::from(p)]);
            seen[usize::from(p)] = true;
            p = times_alpha(p);
        }
        assert_eq!(p, 1);
    }

    #[test]
    fn generated_codes_have_the_documented_shape() {
        for code in codes(1, 200) {
            let d = code.display();
            assert_eq!(d.len(), DISPLAY_LEN);
            for (i, b) in d.bytes().enumerate() {
                if i % 5 == 4 {
                    assert_eq!(b, b'-');
                } else {
                    assert!(ALPHABET.contains(&b));
                }
            }
            let c = code.canonical();
            assert_eq!(c.len(), CANONICAL_LEN);
            assert_eq!(c, d.replace('-', ""));
            assert!(is_consistent(c.as_bytes()));
        }
    }

    #[test]
    fn both_forms_are_valid_protocol_declaration_codes() {
        for code in codes(2, 200) {
            let display = DeclarationCode::new(code.display()).unwrap();
            assert_eq!(display.as_str(), code.display());
            let canonical = DeclarationCode::new(&code.canonical()).unwrap();
            assert_eq!(canonical.as_str(), code.canonical());
        }
    }

    #[test]
    fn every_single_substitution_is_detected() {
        for code in codes(3, 300) {
            let canonical = code.canonical().into_bytes();
            for pos in 0..CANONICAL_LEN {
                for &sub in ALPHABET.iter().filter(|&&a| a != canonical[pos]) {
                    let mut typo = canonical.clone();
                    typo[pos] = sub;
                    assert!(!is_consistent(&typo));
                    let typed = String::from_utf8(typo).unwrap();
                    assert_eq!(normalize(&typed), Err(CodeError::BadCheckCharacter));
                }
            }
        }
    }

    #[test]
    fn every_adjacent_transposition_is_detected() {
        for code in codes(4, 300) {
            let canonical = code.canonical().into_bytes();
            for pos in 0..CANONICAL_LEN - 1 {
                if canonical[pos] == canonical[pos + 1] {
                    continue;
                }
                let mut typo = canonical.clone();
                typo.swap(pos, pos + 1);
                let typed = String::from_utf8(typo).unwrap();
                assert_eq!(normalize(&typed), Err(CodeError::BadCheckCharacter));
            }
        }
    }

    #[test]
    fn every_transposition_at_any_distance_is_detected() {
        for code in codes(5, 300) {
            let canonical = code.canonical().into_bytes();
            for i in 0..CANONICAL_LEN {
                for j in i + 1..CANONICAL_LEN {
                    if canonical[i] != canonical[j] {
                        let mut typo = canonical.clone();
                        typo.swap(i, j);
                        assert!(!is_consistent(&typo));
                    }
                }
            }
        }
    }

    #[test]
    fn the_transposition_luhn_mod_32_misses_is_detected() {
        let mut code = *b"ABCDEFGHJK0Z?";
        code[DATA_CHARS] = check_character(&code[..DATA_CHARS]).unwrap();
        assert!(is_consistent(&code));
        code.swap(10, 11);
        assert!(!is_consistent(&code));
    }

    #[test]
    fn normalize_accepts_typing_variants() {
        for code in codes(6, 100) {
            let canonical = code.canonical();
            let variants = [
                code.display().to_owned(),
                canonical.clone(),
                code.display().to_ascii_lowercase(),
                code.display().replace('-', " "),
                format!(" {} ", canonical.replace('0', "o").replace('1', "l")),
                canonical.replace('0', "O").replace('1', "i"),
                canonical.replace('1', "L"),
            ];
            for v in variants {
                assert_eq!(normalize(&v).as_deref(), Ok(canonical.as_str()), "{v:?}");
            }
        }
    }

    #[test]
    fn normalize_refuses_with_the_right_error() {
        let code = codes(7, 1).remove(0);
        let c = code.canonical();
        assert_eq!(normalize(""), Err(CodeError::BadLength(0)));
        assert_eq!(normalize("- -"), Err(CodeError::BadLength(0)));
        assert_eq!(normalize(&c[..12]), Err(CodeError::BadLength(12)));
        assert_eq!(normalize(&format!("{c}0")), Err(CodeError::BadLength(14)));
        assert_eq!(
            normalize(&"0".repeat(1000)),
            Err(CodeError::BadLength(1000))
        );
        for bad in ['U', 'u', '_', '.', 'é', '\0', '\t', '٣'] {
            let typed = format!("{}{bad}{}", &c[..6], &c[6..]);
            assert_eq!(normalize(&typed), Err(CodeError::BadCharacter), "{bad:?}");
        }
        // Thirteen zeros are consistent (the sum is 0), so a wrong check character is needed.
        assert_eq!(
            normalize("0000-0000-0000-0"),
            Ok("0000000000000".to_owned())
        );
        assert_eq!(
            normalize("0000-0000-0000-1"),
            Err(CodeError::BadCheckCharacter)
        );
    }

    #[test]
    fn the_qr_payload_is_the_displayed_form_in_one_version_1_q_code() {
        for code in codes(9, 50) {
            let qr = qr_code(code.display()).unwrap();
            assert_eq!(qr.version(), qrcode::Version::Normal(1));
            assert_eq!(qr.error_correction_level(), qrcode::EcLevel::Q);
            assert_eq!(qr.width(), 21);
            // The payload, as the app reads it, is a protocol declaration code and the same
            // code for the server.
            // Read back by a QR decoder from a picture of its modules, 4 pixels each.
            let (width, side) = (qr.width(), qr.width() + 2 * QR_QUIET_ZONE);
            let colors = qr.to_colors();
            let dark = |x: usize, y: usize| {
                let (x, y) = (x / 4, y / 4);
                (QR_QUIET_ZONE..QR_QUIET_ZONE + width).contains(&x)
                    && (QR_QUIET_ZONE..QR_QUIET_ZONE + width).contains(&y)
                    && colors[(y - QR_QUIET_ZONE) * width + x - QR_QUIET_ZONE]
                        == qrcode::Color::Dark
            };
            let mut picture =
                rqrr::PreparedImage::prepare_from_greyscale(4 * side, 4 * side, |x, y| {
                    if dark(x, y) { 0 } else { 255 }
                });
            let grids = picture.detect_grids();
            assert_eq!(grids.len(), 1);
            let (meta, read) = grids[0].decode().unwrap();
            assert_eq!(read, code.display());
            assert_eq!(meta.version.0, 1);
            assert_eq!(meta.ecc_level, 3, "Q, as the format bits say it");
            let payload = DeclarationCode::new(code.display()).unwrap();
            assert_eq!(payload.as_str(), code.display());
            assert_eq!(normalize(payload.as_str()), Ok(code.canonical()));
        }
        for not_displayed in [
            "",
            "ABCD",
            "abcd-efgh-jkmn-p",
            "ABCDEFGHJKMNP",
            "ABCD-EFGH-JKMN-U",
        ] {
            assert!(qr_code(not_displayed).is_none(), "{not_displayed}");
        }
    }

    #[test]
    fn debug_form_is_redacted() {
        let code = codes(8, 1).remove(0);
        let debug = format!("{code:?}");
        assert!(!debug.contains(&code.canonical()[..4]));
    }

    #[test]
    fn errors_display() {
        for e in [
            CodeError::BadCharacter,
            CodeError::BadLength(3),
            CodeError::BadCheckCharacter,
        ] {
            assert!(!e.to_string().is_empty());
        }
        assert!(CodeError::BadLength(3).to_string().contains('3'));
    }

    proptest! {
        #[test]
        fn normalize_of_display_is_canonical(seed in any::<u64>()) {
            let code = IssuedCode::generate(&mut ChaCha20Rng::seed_from_u64(seed));
            prop_assert_eq!(normalize(code.display()), Ok(code.canonical()));
            prop_assert_eq!(normalize(&code.canonical()), Ok(code.canonical()));
        }

        #[test]
        fn normalize_never_panics(input in any::<String>()) {
            let _ = normalize(&input);
        }

        #[test]
        fn normalize_accepts_exactly_the_consistent_codes(input in "[0-9A-Z -]{0,20}") {
            let stripped: Vec<u8> = input.bytes().filter(|&b| b != b'-' && b != b' ').collect();
            let result = normalize(&input);
            if stripped.iter().any(|&b| value_of(char::from(b)).is_none()) {
                prop_assert_eq!(result, Err(CodeError::BadCharacter));
            } else if stripped.len() != CANONICAL_LEN {
                prop_assert_eq!(result, Err(CodeError::BadLength(stripped.len())));
            } else {
                let canonical: Vec<u8> = stripped
                    .iter()
                    .map(|&b| ALPHABET[usize::from(value_of(char::from(b)).unwrap())])
                    .collect();
                if is_consistent(&canonical) {
                    prop_assert_eq!(result, Ok(String::from_utf8(canonical).unwrap()));
                } else {
                    prop_assert_eq!(result, Err(CodeError::BadCheckCharacter));
                }
            }
        }
    }
}
