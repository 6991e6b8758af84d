//! A benchmark of the verifier with its reference measured in the same run: raw Ed25519 batch
//! verification (`ed25519-dalek` `verify_batch`, batches of 1,024, on the same threads) of the
//! same station signatures, without fetching, hashing, parsing, replaying or rendering; and the
//! same signatures verified one by one and strictly, as the verifier itself must (the floor).
//! `urna bench` (or `cargo run --release -p urna-verify --example verify_bench`) prints it.

use std::time::Instant;

use urna_model::definition::Election;
use urna_model::note::{Note, NoteVerifier, VerifyingKey, verify_batch, verify_raw};
use urna_tlog::tile::{TILE_WIDTH, Tile};

use crate::log::{Counter, fetch_tile};
use crate::report::Report;
use crate::source::Source;
use crate::trust::Trust;
use crate::{VerifyError, verify};

/// Signatures per batch of the reference (the verifier's unit of work).
pub const REFERENCE_BATCH: usize = 1024;

/// A verification and its reference.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// The verification's report (its `timings` break the time down).
    pub report: Report,
    /// Wall time of the whole verification, in seconds.
    pub verify_seconds: f64,
    /// Station signatures verified by the reference.
    pub signatures: u64,
    /// Wall time of the reference, in seconds.
    pub reference_seconds: f64,
    /// Wall time of the same batches with each station key first decompressed from its 32
    /// bytes, as any verifier of these notes must (the keys come as bytes in the definition).
    pub reference_decompress_seconds: f64,
    /// Wall time of verifying the same signatures one by one, each key decompressed from its
    /// bytes first, strictly: the signature checks the verifier itself must make (it never
    /// trusts one batch equation for a note, as intake never does), and nothing else.
    pub reference_strict_seconds: f64,
    /// Threads the reference used.
    pub threads: usize,
}

impl BenchResult {
    /// Log entries verified per second, end to end.
    pub fn entries_per_second(&self) -> f64 {
        self.report.counts.entries as f64 / self.verify_seconds.max(1e-9)
    }

    /// Raw batch-verified signatures per second.
    pub fn reference_per_second(&self) -> f64 {
        self.signatures as f64 / self.reference_seconds.max(1e-9)
    }

    /// Entries per second over raw signatures per second (1.0: the verifier costs no more
    /// than its signatures).
    pub fn ratio(&self) -> f64 {
        self.entries_per_second() / self.reference_per_second().max(1e-9)
    }

    /// Entries per second over the rate of [`Self::reference_strict_seconds`]: what the rest of
    /// the verification (fetching, hashing, parsing, replaying, rendering) leaves of the floor
    /// its signature checks set.
    pub fn strict_ratio(&self) -> f64 {
        self.entries_per_second() * self.reference_strict_seconds.max(1e-9)
            / self.signatures.max(1) as f64
    }

    /// One line per figure.
    pub fn summary(&self) -> String {
        format!(
            "verify: {} entries in {:.2} s = {:.0} entries/s (log {:.2} s, derived files {:.2} s), verified: {}\n\
             reference: raw Ed25519 verify_batch of {} station signatures, batches of {REFERENCE_BATCH}, {} threads: {:.2} s = {:.0} signatures/s\n\
             reference with each key decompressed from its bytes first: {:.2} s = {:.0} signatures/s\n\
             reference one by one, strictly, each key decompressed first (the checks the verifier makes): {:.2} s = {:.0} signatures/s\n\
             ratio: {:.2} of the raw batch-verification rate ({:.2} of the rate with key decompression, {:.2} of the strict one-by-one rate)\n",
            self.report.counts.entries,
            self.verify_seconds,
            self.entries_per_second(),
            self.report.timings.log_ms as f64 / 1000.0,
            self.report.timings.files_ms as f64 / 1000.0,
            self.report.verified,
            self.signatures,
            self.threads,
            self.reference_seconds,
            self.reference_per_second(),
            self.reference_decompress_seconds,
            self.signatures as f64 / self.reference_decompress_seconds.max(1e-9),
            self.reference_strict_seconds,
            self.signatures as f64 / self.reference_strict_seconds.max(1e-9),
            self.ratio(),
            self.entries_per_second() * self.reference_decompress_seconds.max(1e-9)
                / self.signatures.max(1) as f64,
            self.strict_ratio(),
        )
    }
}

