//! Where the courier is: from the PKI document the daemon sends, the service node offering the
//! `courier` service (docs/katzenpost.md, "The PKI document").
//!
//! The document is CBOR with Go's field names. `ServiceNodes` is a list of byte strings, each
//! a node descriptor in CBOR; a descriptor's `Kaetzchen` maps service names to their
//! parameters, among them `endpoint`, the queue to address. A query for the courier goes to
//! BLAKE2b-256 of that node's `IdentityKey` and to the endpoint as the queue ID.

use blake2::{digest::consts::U32, Blake2b, Digest};

use crate::cbor::{self, CborError, Item};

/// The service name of Pigeonhole's courier in a descriptor's `Kaetzchen`.
pub const COURIER_SERVICE: &str = "courier";

/// Where to send Pigeonhole queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Courier {
    /// BLAKE2b-256 of the courier's service node identity key.
    pub destination: [u8; 32],
    /// The courier's queue ID (its endpoint).
    pub queue_id: Vec<u8>,
    /// The epoch of the document it came from.
    pub epoch: u64,
}

/// Why a PKI document names no courier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// The document, or a descriptor in it, is not CBOR.
    #[error("PKI document is not CBOR: {0}")]
    Cbor(#[from] CborError),
    /// The document is not a map with a `ServiceNodes` list.
    #[error("PKI document has no ServiceNodes list")]
    NoServiceNodes,
    /// No service node offers the courier with an endpoint and identity key.
    #[error("no service node in the PKI document offers the courier")]
    NoCourier,
}

/// The courier of the PKI document `doc` (the payload of a `new_pki_document_event`).
pub fn courier(doc: &[u8]) -> Result<Courier, PkiError> {
    let top = cbor::decode(doc)?;
    let epoch = top.get("Epoch").and_then(Item::as_u64).unwrap_or(0);
    let Some(Item::Array(nodes)) = top.get("ServiceNodes") else {
        return Err(PkiError::NoServiceNodes);
    };
    for node in nodes {
        // Each descriptor is CBOR inside a byte string; a map is taken as it is.
        let decoded;
        let desc = match node {
            Item::Bytes(b) => {
                decoded = cbor::decode(b)?;
                &decoded
            }
            other => other,
        };
        let endpoint = desc
            .get("Kaetzchen")
            .and_then(|k| k.get(COURIER_SERVICE))
            .and_then(|c| c.get("endpoint"))
            .and_then(Item::as_text);
        let identity = desc.get("IdentityKey").and_then(Item::as_bytes);
        if let (Some(endpoint), Some(identity)) = (endpoint, identity) {
            let mut destination = [0; 32];
            destination.copy_from_slice(&Blake2b::<U32>::digest(identity));
            return Ok(Courier {
                destination,
                queue_id: endpoint.as_bytes().to_vec(),
                epoch,
            });
        }
    }
    Err(PkiError::NoCourier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::Writer;

    fn descriptor(name: &str, identity: &[u8], services: &[&str]) -> Vec<u8> {
        let mut w = Writer::new();
        w.map(3).text("Name").text(name);
        w.text("IdentityKey").bytes(identity);
        w.text("Kaetzchen").map(services.len());
        for s in services {
            w.text(s).map(1).text("endpoint").text(s);
        }
        w.into_bytes().to_vec()
    }

    fn document(nodes: &[Vec<u8>]) -> Vec<u8> {
        let mut w = Writer::new();
        w.map(2).text("Epoch").uint(42);
        w.text("ServiceNodes");
        // An array head: major type 4.
        let mut out = w.into_bytes().to_vec();
        out.push(0x80 | nodes.len() as u8);
        for n in nodes {
            let mut b = Writer::new();
            b.bytes(n);
            out.extend_from_slice(&b.into_bytes());
        }
        out
    }

    #[test]
    fn finds_the_service_node_offering_the_courier() {
        let doc = document(&[
            descriptor("other", &[1; 32], &["echo"]),
            descriptor("servicenode1", &[2; 32], &["echo", "courier", "testdest"]),
        ]);
        let c = courier(&doc).unwrap();
        assert_eq!(c.queue_id, b"courier");
        assert_eq!(c.epoch, 42);
        // BLAKE2b-256 of 32 bytes of 0x02, as Go's blake2b.Sum256 computes it.
        assert_eq!(
            c.destination.to_vec(),
            Blake2b::<U32>::digest([2u8; 32]).to_vec()
        );
        assert_ne!(c.destination, [0; 32]);
    }

    #[test]
    fn a_document_without_a_courier_is_an_error() {
        let doc = document(&[descriptor("n", &[1; 32], &["echo"])]);
        assert_eq!(courier(&doc), Err(PkiError::NoCourier));
        assert_eq!(courier(&[0xa0]), Err(PkiError::NoServiceNodes));
        assert!(matches!(courier(&[0xff]), Err(PkiError::Cbor(_))));
        let doc = document(&[vec![0x5f]]);
        assert!(matches!(courier(&doc), Err(PkiError::Cbor(_))));
    }
}
