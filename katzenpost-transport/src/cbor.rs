//! The CBOR this protocol needs (RFC 8949), and no more: a writer for the requests and a reader
//! that borrows from the frame it parses.
//!
//! Requests carry capabilities and plaintexts, so the writer appends to a buffer that is wiped
//! when dropped, and the reader copies nothing: a byte string is a slice of the (wiped) frame.
//! The reader takes definite lengths only (kpclientd, written in Go with fxamacker/cbor, sends
//! nothing else), refuses nesting deeper than [`MAX_DEPTH`], checks every length against the
//! bytes left, and grows arrays and maps as their items arrive (an announced length only
//! reserves [`PREALLOC`] slots), so no input can make it panic or allocate more than a small
//! multiple of its own size.

use zeroize::Zeroizing;

/// How deeply arrays, maps and tags may nest.
pub const MAX_DEPTH: usize = 32;

/// The most slots an array's or map's announced length reserves before its items arrive: each
/// of up to [`MAX_DEPTH`] nested containers may announce as many items as there are bytes left.
pub const PREALLOC: usize = 16;

/// Why bytes are not the CBOR this reader takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input ends inside an item.
    #[error("CBOR ends inside an item")]
    Truncated,
    /// Bytes follow the one top-level item.
    #[error("{0} bytes after the CBOR item")]
    Trailing(usize),
    /// Arrays, maps or tags nest deeper than [`MAX_DEPTH`].
    #[error("CBOR nests deeper than {MAX_DEPTH}")]
    TooDeep,
    /// An indefinite length, a reserved additional-information value or a break outside one.
    #[error("unsupported CBOR encoding (initial byte {0:#04x})")]
    Unsupported(u8),
    /// A text string that is not UTF-8.
    #[error("CBOR text is not UTF-8")]
    BadText,
}

/// One CBOR data item, borrowing strings from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// An unsigned integer (major type 0).
    Uint(u64),
    /// A negative integer `-1 - n` (major type 1), as its `n`.
    Negative(u64),
    /// A byte string.
    Bytes(&'a [u8]),
    /// A text string.
    Text(&'a str),
    /// An array.
    Array(Vec<Item<'a>>),
    /// A map, its entries in the order they came.
    Map(Vec<(Item<'a>, Item<'a>)>),
    /// A tagged item.
    Tag(u64, Box<Item<'a>>),
    /// `false` or `true`.
    Bool(bool),
    /// `null` (or `undefined`).
    Null,
    /// A float, or another simple value, which this protocol never needs to read.
    Other,
}

impl<'a> Item<'a> {
    /// The value of the entry of a map whose key is the text `key`; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Item<'a>> {
        match self {
            Item::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Item::Text(t) if *t == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entry's value unless it is absent or null.
    pub fn get_present(&self, key: &str) -> Option<&Item<'a>> {
        self.get(key).filter(|v| !matches!(v, Item::Null))
    }

    /// The bytes of a byte string.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Item::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text of a text string.
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            Item::Text(t) => Some(t),
            _ => None,
        }
    }

    /// An unsigned integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Item::Uint(n) => Some(*n),
            _ => None,
        }
    }
}

/// Parses `input` as exactly one CBOR item.
pub fn decode(input: &[u8]) -> Result<Item<'_>, CborError> {
    let mut r = Reader { input, pos: 0 };
    let item = r.item(0)?;
    match input.len() - r.pos {
        0 => Ok(item),
        n => Err(CborError::Trailing(n)),
    }
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self.pos.checked_add(n).ok_or(CborError::Truncated)?;
        let chunk = self.input.get(self.pos..end).ok_or(CborError::Truncated)?;
        self.pos = end;
        Ok(chunk)
    }

    fn left(&self) -> usize {
        self.input.len() - self.pos
    }

    /// The argument of an initial byte (RFC 8949 §3): a count, length, value or tag number.
    fn argument(&mut self, initial: u8) -> Result<u64, CborError> {
        let info = initial & 0x1f;
        Ok(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.array()?)),
            26 => u64::from(u32::from_be_bytes(self.array()?)),
            27 => u64::from_be_bytes(self.array()?),
            _ => return Err(CborError::Unsupported(initial)),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A length that must fit in what is left of the input, `min_each` bytes per element.
    fn length(&mut self, initial: u8, min_each: usize) -> Result<usize, CborError> {
        let n = self.argument(initial)?;
        let n = usize::try_from(n).map_err(|_| CborError::Truncated)?;
        if n.checked_mul(min_each)
            .is_none_or(|need| need > self.left())
        {
            return Err(CborError::Truncated);
        }
        Ok(n)
    }

    fn item(&mut self, depth: usize) -> Result<Item<'a>, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        let initial = self.take(1)?[0];
        match initial >> 5 {
            0 => Ok(Item::Uint(self.argument(initial)?)),
            1 => Ok(Item::Negative(self.argument(initial)?)),
            2 => {
                let n = self.length(initial, 1)?;
                Ok(Item::Bytes(self.take(n)?))
            }
            3 => {
                let n = self.length(initial, 1)?;
                let raw = self.take(n)?;
                Ok(Item::Text(
                    core::str::from_utf8(raw).map_err(|_| CborError::BadText)?,
                ))
            }
            4 => {
                let n = self.length(initial, 1)?;
                let mut items = Vec::with_capacity(n.min(PREALLOC));
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Item::Array(items))
            }
            5 => {
                let n = self.length(initial, 2)?;
                let mut entries = Vec::with_capacity(n.min(PREALLOC));
                for _ in 0..n {
                    let k = self.item(depth + 1)?;
                    let v = self.item(depth + 1)?;
                    entries.push((k, v));
                }
                Ok(Item::Map(entries))
            }
            6 => {
                let tag = self.argument(initial)?;
                Ok(Item::Tag(tag, Box::new(self.item(depth + 1)?)))
            }
            _ => match initial & 0x1f {
                20 => Ok(Item::Bool(false)),
                21 => Ok(Item::Bool(true)),
                22 | 23 => Ok(Item::Null),
                0..=19 => Ok(Item::Other),
                24 => self.take(1).map(|_| Item::Other),
                25 => self.take(2).map(|_| Item::Other),
                26 => self.take(4).map(|_| Item::Other),
                27 => self.take(8).map(|_| Item::Other),
                _ => Err(CborError::Unsupported(initial)),
            },
        }
    }
}

