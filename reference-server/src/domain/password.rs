//! Health-worker account passwords, stored as salted PBKDF2-HMAC-SHA256 hashes.
//!
//! Policy: a password has at least [`MIN_PASSWORD_CHARS`] characters and at most
//! [`MAX_PASSWORD_BYTES`] bytes of UTF-8; [`PasswordHash::new`] refuses others.

use std::fmt;
use std::num::NonZeroU32;

use rand_core::CryptoRng;
use ring::pbkdf2;

/// PBKDF2-HMAC-SHA256 iterations for new hashes: OWASP's 2023 recommendation for that PRF.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Fewest characters (Unicode scalar values) in a password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes in a password, as UTF-8.
pub const MAX_PASSWORD_BYTES: usize = 128;
/// Bytes of a hash's random salt.
pub const SALT_LEN: usize = 16;
/// Bytes of a derived hash.
pub const HASH_LEN: usize = 32;

static ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;

/// A new random password: 20 characters of Crockford's base32 alphabet in lower case, 100
/// bits. The first-start admin password and every reset are drawn with it.
pub fn random_password<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = [0u8; 20];
    rng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

/// A stored password hash: PBKDF2-HMAC-SHA256 of the password under a random salt.
///
/// Its `Debug` form shows the iteration count only.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PasswordHash {
    salt: [u8; SALT_LEN],
    iterations: u32,
    hash: [u8; HASH_LEN],
}

impl PasswordHash {
    /// Hash `password` with [`PBKDF2_ITERATIONS`] iterations and a fresh salt, after checking it
    /// against the policy.
    pub fn new<R: CryptoRng + ?Sized>(
        password: &str,
        rng: &mut R,
    ) -> Result<PasswordHash, PasswordError> {
        PasswordHash::with_iterations(password, non_zero(PBKDF2_ITERATIONS), rng)
    }

    /// As [`PasswordHash::new`] with `iterations` iterations (tests use small counts).
    pub fn with_iterations<R: CryptoRng + ?Sized>(
        password: &str,
        iterations: NonZeroU32,
        rng: &mut R,
    ) -> Result<PasswordHash, PasswordError> {
        check_policy(password)?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(ALGORITHM, iterations, &salt, password.as_bytes(), &mut hash);
        Ok(PasswordHash {
            salt,
            iterations: iterations.get(),
            hash,
        })
    }

