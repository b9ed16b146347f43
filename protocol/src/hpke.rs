//! Hybrid Public Key Encryption (HPKE, RFC 9180), base mode, for exactly one
//! ciphersuite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM
//! (`kem_id` 0x0020, `kdf_id` 0x0001, `aead_id` 0x0001).
//!
//! A sender encrypts to a recipient's public key with [`setup_base_sender`],
//! which returns an [`EncapsulatedKey`] to transmit and a [`SenderContext`]
//! whose [`SenderContext::seal`] encrypts any number of messages. The
//! recipient passes the encapsulated key and its private key to
//! [`setup_base_receiver`] and decrypts the messages, in the order they were
//! sealed, with [`ReceiverContext::open`]. [`seal_base`] and [`open_base`] do
//! the same for a single message. Both contexts can also derive further
//! shared secrets with `export` (RFC 9180 §5.3).
//!
//! Base mode provides confidentiality and integrity towards the holder of the
//! recipient's private key; it does not authenticate the sender. The PSK,
//! Auth and AuthPSK modes are not implemented.
//!
//! Private keys, the X25519 and KEM shared secrets, the key schedule's secret and the contexts'
//! AEAD key and exporter secret are overwritten with zeros when dropped (see the crate's
//! "Secrets in memory" for what this does not cover); [`HpkePrivateKey`] is not `Clone`.
//!
//! Section numbers in comments refer to RFC 9180 unless stated otherwise.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::fmt;

use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::CryptoRng;
use ring::{aead, hmac};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// KEM identifier of DHKEM(X25519, HKDF-SHA256) (§7.1).
pub const KEM_ID: u16 = 0x0020;
/// KDF identifier of HKDF-SHA256 (§7.2).
pub const KDF_ID: u16 = 0x0001;
/// AEAD identifier of AES-128-GCM (§7.3).
pub const AEAD_ID: u16 = 0x0001;

/// Length in bytes of a serialized public key (`Npk`).
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length in bytes of a serialized private key (`Nsk`).
pub const PRIVATE_KEY_LEN: usize = 32;
/// Length in bytes of an encapsulated key (`Nenc`).
pub const ENCAPSULATED_KEY_LEN: usize = 32;
/// Length in bytes of the AEAD tag (`Nt`): a ciphertext is this much longer
/// than its plaintext.
pub const TAG_LEN: usize = 16;
/// Largest length accepted by `export`: 255 * `Nh` bytes (§5.3).
pub const MAX_EXPORT_LEN: usize = 255 * N_H;

/// Length of the KEM shared secret (`Nsecret`).
const N_SECRET: usize = 32;
/// Output length of HKDF-SHA256's Extract (`Nh`).
const N_H: usize = 32;
/// AES-128-GCM key length (`Nk`).
const N_K: usize = 16;
/// AES-128-GCM nonce length (`Nn`).
const N_N: usize = 12;

/// The sequence number at which a context is exhausted (§5.2): a context may
/// use the sequence numbers `0..MAX_SEQ`.
const MAX_SEQ: u128 = (1 << (8 * N_N)) - 1;

/// `mode_base` (§5.1).
const MODE_BASE: u8 = 0x00;
/// Base mode runs the key schedule with the empty default PSK and PSK id
/// (§5.1.1).
const DEFAULT_PSK: &[u8] = b"";
const DEFAULT_PSK_ID: &[u8] = b"";

/// Version label prefixed to every labeled KDF input (§4).
const HPKE_V1: &[u8] = b"HPKE-v1";
/// `suite_id` inside the KEM: concat("KEM", I2OSP(kem_id, 2)) (§4.1).
const KEM_SUITE_ID: &[u8] = &[b'K', b'E', b'M', 0x00, 0x20];
/// `suite_id` in the rest of HPKE: concat("HPKE", I2OSP(kem_id, 2),
/// I2OSP(kdf_id, 2), I2OSP(aead_id, 2)) (§5.1).
const HPKE_SUITE_ID: &[u8] = &[b'H', b'P', b'K', b'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x01];

/// Errors returned by the HPKE functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HpkeError {
    /// A public key was not [`PUBLIC_KEY_LEN`] bytes long.
    InvalidPublicKeyLength,
    /// A private key was not [`PRIVATE_KEY_LEN`] bytes long.
    InvalidPrivateKeyLength,
    /// An encapsulated key was not [`ENCAPSULATED_KEY_LEN`] bytes long.
    InvalidEncapsulatedKeyLength,
    /// The X25519 shared secret was all zeros, because the peer's public key
    /// or encapsulated key is a low-order point (§7.1.4).
    ZeroSharedSecret,
    /// A ciphertext could not be decrypted: wrong key, `info` or `aad`, a
    /// modified or truncated ciphertext, or a message opened out of order.
    OpenFailed,
    /// A plaintext could not be encrypted because it is longer than
    /// AES-128-GCM allows.
    SealFailed,
    /// The context has used all of its sequence numbers (§5.2); set up a new
    /// context.
    MessageLimitReached,
    /// The requested export length is larger than [`MAX_EXPORT_LEN`].
    ExportTooLong,
}

impl fmt::Display for HpkeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            Self::InvalidPublicKeyLength => "public key must be 32 bytes",
            Self::InvalidPrivateKeyLength => "private key must be 32 bytes",
            Self::InvalidEncapsulatedKeyLength => "encapsulated key must be 32 bytes",
            Self::ZeroSharedSecret => "X25519 shared secret is all zeros (low-order public key)",
            Self::OpenFailed => "HPKE decryption failed",
            Self::SealFailed => "HPKE encryption failed: plaintext too long",
            Self::MessageLimitReached => "HPKE context message limit reached",
            Self::ExportTooLong => "HPKE export length exceeds 255 * Nh bytes",
        };
        f.write_str(message)
    }
}

