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
    verify_under(
        &verifying_key(box_id)?,
        message,
        &dalek_signature(signature),
    )
}

/// The box ID as an Ed25519 public key: any point on the curve, as Go's `ed25519.Verify`.
fn verifying_key(box_id: &BoxId) -> Result<ed25519_dalek::VerifyingKey> {
    ed25519_dalek::VerifyingKey::from_bytes(box_id.as_bytes())
        .map_err(|_| Error::InvalidPoint("box ID"))
}

fn dalek_signature(signature: &Signature) -> ed25519_dalek::Signature {
    ed25519_dalek::Signature::from_bytes(&signature.0)
}

/// The cofactorless check of one signature, recomputing `R` and comparing its encoding.
fn verify_under(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &ed25519_dalek::Signature,
) -> Result<()> {
    use ed25519_dalek::Verifier;
    key.verify(message, signature)
        .map_err(|_| Error::InvalidSignature)
}

/// Verifies many signatures at once, answering for each what [`verify`] would.
///
/// The items are checked with one Ed25519 batch equation (a random linear combination of the
/// individual equations, about a third cheaper per signature from eight items up); only if
/// that fails is each item verified on its own, so every answer names the right item. Box IDs
/// that are not points fail as in [`verify`], without spoiling the batch.
///
/// One corner differs from [`verify`], as for every Ed25519 batch verifier: a signature whose
/// equation is off by a point of small order (order at most 8) may pass in a batch although it
/// fails alone. Only whoever made the box ID can sign so (with its secret key, or by choosing a
/// box ID of small order, under which [`verify`] also accepts forgeries); readers of a box
/// verify it themselves.
pub fn verify_many(items: &[(&BoxId, &[u8], &Signature)]) -> Vec<Result<()>> {
    let keys: Vec<Result<ed25519_dalek::VerifyingKey>> =
        items.iter().map(|(id, _, _)| verifying_key(id)).collect();
    let signatures: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, sig)| dalek_signature(sig))
        .collect();
    let usable: Vec<usize> = (0..items.len()).filter(|&i| keys[i].is_ok()).collect();
    if usable.len() >= 2 {
        let messages: Vec<&[u8]> = usable.iter().map(|&i| items[i].1).collect();
        let sigs: Vec<ed25519_dalek::Signature> = usable.iter().map(|&i| signatures[i]).collect();
        let vks: Vec<ed25519_dalek::VerifyingKey> = usable
            .iter()
            .filter_map(|&i| keys[i].as_ref().ok().copied())
            .collect();
        if ed25519_dalek::verify_batch(&messages, &sigs, &vks).is_ok() {
            return keys.into_iter().map(|k| k.map(|_| ())).collect();
        }
    }
    // Some item fails (or there is at most one): each on its own. An invalid signature thus
    // costs a batch's work more, at most about 1.7 times the work of verifying each alone.
    keys.into_iter()
        .zip(items)
        .zip(&signatures)
        .map(|((key, (_, message, _)), sig)| verify_under(&key?, message, sig))
        .collect()
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
