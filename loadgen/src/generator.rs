//! The load generator: concurrent writers and batch readers against a courier simulator on
//! loopback, reporting writes/s, reads/s and latency percentiles. By default each writer and
//! reader has its own lean HTTP/1.1 connection; `--client store` runs the application client,
//! [`courier_protocol::HttpStore`], instead (see [`ClientKind`]).
//!
//! Every box is generated and signed before the clock starts (and, for the lean client, encoded
//! into its write request under a fresh query ID). Writers write their own boxes (each verified
//! by the server); readers read batches of random boxes written before the clock started and
//! check every box they get back (the lean client's readers by comparing the reply's bytes with
//! the encoding of the boxes asked for, decoding it only if it differs; see `ExpectedReads`).
//! Bounded in count (`--writes`, `--max-reads`) and time (`--duration`); only loopback addresses
//! are accepted.
//!
//! By default every writer and reader sends its next request as soon as the last is answered
//! (a closed loop: the figures are what the courier can do flat out). With `--write-rate` or
//! `--read-rate` that direction follows a fixed schedule instead (an open loop): requests go
//! out at the offered rate whatever the replies do, and each latency counts from the request's
//! scheduled send time, so a courier that falls behind shows it in both the per-second rates
//! and the percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bacap::{SealedBox, WriteCap};
use clap::Args;
use courier_protocol::HttpStore;
use pigeonhole::padding::{self, PaddedGeometry};
use pigeonhole::store::{BoxStore, ReadOutcome, WriteOutcome};

use courier_sim::Config;

use crate::client;
pub use client::ClientKind;
use client::{Connector, PreparedWrite, ReadReply};
use courier_protocol::wire::{self, ReadResult};

/// The flags of `courier-loadgen`.
#[derive(Debug, Clone, Args)]
pub struct LoadgenArgs {
    /// Courier to load, e.g. http://127.0.0.1:7800 (loopback only). Without it, a courier is
    /// started in this process on a fresh temporary data directory (RocksDB on disk, WAL on).
    #[arg(long)]
    pub url: Option<String>,

    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,

    /// Concurrent readers.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,

    /// Boxes per batch read.
    #[arg(long, default_value_t = 96)]
    pub batch: usize,

    /// How long the measured run lasts at most, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,

    /// Boxes generated for the writers: the most writes of the run. If the writers use them
    /// all before --duration ends, the report says so (their rate is then understated).
    #[arg(long, default_value_t = 300_000)]
    pub writes: usize,

    /// Boxes written before the clock starts, for the readers to read.
    #[arg(long, default_value_t = 10_000)]
    pub prefill: usize,

    /// The most batch read requests of the run.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_reads: usize,

    /// Message bytes per box (at most 1556). Every box is padded as a client pads it, so the
    /// courier stores 1576-byte payloads whatever this is; it changes only the generator's work.
    #[arg(long, default_value_t = PaddedGeometry::KATZENPOST.message_len())]
    pub plaintext: usize,

    /// Worker threads of the load generator's runtime.
    ///
    /// One by default: its work fits one thread, and on a small machine a second one costs more
    /// CPU than it saves. Latency counts from each query's scheduled send, so a client thread
    /// that fell behind would show in the figures, not hide a slow courier.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Worker threads of the embedded courier's runtime (without --url).
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,

    /// The embedded courier fsyncs every write batch (its --sync).
    #[arg(long)]
    pub sync: bool,

    /// Offer this many writes per second on a fixed schedule, instead of writing flat out.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub write_rate: Option<u32>,

    /// Offer this many box reads per second (in batches of --batch) on a fixed schedule,
    /// instead of reading flat out.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub read_rate: Option<u32>,

    /// The client: `lean` (one hyper HTTP/1.1 connection per writer and reader, nothing else)
    /// or `store` (the application client, `courier_protocol::HttpStore`: reqwest with its pool,
    /// timeouts and resends). Both speak the same protocol; they differ in the CPU they take
    /// from the courier on a shared machine.
    #[arg(long, value_enum, default_value_t = ClientKind::Lean)]
    pub client: ClientKind,

    /// Also print every full second of the run: its rates and the p99 latency of the requests
    /// completed in it.
    #[arg(long)]
    pub per_second: bool,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Wall time of the measured run.
    pub elapsed: Duration,
    /// Writes acknowledged as stored.
    pub writes: u64,
    /// Writes that failed or had another outcome.
    pub write_errors: u64,
    /// Whether the writers wrote every generated box before the deadline, idling for the rest
    /// of the run (the write rate is then a lower bound: generate more with `--writes`).
    pub writes_exhausted: bool,
    /// Boxes read back and checked.
    pub reads: u64,
    /// Batch read requests answered.
    pub read_requests: u64,
    /// Read requests that failed, or boxes that did not match.
    pub read_errors: u64,
    /// Write latency percentiles (p50, p99).
    pub write_latency: (Duration, Duration),
    /// Batch read latency percentiles (p50, p99).
    pub read_latency: (Duration, Duration),
    /// Throughput and p99 of each full second of the run, in order: a rate sustained through
    /// the run shows as a worst second close to the average.
    pub seconds: Vec<Second>,
    /// The offered write rate, if writes followed a schedule (`--write-rate`).
    pub write_rate: Option<u32>,
    /// The offered box read rate, if reads followed a schedule (`--read-rate`).
    pub read_rate: Option<u32>,
    /// How long one core took to verify a box just before the run and just after it (see
    /// [`verify_time`]): the machine's speed around the run, which drifts on a shared VM.
    pub verify_time: Option<(Duration, Duration)>,
    /// The CPU this process used during the measured run.
    pub cpu: CpuUse,
}