impl std::error::Error for HpkeError {}

/// An X25519 private key.
///
/// The bytes are kept as given and clamped (RFC 7748 §5) every time the key
/// is used, which is equivalent to the clamping on deserialization that
/// §7.1.2 asks for. [`HpkePrivateKey::to_bytes`] returns them unchanged, as
/// RFC 9180's test vectors do (see erratum 7121). `Debug` does not show the
/// key.
///
/// Not `Clone`; the bytes are overwritten with zeros when the key is dropped,
/// and by [`Zeroize::zeroize`].
pub struct HpkePrivateKey([u8; PRIVATE_KEY_LEN]);

impl HpkePrivateKey {
    /// Parses a private key, which must be exactly [`PRIVATE_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HpkeError> {
        <[u8; PRIVATE_KEY_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HpkeError::InvalidPrivateKeyLength)
    }

    /// Returns the serialized private key: a copy that the caller must wipe.
    pub fn to_bytes(&self) -> [u8; PRIVATE_KEY_LEN] {
        self.0
    }

    /// Returns the public key belonging to this private key.
    pub fn public_key(&self) -> HpkePublicKey {
        HpkePublicKey(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }
}

impl From<[u8; PRIVATE_KEY_LEN]> for HpkePrivateKey {
    fn from(bytes: [u8; PRIVATE_KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl Zeroize for HpkePrivateKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for HpkePrivateKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for HpkePrivateKey {}

impl fmt::Debug for HpkePrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HpkePrivateKey(<redacted>)")
    }
}

/// An X25519 public key.
///
/// Every 32-byte string is accepted here; a low-order key is rejected with
/// [`HpkeError::ZeroSharedSecret`] when it is used (§7.1.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HpkePublicKey([u8; PUBLIC_KEY_LEN]);

impl HpkePublicKey {
    /// Parses a public key, which must be exactly [`PUBLIC_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HpkeError> {
        <[u8; PUBLIC_KEY_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HpkeError::InvalidPublicKeyLength)
    }

    /// Returns the serialized public key.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }
}

impl From<[u8; PUBLIC_KEY_LEN]> for HpkePublicKey {
    fn from(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for HpkePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex_tuple(f, "HpkePublicKey", &self.0)
    }
}

/// The encapsulated key `enc` that a sender transmits with its ciphertexts:
/// the serialized ephemeral X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncapsulatedKey([u8; ENCAPSULATED_KEY_LEN]);

impl EncapsulatedKey {
    /// Parses an encapsulated key, which must be exactly
    /// [`ENCAPSULATED_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HpkeError> {
        <[u8; ENCAPSULATED_KEY_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HpkeError::InvalidEncapsulatedKeyLength)
    }

    /// Returns the serialized encapsulated key.
    pub fn as_bytes(&self) -> &[u8; ENCAPSULATED_KEY_LEN] {
        &self.0
    }
}

impl From<[u8; ENCAPSULATED_KEY_LEN]> for EncapsulatedKey {
    fn from(bytes: [u8; ENCAPSULATED_KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for EncapsulatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex_tuple(f, "EncapsulatedKey", &self.0)
    }
}

/// Writes `name(hex)`, for the `Debug` output of public values.
fn write_hex_tuple(f: &mut fmt::Formatter<'_>, name: &str, bytes: &[u8]) -> fmt::Result {
    write!(f, "{name}(")?;
    for byte in bytes {
        write!(f, "{byte:02x}")?;
    }
    f.write_str(")")
}

/// Generates a random key pair (GenerateKeyPair, §4).
pub fn generate_keypair<R: CryptoRng + ?Sized>(rng: &mut R) -> (HpkePrivateKey, HpkePublicKey) {
    let mut private_key = HpkePrivateKey([0; PRIVATE_KEY_LEN]);
    rng.fill_bytes(&mut private_key.0);
    let public_key = private_key.public_key();
    (private_key, public_key)
}

/// Derives a key pair deterministically from input keying material
/// (DeriveKeyPair for X25519, §7.1.3).
///
/// The key pair is only as strong as `ikm`, which should hold at least 32
/// bytes of entropy.
pub fn derive_keypair(ikm: &[u8]) -> (HpkePrivateKey, HpkePublicKey) {
    let dkp_prk = Zeroizing::new(labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm));
    let private_key = HpkePrivateKey(labeled_expand_array(KEM_SUITE_ID, &dkp_prk, b"sk", b""));
    let public_key = private_key.public_key();
    (private_key, public_key)
}

/// Returns the public key belonging to `private_key`.
pub fn public_key_from_private(private_key: &HpkePrivateKey) -> HpkePublicKey {
    private_key.public_key()
}

/// Sets up a context for encrypting to `recipient` (SetupBaseS, §5.1.1).
///
/// `info` binds the context to application-specific data and must be the
/// same on both sides. Send the returned [`EncapsulatedKey`] along with the
/// ciphertexts.
pub fn setup_base_sender<R: CryptoRng + ?Sized>(
    recipient: &HpkePublicKey,
    info: &[u8],
    rng: &mut R,
) -> Result<(EncapsulatedKey, SenderContext), HpkeError> {
    let (ephemeral, _) = generate_keypair(rng);
    setup_base_sender_with_ephemeral(recipient, info, &ephemeral)
}

/// Like [`setup_base_sender`], but with a caller-supplied ephemeral private
/// key instead of a random one, which makes the result deterministic.
///
/// This exists to check known-answer test vectors. The ephemeral key must be
/// fresh, secret and used for one setup only: reusing it breaks the security
/// of every context derived from it.
pub fn setup_base_sender_with_ephemeral(
    recipient: &HpkePublicKey,
    info: &[u8],
    ephemeral: &HpkePrivateKey,
) -> Result<(EncapsulatedKey, SenderContext), HpkeError> {
    let (shared_secret, enc) = encap(recipient, ephemeral)?;
    Ok((enc, SenderContext(key_schedule(&shared_secret, info))))
}