/// Writes CBOR into a buffer that is wiped when dropped.
#[derive(Default)]
pub struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    fn head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => self.buf.push(m | n as u8),
            24..=0xff => self.buf.extend_from_slice(&[m | 24, n as u8]),
            0x100..=0xffff => {
                self.buf.push(m | 25);
                self.buf.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.buf.push(m | 26);
                self.buf.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                self.buf.push(m | 27);
                self.buf.extend_from_slice(&n.to_be_bytes());
            }
        }
    }

    /// An unsigned integer.
    pub fn uint(&mut self, n: u64) -> &mut Self {
        self.head(0, n);
        self
    }

    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    /// A text string.
    pub fn text(&mut self, t: &str) -> &mut Self {
        self.head(3, t.len() as u64);
        self.buf.extend_from_slice(t.as_bytes());
        self
    }

    /// The head of a map of `entries` entries; the keys and values follow.
    pub fn map(&mut self, entries: usize) -> &mut Self {
        self.head(5, entries as u64);
        self
    }

    /// `null`.
    pub fn null(&mut self) -> &mut Self {
        self.buf.push(0xf6);
        self
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_rfc_8949_appendix_a_lists() {
        let mut w = Writer::new();
        w.uint(0).uint(23).uint(24).uint(1000).uint(1_000_000);
        w.uint(1_000_000_000_000)
            .text("a")
            .bytes(&[1, 2, 3, 4])
            .null();
        w.map(0);
        assert_eq!(
            hex(&w.into_bytes()),
            "00171818\
             1903e8\
             1a000f4240\
             1b000000e8d4a51000\
             6161\
             4401020304\
             f6a0"
        );
    }

    #[test]
    fn reads_what_it_writes_and_rfc_8949_examples() {
        let mut w = Writer::new();
        w.map(3).text("a").uint(65_535).text("b").bytes(b"xyz");
        w.text("c").null();
        let bytes = w.into_bytes();
        let item = decode(&bytes).unwrap();
        assert_eq!(item.get("a").and_then(Item::as_u64), Some(65_535));
        assert_eq!(item.get("b").and_then(Item::as_bytes), Some(&b"xyz"[..]));
        assert_eq!(item.get("c"), Some(&Item::Null));
        assert_eq!(item.get_present("c"), None);
        assert_eq!(item.get("d"), None);

        // Appendix A: [1, [2, 3], [4, 5]], {1: 2, 3: 4}, -1000, true, 1.5 (half float), tag 1.
        let bytes = unhex("8301820203820405");
        let a = decode(&bytes).unwrap();
        assert_eq!(
            a,
            Item::Array(vec![
                Item::Uint(1),
                Item::Array(vec![Item::Uint(2), Item::Uint(3)]),
                Item::Array(vec![Item::Uint(4), Item::Uint(5)]),
            ])
        );
        assert_eq!(
            decode(&unhex("a201020304")).unwrap(),
            Item::Map(vec![
                (Item::Uint(1), Item::Uint(2)),
                (Item::Uint(3), Item::Uint(4))
            ])
        );
        assert_eq!(decode(&unhex("3903e7")).unwrap(), Item::Negative(999));
        assert_eq!(decode(&unhex("f5")).unwrap(), Item::Bool(true));
        assert_eq!(decode(&unhex("f93e00")).unwrap(), Item::Other);
        assert_eq!(
            decode(&unhex("c11a514b67b0")).unwrap(),
            Item::Tag(1, Box::new(Item::Uint(1_363_896_240)))
        );
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        assert_eq!(decode(&[]), Err(CborError::Truncated));
        assert_eq!(decode(&unhex("0001")), Err(CborError::Trailing(1)));
        // A byte string claiming 2^64 - 1 bytes, and an array claiming a billion items.
        assert_eq!(
            decode(&unhex("5bffffffffffffffff")),
            Err(CborError::Truncated)
        );
        assert_eq!(decode(&unhex("9a3b9aca00")), Err(CborError::Truncated));
        assert_eq!(decode(&unhex("5f")), Err(CborError::Unsupported(0x5f)));
        assert_eq!(decode(&unhex("ff")), Err(CborError::Unsupported(0xff)));
        assert_eq!(decode(&unhex("62c328")), Err(CborError::BadText));
        let deep = vec![0x81; MAX_DEPTH + 2];
        assert_eq!(decode(&deep), Err(CborError::TooDeep));
        // Every prefix of a valid item is refused, never a panic.
        let mut w = Writer::new();
        w.map(2).text("k").bytes(&[7; 40]).text("n").uint(1 << 40);
        let full = w.into_bytes();
        for end in 0..full.len() {
            assert!(decode(&full[..end]).is_err(), "prefix of {end} bytes");
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