/// The CPU a process used during a run, to set against what the machine has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// CPU time (user and system) of every thread of the process during the run.
    pub time: Duration,
    /// The cores the process could use.
    pub cores: usize,
    /// Whether the courier ran in this process (no `--url`), so that its CPU is counted too.
    pub with_courier: bool,
    /// CPU time the hypervisor withheld from the whole machine during the run ("steal", summed
    /// over every CPU), where the kernel reports it.
    pub stolen: Option<Duration>,
}

impl CpuUse {
    /// Cores kept busy on average over `elapsed`.
    pub fn cores_busy(&self, elapsed: Duration) -> f64 {
        self.time.as_secs_f64() / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// CPU time the hypervisor has withheld from this machine so far, summed over every CPU (the
/// `steal` column of `/proc/stat`): time the machine wanted to run and another guest ran instead.
pub fn machine_steal_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    steal_in(&stat, rustix::param::clock_ticks_per_second())
}

/// The steal time in a `/proc/stat` text whose clock ticks `ticks_per_second` times a second.
fn steal_in(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // cpu user nice system idle iowait irq softirq steal ...
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second.max(1) as f64,
    ))
}

/// CPU time used so far by this whole process, every thread included.
pub fn process_cpu_time() -> Duration {
    cpu_clock(rustix::time::ClockId::ProcessCPUTime)
}

/// The reading of a CPU-time clock.
fn cpu_clock(clock: rustix::time::ClockId) -> Duration {
    let t = rustix::time::clock_gettime(clock);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The cores this process may use (1 if that cannot be told).
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What one full second of a run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    /// Verified writes per second in this window.
    pub writes_per_sec: f64,
    /// Boxes read and checked per second in this window.
    pub reads_per_sec: f64,
    /// p99 latency of the writes completed in this second (zero if none).
    pub write_p99: Duration,
    /// p99 latency of the batch reads completed in this second (zero if none).
    pub read_p99: Duration,
    /// Cores this process kept busy in this second.
    pub busy_cores: f64,
    /// Cores the hypervisor withheld from the machine in this second (steal), where the kernel
    /// reports it.
    pub stolen_cores: Option<f64>,
}

impl Report {
    /// Verified writes per second.
    pub fn writes_per_sec(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64()
    }

    /// Boxes read per second.
    pub fn reads_per_sec(&self) -> f64 {
        self.reads as f64 / self.elapsed.as_secs_f64()
    }

    /// The worst of the run's full seconds, each figure taken separately: the lowest rates and
    /// the highest p99 latencies. `None` if the run lasted less than a second.
    pub fn worst_second(&self) -> Option<Second> {
        let min = |f: fn(&Second) -> f64| self.seconds.iter().map(f).reduce(f64::min);
        let max = |f: fn(&Second) -> Duration| self.seconds.iter().map(f).max();
        Some(Second {
            writes_per_sec: min(|s| s.writes_per_sec)?,
            reads_per_sec: min(|s| s.reads_per_sec)?,
            write_p99: max(|s| s.write_p99)?,
            read_p99: max(|s| s.read_p99)?,
            busy_cores: self.seconds.iter().map(|s| s.busy_cores).reduce(f64::max)?,
            stolen_cores: self
                .seconds
                .iter()
                .filter_map(|s| s.stolen_cores)
                .reduce(f64::max),
        })
    }