/// Sets up a context for decrypting what a sender sealed with `enc`
/// (SetupBaseR, §5.1.1).
pub fn setup_base_receiver(
    enc: &EncapsulatedKey,
    recipient: &HpkePrivateKey,
    info: &[u8],
) -> Result<ReceiverContext, HpkeError> {
    let shared_secret = decap(enc, recipient)?;
    Ok(ReceiverContext(key_schedule(&shared_secret, info)))
}

/// Encrypts a single message to `recipient` (SealBase, §6.1) and returns the
/// encapsulated key with the ciphertext.
pub fn seal_base<R: CryptoRng + ?Sized>(
    recipient: &HpkePublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(EncapsulatedKey, Vec<u8>), HpkeError> {
    let (enc, mut context) = setup_base_sender(recipient, info, rng)?;
    let ciphertext = context.seal(aad, plaintext)?;
    Ok((enc, ciphertext))
}

/// Decrypts a single message sealed with [`seal_base`] (OpenBase, §6.1).
pub fn open_base(
    enc: &EncapsulatedKey,
    recipient: &HpkePrivateKey,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, HpkeError> {
    setup_base_receiver(enc, recipient, info)?.open(aad, ciphertext)
}

/// The sender's encryption context (`ContextS`, §5.2).
///
/// Each [`seal`](Self::seal) uses the next sequence number; the receiver
/// must open the ciphertexts in the same order.
pub struct SenderContext(Context);

impl SenderContext {
    /// Encrypts `plaintext`, authenticating `aad` along with it, and returns
    /// the ciphertext ([`TAG_LEN`] bytes longer than the plaintext).
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, HpkeError> {
        self.0.seal(aad, plaintext)
    }

    /// Derives a secret of `length` bytes bound to `exporter_context`
    /// (§5.3); the receiver's context derives the same value.
    pub fn export(&self, exporter_context: &[u8], length: usize) -> Result<Vec<u8>, HpkeError> {
        self.0.export(exporter_context, length)
    }
}

impl fmt::Debug for SenderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted(f, "SenderContext")
    }
}

/// The recipient's decryption context (`ContextR`, §5.2).
///
/// Each successful [`open`](Self::open) moves on to the next sequence
/// number; a failed one does not, so a forged message does not desynchronize
/// the context.
pub struct ReceiverContext(Context);

impl ReceiverContext {
    /// Decrypts `ciphertext`, checking that it and `aad` are unmodified, and
    /// returns the plaintext.
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, HpkeError> {
        self.0.open(aad, ciphertext)
    }

    /// Derives a secret of `length` bytes bound to `exporter_context`
    /// (§5.3); the sender's context derives the same value.
    pub fn export(&self, exporter_context: &[u8], length: usize) -> Result<Vec<u8>, HpkeError> {
        self.0.export(exporter_context, length)
    }
}

impl fmt::Debug for ReceiverContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted(f, "ReceiverContext")
    }
}

/// The state shared by both context roles (§5.1, §5.2). Its secrets are
/// wiped when it is dropped.
struct Context {
    key: [u8; N_K],
    base_nonce: [u8; N_N],
    exporter_secret: [u8; N_H],
    seq: u128,
}

impl Drop for Context {
    fn drop(&mut self) {
        self.key.zeroize();
        self.base_nonce.zeroize();
        self.exporter_secret.zeroize();
    }
}

impl Context {
    fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, HpkeError> {
        let nonce = self.next_nonce()?;
        let mut in_out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        in_out.extend_from_slice(plaintext);
        self.aead_key()
            .and_then(|key| key.seal_in_place_append_tag(nonce, aead::Aad::from(aad), &mut in_out))
            .map_err(|_| HpkeError::SealFailed)?;
        self.seq += 1;
        Ok(in_out)
    }

    fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, HpkeError> {
        let nonce = self.next_nonce()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext_len = self
            .aead_key()
            .and_then(|key| key.open_in_place(nonce, aead::Aad::from(aad), &mut in_out))
            .map_err(|_| HpkeError::OpenFailed)?
            .len();
        in_out.truncate(plaintext_len);
        self.seq += 1;
        Ok(in_out)
    }

    fn export(&self, exporter_context: &[u8], length: usize) -> Result<Vec<u8>, HpkeError> {
        if length > MAX_EXPORT_LEN {
            return Err(HpkeError::ExportTooLong);
        }
        let mut exported = vec![0u8; length];
        labeled_expand(
            HPKE_SUITE_ID,
            &self.exporter_secret,
            b"sec",
            exporter_context,
            &mut exported,
        );
        Ok(exported)
    }

    /// The nonce for the current sequence number. The last sequence number
    /// is never used, so that the increment after a successful seal or open
    /// cannot overflow (IncrementSeq, §5.2).
    fn next_nonce(&self) -> Result<aead::Nonce, HpkeError> {
        if self.seq >= MAX_SEQ {
            return Err(HpkeError::MessageLimitReached);
        }
        Ok(aead::Nonce::assume_unique_for_key(compute_nonce(
            &self.base_nonce,
            self.seq,
        )))
    }

