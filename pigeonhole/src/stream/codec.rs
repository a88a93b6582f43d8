//! A small length-prefixed binary codec for the persistent forms of this module. Decoding
//! never panics and never allocates more than the input holds.

use zeroize::Zeroizing;

use super::error::StreamError;

/// Builds a persistent form in a buffer that zeroizes itself (the forms hold secrets).
pub(crate) struct Encoder(Zeroizing<Vec<u8>>);

impl Encoder {
    pub(crate) fn new(version: u8) -> Self {
        Self(Zeroizing::new(vec![version]))
    }

    pub(crate) fn u8(&mut self, v: u8) {
        extend_zeroizing(&mut self.0, &[v]);
    }

    pub(crate) fn u32(&mut self, v: usize) {
        let v = u32::try_from(v).expect("persisted lengths and counts fit u32");
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn raw(&mut self, b: &[u8]) {
        extend_zeroizing(&mut self.0, b);
    }

    /// `u32 BE length || bytes`.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len());
        self.raw(b);
    }

    pub(crate) fn finish(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

/// Appends `data` to `buf` without leaving copies of secrets behind: when the buffer must
/// grow, the contents move to a new allocation and the old one is zeroized (a plain `Vec` would
/// free it as it is).
pub(crate) fn extend_zeroizing(buf: &mut Zeroizing<Vec<u8>>, data: &[u8]) {
    let needed = buf.len().saturating_add(data.len());
    if needed > buf.capacity() {
        let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(buf.capacity() * 2)));
        grown.extend_from_slice(buf);
        *buf = grown;
    }
    buf.extend_from_slice(data);
}

/// Reads a persistent form.
pub(crate) struct Decoder<'a> {
    rest: &'a [u8],
}

const TRUNCATED: StreamError = StreamError::InvalidState("truncated encoding");

impl<'a> Decoder<'a> {
    /// Starts decoding, checking the version byte.
    pub(crate) fn new(bytes: &'a [u8], version: u8) -> Result<Self, StreamError> {
        match bytes.split_first() {
            Some((&v, rest)) if v == version => Ok(Self { rest }),
            Some(_) => Err(StreamError::InvalidState("unknown encoding version")),
            None => Err(TRUNCATED),
        }
    }

    pub(crate) fn raw(&mut self, n: usize) -> Result<&'a [u8], StreamError> {
        if self.rest.len() < n {
            return Err(TRUNCATED);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, StreamError> {
        Ok(self.raw(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<usize, StreamError> {
        let b: [u8; 4] = self.raw(4)?.try_into().map_err(|_| TRUNCATED)?;
        Ok(u32::from_be_bytes(b) as usize)
    }

    /// A count of items each at least `min_item_len` bytes long, checked against what is left.
    pub(crate) fn count(&mut self, min_item_len: usize) -> Result<usize, StreamError> {
        let n = self.u32()?;
        if n.saturating_mul(min_item_len.max(1)) > self.rest.len() {
            return Err(TRUNCATED);
        }
        Ok(n)
    }

    /// `u32 BE length || bytes`.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], StreamError> {
        let n = self.u32()?;
        self.raw(n)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Checks that nothing is left over.
    pub(crate) fn finish(self) -> Result<(), StreamError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(StreamError::InvalidState("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_input() {
        let mut e = Encoder::new(7);
        e.u8(3);
        e.u32(2);
        e.bytes(b"ab");
        e.raw(b"xyz");
        let bytes = e.finish();
        let mut d = Decoder::new(&bytes, 7).unwrap();
        assert_eq!(d.u8().unwrap(), 3);
        assert_eq!(d.count(1).unwrap(), 2);
        assert_eq!(d.bytes().unwrap(), b"ab");
        assert_eq!(d.raw(3).unwrap(), b"xyz");
        d.finish().unwrap();
        assert!(Decoder::new(&bytes, 8).is_err());
        assert!(Decoder::new(&[], 7).is_err());
        for cut in 1..bytes.len() {
            let mut d = Decoder::new(&bytes[..cut], 7).unwrap();
            let r = (|| {
                d.u8()?;
                d.count(1)?;
                d.bytes()?;
                d.raw(3)?;
                Ok::<_, StreamError>(())
            })();
            assert!(r.is_err(), "cut at {cut}");
        }
        // A huge count is refused before anything is allocated.
        let mut d = Decoder::new(&[7, 0xff, 0xff, 0xff, 0xff], 7).unwrap();
        assert!(d.count(1).is_err());
    }
}
