//! The transport against a running local Katzenpost mixnet (`scripts/katzenpost/kp up`).
//!
//! They run when `BACAP_KATZENPOST_NET` names the network's directory (`kp` keeps it in
//! `$KATZENPOST_HOME/net`, by default `target/katzenpost/net`); without it each test prints a
//! line saying it was skipped, and passes. `.ci/run` starts the network and sets it.

use std::path::PathBuf;
use std::time::Instant;

use bacap::{Geometry, SealedBox, StatefulReader, StatefulWriter, WriteCap};
use courier_protocol::HttpStore;
use katzenpost_transport::{DaemonConfig, KatzenpostTransport, Options, DAEMON_CONTEXT};
use pigeonhole::padding::PaddedGeometry;
use pigeonhole::store::{BoxStore, ReadOutcome, StoreError, WriteOutcome};
use pigeonhole::stream::{StreamReader, StreamWriter};
use pigeonhole::transport::{BoxContent, Sealing, Transport};
use rand_core::{OsRng, RngCore};

const NET_VAR: &str = "BACAP_KATZENPOST_NET";

/// The network's directory, or `None` (and a line saying so) when the tests are to be skipped.
fn net(test: &str) -> Option<PathBuf> {
    match std::env::var_os(NET_VAR) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!(
                "SKIPPED {test}: no local Katzenpost network ({NET_VAR} is not set; start one with \
                 `scripts/katzenpost/kp up` and set it to target/katzenpost/net)"
            );
            None
        }
    }
}

/// A transport to the network's kpclientd, as its thin-client configuration describes it.
fn transport(net: &std::path::Path) -> (KatzenpostTransport, Geometry) {
    let config = DaemonConfig::read(&net.join("client2/thinclient.toml")).expect("thinclient.toml");
    let options = Options {
        geometry: config.geometry,
        ..Options::default()
    };
    let addr = config
        .addr
        .expect("thinclient.toml names the daemon's address");
    (KatzenpostTransport::new(addr, options), config.geometry)
}