    fn aead_key(&self) -> Result<aead::LessSafeKey, ring::error::Unspecified> {
        aead::UnboundKey::new(&aead::AES_128_GCM, &self.key).map(aead::LessSafeKey::new)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        f.debug_struct(name)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// ComputeNonce (§5.2): xor(base_nonce, I2OSP(seq, Nn)).
fn compute_nonce(base_nonce: &[u8; N_N], seq: u128) -> [u8; N_N] {
    let mut nonce = *base_nonce;
    // I2OSP is big-endian, so the least significant byte of `seq` goes into
    // the last nonce byte. `seq` < 2^(8 * Nn), so no byte is left over.
    for (nonce_byte, seq_byte) in nonce.iter_mut().rev().zip(seq.to_le_bytes()) {
        *nonce_byte ^= seq_byte;
    }
    nonce
}

/// KeySchedule (§5.1) for base mode.
fn key_schedule(shared_secret: &[u8; N_SECRET], info: &[u8]) -> Context {
    let context = key_schedule_context(info);
    let secret = Zeroizing::new(key_schedule_secret(shared_secret));
    Context {
        key: labeled_expand_array(HPKE_SUITE_ID, &secret, b"key", &context),
        base_nonce: labeled_expand_array(HPKE_SUITE_ID, &secret, b"base_nonce", &context),
        exporter_secret: labeled_expand_array(HPKE_SUITE_ID, &secret, b"exp", &context),
        seq: 0,
    }
}

/// `key_schedule_context` = concat(mode, psk_id_hash, info_hash) (§5.1).
fn key_schedule_context(info: &[u8]) -> Vec<u8> {
    let psk_id_hash = labeled_extract(HPKE_SUITE_ID, b"", b"psk_id_hash", DEFAULT_PSK_ID);
    let info_hash = labeled_extract(HPKE_SUITE_ID, b"", b"info_hash", info);
    [&[MODE_BASE][..], &psk_id_hash, &info_hash].concat()
}

/// `secret` = LabeledExtract(shared_secret, "secret", psk) (§5.1).
fn key_schedule_secret(shared_secret: &[u8; N_SECRET]) -> [u8; N_H] {
    labeled_extract(HPKE_SUITE_ID, shared_secret, b"secret", DEFAULT_PSK)
}

/// Encap (§4.1) with the given ephemeral key: returns the KEM shared secret
/// and `enc`.
fn encap(
    recipient: &HpkePublicKey,
    ephemeral: &HpkePrivateKey,
) -> Result<(Zeroizing<[u8; N_SECRET]>, EncapsulatedKey), HpkeError> {
    let dh = x25519(ephemeral, &recipient.0)?;
    let enc = EncapsulatedKey(ephemeral.public_key().0);
    let shared_secret = extract_and_expand(&dh, &enc, recipient);
    Ok((shared_secret, enc))
}

/// Decap (§4.1): recovers the KEM shared secret from `enc`.
fn decap(
    enc: &EncapsulatedKey,
    recipient: &HpkePrivateKey,
) -> Result<Zeroizing<[u8; N_SECRET]>, HpkeError> {
    let dh = x25519(recipient, &enc.0)?;
    Ok(extract_and_expand(&dh, enc, &recipient.public_key()))
}

/// ExtractAndExpand (§4.1), with kem_context = concat(enc, pkRm).
fn extract_and_expand(
    dh: &[u8; 32],
    enc: &EncapsulatedKey,
    recipient: &HpkePublicKey,
) -> Zeroizing<[u8; N_SECRET]> {
    let eae_prk = Zeroizing::new(labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh));
    let kem_context = [enc.0, recipient.0].concat();
    Zeroizing::new(labeled_expand_array(
        KEM_SUITE_ID,
        &eae_prk,
        b"shared_secret",
        &kem_context,
    ))
}

/// DH(sk, pk) for X25519 (RFC 7748 §5), rejecting the all-zero result that
/// low-order public keys produce (§7.1.4).
fn x25519(
    private_key: &HpkePrivateKey,
    public_key: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let shared = Zeroizing::new(
        MontgomeryPoint(*public_key)
            .mul_clamped(private_key.0)
            .to_bytes(),
    );
    // OR all bytes together rather than returning at the first non-zero one.
    if shared.iter().fold(0, |acc, byte| acc | byte) == 0 {
        return Err(HpkeError::ZeroSharedSecret);
    }
    Ok(shared)
}

/// LabeledExtract (§4):
/// Extract(salt, concat("HPKE-v1", suite_id, label, ikm)).
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; N_H] {
    // HKDF-Extract(salt, ikm) is HMAC(salt, ikm) (RFC 5869 §2.2). An empty
    // salt needs no special case: HMAC pads its key with zeros, so the empty
    // salt and RFC 5869's default of Nh zero bytes give the same result.
    hmac_sha256(salt, &[HPKE_V1, suite_id, label, ikm])
}

/// LabeledExpand (§4) into a fixed-size array.
fn labeled_expand_array<const L: usize>(
    suite_id: &[u8],
    prk: &[u8; N_H],
    label: &[u8],
    info: &[u8],
) -> [u8; L] {
    const { assert!(L <= MAX_EXPORT_LEN) };
    let mut out = [0u8; L];
    labeled_expand(suite_id, prk, label, info, &mut out);
    out
}

/// LabeledExpand (§4), filling `out`:
/// Expand(prk, concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info), L)
/// with L = `out.len()`, which callers keep at most 255 * Nh.
fn labeled_expand(suite_id: &[u8], prk: &[u8; N_H], label: &[u8], info: &[u8], out: &mut [u8]) {
    debug_assert!(out.len() <= MAX_EXPORT_LEN);
    // Lossless: MAX_EXPORT_LEN < 2^16.
    let length = (out.len() as u16).to_be_bytes();
    // HKDF-Expand (RFC 5869 §2.3): T(0) = "",
    // T(i) = HMAC(prk, concat(T(i-1), labeled_info, i)), for i = 1..=255,
    // and the output is the first L bytes of T(1) | T(2) | ...
    let mut block = [0u8; N_H];
    for (counter, chunk) in (1..=u8::MAX).zip(out.chunks_mut(N_H)) {
        let previous: &[u8] = if counter == 1 { &[] } else { &block };
        block = hmac_sha256(
            prk,
            &[
                previous,
                &length,
                HPKE_V1,
                suite_id,
                label,
                info,
                &[counter],
            ],
        );
        for (out_byte, block_byte) in chunk.iter_mut().zip(&block) {
            *out_byte = *block_byte;
        }
    }
    // The last block holds output bytes (secrets, for the key schedule).
    block.zeroize();
}

