//! Serde helpers shared by the CBOR codecs of this crate.

pub(crate) mod opt_bytes {
    //! `Option<Vec<u8>>` as an optional CBOR byte string.
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => serde_bytes::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Some(serde_bytes::ByteBuf::deserialize(d)?.into_vec()))
    }
}