/// The box a replica stores under `box_id`, in Pigeonhole's `box` encoding (ID, big-endian
/// payload length, payload, signature), from its RocksDB opened read-only.
fn replica_box(db_dir: &std::path::Path, box_id: &[u8; 32]) -> Option<SealedBox> {
    let db = rocksdb::DB::open_for_read_only(&rocksdb::Options::default(), db_dir, false)
        .unwrap_or_else(|e| panic!("opening {} read-only: {e}", db_dir.display()));
    let value = db.get(box_id).expect("reading the replica's database")?;
    let (id, rest) = value.split_at(32);
    let (len, rest) = rest.split_at(4);
    let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
    assert_eq!(
        rest.len(),
        len + 64,
        "a box is ID, length, payload, signature"
    );
    let (payload, signature) = rest.split_at(len);
    Some(SealedBox {
        box_id: bacap::BoxId::from_slice(id).unwrap(),
        signature: bacap::Signature::from_slice(signature).unwrap(),
        payload: payload.to_vec(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_stores_the_box_our_bacap_seals_for_the_same_cap_and_index() {
    let Some(net) = net("same-box conformance") else {
        return;
    };
    let (kp, geometry) = transport(&net);
    let cap = WriteCap::generate(&mut OsRng);
    // Not the first index: the transport positions the daemon's channel itself.
    let mut writer = StatefulWriter::new(cap.clone(), DAEMON_CONTEXT);
    writer.advance().unwrap();
    writer.advance().unwrap();
    let mut payload = vec![0; 1000];
    OsRng.fill_bytes(&mut payload);

    let started = Instant::now();
    kp.write_box(&cap, writer.next_index(), &payload)
        .await
        .expect("the daemon writes the box");
    let wrote = started.elapsed();

    // The same box through the simulator's path: our BACAP and our padding in this process,
    // under the daemon's context and geometry, stored by the courier simulator.
    let mut config = courier_sim::Config::ephemeral();
    config.payload_len = PaddedGeometry::new(geometry).payload_len();
    let server = courier_sim::serve(config).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    let sealing = Sealing::with_geometry(&store, geometry);
    assert_eq!(
        sealing.write(&writer, &payload).await.unwrap(),
        WriteOutcome::Stored
    );
    let ReadOutcome::Found(ours) = store.read(&writer.next_box_id()).await.unwrap() else {
        panic!("the simulator has the box we wrote")
    };
    server.shutdown().await.unwrap();

    // The daemon reads it back (which also gives the replicas time to store it).
    let started = Instant::now();
    let back = kp
        .read_box(&cap.read_cap(), writer.next_index())
        .await
        .unwrap();
    let read = started.elapsed();
    assert_eq!(back, BoxContent::Message(payload.clone().into()));

    let id = *ours.box_id.as_bytes();
    let mut compared = 0;
    for replica in ["replica1", "replica2"] {
        let theirs = replica_box(&net.join(replica).join("replica.db"), &id)
            .unwrap_or_else(|| panic!("{replica} stores the box the daemon wrote"));
        assert_eq!(theirs.box_id, ours.box_id, "{replica}: box ID");
        assert_eq!(theirs.payload, ours.payload, "{replica}: ciphertext");
        assert_eq!(theirs.signature, ours.signature, "{replica}: signature");
        compared += 1;
    }
    // And the box a bacap-chat stream context would give is another one.
    let other = StatefulWriter::new(cap.clone(), b"bacap-chat/group/v1");
    assert_ne!(other.next_box_id(), writer.next_box_id());
    println!(
        "same box: the box kpclientd wrote at index {} ({} bytes of payload, written in {:.1} s, \
         read back in {:.1} s) is byte for byte the box our BACAP seals, on {compared} replicas",
        writer.next_index().idx(),
        payload.len(),
        wrote.as_secs_f64(),
        read.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_mixnet_single_boxes_chains_and_what_v0_0_70_lacks() {
    let Some(net) = net("stream semantics") else {
        return;
    };
    let (kp, geometry) = transport(&net);
    let cap = WriteCap::generate(&mut OsRng);
    let ctx = b"ignored by the daemon";
    let mut writer = StreamWriter::new(StatefulWriter::new(cap.clone(), ctx), geometry);
    let mut reader = StreamReader::new(cap.read_cap(), ctx);

    // Nothing written: the replica answers "not there".
    let started = Instant::now();
    assert_eq!(reader.poll(&kp).await.unwrap(), None);
    println!(
        "an unwritten box: not found in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // One box, then a message of four boxes (a chain and its pointer, written in order
    // instead of through a copy command).
    writer.send(&kp, &mut OsRng, b"short").await.unwrap();
    let long: Vec<u8> = (0..3 * geometry.box_plaintext_len)
        .map(|i| i as u8)
        .collect();
    let started = Instant::now();
    writer.send(&kp, &mut OsRng, &long).await.unwrap();
    println!(
        "a {}-byte message in {} boxes written in {:.1} s",
        long.len(),
        long.len().div_ceil(geometry.box_plaintext_len - 1) + 1,
        started.elapsed().as_secs_f64()
    );
    let first = reader.poll(&kp).await.unwrap().expect("the short message");
    assert_eq!(&first[..], b"short");
    let started = Instant::now();
    let second = reader.poll(&kp).await.unwrap().expect("the long message");
    assert_eq!(&second[..], &long[..]);
    println!("and read back in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(reader.poll(&kp).await.unwrap(), None);

    // A box longer than the daemon's geometry is refused before it is sent.
    let at = StatefulWriter::new(WriteCap::generate(&mut OsRng), ctx);
    assert!(kp
        .write(&at, &vec![1; geometry.box_plaintext_len + 1])
        .await
        .is_err());
    // No tombstones in v0.0.70.
    assert!(matches!(
        kp.tombstone(&at).await,
        Err(StoreError::Unsupported(_))
    ));
    // Two readers in one round, one box there and one not.
    let there = StatefulReader::new(cap.read_cap(), ctx);
    let not_there = StatefulReader::new(WriteCap::generate(&mut OsRng).read_cap(), ctx);
    let got = kp.read_many(&[there, not_there]).await.unwrap();
    assert!(
        matches!(&got[0], BoxContent::Message(m) if &m[..] == b"Fshort"),
        "{got:?}"
    );
    assert_eq!(got[1], BoxContent::NotFound);
}
