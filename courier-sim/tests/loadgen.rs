//! The load generator end to end, on a tiny load: every write verified and stored, every box
//! read back intact, and a run that uses up its boxes says so.

use courier_sim::loadgen::{run, LoadgenArgs};

fn tiny(writes: usize, duration: u64) -> LoadgenArgs {
    LoadgenArgs {
        url: None,
        writers: 4,
        readers: 2,
        batch: 8,
        duration,
        writes,
        prefill: 40,
        max_reads: 50,
        plaintext: 200,
        client_threads: 1,
        server_threads: 1,
        sync: false,
    }
}

#[test]
fn a_small_run_writes_and_reads_everything_without_errors() {
    let report = run(&tiny(120, 30)).unwrap();
    assert_eq!(report.write_errors, 0);
    assert_eq!(report.read_errors, 0);
    assert_eq!(report.writes, 120, "every generated box is written");
    assert!(
        report.writes_exhausted,
        "120 boxes are used up long before 30 s"
    );
    let reads_per_reader = 50usize.div_ceil(2) as u64;
    assert_eq!(
        report.read_requests,
        2 * reads_per_reader,
        "--max-reads bounds the reads"
    );
    assert_eq!(
        report.reads,
        report.read_requests * 8,
        "every box read back matched"
    );
    let text = report.to_string();
    assert!(text.contains("120 verified"), "{text}");
    assert!(text.contains("raise --writes"), "{text}");
}

#[test]
fn a_run_bounded_by_time_is_not_reported_as_exhausted() {
    let report = run(&LoadgenArgs {
        readers: 0,
        ..tiny(30_000, 1)
    })
    .unwrap();
    assert_eq!(report.write_errors, 0);
    assert!(report.writes > 0 && report.writes < 30_000);
    assert!(!report.writes_exhausted);
    assert!(!report.to_string().contains("raise --writes"));
}