    /// One line per full second: rates, p99 latencies, the cores this process kept busy and
    /// those the hypervisor withheld.
    pub fn per_second_table(&self) -> String {
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let steal = s
                    .stolen_cores
                    .map(|c| format!(", steal {c:.2}"))
                    .unwrap_or_default();
                format!(
                    "second {:>3}: {:>6.0} writes/s (p99 {:>6.2} ms), {:>6.0} reads/s (p99 {:>6.2} ms); cores busy {:.2}{steal}\n",
                    i + 1,
                    s.writes_per_sec,
                    ms(s.write_p99),
                    s.reads_per_sec,
                    ms(s.read_p99),
                    s.busy_cores,
                )
            })
            .collect()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offered = |rate: Option<u32>, what: &str| match rate {
            Some(r) => format!("{r} {what}/s offered on a schedule, latency from scheduled send"),
            None => "flat out".to_string(),
        };
        writeln!(
            f,
            "writes {}; reads {}",
            offered(self.write_rate, "writes"),
            offered(self.read_rate, "reads")
        )?;
        writeln!(
            f,
            "writes: {} verified in {:.2} s = {:.0} writes/s; latency p50 {:.2} ms, p99 {:.2} ms; errors {}",
            self.writes,
            self.elapsed.as_secs_f64(),
            self.writes_per_sec(),
            ms(self.write_latency.0),
            ms(self.write_latency.1),
            self.write_errors
        )?;
        if self.writes_exhausted {
            writeln!(
                f,
                "        the writers used every generated box before the deadline: the write \
                 rate is a lower bound (raise --writes)"
            )?;
        }
        write!(
            f,
            "reads:  {} boxes in {} batch requests = {:.0} reads/s ({:.0} requests/s); latency p50 {:.2} ms, p99 {:.2} ms; errors {}",
            self.reads,
            self.read_requests,
            self.reads_per_sec(),
            self.read_requests as f64 / self.elapsed.as_secs_f64(),
            ms(self.read_latency.0),
            ms(self.read_latency.1),
            self.read_errors
        )?;
        if let Some((before, after)) = self.verify_time {
            write!(
                f,
                "\none core verified a box in {:.1} µs before the run and {:.1} µs after it",
                before.as_secs_f64() * 1e6,
                after.as_secs_f64() * 1e6
            )?;
        }
        let busy = self.cpu.cores_busy(self.elapsed);
        write!(
            f,
            "\n{} used {:.2} of {} cores ({:.0} %) during the run",
            if self.cpu.with_courier {
                "the process (courier and load generator)"
            } else {
                "the load generator"
            },
            busy,
            self.cpu.cores,
            100.0 * busy / self.cpu.cores.max(1) as f64
        )?;
        if self.writes > 0 {
            write!(
                f,
                ": {:.0} µs of CPU per verified write, reads included",
                self.cpu.time.as_secs_f64() * 1e6 / self.writes as f64
            )?;
        }
        if let Some(stolen) = self.cpu.stolen {
            write!(
                f,
                "\nthe hypervisor withheld {:.2} cores (steal) during the run",
                stolen.as_secs_f64() / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
            )?;
        }
        if let Some(worst) = self.worst_second() {
            write!(
                f,
                "\nworst of {} full seconds: {:.0} writes/s, {:.0} reads/s; p99 {:.2} ms (writes), {:.2} ms (reads)",
                self.seconds.len(),
                worst.writes_per_sec,
                worst.reads_per_sec,
                ms(worst.write_p99),
                ms(worst.read_p99)
            )?;
        }
        Ok(())
    }
}

/// Generates `n` signed boxes carrying `plaintext` message bytes each, padded as a client pads
/// them (so at most [`PaddedGeometry::message_len`] bytes), on `threads` threads, one stream per
/// thread.
pub fn generate_boxes(n: usize, plaintext: usize, threads: usize) -> Vec<SealedBox> {
    let threads = threads.clamp(1, n.max(1));
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = per.min(n.saturating_sub(t * per));
                s.spawn(move || {
                    let cap = WriteCap::generate(&mut rand_core::OsRng);
                    let mut index = cap.first_index().clone();
                    let mut out = Vec::with_capacity(count);
                    for i in 0..count {
                        let text: Vec<u8> = (0..plaintext).map(|j| (i * 31 + j) as u8).collect();
                        let padded = padding::pad(&text, PaddedGeometry::KATZENPOST)
                            .expect("run checks --plaintext against the geometry");
                        out.push(cap.seal(&index, b"courier-sim-loadgen", &padded));
                        index = index.next().expect("fresh streams are far from the end");
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("generator thread"))
            .collect()
    })
}

/// The most boxes [`verify_time`] verifies.
pub const CALIBRATION_BOXES: usize = 1000;

/// The mean time one core takes to verify the signature of one of `boxes` (at most
/// [`CALIBRATION_BOXES`] of them, on the calling thread): a measure of the machine's speed at
/// this moment, to read a run's figures by. `None` without boxes.
pub fn verify_time(boxes: &[SealedBox]) -> Option<Duration> {
    let sample = &boxes[..boxes.len().min(CALIBRATION_BOXES)];
    let n = u32::try_from(sample.len()).ok().filter(|&n| n > 0)?;
    let start = Instant::now();
    for b in sample {
        let _ = std::hint::black_box(b.verify());
    }
    Some(start.elapsed() / n)
}

/// A duration in milliseconds, for the report.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One latency sample: microseconds, and the second of the run in which the request completed.
type Sample = (u32, u32);

/// The sample of a request sent (or scheduled) at `sent` and answered now, in a run that
/// started at `start`: one clock read for both.
fn sample(sent: Instant, start: Instant) -> Sample {
    let now = Instant::now();
    let micros = now
        .duration_since(sent)
        .as_micros()
        .min(u128::from(u32::MAX)) as u32;
    (micros, now.duration_since(start).as_secs() as u32)
}