    /// Whether `password` is the one hashed, compared in constant time.
    ///
    /// False without hashing for a password longer than [`MAX_PASSWORD_BYTES`] (none was
    /// ever stored) and for a stored iteration count of 0.
    pub fn verify(&self, password: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let Some(iterations) = NonZeroU32::new(self.iterations) else {
            return false;
        };
        pbkdf2::verify(
            ALGORITHM,
            iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }

    /// The iteration count this hash was made with; below [`PBKDF2_ITERATIONS`], rehash the
    /// password at the next successful login.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    TooLong,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::TooShort => {
                write!(f, "password has fewer than {MIN_PASSWORD_CHARS} characters")
            }
            PasswordError::TooLong => {
                write!(f, "password has more than {MAX_PASSWORD_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for PasswordError {}

/// Check `password` against the policy.
fn check_policy(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// `n` as a `NonZeroU32`, for the nonzero constant.
const fn non_zero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const TEST_ITERATIONS: NonZeroU32 = non_zero(1_000);
    const PASSWORD: &str = "correct horse battery staple";

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn default_iterations_meet_owasp_2023() {
        const { assert!(PBKDF2_ITERATIONS >= 600_000) };
        assert_eq!(non_zero(PBKDF2_ITERATIONS).get(), PBKDF2_ITERATIONS);
    }

    #[test]
    fn right_password_verifies_and_wrong_ones_do_not() {
        let h = PasswordHash::with_iterations(PASSWORD, TEST_ITERATIONS, &mut rng()).unwrap();
        assert_eq!(h.iterations(), 1_000);
        assert!(h.verify(PASSWORD));
        assert!(!h.verify("correct horse battery stapl"));
        assert!(!h.verify("correct horse battery staple "));
        assert!(!h.verify("Correct horse battery staple"));
        assert!(!h.verify(""));
        assert!(!h.verify(&"x".repeat(10_000)));
    }

    #[test]
    fn two_hashes_of_one_password_have_different_salts() {
        let mut rng = rng();
        let a = PasswordHash::with_iterations(PASSWORD, TEST_ITERATIONS, &mut rng).unwrap();
        let b = PasswordHash::with_iterations(PASSWORD, TEST_ITERATIONS, &mut rng).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash);
        assert_ne!(a, b);
        assert!(a.verify(PASSWORD) && b.verify(PASSWORD));
    }

    #[test]
    fn ring_pbkdf2_hmac_sha256_matches_rfc_7914() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P = "passwd", S = "salt", c = 1, dkLen = 64.
        let expected = hex::decode(
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
        )
        .unwrap();
        let mut out = [0u8; 64];
        pbkdf2::derive(ALGORITHM, NonZeroU32::MIN, b"salt", b"passwd", &mut out);
        assert_eq!(out[..], expected[..]);
        let mut first = [0u8; HASH_LEN];
        pbkdf2::derive(ALGORITHM, NonZeroU32::MIN, b"salt", b"passwd", &mut first);
        assert_eq!(first[..], expected[..HASH_LEN]);
        assert!(
            pbkdf2::verify(
                ALGORITHM,
                NonZeroU32::MIN,
                b"salt",
                b"passwd",
                &expected[..HASH_LEN]
            )
            .is_ok()
        );
    }

    #[test]
    fn verify_uses_the_stored_salt_and_iterations() {
        let mut hash = [0u8; HASH_LEN];
        let salt = [9u8; SALT_LEN];
        pbkdf2::derive(
            ALGORITHM,
            non_zero(3),
            &salt,
            PASSWORD.as_bytes(),
            &mut hash,
        );
        let h = PasswordHash {
            salt,
            iterations: 3,
            hash,
        };
        assert!(h.verify(PASSWORD));
        let mut other = h.clone();
        other.iterations = 4;
        assert!(!other.verify(PASSWORD));
        other = h.clone();
        other.salt[0] ^= 1;
        assert!(!other.verify(PASSWORD));
        other = h;
        other.iterations = 0;
        assert!(!other.verify(PASSWORD));
    }

    #[test]
    fn policy_bounds_length() {
        let mut rng = rng();
        let mut make = |p: &str| PasswordHash::with_iterations(p, NonZeroU32::MIN, &mut rng);
        assert_eq!(make("").unwrap_err(), PasswordError::TooShort);
        assert_eq!(make("elevenchars").unwrap_err(), PasswordError::TooShort);
        assert!(make("twelve chars").is_ok());
        // Twelve characters, 24 bytes: the minimum counts characters.
        assert!(make("ääääääääääää").is_ok());
        assert_eq!(make("äääääääääää").unwrap_err(), PasswordError::TooShort);
        assert!(make(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert_eq!(
            make(&"x".repeat(MAX_PASSWORD_BYTES + 1)).unwrap_err(),
            PasswordError::TooLong
        );
        // 65 two-byte characters: 130 bytes.
        assert_eq!(make(&"ä".repeat(65)).unwrap_err(), PasswordError::TooLong);
        assert!(!PasswordError::TooShort.to_string().is_empty());
        assert!(!PasswordError::TooLong.to_string().is_empty());
    }

    #[test]
    fn debug_does_not_show_the_hash() {
        let h = PasswordHash::with_iterations(PASSWORD, TEST_ITERATIONS, &mut rng()).unwrap();
        assert_eq!(format!("{h:?}"), "PasswordHash { iterations: 1000, .. }");
    }

    #[test]
    fn serde_round_trip() {
        let h = PasswordHash::with_iterations(PASSWORD, TEST_ITERATIONS, &mut rng()).unwrap();
        let json = serde_json::to_string(&h).unwrap();
        let back: PasswordHash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert!(back.verify(PASSWORD));
    }
}