/// HMAC-SHA256 of the concatenation of `message_parts`.
fn hmac_sha256(key: &[u8], message_parts: &[&[u8]]) -> [u8; N_H] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    for part in message_parts {
        context.update(part);
    }
    let mut tag = [0u8; N_H];
    // An HMAC-SHA256 tag is always Nh bytes long.
    tag.copy_from_slice(context.sign().as_ref());
    tag
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;
    use std::path::Path;

    use curve25519_dalek::constants::EIGHT_TORSION;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// The RFC 9180 Appendix A.1.1 vectors, relative to the crate root.
    const VECTOR_FILE: &str = "tests/vectors/rfc9180-a1-base.txt";

    fn hex(text: &str) -> Vec<u8> {
        assert!(text.len().is_multiple_of(2), "odd-length hex: {text}");
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("invalid hex"))
            .collect()
    }

    /// One `[section]` record of the vector file (its format is described in
    /// the file's header).
    struct Record {
        section: String,
        fields: BTreeMap<String, String>,
    }

    impl Record {
        fn text(&self, name: &str) -> &str {
            self.fields
                .get(name)
                .unwrap_or_else(|| panic!("[{}] record has no `{name}`", self.section))
        }

        fn bytes(&self, name: &str) -> Vec<u8> {
            hex(self.text(name))
        }

        fn array(&self, name: &str) -> [u8; 32] {
            self.bytes(name).try_into().expect("expected 32 bytes")
        }

        fn number<T: std::str::FromStr>(&self, name: &str) -> T {
            self.text(name)
                .parse()
                .unwrap_or_else(|_| panic!("`{name}` is not a number"))
        }
    }

    fn parse_vectors(text: &str) -> Vec<Record> {
        let mut records: Vec<Record> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                records.push(Record {
                    section: section.to_owned(),
                    fields: BTreeMap::new(),
                });
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let record = records.last_mut().expect("field before the first section");
            let previous = record
                .fields
                .insert(name.to_owned(), value.trim().to_owned());
            assert!(previous.is_none(), "duplicate field `{name}`");
        }
        records
    }

    /// The setup record, the encryption records and the export records.
    fn load_vectors() -> (Record, Vec<Record>, Vec<Record>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTOR_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut setup = Vec::new();
        let mut encryptions = Vec::new();
        let mut exports = Vec::new();
        for record in parse_vectors(&text) {
            match record.section.as_str() {
                "setup" => setup.push(record),
                "encryption" => encryptions.push(record),
                "export" => exports.push(record),
                other => panic!("unknown section [{other}]"),
            }
        }
        assert_eq!(setup.len(), 1, "expected exactly one [setup] record");
        // RFC 9180 A.1.1.1 lists sequence numbers 0, 1, 2, 4, 255 and 256;
        // A.1.1.2 lists three exports.
        assert_eq!(encryptions.len(), 6, "expected six [encryption] records");
        assert_eq!(exports.len(), 3, "expected three [export] records");
        (setup.remove(0), encryptions, exports)
    }

    /// The sender and receiver contexts of the vectors, and `enc`.
    fn vector_contexts(setup: &Record) -> (EncapsulatedKey, SenderContext, ReceiverContext) {
        let info = setup.bytes("info");
        let ephemeral = HpkePrivateKey::from(setup.array("skEm"));
        let recipient_public = HpkePublicKey::from(setup.array("pkRm"));
        let recipient_private = HpkePrivateKey::from(setup.array("skRm"));
        let (enc, sender) =
            setup_base_sender_with_ephemeral(&recipient_public, &info, &ephemeral).unwrap();
        let receiver = setup_base_receiver(&enc, &recipient_private, &info).unwrap();
        (enc, sender, receiver)
    }

    #[test]
    fn rfc9180_a1_1_key_pairs_and_key_schedule() {
        let (setup, _, _) = load_vectors();
        assert_eq!(setup.number::<u8>("mode"), MODE_BASE);
        assert_eq!(setup.number::<u16>("kem_id"), KEM_ID);
        assert_eq!(setup.number::<u16>("kdf_id"), KDF_ID);
        assert_eq!(setup.number::<u16>("aead_id"), AEAD_ID);

        let (sk_e, pk_e) = derive_keypair(&setup.bytes("ikmE"));
        assert_eq!(sk_e.to_bytes(), setup.array("skEm"));
        assert_eq!(pk_e.as_bytes(), &setup.array("pkEm"));
        let (sk_r, pk_r) = derive_keypair(&setup.bytes("ikmR"));
        assert_eq!(sk_r.to_bytes(), setup.array("skRm"));
        assert_eq!(pk_r.as_bytes(), &setup.array("pkRm"));
        assert_eq!(public_key_from_private(&sk_r), pk_r);

        let (shared_secret, enc) = encap(&pk_r, &sk_e).unwrap();
        assert_eq!(enc.as_bytes(), &setup.array("enc"));
        assert_eq!(*shared_secret, setup.array("shared_secret"));
        assert_eq!(decap(&enc, &sk_r).unwrap(), shared_secret);

        let info = setup.bytes("info");
        assert_eq!(
            key_schedule_context(&info),
            setup.bytes("key_schedule_context")
        );
        assert_eq!(key_schedule_secret(&shared_secret), setup.array("secret"));

        let (enc, sender, receiver) = vector_contexts(&setup);
        assert_eq!(enc.as_bytes(), &setup.array("enc"));
        for context in [&sender.0, &receiver.0] {
            assert_eq!(context.key.to_vec(), setup.bytes("key"));
            assert_eq!(context.base_nonce.to_vec(), setup.bytes("base_nonce"));
            assert_eq!(context.exporter_secret, setup.array("exporter_secret"));
            assert_eq!(context.seq, 0);
        }
    }

    #[test]
    fn zeroize_wipes_a_private_key() {
        let (mut private_key, public_key) = derive_keypair(b"a unit's key material");
        assert_ne!(private_key.to_bytes(), [0; PRIVATE_KEY_LEN]);
        private_key.zeroize();
        assert_eq!(private_key.to_bytes(), [0; PRIVATE_KEY_LEN]);
        assert_ne!(private_key.public_key(), public_key);
    }

    #[test]
    fn rfc9180_a1_1_encryptions() {
        let (setup, encryptions, _) = load_vectors();
        let (_, mut sender, mut receiver) = vector_contexts(&setup);
        let last_seq = encryptions
            .iter()
            .map(|r| r.number::<u128>("seq"))
            .max()
            .unwrap();
        let mut checked = 0;
        for seq in 0..=last_seq {
            assert_eq!(sender.0.seq, seq);
            assert_eq!(receiver.0.seq, seq);
            match encryptions.iter().find(|r| r.number::<u128>("seq") == seq) {
                Some(vector) => {
                    let (pt, aad, ct) =
                        (vector.bytes("pt"), vector.bytes("aad"), vector.bytes("ct"));
                    assert_eq!(
                        compute_nonce(&sender.0.base_nonce, seq).to_vec(),
                        vector.bytes("nonce"),
                        "nonce at seq {seq}"
                    );
                    assert_eq!(sender.seal(&aad, &pt).unwrap(), ct, "ct at seq {seq}");
                    assert_eq!(receiver.open(&aad, &ct).unwrap(), pt, "pt at seq {seq}");
                    checked += 1;
                }
                None => {
                    // Sequence numbers the RFC does not list: just advance
                    // both contexts.
                    let ct = sender.seal(b"", b"").unwrap();
                    receiver.open(b"", &ct).unwrap();
                }
            }
        }
        assert_eq!(checked, encryptions.len());
    }

    #[test]
    fn rfc9180_a1_1_exports() {
        let (setup, _, exports) = load_vectors();
        let (_, sender, receiver) = vector_contexts(&setup);
        for vector in &exports {
            let exporter_context = vector.bytes("exporter_context");
            let length = vector.number::<usize>("L");
            let expected = vector.bytes("exported_value");
            assert_eq!(sender.export(&exporter_context, length).unwrap(), expected);
            assert_eq!(
                receiver.export(&exporter_context, length).unwrap(),
                expected
            );
        }
    }

    fn rng(seed: u8) -> ChaCha20Rng {
        ChaCha20Rng::from_seed([seed; 32])
    }

    /// A fresh recipient key pair, `enc` and both contexts.
    fn session(
        info: &[u8],
    ) -> (
        HpkePrivateKey,
        EncapsulatedKey,
        SenderContext,
        ReceiverContext,
    ) {
        let mut rng = rng(7);
        let (sk_r, pk_r) = generate_keypair(&mut rng);
        let (enc, sender) = setup_base_sender(&pk_r, info, &mut rng).unwrap();
        let receiver = setup_base_receiver(&enc, &sk_r, info).unwrap();
        (sk_r, enc, sender, receiver)
    }

    #[test]
    fn single_shot_round_trip() {
        let mut rng = rng(1);
        let (sk_r, pk_r) = generate_keypair(&mut rng);
        let (enc, ct) = seal_base(&pk_r, b"info", b"aad", b"hello", &mut rng).unwrap();
        assert_eq!(ct.len(), b"hello".len() + TAG_LEN);
        assert_eq!(
            open_base(&enc, &sk_r, b"info", b"aad", &ct).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn wrong_recipient_key_cannot_open() {
        let mut rng = rng(2);
        let (_, pk_r) = generate_keypair(&mut rng);
        let (other_sk, _) = generate_keypair(&mut rng);
        let (enc, ct) = seal_base(&pk_r, b"info", b"aad", b"secret", &mut rng).unwrap();
        assert_eq!(
            open_base(&enc, &other_sk, b"info", b"aad", &ct),
            Err(HpkeError::OpenFailed)
        );
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let (_, _, mut sender, mut receiver) = session(b"info");
        let ct = sender.seal(b"aad", b"attack at dawn").unwrap();
        for bit in 0..ct.len() * 8 {
            let mut tampered = ct.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(receiver.open(b"aad", &tampered), Err(HpkeError::OpenFailed));
        }
        // Failed opens leave the sequence number alone.
        assert_eq!(receiver.open(b"aad", &ct).unwrap(), b"attack at dawn");
    }

    #[test]
    fn truncated_or_extended_ciphertext_is_rejected() {
        let (_, _, mut sender, mut receiver) = session(b"info");
        let ct = sender.seal(b"aad", b"attack at dawn").unwrap();
        for len in 0..ct.len() {
            assert_eq!(
                receiver.open(b"aad", &ct[..len]),
                Err(HpkeError::OpenFailed)
            );
        }
        let mut extended = ct.clone();
        extended.push(0);
        assert_eq!(receiver.open(b"aad", &extended), Err(HpkeError::OpenFailed));
        assert_eq!(receiver.open(b"aad", &ct).unwrap(), b"attack at dawn");
    }

    #[test]
    fn tampered_aad_is_rejected() {
        let (_, _, mut sender, mut receiver) = session(b"info");
        let ct = sender.seal(b"aad", b"attack at dawn").unwrap();
        for aad in [&b""[..], b"aae", b"aad\0", b"AAD"] {
            assert_eq!(receiver.open(aad, &ct), Err(HpkeError::OpenFailed));
        }
    }

    #[test]
    fn tampered_enc_is_rejected() {
        let mut rng = rng(3);
        let (sk_r, pk_r) = generate_keypair(&mut rng);
        let (enc, ct) = seal_base(&pk_r, b"info", b"aad", b"attack at dawn", &mut rng).unwrap();
        // Every bit counts, including the top bit that X25519 itself ignores:
        // `enc` is also hashed into the shared secret.
        for bit in 0..ENCAPSULATED_KEY_LEN * 8 {
            let mut tampered = *enc.as_bytes();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let result = open_base(&tampered.into(), &sk_r, b"info", b"aad", &ct);
            assert!(
                matches!(
                    result,
                    Err(HpkeError::OpenFailed | HpkeError::ZeroSharedSecret)
                ),
                "bit {bit}: {result:?}"
            );
        }
    }

    #[test]
    fn different_info_is_rejected() {
        let mut rng = rng(4);
        let (sk_r, pk_r) = generate_keypair(&mut rng);
        let (enc, ct) = seal_base(&pk_r, b"info", b"aad", b"attack at dawn", &mut rng).unwrap();
        assert_eq!(
            open_base(&enc, &sk_r, b"infO", b"aad", &ct),
            Err(HpkeError::OpenFailed)
        );
    }

    #[test]
    fn messages_must_be_opened_in_order() {
        let (_, _, mut sender, mut receiver) = session(b"info");
        let first = sender.seal(b"", b"first").unwrap();
        let second = sender.seal(b"", b"second").unwrap();
        assert_eq!(receiver.open(b"", &second), Err(HpkeError::OpenFailed));
        assert_eq!(receiver.open(b"", &first).unwrap(), b"first");
        assert_eq!(receiver.open(b"", &first), Err(HpkeError::OpenFailed));
        assert_eq!(receiver.open(b"", &second).unwrap(), b"second");
    }

    /// Encodings of low-order points, for which X25519 with any clamped
    /// scalar yields zero: the eight torsion points, and the non-canonical
    /// encodings p and p + 1 of 0 and 1, each also with the ignored top bit
    /// set.
    fn low_order_encodings() -> Vec<[u8; 32]> {
        let mut points: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|point| point.to_montgomery().to_bytes())
            .collect();
        // p = 2^255 - 19, little-endian.
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut p_plus_one = p;
        p_plus_one[0] = 0xee;
        points.extend([p, p_plus_one]);
        let with_top_bit: Vec<[u8; 32]> = points
            .iter()
            .map(|point| {
                let mut point = *point;
                point[31] |= 0x80;
                point
            })
            .collect();
        points.extend(with_top_bit);
        assert!(points.contains(&[0; 32]));
        points
    }

    #[test]
    fn low_order_public_key_is_rejected() {
        let mut rng = rng(5);
        for point in low_order_encodings() {
            let public_key = HpkePublicKey::from(point);
            assert_eq!(
                setup_base_sender(&public_key, b"info", &mut rng).err(),
                Some(HpkeError::ZeroSharedSecret),
                "{public_key:?}"
            );
            assert_eq!(
                seal_base(&public_key, b"", b"", b"pt", &mut rng).err(),
                Some(HpkeError::ZeroSharedSecret)
            );
        }
    }

    #[test]
    fn low_order_encapsulated_key_is_rejected() {
        let (sk_r, _) = generate_keypair(&mut rng(6));
        for point in low_order_encodings() {
            let enc = EncapsulatedKey::from(point);
            assert_eq!(
                setup_base_receiver(&enc, &sk_r, b"info").err(),
                Some(HpkeError::ZeroSharedSecret),
                "{enc:?}"
            );
            assert_eq!(
                open_base(&enc, &sk_r, b"", b"", &[0; TAG_LEN]),
                Err(HpkeError::ZeroSharedSecret)
            );
        }
    }

    #[test]
    fn message_limit_is_enforced() {
        let (_, _, mut sender, mut receiver) = session(b"info");
        sender.0.seq = MAX_SEQ - 1;
        receiver.0.seq = MAX_SEQ - 1;
        let ct = sender.seal(b"", b"last").unwrap();
        assert_eq!(receiver.open(b"", &ct).unwrap(), b"last");
        assert_eq!(
            sender.seal(b"", b"one more"),
            Err(HpkeError::MessageLimitReached)
        );
        assert_eq!(receiver.open(b"", &ct), Err(HpkeError::MessageLimitReached));
        assert_eq!(sender.0.seq, MAX_SEQ);
    }

    #[test]
    fn nonce_is_base_nonce_xor_big_endian_seq() {
        let base = [0xff; N_N];
        let mut expected = base;
        expected[N_N - 1] = 0xfe;
        expected[N_N - 2] = 0xfd;
        assert_eq!(compute_nonce(&base, 0x0201), expected);
        assert_eq!(compute_nonce(&base, MAX_SEQ), [0; N_N]);
    }

    #[test]
    fn export_length_is_limited() {
        let (_, _, sender, receiver) = session(b"info");
        let longest = sender.export(b"ctx", MAX_EXPORT_LEN).unwrap();
        assert_eq!(longest.len(), MAX_EXPORT_LEN);
        assert_eq!(receiver.export(b"ctx", MAX_EXPORT_LEN).unwrap(), longest);
        // LabeledExpand hashes the length too, so a shorter export is not a
        // prefix of a longer one.
        assert_ne!(sender.export(b"ctx", 100).unwrap(), longest[..100]);
        assert!(sender.export(b"ctx", 0).unwrap().is_empty());
        assert_eq!(
            sender.export(b"ctx", MAX_EXPORT_LEN + 1),
            Err(HpkeError::ExportTooLong)
        );
        assert_eq!(
            receiver.export(b"ctx", usize::MAX),
            Err(HpkeError::ExportTooLong)
        );
    }

    #[test]
    fn keys_must_have_the_right_length() {
        for len in [0, 31, 33, 64] {
            let bytes = vec![1; len];
            assert_eq!(
                HpkePublicKey::from_bytes(&bytes),
                Err(HpkeError::InvalidPublicKeyLength)
            );
            assert_eq!(
                HpkePrivateKey::from_bytes(&bytes).err().unwrap(),
                HpkeError::InvalidPrivateKeyLength
            );
            assert_eq!(
                EncapsulatedKey::from_bytes(&bytes),
                Err(HpkeError::InvalidEncapsulatedKeyLength)
            );
        }
        let bytes = [9; 32];
        assert_eq!(
            HpkePublicKey::from_bytes(&bytes).unwrap().as_bytes(),
            &bytes
        );
        assert_eq!(
            HpkePrivateKey::from_bytes(&bytes).unwrap().to_bytes(),
            bytes
        );
        assert_eq!(
            EncapsulatedKey::from_bytes(&bytes).unwrap().as_bytes(),
            &bytes
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let (sk_r, enc, sender, receiver) = session(b"info");
        assert_eq!(format!("{sk_r:?}"), "HpkePrivateKey(<redacted>)");
        let sk_hex: String = sk_r.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let key_hex: String = sender.0.key.iter().map(|b| format!("{b:02x}")).collect();
        for output in [format!("{sender:?}"), format!("{receiver:?}")] {
            assert!(output.contains("seq: 0"), "{output}");
            assert!(!output.contains(&sk_hex) && !output.contains(&key_hex));
        }
        let enc_hex: String = enc.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(format!("{enc:?}"), format!("EncapsulatedKey({enc_hex})"));
    }

    #[test]
    fn errors_display_a_message() {
        let errors = [
            HpkeError::InvalidPublicKeyLength,
            HpkeError::InvalidPrivateKeyLength,
            HpkeError::InvalidEncapsulatedKeyLength,
            HpkeError::ZeroSharedSecret,
            HpkeError::OpenFailed,
            HpkeError::SealFailed,
            HpkeError::MessageLimitReached,
            HpkeError::ExportTooLong,
        ];
        for error in errors {
            let error: Box<dyn std::error::Error> = Box::new(error);
            assert!(!error.to_string().is_empty());
        }
    }

    proptest! {
        #[test]
        fn prop_seal_open_round_trip(
            seed in any::<[u8; 32]>(),
            info in proptest::collection::vec(any::<u8>(), 0..64),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            plaintext in proptest::collection::vec(any::<u8>(), 0..1024),
        ) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let (sk_r, pk_r) = generate_keypair(&mut rng);
            let (enc, ct) = seal_base(&pk_r, &info, &aad, &plaintext, &mut rng).unwrap();
            prop_assert_eq!(ct.len(), plaintext.len() + TAG_LEN);
            prop_assert_eq!(open_base(&enc, &sk_r, &info, &aad, &ct).unwrap(), plaintext);
        }

        #[test]
        fn prop_context_round_trip(
            seed in any::<[u8; 32]>(),
            info in proptest::collection::vec(any::<u8>(), 0..64),
            messages in proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..32),
                    proptest::collection::vec(any::<u8>(), 0..256),
                ),
                1..8,
            ),
            exporter_context in proptest::collection::vec(any::<u8>(), 0..32),
            export_len in 0..=MAX_EXPORT_LEN,
        ) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let (sk_r, pk_r) = generate_keypair(&mut rng);
            let (enc, mut sender) = setup_base_sender(&pk_r, &info, &mut rng).unwrap();
            let mut receiver = setup_base_receiver(&enc, &sk_r, &info).unwrap();
            let ciphertexts: Vec<Vec<u8>> = messages
                .iter()
                .map(|(aad, pt)| sender.seal(aad, pt).unwrap())
                .collect();
            for ((aad, pt), ct) in messages.iter().zip(&ciphertexts) {
                prop_assert_eq!(&receiver.open(aad, ct).unwrap(), pt);
            }
            prop_assert_eq!(
                sender.export(&exporter_context, export_len).unwrap(),
                receiver.export(&exporter_context, export_len).unwrap()
            );
        }

        #[test]
        fn prop_key_derivation_is_deterministic(
            ikm in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let (sk1, pk1) = derive_keypair(&ikm);
            let (sk2, pk2) = derive_keypair(&ikm);
            prop_assert_eq!(sk1.to_bytes(), sk2.to_bytes());
            prop_assert_eq!(pk1, pk2);
            prop_assert_eq!(public_key_from_private(&sk1), pk1);
        }

        #[test]
        fn prop_untrusted_input_is_rejected_without_panicking(
            enc in any::<[u8; 32]>(),
            sk_r in any::<[u8; 32]>(),
            info in proptest::collection::vec(any::<u8>(), 0..32),
            aad in proptest::collection::vec(any::<u8>(), 0..32),
            ciphertext in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let result = open_base(&enc.into(), &sk_r.into(), &info, &aad, &ciphertext);
            prop_assert!(
                matches!(result, Err(HpkeError::OpenFailed | HpkeError::ZeroSharedSecret)),
                "{:?}",
                result
            );
        }
    }
}
