//! BACAP benchmarks: index advance, box ID derivation (cold and cached), sealing and opening a
//! full 1556-byte box, and deriving 1,000 consecutive box IDs as a reader does.

use bacap::{Geometry, ReadCap, WriteCap, TABLE_AFTER_DERIVATIONS};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::traits::BasepointTable;
use curve25519_dalek::Scalar;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn cap() -> WriteCap {
    WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(42))
}

fn bench_index(c: &mut Criterion) {
    let w = cap();
    let index = w.first_index().clone();
    c.bench_function("advance", |b| b.iter(|| black_box(&index).next().unwrap()));
}

fn bench_box_id(c: &mut Criterion) {
    let w = cap();
    let index = w.first_index().clone();
    let read_bytes = w.read_cap().to_bytes();
    let mut g = c.benchmark_group("box_id");
    g.bench_function("cold (first box ID of a fresh read cap)", |b| {
        b.iter_batched(
            || ReadCap::from_bytes(read_bytes.as_ref()).unwrap(),
            |r| r.box_id(black_box(&index), b"ctx"),
            BatchSize::SmallInput,
        )
    });
    let warm = w.read_cap();
    let mut i = index.clone();
    for _ in 0..=TABLE_AFTER_DERIVATIONS {
        warm.box_id(&i, b"ctx");
        i = i.next().unwrap();
    }
    assert!(warm.has_table());
    g.bench_function("cached (read cap with its table)", |b| {
        b.iter(|| warm.box_id(black_box(&index), b"ctx"))
    });
    g.bench_function("write cap", |b| {
        b.iter(|| w.box_id(black_box(&index), b"ctx"))
    });
    g.finish();

    // The multiplication inside: a generic variable-base scalar multiplication against the
    // precomputed table a ReadCap keeps for its root key.
    let mut g = c.benchmark_group("scalar_mul");
    let point = ED25519_BASEPOINT_POINT * Scalar::from(7u64);
    let table = EdwardsBasepointTable::create(&point);
    let scalar = Scalar::from_bytes_mod_order([0x5a; 32]);
    g.bench_function("variable base", |b| {
        b.iter(|| black_box(point) * black_box(scalar))
    });
    g.bench_function("precomputed table", |b| {
        b.iter(|| &table * &black_box(scalar))
    });
    g.bench_function("build table", |b| {
        b.iter(|| EdwardsBasepointTable::create(black_box(&point)))
    });
    g.finish();
}

fn bench_boxes(c: &mut Criterion) {
    let w = cap();
    let r = w.read_cap();
    let index = w.first_index().clone();
    let plaintext = vec![0x42u8; Geometry::KATZENPOST.box_plaintext_len];
    let sealed = w.seal(&index, b"ctx", &plaintext);
    for _ in 0..=TABLE_AFTER_DERIVATIONS {
        r.box_id(&index, b"ctx");
    }
    let mut g = c.benchmark_group("box_1556");
    g.throughput(Throughput::Bytes(plaintext.len() as u64));
    g.bench_function("encrypt+sign", |b| {
        b.iter(|| w.seal(black_box(&index), b"ctx", black_box(&plaintext)))
    });
    g.bench_function("verify+decrypt", |b| {
        b.iter(|| {
            r.open(black_box(&index), b"ctx", black_box(&sealed))
                .unwrap()
        })
    });
    g.bench_function("verify only (storage)", |b| {
        b.iter(|| black_box(&sealed).verify().unwrap())
    });
    g.finish();
}

fn bench_consecutive(c: &mut Criterion) {
    let w = cap();
    let read_bytes = w.read_cap().to_bytes();
    let mut g = c.benchmark_group("consecutive");
    g.throughput(Throughput::Elements(1000));
    // A reader from scratch: a freshly decoded cap, so the table is built along the way.
    g.bench_function("1000 box IDs (fresh read cap)", |b| {
        b.iter_batched(
            || {
                (
                    ReadCap::from_bytes(read_bytes.as_ref()).unwrap(),
                    w.first_index().clone(),
                )
            },
            |(r, mut index)| {
                for _ in 0..1000 {
                    black_box(r.box_id(&index, b"ctx"));
                    index = index.next().unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_index,
    bench_box_id,
    bench_boxes,
    bench_consecutive
);
criterion_main!(benches);
