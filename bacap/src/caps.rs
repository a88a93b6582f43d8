//! WriteCap and ReadCap: the capabilities to write and to read a BACAP stream.

use core::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::traits::BasepointTable;
use curve25519_dalek::{EdwardsPoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::aead;
use crate::blinding::{decode_public_point, root_secret_scalar, sign, verify};
use crate::boxes::{BoxId, Opened, SealedBox, Signature};
use crate::error::{Error, Result};
use crate::index::{MessageBoxIndex, MESSAGE_BOX_INDEX_LEN};

/// Length of a ReadCap's binary encoding.
pub const READ_CAP_LEN: usize = 32 + MESSAGE_BOX_INDEX_LEN;
/// Length of a WriteCap's binary encoding.
pub const WRITE_CAP_LEN: usize = 64 + MESSAGE_BOX_INDEX_LEN;

fn short_hex(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The capability to write a stream: the root signing key and the stream's first index.
///
/// Encoding (168 bytes): `seed (32) || public key (32) || first MessageBoxIndex (104)`.
pub struct WriteCap {
    seed: Zeroizing<[u8; 32]>,
    root_public: [u8; 32],
    root_secret: Scalar,
    first_index: MessageBoxIndex,
}

impl Drop for WriteCap {
    fn drop(&mut self) {
        self.root_secret.zeroize();
    }
}

impl Clone for WriteCap {
    fn clone(&self) -> Self {
        Self {
            seed: self.seed.clone(),
            root_public: self.root_public,
            root_secret: self.root_secret,
            first_index: self.first_index.clone(),
        }
    }
}

impl PartialEq for WriteCap {
    fn eq(&self, other: &Self) -> bool {
        *self.seed == *other.seed && self.first_index == other.first_index
    }
}
impl Eq for WriteCap {}

impl WriteCap {
    /// A new stream from `rng`: a fresh signing key, a random KDF state and a random starting
    /// counter with its two top bits clear (so it can never wrap in practice), advanced once.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let mut kdf_state = [0u8; 32];
        rng.fill_bytes(&mut kdf_state);
        let start = rng.next_u64() & (u64::MAX >> 2);
        let seed_index = MessageBoxIndex::from_parts(start, [0; 32], [0; 32], kdf_state);
        kdf_state.zeroize();
        let first_index = seed_index
            .next()
            .expect("a counter below 2^62 does not overflow");
        Self::from_seed(seed, first_index)
    }

    fn from_seed(seed: Zeroizing<[u8; 32]>, first_index: MessageBoxIndex) -> Self {
        let root_secret = root_secret_scalar(&seed);
        let root_public = (&root_secret * ED25519_BASEPOINT_TABLE)
            .compress()
            .to_bytes();
        Self {
            seed,
            root_public,
            root_secret,
            first_index,
        }
    }

    /// Decodes the 168-byte encoding, checking that the public key is a valid point and is the
    /// one that belongs to the private seed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != WRITE_CAP_LEN {
            return Err(Error::InvalidLength {
                what: "write cap",
                expected: WRITE_CAP_LEN,
                got: bytes.len(),
            });
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[0..32]);
        let public: [u8; 32] = bytes[32..64].try_into().expect("32 bytes");
        decode_public_point(&public, "write cap public key")?;
        let cap = Self::from_seed(seed, MessageBoxIndex::from_bytes(&bytes[64..])?);
        if cap.root_public != public {
            return Err(Error::KeyMismatch);
        }
        Ok(cap)
    }

    /// The 168-byte encoding. It is secret; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<[u8; WRITE_CAP_LEN]> {
        let mut out = Zeroizing::new([0u8; WRITE_CAP_LEN]);
        out[0..32].copy_from_slice(self.seed.as_ref());
        out[32..64].copy_from_slice(&self.root_public);
        out[64..].copy_from_slice(self.first_index.to_bytes().as_ref());
        out
    }

    /// The stream's first index.
    pub fn first_index(&self) -> &MessageBoxIndex {
        &self.first_index
    }

    /// The root public key (the public half of the signing key).
    pub fn root_public_key(&self) -> &[u8; 32] {
        &self.root_public
    }

    /// The matching ReadCap.
    pub fn read_cap(&self) -> ReadCap {
        let point = decode_public_point(&self.root_public, "root public key")
            .expect("derived from a scalar");
        ReadCap::from_parts(self.root_public, point, self.first_index.clone())
    }

    /// The blinded secret scalar `s = factor(K_ctx) * a` of a box, and its box ID `s * G`.
    fn blinded_secret(&self, index: &MessageBoxIndex, ctx: &[u8]) -> (Zeroizing<Scalar>, BoxId) {
        let s = Zeroizing::new(*index.blinding_factor(ctx) * self.root_secret);
        let box_id = BoxId((&*s * ED25519_BASEPOINT_TABLE).compress().to_bytes());
        (s, box_id)
    }

    /// The box ID of `index` in context `ctx`.
    pub fn box_id(&self, index: &MessageBoxIndex, ctx: &[u8]) -> BoxId {
        self.blinded_secret(index, ctx).1
    }

    /// Encrypts `plaintext` into the box at `index` in context `ctx` and signs the ciphertext.
    ///
    /// Deterministic: the same cap, index, context and plaintext always give the same box.
    pub fn seal(&self, index: &MessageBoxIndex, ctx: &[u8], plaintext: &[u8]) -> SealedBox {
        let (s, box_id) = self.blinded_secret(index, ctx);
        let key = index.encryption_key(ctx);
        let payload = aead::seal(&key, &box_id.0[..16], &box_id.0, plaintext);
        let signature = sign(&s, &box_id, &payload);
        SealedBox {
            box_id,
            signature,
            payload,
        }
    }

    /// Signs `message` with the root signing key itself (RFC 8032 Ed25519), for statements the
    /// stream's owner makes outside any box. Callers must domain-separate `message`, so that a
    /// root signature can never be mistaken for another statement.
    pub fn sign_with_root_key(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        let key = ed25519_dalek::SigningKey::from_bytes(&self.seed);
        Signature::from_array(key.sign(message).to_bytes())
    }

    /// The tombstone of the box at `index` in context `ctx`: the empty payload, signed.
    pub fn tombstone(&self, index: &MessageBoxIndex, ctx: &[u8]) -> SealedBox {
        let (s, box_id) = self.blinded_secret(index, ctx);
        let signature = sign(&s, &box_id, &[]);
        SealedBox {
            box_id,
            signature,
            payload: Vec::new(),
        }
    }
}