fn percentiles(mut micros: Vec<u32>) -> (Duration, Duration) {
    if micros.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        Duration::from_micros(u64::from(micros[i]))
    };
    (at(0.50), at(0.99))
}

/// A small xorshift generator for picking boxes to read (not for anything secret).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the load generator, starting an embedded courier unless `args.url` is given.
pub fn run(args: &LoadgenArgs) -> anyhow::Result<Report> {
    if args.writers == 0 && args.readers == 0 {
        bail!("nothing to do: no writers and no readers");
    }
    let max = PaddedGeometry::KATZENPOST.message_len();
    if args.plaintext > max {
        bail!("--plaintext is at most {max}");
    }
    if args.write_rate == Some(0) || args.read_rate == Some(0) {
        bail!("an offered rate must be at least 1 per second");
    }
    if args.write_rate.is_some() && args.writers == 0 {
        bail!("--write-rate needs writers");
    }
    if args.read_rate.is_some() && args.readers == 0 {
        bail!("--read-rate needs readers");
    }
    let cores = available_cores();
    eprintln!(
        "generating and signing {} boxes on {cores} threads...",
        args.writes + args.prefill
    );
    let mut boxes = generate_boxes(args.writes + args.prefill, args.plaintext, cores);
    let calibration: Vec<SealedBox> = boxes.iter().take(CALIBRATION_BOXES).cloned().collect();
    let prefill: Arc<Vec<SealedBox>> = Arc::new(boxes.split_off(args.writes));

    // The embedded courier gets its own runtime, as a separate process would.
    let mut _data_dir = None;
    let mut server_rt = None;
    let mut server = None;
    let url = match &args.url {
        Some(url) => {
            client::loopback_authority(url)?;
            url.clone()
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("courier-sim-loadgen-")
                .tempdir()
                .context("creating a temporary data directory")?;
            let mut config = Config::persistent(dir.path().join("db"));
            config.sync = args.sync;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.server_threads.max(1))
                .thread_name("courier")
                .enable_all()
                .build()?;
            let s = rt.block_on(courier_sim::serve(config))?;
            let url = s.url();
            eprintln!(
                "embedded courier at {url}, data in {}",
                dir.path().display()
            );
            _data_dir = Some(dir);
            server = Some(s);
            server_rt = Some(rt);
            url
        }
    };

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    let connector = client_rt.block_on(Connector::new(args.client, &url))?;
    let before = verify_time(&calibration);
    let mut report = client_rt.block_on(measure(args, &connector, boxes, prefill))?;
    report.verify_time = before.zip(verify_time(&calibration));
    drop(client_rt);
    if let (Some(rt), Some(s)) = (server_rt, server) {
        rt.block_on(s.shutdown())?;
    }
    Ok(report)
}

