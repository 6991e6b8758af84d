//! `urna bench ingest --store postgres://…`: the PostgreSQL engine's intake rate against the
//! SQLite store's, measured in the same run on the same protocols, and how it grows with the
//! number of intake nodes (1, 2, 3 nodes one after the other, each on a third of the stations,
//! all into one log in the given database).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use urna_model::note::NoteSigner;
use urna_model::pack::PackReader;
use urna_pg::{PgSequencer, PgStore};
use urna_sim::{SimConfig, Simulation};
use urna_store::{IngestOptions, Store, SystemClock};

/// Notes per intake transaction of a node.
const BATCH: usize = 2_000;

pub(crate) fn ingest(url: &str, stations: u32, dir: Option<&Path>) -> Result<ExitCode> {
    let work = crate::bench::WorkDir::new(dir)?;
    let dir = work.path();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    out!(
        "urna bench ingest --store postgres: {stations} stations, {threads} cores, work dir {}",
        dir.display()
    );
    let sim = Simulation::new(SimConfig {
        stations,
        error_rate_per_10k: 100,
        ..SimConfig::default()
    });
    let source = dir.join("source");
    crate::write_sim(&sim, &source)?;
    let definition = source.join("election.toml");
    let notes: Vec<Vec<u8>> = PackReader::new(std::io::BufReader::new(std::fs::File::open(
        source.join("protocols.notes"),
    )?))
    .collect::<Result<_, _>>()?;

    // The reference: the SQLite store's bulk intake of the same protocols, to a signed
    // checkpoint (its log key is the PostgreSQL store's too).
    let lite_dir = dir.join("store");
    let t = Instant::now();
    let mut lite = Store::init(&lite_dir, &definition)?;
    let report = lite.ingest(
        notes.iter().cloned().map(Ok),
        &IngestOptions::default(),
        &SystemClock,
        |_| {},
    )?;
    let lite_rate = report.read as f64 / t.elapsed().as_secs_f64();
    drop(lite);
    let skey = std::fs::read_to_string(lite_dir.join(urna_store::log::LOG_KEY_FILE))?;
    let signer = NoteSigner::from_skey(skey.trim()).context("the SQLite store's log key")?;
    out!("sqlite:   {lite_rate:.0} protocols/s (bulk intake, one process, to a signed checkpoint)");

    let mut first = PgStore::init(url, &definition, signer.clone()).with_context(
        || "urna bench ingest --store: the database must be empty (a fresh one: createdb …)",
    )?;
    let mut rates = Vec::new();
    let thirds: Vec<&[Vec<u8>]> = notes.chunks(notes.len().div_ceil(3).max(1)).collect();
    for (n, part) in thirds.iter().enumerate() {
        let nodes = n + 1;
        // Each node its own connection (and checker threads), opened before the clock starts.
        let mut stores = vec![];
        for _ in 1..nodes {
            stores.push(PgStore::open(url, &definition, signer.clone())?);
        }
        let shares: Vec<&[Vec<u8>]> = part.chunks(part.len().div_ceil(nodes).max(1)).collect();
        let t = Instant::now();
        let stored = std::thread::scope(|s| -> Result<usize> {
            let mut handles = Vec::new();
            let (own, others) = shares.split_first().context("no notes")?;
            for (store, share) in stores.iter_mut().zip(others) {
                handles.push(s.spawn(move || node(store, share)));
            }
            let mut stored = node(&mut first, own)?;
            for h in handles {
                stored += h.join().map_err(|_| anyhow::anyhow!("a node panicked"))??;
            }
            Ok(stored)
        })?;
        let rate = part.len() as f64 / t.elapsed().as_secs_f64();
        out!(
            "postgres: {nodes} node(s): {rate:.0} protocols/s = {:.2}x sqlite ({} notes, {stored} stored)",
            rate / lite_rate,
            part.len()
        );
        rates.push(rate);
    }
    let t = Instant::now();
    let Some(mut sequencer) =
        PgSequencer::acquire(url, signer, "bench", std::time::Duration::from_secs(30))?
    else {
        bail!("another node holds the sequencer's lease in this database");
    };
    sequencer.step()?;
    out!(
        "postgres: sequencer: {} entries appended, tiles and checkpoint written in {:.2} s",
        sequencer.signed_size(),
        t.elapsed().as_secs_f64()
    );
    out!(
        "postgres/sqlite: {:.2}x (1 node), {:.2}x (2 nodes), {:.2}x (3 nodes) on {threads} cores beside the database server",
        rates.first().copied().unwrap_or(0.0) / lite_rate,
        rates.get(1).copied().unwrap_or(0.0) / lite_rate,
        rates.get(2).copied().unwrap_or(0.0) / lite_rate,
    );
    Ok(ExitCode::SUCCESS)
}

/// One intake node's share, in transactions of [`BATCH`] notes; returns the notes stored.
fn node(store: &mut PgStore, share: &[Vec<u8>]) -> Result<usize> {
    let mut stored = 0;
    store.ingest_batches(share.chunks(BATCH), &SystemClock, |_, acks| {
        stored += acks
            .outcomes
            .iter()
            .filter(|o| matches!(o, urna_store::Outcome::Stored { .. }))
            .count();
    })?;
    Ok(stored)
}