impl fmt::Debug for WriteCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteCap")
            .field("root_public_key", &short_hex(&self.root_public))
            .field("first_idx", &self.first_index.idx())
            .finish_non_exhaustive()
    }
}

/// The capability to read a stream: the root public key and the stream's first index.
///
/// Encoding (136 bytes): `root public key (32) || first MessageBoxIndex (104)`.
///
/// Deriving a box ID multiplies the root public key by a per-box scalar. A cap that has derived
/// [`TABLE_AFTER_DERIVATIONS`] box IDs builds a precomputed multiplication table for its root
/// key, shared by its clones, which makes every later derivation about three times cheaper than
/// a generic variable-base multiplication. Building the table costs about as much as thirty such
/// multiplications, so a cap used only a few times (a short-lived process polling once) never
/// pays for it, and a busy one pays at most twice the best possible cost.
#[derive(Clone)]
pub struct ReadCap {
    root_public: [u8; 32],
    root_point: EdwardsPoint,
    first_index: MessageBoxIndex,
    cache: Arc<RootKeyCache>,
}

/// How many box IDs a ReadCap derives by generic multiplication before building its table.
pub const TABLE_AFTER_DERIVATIONS: u32 = 32;

/// Per-cap multiplication work, shared by the clones of one ReadCap.
#[derive(Default)]
struct RootKeyCache {
    derivations: AtomicU32,
    table: OnceLock<EdwardsBasepointTable>,
}

impl PartialEq for ReadCap {
    fn eq(&self, other: &Self) -> bool {
        self.root_public == other.root_public && self.first_index == other.first_index
    }
}
impl Eq for ReadCap {}

impl ReadCap {
    fn from_parts(
        root_public: [u8; 32],
        root_point: EdwardsPoint,
        first_index: MessageBoxIndex,
    ) -> Self {
        Self {
            root_public,
            root_point,
            first_index,
            cache: Arc::default(),
        }
    }