/// Verifies `source`, then times the reference over the same entries' station signatures.
///
/// # Errors
/// [`VerifyError`] if the verification could not run, or the definition could not be read
/// for the reference.
pub fn run(source: &dyn Source, trust: &Trust) -> Result<BenchResult, VerifyError> {
    let t = Instant::now();
    let report = verify(source, trust, None, &|_| {})?;
    let verify_seconds = t.elapsed().as_secs_f64();

    let size = report.checkpoint.as_ref().map_or(0, |c| c.size);
    let counter = Counter::default();
    let mut ignored = Vec::new();
    let definition = crate::establish_definition(source, trust, size, &counter, &mut ignored)?;
    let Some(d) = definition else {
        return Ok(BenchResult {
            report,
            verify_seconds,
            signatures: 0,
            reference_seconds: 0.0,
            reference_decompress_seconds: 0.0,
            reference_strict_seconds: 0.0,
            threads: 0,
        });
    };
    let e = &d.election;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let width = u64::from(TILE_WIDTH);
    let bundles = size.div_ceil(width);
    let mut chunk = Chunk::default();
    let mut signatures = 0;
    let mut reference_seconds = 0.0;
    let mut reference_decompress_seconds = 0.0;
    let mut reference_strict_seconds = 0.0;
    for n in 0..bundles {
        let w = u16::try_from((size - n * width).min(width)).unwrap_or(TILE_WIDTH);
        if let Ok(tile) = Tile::entries(n, w)
            && let Some((bytes, from)) = fetch_tile(source, &tile, &counter)?
        {
            for entry in crate::log::decode_lenient(&bytes, usize::from(from)).0 {
                chunk.push(e, entry);
            }
        }
        if chunk.texts.len() >= REFERENCE_CHUNK || n + 1 == bundles {
            signatures += chunk.texts.len() as u64;
            let (plain, decompress, strict) = chunk.time(threads);
            reference_seconds += plain;
            reference_decompress_seconds += decompress;
            reference_strict_seconds += strict;
            chunk = Chunk::default();
        }
    }
    Ok(BenchResult {
        report,
        verify_seconds,
        signatures,
        reference_seconds,
        reference_decompress_seconds,
        reference_strict_seconds,
        threads,
    })
}

/// Station signatures the reference holds at a time: it reads the log a chunk at a time, so
/// that, like the verifier, it never holds every entry (only its batch verifications are
/// timed, not the reading).
const REFERENCE_CHUNK: usize = 64 * REFERENCE_BATCH;

/// One chunk of the reference's work: each entry's signed text, station signature, and the
/// station's key, both decompressed and as bytes.
#[derive(Default)]
struct Chunk {
    texts: Vec<Vec<u8>>,
    sigs: Vec<Vec<u8>>,
    keys: Vec<VerifyingKey>,
    raw_keys: Vec<(String, [u8; 32])>,
}

impl Chunk {
    /// Adds an entry signed by a station of `e` (other entries are left out).
    fn push(&mut self, e: &Election, entry: &[u8]) {
        let Ok(note) = Note::parse(entry) else {
            return;
        };
        let Some((sig, key, st)) = note.signatures().iter().find_map(|s| {
            let st = &e.stations[e.station(&s.name)?.0 as usize];
            let key = NoteVerifier::from_public_key(&st.id, &st.public_key).ok()?;
            Some((s.signature.clone(), key.verifying_key().to_owned(), st))
        }) else {
            return;
        };
        self.texts.push(note.text().as_bytes().to_vec());
        self.sigs.push(sig);
        self.keys.push(key);
        self.raw_keys.push((st.id.clone(), st.public_key));
    }

    /// Times the chunk's batch verification on `threads` threads: with the keys decompressed
    /// already, and with each key decompressed from its bytes first; then each signature on
    /// its own, strictly, its key decompressed first (seconds, each).
    fn time(&self, threads: usize) -> (f64, f64, f64) {
        let per = self.texts.len().div_ceil(threads).max(1);
        let plain = self.timed(per, &self.keys, |t, g, k| {
            for ((t, g), k) in t
                .chunks(REFERENCE_BATCH)
                .zip(g.chunks(REFERENCE_BATCH))
                .zip(k.chunks(REFERENCE_BATCH))
            {
                let msgs: Vec<&[u8]> = t.iter().map(Vec::as_slice).collect();
                let sigs: Vec<&[u8]> = g.iter().map(Vec::as_slice).collect();
                let _ = verify_batch(&msgs, &sigs, k);
            }
        });
        let decompress = self.timed(per, &self.raw_keys, |t, g, k| {
            for ((t, g), k) in t
                .chunks(REFERENCE_BATCH)
                .zip(g.chunks(REFERENCE_BATCH))
                .zip(k.chunks(REFERENCE_BATCH))
            {
                let keys: Vec<_> = k
                    .iter()
                    .filter_map(|(name, bytes)| {
                        NoteVerifier::from_public_key(name, bytes)
                            .ok()
                            .map(|v| v.verifying_key().to_owned())
                    })
                    .collect();
                let msgs: Vec<&[u8]> = t.iter().map(Vec::as_slice).collect();
                let sigs: Vec<&[u8]> = g.iter().map(Vec::as_slice).collect();
                let _ = verify_batch(&msgs, &sigs, &keys);
            }
        });
        let strict = self.timed(per, &self.raw_keys, |t, g, k| {
            let _ = t.iter().zip(g).zip(k).all(|((t, g), (name, bytes))| {
                NoteVerifier::from_public_key(name, bytes)
                    .is_ok_and(|v| verify_raw(v.verifying_key(), t, g).is_ok())
            });
        });
        (plain, decompress, strict)
    }

    /// Seconds `work` takes over the chunk split into parts of `per` entries, a thread each:
    /// each part's texts, signatures and `keys`.
    fn timed<K: Sync>(
        &self,
        per: usize,
        keys: &[K],
        work: impl Fn(&[Vec<u8>], &[Vec<u8>], &[K]) + Sync,
    ) -> f64 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for ((t, g), k) in self
                .texts
                .chunks(per)
                .zip(self.sigs.chunks(per))
                .zip(keys.chunks(per))
            {
                let work = &work;
                s.spawn(move || work(t, g, k));
            }
        });
        t.elapsed().as_secs_f64()
    }
}
