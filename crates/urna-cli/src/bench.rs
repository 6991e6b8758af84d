//! `urna bench ingest`: a million signed protocols through the whole intake, with the raw
//! Ed25519 verification rates measured in the same run on the same cores as references.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use ed25519_dalek::VerifyingKey;
use urna_model::definition::ContestIdx;
use urna_model::note::{Note, verify_batch, verify_raw};
use urna_model::pack::PackReader;
use urna_sim::{SimConfig, Simulation};
use urna_store::{IngestOptions, Outcome, Store, SystemClock};

/// Signatures used for the reference rates.
const REFERENCE_SAMPLE: usize = 100_000;
/// Batch size of the batch reference (the intake's chunk size).
const BATCH: usize = 512;

/// Marks per voter in the open-list comparison run (Kosovo allows up to 10).
const BENCH_MARKS: u32 = 5;

/// The key of a preference line (one per list), counted in the open-list pack.
const PREFERENCE_KEY: &[u8] = b"preferences: ";

/// A benchmark's work directory: the one given, created and made absolute (nginx and the
/// server are started from elsewhere and resolve relative paths against their own
/// configuration), or a temporary one, removed when this is dropped.
pub(crate) struct WorkDir {
    path: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl WorkDir {
    pub(crate) fn new(dir: Option<&Path>) -> Result<Self> {
        use anyhow::Context as _;
        Ok(match dir {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                let path = std::fs::canonicalize(d).with_context(|| d.display().to_string())?;
                Self { path, _tmp: None }
            }
            None => {
                let tmp = tempfile::tempdir()?;
                Self {
                    path: tmp.path().to_owned(),
                    _tmp: Some(tmp),
                }
            }
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn ingest(stations: u32, dir: Option<&Path>, candidates: u32) -> Result<ExitCode> {
    let work = WorkDir::new(dir)?;
    let dir = work.path();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    out!(
        "urna bench ingest: {stations} stations, {threads} cores, work dir {}",
        dir.display()
    );
    let sim = Simulation::new(SimConfig {
        stations,
        error_rate_per_10k: 100,
        ..SimConfig::default()
    });
    let t = Instant::now();
    crate::write_sim(&sim, &dir.join("source"))?;
    out!(
        "prepare: generated and signed {stations} protocols in {:.1} s (not part of the figures below)",
        t.elapsed().as_secs_f64()
    );

    // Open lists: the same stations with `preferences:` lines, ingested in this run too.
    let open = if candidates > 0 {
        let sim = Simulation::new(SimConfig {
            stations,
            error_rate_per_10k: 100,
            candidates,
            marks: BENCH_MARKS,
            ..SimConfig::default()
        });
        let t = Instant::now();
        crate::write_sim(&sim, &dir.join("source-open"))?;
        out!(
            "prepare: generated and signed {stations} protocols with {candidates} candidates per list in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Some(
            ingest_rate(&dir.join("source-open"), &dir.join("store-open"))?.max(ingest_rate(
                &dir.join("source-open"),
                &dir.join("store-open-2"),
            )?),
        )
    } else {
        None
    };
    let closed_only = if open.is_some() {
        Some(
            ingest_rate(&dir.join("source"), &dir.join("store-closed"))?.max(ingest_rate(
                &dir.join("source"),
                &dir.join("store-closed-2"),
            )?),
        )
    } else {
        None
    };

    // References: raw Ed25519 verification of protocol notes, one by one and in batches.
    let election = urna_model::definition::Election::load(&dir.join("source/election.toml"))?;
    let sample: Vec<(Vec<u8>, Vec<u8>, VerifyingKey)> = PackReader::new(std::io::BufReader::new(
        std::fs::File::open(dir.join("source/protocols.notes"))?,
    ))
    .take(REFERENCE_SAMPLE)
    .filter_map(|n| {
        let n = Note::parse(&n.ok()?).ok()?;
        let sig = n.signatures().first()?.clone();
        let st = &election.stations[election.station(&sig.name)?.0 as usize];
        let key = VerifyingKey::from_bytes(&st.public_key).ok()?;
        Some((n.text().as_bytes().to_vec(), sig.signature, key))
    })
    .collect();
    let per = sample.len().div_ceil(threads);
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in sample.chunks(per) {
            s.spawn(move || part.iter().all(|(m, sig, k)| verify_raw(k, m, sig).is_ok()));
        }
    });
    let single_rate = sample.len() as f64 / t.elapsed().as_secs_f64();
    // One by one with each key decoded from its 32 bytes first: every check intake must make
    // of a note it has not seen, and nothing else (intake verifies each signature on its own
    // and strictly, never by one batch equation: see `urna_model::intake::check_batch_keyed`).
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in sample.chunks(per) {
            s.spawn(move || {
                part.iter().all(|(m, sig, k)| {
                    VerifyingKey::from_bytes(k.as_bytes())
                        .is_ok_and(|k| verify_raw(&k, m, sig).is_ok())
                })
            });
        }
    });
    let strict_rate = sample.len() as f64 / t.elapsed().as_secs_f64();
    let batch_rate = batch_verify_rate(&sample, per, false);
    // The same batches with each key decompressed from its 32 bytes first, as intake must do
    // once per station: the part of the cost that belongs to Ed25519 itself.
    let batch_decompress_rate = batch_verify_rate(&sample, per, true);
    drop(sample);

