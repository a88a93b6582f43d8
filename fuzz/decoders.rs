//! What each fuzz target feeds its input to, in one place: the fuzz targets
//! (`fuzz_targets/*.rs`) and the workspace's replay of the seed corpora
//! (`testvectors/tests/fuzz_corpora.rs`) both include this file. Every decoder here takes
//! outside bytes and must return an error, never panic.

use bacap::BoxId;
use courier_protocol::wire::{decode_reply, decode_request, Reply};
use groupchat::channel::{ChannelMessage, ChannelToken};
use groupchat::chat::Chat;
use groupchat::messages::{decode_sealed_entries, GroupChatMessage, PleaseAdd, ReplyWho};
use groupchat::{Config, HistoryEntry};
use katzenpost_transport::{cbor, pki, wire as thin};
use pigeonhole::copystream::Decoder;
use pigeonhole::padding::{unpad, PaddedGeometry};
use pigeonhole::stream::framing;
use rand_chacha::rand_core::SeedableRng;

/// What a target runs on one input.
pub type Decode = fn(&[u8]);

/// The targets, by name (the name of their corpus directory), with what they run.
pub const TARGETS: [(&str, Decode); 7] = [
    ("bacap_caps", bacap_caps),
    ("group_message", group_message),
    ("channel_message", channel_message),
    ("box_framing", box_framing),
    ("courier_wire", courier_wire),
    ("thin_client", thin_client),
    ("stored_records", stored_records),
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

/// Courier protocol bodies: a request as the courier decodes it, and a reply as the client
/// decodes it and then reads it as the answer to each kind of query.
pub fn courier_wire(data: &[u8]) {
    let _ = decode_request(data);
    let Ok(reply) = decode_reply(data) else {
        return;
    };
    let _ = reply.clone().into_write_outcome();
    let _ = reply.clone().into_copy_status();
    let _ = reply.clone().into_copy_status_query();
    let asked = match &reply {
        Reply::Read { results } => results.len(),
        _ => 1,
    };
    // The number of boxes asked for, and one fewer: a reply of the wrong length.
    for n in [asked, asked.saturating_sub(1)] {
        let ids: Vec<BoxId> = (0..n).map(|i| BoxId::from_array([i as u8; 32])).collect();
        let _ = reply.clone().into_read_outcomes(&ids);
    }
}

/// Frames from the Katzenpost client daemon: the length prefix, the CBOR reader, a response,
/// and a PKI document's courier.
pub fn thin_client(data: &[u8]) {
    if let Some(prefix) = data.get(..4) {
        let _ = thin::frame_len(prefix.try_into().expect("four bytes"));
    }
    let _ = cbor::decode(data);
    let _ = thin::decode_response(data);
    let _ = pki::courier(data);
}

/// A profile's stored state as the client reads it from RocksDB: the input is a list of
/// records, each `[key length: u8][key][value length: u16 LE][value]` (see [`records_input`]);
/// `Chat::load` takes them, and what it loaded is then read the ways the client reads it.
pub fn stored_records(data: &[u8]) {
    let records = parse_records(data);
    for (_, value) in &records {
        let _ = HistoryEntry::decode(value);
    }
    let dir = std::path::Path::new("/nonexistent/fuzz-profile");
    let Ok(mut chat) = Chat::load(
        Config::default(),
        bacap::Geometry::KATZENPOST,
        dir,
        records,
        1,
    ) else {
        return;
    };
    for group in chat.groups() {
        let _ = chat.group_info(&group.id);
        let _ = chat.group_history_prefix(&group.id);
    }
    for (label, _) in chat.channels() {
        let _ = chat.channel_token(&label);
    }
    let _ = chat.invitations();
    let _ = chat.join_requests();
    let _ = chat.outbox();
    for id in chat.runnable() {
        let _ = chat.operation(id);
    }
    let _ = chat.poll_reads();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let _ = chat.prepare_ready(&mut rng, 2);
    let _ = chat.queue_owed(&mut rng, 3);
    let _ = chat.expire_invitations(u64::MAX / 2);
    let _ = chat.take_changes();
}

/// Splits a `stored_records` input into its records; a record cut short ends the list.
pub fn parse_records(mut data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some((&key_len, rest)) = data.split_first() {
        let Some((key, rest)) = rest.split_at_checked(key_len as usize) else {
            break;
        };
        let Some((len, rest)) = rest.split_at_checked(2) else {
            break;
        };
        let len = u16::from_le_bytes([len[0], len[1]]) as usize;
        let Some((value, rest)) = rest.split_at_checked(len) else {
            break;
        };
        out.push((key.to_vec(), value.to_vec()));
        data = rest;
    }
    out
}

/// A `stored_records` input holding `records` (a key of over 255 bytes or a value of over
/// 65,535 is left out).
pub fn records_input(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let (Ok(key_len), Ok(len)) = (u8::try_from(key.len()), u16::try_from(value.len())) else {
            continue;
        };
        out.push(key_len);
        out.extend_from_slice(key);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}