async fn measure(
    args: &LoadgenArgs,
    connector: &Connector,
    boxes: Vec<SealedBox>,
    prefill: Arc<Vec<SealedBox>>,
) -> anyhow::Result<Report> {
    eprintln!("prefilling {} boxes for the readers...", prefill.len());
    let chunk = prefill.len().div_ceil(32).max(1);
    let mut tasks = Vec::new();
    for part in 0..prefill.len().div_ceil(chunk) {
        let (mut client, prefill) = (connector.connect().await?, prefill.clone());
        tasks.push(tokio::spawn(async move {
            for b in &prefill[part * chunk..((part + 1) * chunk).min(prefill.len())] {
                match client.write(b).await {
                    Ok(WriteOutcome::Stored) => {}
                    other => bail!("prefill write failed: {other:?}"),
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    if args.readers > 0 && prefill.is_empty() {
        bail!("readers need --prefill > 0");
    }
    let known = if prefill.is_empty() { &boxes } else { &prefill };
    // The shared application client opens its pool's connections in a warm-up; the lean one
    // opens each task's connection here. Either way, before the clock starts.
    if let Some(store) = connector.shared_store() {
        warm_up(store, args.writers + args.readers, args.batch, known).await?;
    }
    let mut clients = Vec::with_capacity(args.writers + args.readers);
    for _ in 0..args.writers + args.readers {
        clients.push(connector.connect().await?);
    }

    eprintln!(
        "running {} writers and {} readers (batch {}) for at most {} s...",
        args.writers, args.readers, args.batch, args.duration
    );
    // Each writer's share, dealt before the clock starts and in linear time (splitting shares
    // off the end copies each box once; off the front would copy the rest every time).
    let boxes_total = boxes.len() as u64;
    let per_writer = boxes.len().div_ceil(args.writers.max(1)).max(1);
    let mut boxes = boxes;
    let mut shares = Vec::with_capacity(args.writers);
    while !boxes.is_empty() && args.writers > 0 {
        let share = boxes.split_off(boxes.len().saturating_sub(per_writer));
        // Each box is consumed as its request is made, so the boxes are not held twice.
        let share: Vec<PreparedWrite> = share
            .into_iter()
            .map(|b| connector.prepare_write(b))
            .collect();
        shares.push(share);
    }
    // What a correct reply to a read of prefill boxes holds, box by box, for the readers to
    // compare replies with (see `ExpectedReads`).
    let expected = Arc::new(ExpectedReads::new(&prefill, args.batch.max(1)));

    let done = Arc::new(Progress::default());
    let cpu_before = process_cpu_time();
    let steal_before = machine_steal_time();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration);
    let write_pacer = args
        .write_rate
        .map(|r| Arc::new(Pacer::new(start, f64::from(r))));
    let batch = args.batch.max(1);
    let read_pacer = args
        .read_rate
        .map(|r| Arc::new(Pacer::new(start, f64::from(r) / batch as f64)));
    let (stop_sampling, stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(sample_seconds(done.clone(), start, deadline, stopped));
    let mut writers = Vec::new();
    let reader_clients = clients.split_off(args.writers);
    for (mine, mut client) in shares.into_iter().zip(clients) {
        let (done, pacer) = (done.clone(), write_pacer.clone());
        writers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(mine.len()));
            for b in &mine {
                let Some(t) = next_send(pacer.as_deref(), deadline).await else {
                    break;
                };
                match client.write_prepared(b).await {
                    Ok(WriteOutcome::Stored) => {
                        ok += 1;
                        done.writes.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => errors += 1,
                }
                lat.push(sample(t, start));
            }
            (ok, errors, lat)
        }));
    }

    let reads_per_reader = args.max_reads.div_ceil(args.readers.max(1));
    let mut readers = Vec::new();
    for (r, mut client) in reader_clients.into_iter().enumerate() {
        let (prefill, expected, done) = (prefill.clone(), expected.clone(), done.clone());
        let pacer = read_pacer.clone();
        readers.push(tokio::spawn(async move {
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (r as u64 + 1));
            let (mut boxes_ok, mut requests, mut errors) = (0u64, 0u64, 0u64);
            let mut lat = Vec::new();
            while (requests as usize) < reads_per_reader {
                let picks: Vec<usize> = (0..batch)
                    .map(|_| (rng.next() % prefill.len() as u64) as usize)
                    .collect();
                let ids: Vec<_> = picks.iter().map(|&i| prefill[i].box_id).collect();
                let Some(t) = next_send(pacer.as_deref(), deadline).await else {
                    break;
                };
                let result = client.read_reply(&ids).await;
                lat.push(sample(t, start));
                requests += 1;
                let found = result.and_then(|reply| match reply {
                    ReadReply::Body(body) if expected.matches(&body, &picks) => {
                        Ok(picks.len() as u64)
                    }
                    reply => reply
                        .into_outcomes(&ids)
                        .map(|outcomes| check_outcomes(&outcomes, &picks, &prefill)),
                });
                match found {
                    Ok(found) => {
                        boxes_ok += found;
                        errors += picks.len() as u64 - found;
                        done.reads.fetch_add(found, Ordering::Relaxed);
                    }
                    Err(_) => errors += 1,
                }
            }
            (boxes_ok, requests, errors, lat)
        }));
    }

    let (mut writes, mut write_errors, mut write_lat) = (0, 0, Vec::new());
    for w in writers {
        let (ok, errors, lat) = w.await?;
        writes += ok;
        write_errors += errors;
        write_lat.extend(lat);
    }
    let (mut reads, mut read_requests, mut read_errors, mut read_lat) = (0, 0, 0, Vec::new());
    for r in readers {
        let (ok, requests, errors, lat) = r.await?;
        reads += ok;
        read_requests += requests;
        read_errors += errors;
        read_lat.extend(lat);
    }
    let elapsed = start.elapsed();
    let cpu = CpuUse {
        time: process_cpu_time().saturating_sub(cpu_before),
        cores: available_cores(),
        with_courier: args.url.is_none(),
        stolen: steal_before
            .zip(machine_steal_time())
            .map(|(before, after)| after.saturating_sub(before)),
    };
    let _ = stop_sampling.send(());
    let mut seconds = sampler.await?;
    let p99_by_second = |samples: &[Sample]| {
        let mut by_second = vec![Vec::new(); seconds.len()];
        for &(micros, at) in samples {
            if let Some(bucket) = by_second.get_mut(at as usize) {
                bucket.push(micros);
            }
        }
        by_second
            .into_iter()
            .map(|b| percentiles(b).1)
            .collect::<Vec<_>>()
    };
    let (write_p99s, read_p99s) = (p99_by_second(&write_lat), p99_by_second(&read_lat));
    for ((s, w), r) in seconds.iter_mut().zip(write_p99s).zip(read_p99s) {
        (s.write_p99, s.read_p99) = (w, r);
    }
    let micros = |samples: Vec<Sample>| samples.into_iter().map(|(m, _)| m).collect();
    Ok(Report {
        elapsed,
        writes,
        write_errors,
        writes_exhausted: args.writers > 0 && writes + write_errors == boxes_total,
        reads,
        read_requests,
        read_errors,
        write_latency: percentiles(micros(write_lat)),
        read_latency: percentiles(micros(read_lat)),
        seconds,
        write_rate: args.write_rate,
        read_rate: args.read_rate,
        verify_time: None,
        cpu,
    })
}

/// How many of `outcomes` are the boxes the read asked for: `prefill[i]` for each `i` of
/// `picks`, in order. A missing outcome counts as wrong.
fn check_outcomes(outcomes: &[ReadOutcome], picks: &[usize], prefill: &[SealedBox]) -> u64 {
    outcomes
        .iter()
        .zip(picks)
        .filter(|(outcome, &i)| matches!(outcome, ReadOutcome::Found(b) if *b == prefill[i]))
        .count() as u64
}

/// The bytes of a correct reply to a batch read of prefill boxes, in pieces: the reply's head
/// and each box's result, as the wire codec encodes them. A reply that is exactly the head and
/// the results of the boxes asked for, in order, holds every box as it was written; comparing
/// bytes costs the load generator (which shares the machine with the courier) less than
/// decoding them. A reply that differs is decoded and checked box by box, so a courier that
/// encodes correct answers differently is not counted wrong.
struct ExpectedReads {
    /// The head of a reply of `batch` results.
    head: Vec<u8>,
    /// The encoded result of each prefill box.
    results: Vec<Vec<u8>>,
}

impl ExpectedReads {
    fn new(prefill: &[SealedBox], batch: usize) -> Self {
        ExpectedReads {
            head: wire::read_reply_head(batch),
            results: prefill
                .iter()
                .map(|b| {
                    wire::encode_read_result(&ReadResult::stored(
                        b.signature.as_bytes(),
                        &b.payload,
                    ))
                })
                .collect(),
        }
    }

    /// Whether `body` is exactly the reply to a read of the prefill boxes `picks` (`batch` of
    /// them).
    fn matches(&self, body: &[u8], picks: &[usize]) -> bool {
        let Some(mut rest) = body.strip_prefix(self.head.as_slice()) else {
            return false;
        };
        for &i in picks {
            match self
                .results
                .get(i)
                .and_then(|r| rest.strip_prefix(r.as_slice()))
            {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

/// Opens the connections a run will use before its clock starts: `tasks` concurrent batch
/// reads (of up to `batch` boxes, so that they overlap), so that the first seconds measure
/// requests rather than TCP and HTTP handshakes (the client keeps idle connections for reuse).
/// Reads change nothing stored, and what they answer does not matter here: a courier that
/// fails them shows it in the run's error counts.
async fn warm_up(
    store: &HttpStore,
    tasks: usize,
    batch: usize,
    boxes: &[SealedBox],
) -> anyhow::Result<()> {
    let ids: Arc<Vec<_>> = Arc::new(boxes.iter().take(batch.max(1)).map(|b| b.box_id).collect());
    if ids.is_empty() {
        return Ok(());
    }
    let reads = (0..tasks).map(|_| {
        let (store, ids) = (store.clone(), ids.clone());
        tokio::spawn(async move { store.read_many(&ids).await })
    });
    for read in reads.collect::<Vec<_>>() {
        let _answer = read.await?;
    }
    Ok(())
}

/// Work done so far in a run, counted as it completes.
#[derive(Default)]
struct Progress {
    writes: AtomicU64,
    reads: AtomicU64,
}

/// Send times at a fixed rate from `start`, shared by every task of one direction. A late reply
/// delays no later request, and whoever sends at a ticket's time measures latency from it.
struct Pacer {
    start: Instant,
    nanos_per_ticket: f64,
    issued: AtomicU64,
}

impl Pacer {
    fn new(start: Instant, per_sec: f64) -> Self {
        Pacer {
            start,
            nanos_per_ticket: 1e9 / per_sec,
            issued: AtomicU64::new(0),
        }
    }

    /// The next unclaimed send time.
    fn next(&self) -> Instant {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        self.start + Duration::from_nanos((n as f64 * self.nanos_per_ticket) as u64)
    }
}

/// Waits for this task's next send time: the next ticket of `pacer`, or now when unpaced.
/// `None` once that time is at or past `deadline`.
async fn next_send(pacer: Option<&Pacer>, deadline: Instant) -> Option<Instant> {
    let now = Instant::now();
    let at = pacer.map_or(now, Pacer::next);
    if at >= deadline {
        return None;
    }
    if at > now {
        tokio::time::sleep_until(at.into()).await;
    }
    Some(at)
}

/// Samples `done` once a second from `start` until `deadline` or until `stop` fires, and
/// returns the throughput of every full second (a second cut short by the end of the work is
/// left out).
async fn sample_seconds(
    done: Arc<Progress>,
    start: Instant,
    deadline: Instant,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Vec<Second> {
    let mut seconds = Vec::new();
    let mut ticks = tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_at, mut last_writes, mut last_reads) = (start, 0, 0);
    let (mut last_cpu, mut last_steal) = (process_cpu_time(), machine_steal_time());
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        if now > deadline + Duration::from_millis(100) {
            break;
        }
        let (writes, reads) = (
            done.writes.load(Ordering::Relaxed),
            done.reads.load(Ordering::Relaxed),
        );
        let (cpu, steal) = (process_cpu_time(), machine_steal_time());
        let secs = now.duration_since(last_at).as_secs_f64();
        seconds.push(Second {
            writes_per_sec: (writes - last_writes) as f64 / secs,
            reads_per_sec: (reads - last_reads) as f64 / secs,
            write_p99: Duration::ZERO,
            read_p99: Duration::ZERO,
            busy_cores: cpu.saturating_sub(last_cpu).as_secs_f64() / secs,
            stolen_cores: steal
                .zip(last_steal)
                .map(|(now, then)| now.saturating_sub(then).as_secs_f64() / secs),
        });
        (last_at, last_writes, last_reads) = (now, writes, reads);
        (last_cpu, last_steal) = (cpu, steal);
    }
    seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat-out report of `elapsed` with nothing done, the courier in the process using
    /// `cpu` of two cores, no steal figure.
    fn quiet_report(elapsed: Duration, cpu: Duration) -> Report {
        Report {
            elapsed,
            writes: 0,
            write_errors: 0,
            writes_exhausted: false,
            reads: 0,
            read_requests: 0,
            read_errors: 0,
            write_latency: (Duration::ZERO, Duration::ZERO),
            read_latency: (Duration::ZERO, Duration::ZERO),
            seconds: vec![],
            write_rate: None,
            read_rate: None,
            verify_time: None,
            cpu: CpuUse {
                time: cpu,
                cores: 2,
                with_courier: true,
                stolen: None,
            },
        }
    }

    #[test]
    fn the_worst_second_is_taken_figure_by_figure() {
        let second = |w, r, p99_ms| Second {
            writes_per_sec: w,
            reads_per_sec: r,
            write_p99: Duration::from_millis(p99_ms),
            read_p99: Duration::from_millis(20 - p99_ms),
            busy_cores: w / 10.0,
            stolen_cores: (w > 8.0).then_some(0.25),
        };
        let mut report = quiet_report(Duration::from_secs(3), Duration::from_millis(4500));
        assert_eq!(report.worst_second(), None);
        let text = report.to_string();
        assert!(text.contains("writes flat out; reads flat out"), "{text}");
        assert!(!text.contains("worst of"), "{text}");
        assert!(!text.contains("verified a box"), "{text}");
        report.verify_time = Some((Duration::from_micros(52), Duration::from_nanos(61_260)));
        let text = report.to_string();
        assert!(
            text.contains(
                "one core verified a box in 52.0 µs before the run and 61.3 µs after it\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "the process (courier and load generator) used 1.50 of 2 cores (75 %) during the run"
            ),
            "no writes, no CPU per write: {text}"
        );
        report.writes = 9_000;
        report.cpu.with_courier = false;
        assert!(
            report.to_string().ends_with(
                "the load generator used 1.50 of 2 cores (75 %) during the run: \
                 500 µs of CPU per verified write, reads included"
            ),
            "{}",
            report
        );
        report.seconds = vec![
            second(10.0, 5.0, 4),
            second(7.0, 9.0, 2),
            second(12.0, 6.0, 11),
        ];
        let worst = report.worst_second().unwrap();
        assert_eq!((worst.writes_per_sec, worst.reads_per_sec), (7.0, 5.0));
        assert_eq!(
            (worst.write_p99, worst.read_p99),
            (Duration::from_millis(11), Duration::from_millis(18))
        );
        assert!(report.to_string().ends_with(
            "worst of 3 full seconds: 7 writes/s, 5 reads/s; p99 11.00 ms (writes), 18.00 ms (reads)"
        ));
        let table = report.per_second_table();
        assert_eq!(table.lines().count(), 3);
        assert!(
            table.starts_with(
                "second   1:     10 writes/s (p99   4.00 ms),      5 reads/s (p99  16.00 ms); \
                 cores busy 1.00, steal 0.25\n"
            ),
            "{table}"
        );
        assert!(
            table.contains("cores busy 0.70\n"),
            "no steal figure: {table}"
        );
        assert_eq!(worst.busy_cores, 1.2);
        assert_eq!(worst.stolen_cores, Some(0.25));
    }

    #[tokio::test]
    async fn a_courier_reply_matches_the_expected_pieces_and_nothing_else_does() {
        let server = courier_sim::serve(Config::ephemeral()).await.unwrap();
        let prefill = generate_boxes(4, 300, 2);
        let connector = Connector::new(ClientKind::Lean, &server.url())
            .await
            .unwrap();
        let mut client = connector.connect().await.unwrap();
        for b in &prefill[..3] {
            assert_eq!(client.write(b).await.unwrap(), WriteOutcome::Stored);
        }
        let picks = [2, 0, 2, 1, 0];
        let expected = ExpectedReads::new(&prefill, picks.len());
        let ids: Vec<_> = picks.iter().map(|&i| prefill[i].box_id).collect();
        let ReadReply::Body(body) = client.read_reply(&ids).await.unwrap() else {
            panic!("the lean client leaves replies undecoded");
        };
        assert!(expected.matches(&body, &picks));
        assert!(!expected.matches(&body, &[2, 0, 2, 0, 1]), "another order");
        assert!(!expected.matches(&body, &picks[..4]), "fewer boxes");
        assert!(
            !expected.matches(&body[..body.len() - 1], &picks),
            "cut short"
        );
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(!expected.matches(&longer, &picks), "trailing bytes");
        let mut flipped = body.to_vec();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(
            !expected.matches(&flipped, &picks),
            "a payload byte changed"
        );
        assert!(
            !expected.matches(&body, &[2, 0, 2, 1, 9]),
            "a pick out of range"
        );

        // What the readers fall back on: a decoded check of each box.
        let outcomes = ReadReply::Body(flipped.into()).into_outcomes(&ids).unwrap();
        assert_eq!(check_outcomes(&outcomes, &picks, &prefill), 4);
        let all_ids: Vec<_> = prefill.iter().map(|b| b.box_id).collect();
        let all = client.read_many(&all_ids).await.unwrap();
        assert_eq!(
            check_outcomes(&all, &[0, 1, 2, 3], &prefill),
            3,
            "the box never written is not found"
        );
        assert_eq!(
            check_outcomes(&all[..2], &[0, 1, 2], &prefill),
            2,
            "a missing outcome is not counted"
        );
        server.shutdown().await.unwrap();
    }

    #[test]
    fn a_pacer_hands_out_evenly_spaced_send_times() {
        let start = Instant::now();
        let pacer = Pacer::new(start, 4.0);
        let offsets: Vec<_> = (0..4).map(|_| pacer.next() - start).collect();
        let ms = Duration::from_millis;
        assert_eq!(offsets, [ms(0), ms(250), ms(500), ms(750)]);
    }

    #[test]
    fn percentiles_pick_ranks() {
        let (p50, p99) = percentiles((1..=100).collect());
        assert_eq!(p50, Duration::from_micros(50));
        assert_eq!(p99, Duration::from_micros(99));
        assert_eq!(percentiles(vec![]), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn generated_boxes_verify_and_are_distinct() {
        let boxes = generate_boxes(10, 100, 3);
        assert_eq!(boxes.len(), 10);
        let mut ids: Vec<_> = boxes.iter().map(|b| b.box_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        assert!(boxes.iter().all(|b| b.verify().is_ok()));
    }

    #[test]
    fn steal_time_is_read_from_the_cpu_line() {
        let stat = "cpu  100 0 50 900 3 0 2 250 0 0\ncpu0 50 0 25 450 1 0 1 125 0 0\n";
        assert_eq!(steal_in(stat, 100), Some(Duration::from_millis(2500)));
        assert_eq!(steal_in("cpu0 1 2 3\n", 100), None, "no machine-wide line");
        assert_eq!(
            steal_in("cpu  1 2 3 4\n", 100),
            None,
            "an old kernel without steal"
        );
        assert_eq!(steal_in("cpu  1 2 3 4 5 6 7 x\n", 100), None);
        #[cfg(target_os = "linux")]
        assert!(machine_steal_time().is_some(), "Linux reports steal time");
    }

    #[test]
    fn the_report_says_how_much_the_hypervisor_withheld() {
        let mut report = quiet_report(Duration::from_secs(10), Duration::from_secs(15));
        report.writes = 10;
        report.cpu.stolen = Some(Duration::from_secs(4));
        assert!(
            report
                .to_string()
                .contains("\nthe hypervisor withheld 0.40 cores (steal) during the run"),
            "{report}"
        );
        report.cpu.stolen = None;
        assert!(!report.to_string().contains("steal"));
    }

    #[test]
    fn process_cpu_time_counts_work_on_other_threads() {
        let thread_cpu = || cpu_clock(rustix::time::ClockId::ThreadCPUTime);
        let before = process_cpu_time();
        // Another thread spins until it has had 20 ms of CPU by its own clock, however busy
        // the machine is.
        std::thread::spawn(move || {
            let start = thread_cpu();
            let mut x = 0u64;
            while thread_cpu() - start < Duration::from_millis(20) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        })
        .join()
        .unwrap();
        let used = process_cpu_time() - before;
        assert!(used >= Duration::from_millis(20), "{used:?}");
    }

    #[test]
    fn verify_time_needs_boxes_and_measures_some() {
        assert_eq!(verify_time(&[]), None);
        let boxes = generate_boxes(3, 100, 1);
        let t = verify_time(&boxes).unwrap();
        assert!(t > Duration::ZERO && t < Duration::from_secs(1), "{t:?}");
    }
}