    // Machine limits for the log, measured now: SHA-256 of tree nodes, and fsync latency.
    let node_rate = node_hash_rate();
    let fsync_ms = fsync_latency_ms(dir)?;

    // The intake proper: verify + parse + validate + durable store + log, then the tally.
    let t = Instant::now();
    let mut store = Store::init(&dir.join("store"), &dir.join("source/election.toml"))?;
    let pack = std::fs::File::open(dir.join("source/protocols.notes"))?;
    let notes = PackReader::new(std::io::BufReader::with_capacity(1 << 20, pack));
    let mut acked: Vec<Instant> = Vec::with_capacity(stations as usize);
    let report = store.ingest(notes, &IngestOptions::default(), &SystemClock, |ack| {
        if let Outcome::Stored { .. } = ack.outcome {
            acked.push(Instant::now());
        }
    })?;
    let ingest_s = t.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let r = store.tally(ContestIdx(0))?;
    let tally_s = t2.elapsed().as_secs_f64();
    let total_s = t.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let rederived = store.rederive_tally(ContestIdx(0))?;
    let rederive_s = t3.elapsed().as_secs_f64();
    if rederived != r {
        anyhow::bail!("the tally kept by intake differs from the one re-derived from the notes");
    }
    let rate = f64::from(stations) / ingest_s;
    let counted = r.tally().units[0].counted;
    out!(
        "reference: Ed25519 verify one by one {single_rate:.0}/s, in batches of {BATCH} {batch_rate:.0}/s ({threads} threads, keys pre-decompressed)"
    );
    out!(
        "reference: Ed25519 batches of {BATCH} with each key decompressed from bytes {batch_decompress_rate:.0}/s"
    );
    out!(
        "reference: Ed25519 verify one by one with each key decompressed from bytes {strict_rate:.0}/s (the signature checks intake makes, nothing else)"
    );
    out!("{}", crate::report::ingest_line(&report));
    out!(
        "ingest:    {stations} protocols in {ingest_s:.2} s = {rate:.0} protocols/s = {:.2}× batch verify, {:.2}× batch verify with key decompression, {:.2}× single verify, {:.2}× single verify with key decompression",
        rate / batch_rate,
        rate / batch_decompress_rate,
        rate / single_rate,
        rate / strict_rate
    );
    out!(
        "busy:      checkers {:.2} s (over all threads), writer {:.2} s, sequencer {:.2} s",
        report.check_busy.as_secs_f64(),
        report.write_busy.as_secs_f64(),
        report.sequence_busy.as_secs_f64()
    );
    out!(
        "tally:     {tally_s:.2} s (kept current by intake; {counted} stations counted); re-derived from the stored notes in {rederive_s:.2} s, identical"
    );
    out!("total:     {total_s:.2} s for ingest + tally");
    if let (Some(open), Some(closed)) = (open, closed_only) {
        out!(
            "open lists: {stations} protocols with {candidates} candidates per list (up to {BENCH_MARKS} marks) {open:.0} protocols/s, closed lists {closed:.0} protocols/s (best of two intakes each, this run): a protocol with preference lines costs {:.2}× a list-only one",
            closed / open
        );
        let pack = std::fs::read(dir.join("source-open/protocols.notes"))?;
        // A preference line is `preferences: <list>` and a `<number>:<votes>` pair per
        // candidate with votes.
        let (mut lines, mut pairs) = (0usize, 0usize);
        for line in pack.split(|&b| b == b'\n') {
            if let Some(rest) = line.strip_prefix(PREFERENCE_KEY) {
                lines += 1;
                pairs += rest.iter().filter(|&&b| b == b':').count();
            }
        }
        let closed_bytes = std::fs::metadata(dir.join("source/protocols.notes"))?.len();
        let n = f64::from(stations.max(1));
        out!(
            "            (signed notes of {:.0} bytes with {:.1} preference lines of {:.0} candidates on average, against {:.0} bytes: signature hashing, storage and the log grow with the bytes)",
            pack.len() as f64 / n,
            lines as f64 / n,
            pairs as f64 / n,
            closed_bytes as f64 / n
        );
    }
    if let Some(d) = report.first_ack {
        out!(
            "first acknowledged protocol after {:.1} ms (from the start of intake, store created)",
            d.as_secs_f64() * 1000.0
        );
    }
    // The log: checkpoints, tile bytes, time from acknowledgment to a signed checkpoint.
    let mut latencies_ms: Vec<f64> = Vec::with_capacity(acked.len());
    let mut cps = report.checkpoints.iter().peekable();
    for (i, at) in acked.iter().enumerate() {
        while cps.peek().is_some_and(|c| c.size <= i as u64) {
            cps.next();
        }
        if let Some(c) = cps.peek() {
            latencies_ms.push(c.at.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: usize| {
        latencies_ms
            .get(latencies_ms.len().saturating_sub(1) * p / 100)
            .copied()
            .unwrap_or(0.0)
    };
    let (size, _) = store.log_sizes();
    let tile_bytes = dir_bytes(&dir.join("store").join(urna_store::log::LOG_DIR));
    out!("reference: SHA-256 tree nodes {node_rate:.0}/s; fsync {fsync_ms:.3} ms (median of 50)");
    out!(
        "log:       {size} entries sequenced in {} checkpoints; {:.1} MB of tiles; acknowledgment to signed checkpoint p50 {:.0} ms, p99 {:.0} ms",
        report.checkpoints.len(),
        tile_bytes as f64 / 1e6,
        pct(50),
        pct(99)
    );
    let proofs = 100_000u64;
    let t = Instant::now();
    for k in 0..proofs {
        store.inclusion_proof(k.wrapping_mul(2_654_435_761) % size.max(1), size)?;
    }
    let incl_rate = proofs as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in 1..=proofs {
        store.consistency_proof(1 + k.wrapping_mul(2_654_435_761) % (size - 1).max(1), size)?;
    }
    let cons_rate = proofs as f64 / t.elapsed().as_secs_f64();
    out!(
        "proofs:    at {size} leaves, inclusion {incl_rate:.0}/s ({:.3}× node hash rate), consistency {cons_rate:.0}/s (one thread)",
        incl_rate / node_rate
    );
    out!("peak memory (VmHWM): {}", peak_rss());
    Ok(ExitCode::SUCCESS)
}

/// SHA-256 node hashes per second on one thread.
/// Protocols per second of a bare intake of `source`'s protocols into a new store at `store`.
fn ingest_rate(source: &Path, store: &Path) -> Result<f64> {
    let t = Instant::now();
    let mut st = Store::init(store, &source.join("election.toml"))?;
    let pack = std::fs::File::open(source.join("protocols.notes"))?;
    let notes = PackReader::new(std::io::BufReader::with_capacity(1 << 20, pack));
    let report = st.ingest(notes, &IngestOptions::default(), &SystemClock, |_| {})?;
    let secs = t.elapsed().as_secs_f64();
    drop(st);
    std::fs::remove_dir_all(store)?;
    Ok(report.read as f64 / secs)
}

fn node_hash_rate() -> f64 {
    let n = 1_000_000u32;
    let mut h = urna_tlog::Hash([7; 32]);
    let t = Instant::now();
    for _ in 0..n {
        h = urna_tlog::node_hash(&h, &h);
    }
    std::hint::black_box(h);
    f64::from(n) / t.elapsed().as_secs_f64()
}

/// Median time of writing 4 KiB and fsyncing it, in the work directory's file system.
fn fsync_latency_ms(dir: &Path) -> Result<f64> {
    use std::io::Write as _;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let mut times = Vec::with_capacity(50);
    for _ in 0..50 {
        let t = Instant::now();
        f.write_all(&[0u8; 4096])?;
        f.sync_all()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    std::fs::remove_file(&path)?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Signatures per second verified in batches of [`BATCH`], `per` signatures to a thread;
/// with `decompress`, each key is first decoded from its 32 bytes as intake must do.
fn batch_verify_rate(
    sample: &[(Vec<u8>, Vec<u8>, VerifyingKey)],
    per: usize,
    decompress: bool,
) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in sample.chunks(per) {
            s.spawn(move || {
                part.chunks(BATCH).all(|b| {
                    let msgs: Vec<&[u8]> = b.iter().map(|x| x.0.as_slice()).collect();
                    let sigs: Vec<&[u8]> = b.iter().map(|x| x.1.as_slice()).collect();
                    let keys: Vec<VerifyingKey> = if decompress {
                        b.iter()
                            .filter_map(|x| VerifyingKey::from_bytes(x.2.as_bytes()).ok())
                            .collect()
                    } else {
                        b.iter().map(|x| x.2).collect()
                    };
                    verify_batch(&msgs, &sigs, &keys).is_ok()
                })
            });
        }
    });
    sample.len() as f64 / t.elapsed().as_secs_f64()
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
