//! The load generator end to end, on a tiny load: every write verified and stored, every box
//! read back intact, a run that uses up its boxes says so, and a paced run offers exactly its
//! schedule.

use std::time::Duration;

use crate::generator::{run, ClientKind, LoadgenArgs};

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
        write_rate: None,
        read_rate: None,
        per_second: false,
        client: ClientKind::Lean,
    }
}

#[test]
fn a_small_run_writes_and_reads_everything_without_errors() {
    for client in [ClientKind::Lean, ClientKind::Store] {
        a_small_run_with(client);
    }
}

fn a_small_run_with(client: ClientKind) {
    let report = run(&LoadgenArgs {
        client,
        ..tiny(120, 30)
    })
    .unwrap();
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
    let (before, after) = report
        .verify_time
        .expect("the machine's speed is measured around every run");
    assert!(before > Duration::ZERO && after > Duration::ZERO);
    let text = report.to_string();
    assert!(text.contains("120 verified"), "{text}");
    assert!(text.contains("one core verified a box in"), "{text}");
    assert!(text.contains("raise --writes"), "{text}");
    assert!(report.cpu.with_courier, "the courier ran in this process");
    assert!(
        report.cpu.time > Duration::ZERO,
        "writing and reading took CPU"
    );
    assert!(
        text.contains("the process (courier and load generator) used"),
        "{text}"
    );
}

#[test]
fn a_run_bounded_by_time_is_not_reported_as_exhausted_and_reports_each_second() {
    let report = run(&LoadgenArgs {
        max_reads: 1_000_000,
        ..tiny(60_000, 2)
    })
    .unwrap();
    assert_eq!(report.write_errors, 0);
    assert_eq!(report.read_errors, 0);
    assert!(report.writes > 0 && report.writes < 60_000);
    assert!(!report.writes_exhausted);
    let text = report.to_string();
    assert!(!text.contains("raise --writes"), "{text}");

    // The first second ends while the work goes on; the second may end with it.
    let n = report.seconds.len();
    assert!((1..=2).contains(&n), "{n} full seconds in a 2 s run");
    for s in &report.seconds {
        assert!(s.writes_per_sec > 0.0 && s.reads_per_sec > 0.0, "{s:?}");
        assert!(
            s.write_p99 > Duration::ZERO && s.read_p99 > Duration::ZERO,
            "requests completed in every second, so each has a p99: {s:?}"
        );
    }
    let counted: f64 = report.seconds.iter().map(|s| s.writes_per_sec).sum();
    assert!(
        counted <= report.writes as f64 * 1.05,
        "the seconds count no more writes ({counted:.0}) than were made ({})",
        report.writes
    );
    let worst = report.worst_second().unwrap();
    assert!(report
        .seconds
        .iter()
        .all(|s| worst.writes_per_sec <= s.writes_per_sec
            && worst.reads_per_sec <= s.reads_per_sec
            && worst.write_p99 >= s.write_p99
            && worst.read_p99 >= s.read_p99));
    assert!(
        text.contains(&format!("worst of {n} full seconds")),
        "{text}"
    );
}

#[test]
fn a_paced_run_sends_exactly_its_schedule() {
    let report = run(&LoadgenArgs {
        write_rate: Some(300),
        read_rate: Some(800),
        max_reads: 1_000_000,
        ..tiny(10_000, 3)
    })
    .unwrap();
    assert_eq!(report.write_errors, 0);
    assert_eq!(report.read_errors, 0);
    // Every send time before the 3 s deadline is used, and none after it.
    assert_eq!(report.writes, 900, "300 writes/s for 3 s");
    assert_eq!(
        report.read_requests, 300,
        "800 boxes/s in batches of 8 for 3 s"
    );
    assert_eq!(report.reads, 2_400);
    assert!(!report.seconds.is_empty());
    for s in &report.seconds {
        assert!(
            (240.0..=360.0).contains(&s.writes_per_sec)
                && (640.0..=960.0).contains(&s.reads_per_sec),
            "each second follows the schedule: {s:?}"
        );
    }
    let text = report.to_string();
    assert!(
        text.contains("writes 300 writes/s offered on a schedule")
            && text.contains("reads 800 reads/s offered on a schedule"),
        "{text}"
    );
}

#[test]
fn a_rate_without_anyone_to_follow_it_is_refused() {
    let err = run(&LoadgenArgs {
        writers: 0,
        write_rate: Some(100),
        ..tiny(10, 1)
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("--write-rate needs writers"),
        "{err}"
    );
    let err = run(&LoadgenArgs {
        read_rate: Some(0),
        ..tiny(10, 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("at least 1 per second"), "{err}");
}