    /// Decodes the 136-byte encoding, checking that the root key is a valid prime-order point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != READ_CAP_LEN {
            return Err(Error::InvalidLength {
                what: "read cap",
                expected: READ_CAP_LEN,
                got: bytes.len(),
            });
        }
        let root_public: [u8; 32] = bytes[0..32].try_into().expect("32 bytes");
        let root_point = decode_public_point(&root_public, "read cap root public key")?;
        Ok(Self::from_parts(
            root_public,
            root_point,
            MessageBoxIndex::from_bytes(&bytes[32..])?,
        ))
    }

    /// The same stream from `index` on: a cap that derives the boxes at `index` and after, and
    /// none before it (the index's KDF state is a one-way chain). It shares this cap's table.
    pub fn starting_at(&self, index: MessageBoxIndex) -> Self {
        Self {
            root_public: self.root_public,
            root_point: self.root_point,
            first_index: index,
            cache: self.cache.clone(),
        }
    }

    /// The 136-byte encoding. It is secret to the stream's readers; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<[u8; READ_CAP_LEN]> {
        let mut out = Zeroizing::new([0u8; READ_CAP_LEN]);
        out[0..32].copy_from_slice(&self.root_public);
        out[32..].copy_from_slice(self.first_index.to_bytes().as_ref());
        out
    }

    /// The stream's first index.
    pub fn first_index(&self) -> &MessageBoxIndex {
        &self.first_index
    }

    /// The root public key.
    pub fn root_public_key(&self) -> &[u8; 32] {
        &self.root_public
    }

    /// `factor * root public key`, through the cap's table once it is worth building.
    fn blind(&self, factor: &Scalar) -> EdwardsPoint {
        if let Some(table) = self.cache.table.get() {
            return table * factor;
        }
        if self.cache.derivations.fetch_add(1, Ordering::Relaxed) < TABLE_AFTER_DERIVATIONS {
            return self.root_point * factor;
        }
        self.cache
            .table
            .get_or_init(|| EdwardsBasepointTable::create(&self.root_point))
            * factor
    }

    /// Whether this cap (or a clone) has built its multiplication table.
    pub fn has_table(&self) -> bool {
        self.cache.table.get().is_some()
    }

    /// The box ID of `index` in context `ctx`: `factor(K_ctx) * root public key`.
    pub fn box_id(&self, index: &MessageBoxIndex, ctx: &[u8]) -> BoxId {
        BoxId(
            self.blind(&index.blinding_factor(ctx))
                .compress()
                .to_bytes(),
        )
    }

    /// The box ID and the AEAD key of `index` in context `ctx`.
    pub(crate) fn box_id_and_key(
        &self,
        index: &MessageBoxIndex,
        ctx: &[u8],
    ) -> (BoxId, Zeroizing<[u8; 32]>) {
        (self.box_id(index, ctx), index.encryption_key(ctx))
    }

    /// Verifies a signature made with [`WriteCap::sign_with_root_key`] by this stream's owner.
    pub fn verify_root_signature(&self, message: &[u8], signature: &Signature) -> Result<()> {
        verify(&BoxId(self.root_public), message, signature)
    }

    /// Verifies and decrypts `sealed`, which must be the box at `index` in context `ctx`.
    ///
    /// The signature is checked first; an empty payload with a valid signature is a tombstone.
    pub fn open(&self, index: &MessageBoxIndex, ctx: &[u8], sealed: &SealedBox) -> Result<Opened> {
        let (box_id, key) = self.box_id_and_key(index, ctx);
        if box_id != sealed.box_id {
            return Err(Error::BoxIdMismatch);
        }
        open_verified_box(&key, sealed)
    }
}

/// Verifies `sealed` under its own box ID, then decrypts it with `encryption_key`.
pub(crate) fn open_verified_box(encryption_key: &[u8; 32], sealed: &SealedBox) -> Result<Opened> {
    verify(&sealed.box_id, &sealed.payload, &sealed.signature)?;
    if sealed.payload.is_empty() {
        return Ok(Opened::Tombstone);
    }
    let id = sealed.box_id.as_bytes();
    aead::open(encryption_key, &id[..16], id, &sealed.payload).map(Opened::Message)
}

impl fmt::Debug for ReadCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadCap")
            .field("root_public_key", &short_hex(&self.root_public))
            .field("first_idx", &self.first_index.idx())
            .finish_non_exhaustive()
    }
}
