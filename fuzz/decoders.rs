//! What each fuzz target feeds its input to, in one place: the fuzz targets
//! (`fuzz_targets/*.rs`) and the workspace's replay of the seed corpora
//! (`testvectors/tests/fuzz_corpora.rs`) both include this file. Every decoder here takes
//! outside bytes and must return an error, never panic.

use groupchat::channel::{ChannelMessage, ChannelToken};
use groupchat::messages::{decode_sealed_entries, GroupChatMessage, PleaseAdd, ReplyWho};
use pigeonhole::copystream::Decoder;
use pigeonhole::padding::{unpad, PaddedGeometry};
use pigeonhole::stream::framing;

/// What a target runs on one input.
pub type Decode = fn(&[u8]);

/// The targets, by name (the name of their corpus directory), with what they run.
pub const TARGETS: [(&str, Decode); 4] = [
    ("bacap_caps", bacap_caps),
    ("group_message", group_message),
    ("channel_message", channel_message),
    ("box_framing", box_framing),
];

/// BACAP capabilities: `ReadCap::from_bytes` and `WriteCap::from_bytes`.
pub fn bacap_caps(data: &[u8]) {
    let _ = bacap::ReadCap::from_bytes(data);
    let _ = bacap::WriteCap::from_bytes(data);
}

/// Group messages: one GroupChatMessage, the messages of one box in a sequence, the sealed
/// entries of a ROTATE or Welcome, PleaseAdd and ReplyWho.
pub fn group_message(data: &[u8]) {
    let _ = GroupChatMessage::from_cbor(data);
    let _ = GroupChatMessage::decode_sequence(data);
    let _ = decode_sealed_entries(data);
    let _ = PleaseAdd::from_cbor(data);
    let _ = ReplyWho::from_cbor(data);
}

/// Channel messages (a SignedPleaseAdd in one is verified too) and the text form of a channel
/// token.
pub fn channel_message(data: &[u8]) {
    if let Ok(ChannelMessage::SignedPleaseAdd(signed)) = ChannelMessage::from_cbor(data) {
        let _ = signed.verify();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ChannelToken::parse(text);
    }
}

/// Box plaintexts: unpadding, stream framing, and a copy stream fed box by box (the input split
/// at every 0xff byte).
pub fn box_framing(data: &[u8]) {
    let _ = unpad(data, PaddedGeometry::KATZENPOST);
    let _ = framing::parse(data);
    let mut copy = Decoder::new();
    for piece in data.split(|b| *b == 0xff) {
        if copy.push(piece).is_err() {
            return;
        }
    }
    let _ = copy.finish();
}
