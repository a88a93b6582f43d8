//! Blinded Ed25519 keys and the signature BACAP makes with a blinded secret scalar.

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::Scalar;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use crate::boxes::{BoxId, Signature, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::index::clamp;

/// The Ed25519 secret scalar of a 32-byte seed: `clamp(SHA-512(seed)[0..32]) mod L`.
pub(crate) fn root_secret_scalar(seed: &[u8; 32]) -> Scalar {
    let mut h: [u8; 64] = Sha512::digest(seed).into();
    let mut lower = [0u8; 32];
    lower.copy_from_slice(&h[0..32]);
    let scalar = Scalar::from_bytes_mod_order(clamp(lower));
    h.zeroize();
    lower.zeroize();
    scalar
}

/// Signs `message` with blinded secret scalar `s` whose public key is `public` (`s * G`).
///
/// The nonce is derived from the scalar itself, as the reference does:
/// `d = SHA-512(s)`, `r = SHA-512(d[32..64] || m || d[33..64]) mod L`.
pub(crate) fn sign(s: &Scalar, public: &BoxId, message: &[u8]) -> Signature {
    let mut d: [u8; 64] = Sha512::digest(s.as_bytes()).into();
    let mut h = Sha512::new();
    h.update(&d[32..64]);
    h.update(message);
    h.update(&d[33..64]);
    let mut r = Scalar::from_hash(h);
    d.zeroize();
    let big_r = (&r * ED25519_BASEPOINT_TABLE).compress();
    let mut h = Sha512::new();
    h.update(big_r.as_bytes());
    h.update(public.as_bytes());
    h.update(message);
    let k = Scalar::from_hash(h);
    let big_s = k * s + r;
    r.zeroize();
    let mut sig = [0u8; SIGNATURE_LEN];
    sig[0..32].copy_from_slice(big_r.as_bytes());
    sig[32..64].copy_from_slice(big_s.as_bytes());
    Signature(sig)
}

/// Ordinary Ed25519 verification (as Go's `ed25519.Verify`) of `signature` over `message`
/// under the box ID as public key. This is all storage needs: no capability at all.
pub fn verify(box_id: &BoxId, message: &[u8], signature: &Signature) -> Result<()> {
    use ed25519_dalek::Verifier;
    let key = ed25519_dalek::VerifyingKey::from_bytes(box_id.as_bytes())
        .map_err(|_| Error::InvalidPoint("box ID"))?;
    key.verify(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
        .map_err(|_| Error::InvalidSignature)
}

/// Decodes a compressed Edwards point that must be a usable public key: on the curve, in the
/// prime-order subgroup and not of small order.
pub(crate) fn decode_public_point(
    bytes: &[u8; 32],
    what: &'static str,
) -> Result<curve25519_dalek::EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes)
        .decompress()
        .ok_or(Error::InvalidPoint(what))?;
    if point.is_small_order() || !point.is_torsion_free() {
        return Err(Error::InvalidPoint(what));
    }
    Ok(point)
}
