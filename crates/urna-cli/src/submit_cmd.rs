//! `urna submit`: send signed notes to `urna serve`, retrying a flaky connection, keeping a
//! durable store-and-forward queue, and verifying every receipt. A thin wrapper over
//! `urna_server::submit`; the logic and its tests live there.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use urna_model::intake::sha256;
use urna_model::note::NoteVerifier;
use urna_model::pack::{PACK_EXTENSION, PackReader, write_note};
use urna_model::protocol::hex;
use urna_server::pin::SpkiPin;
use urna_server::submit::{
    ConfigError, Queue, Stored, StoredStatus, SubmitClient, SubmitError, SubmitOptions,
};

/// How `urna submit` reports, shown by `urna submit --help`.
const OUTPUT: &str = "\
Output, one line per note the server answered for, in order:
  stored <index> <accepted|quarantined> <station> sha256:<hex>
  duplicate <index> <station> sha256:<hex>      (stored before; receipt verified again)
  duplicate <index> <station> sha256:<hex> same-text
                                                 (its text is held under other signatures,
                                                 the entry named; that note checked)
  refused <code> sha256:<hex> <message>          (the server will not store it; not retried)

When a note gets no answer after --attempts requests (the server is down or unreachable), no
later note is tried. Once, on stderr: the URL and the error, how many notes are left (with
--queue kept in the queue; without it unsent: the notes after the last one listed), and the
command that sends them once the server answers. A queued note that cannot be read is listed
as `queued sha256:<hex> (<why>)`.

Every receipt must be signed by --log-key, name the log, the note's SHA-256 and the index
the server answers; a receipt that does not is a serious error (exit 2), never success.

With --queue DIR every note is first written durably to DIR, then the queue is sent in the
order notes were queued. Stored notes move to DIR/sent/ beside their receipts in
DIR/receipts/; refused notes move to DIR/refused/ with a .why file. Without FILEs, the queue
is sent.

Exit codes: 0 every note stored (or stored before); 1 some note refused, or still queued or
unsent; 2 usage, input or I/O error, a bad receipt, or an answer that is not urna's.";

/// `urna submit` arguments.
#[derive(clap::Args)]
#[command(after_long_help = OUTPUT)]
pub(crate) struct SubmitArgs {
    /// The server's base URL, e.g. `https://results.example` or `http://127.0.0.1:8080`
    /// (notes go to `URL/v1/protocols`).
    #[arg(long)]
    to: String,
    /// For an https:// server: the PEM file of the CA its certificate must chain to (the
    /// commission's own CA); without it, Mozilla's roots.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// For an https:// server: a pinned public key, `sha256/<base64>` (`urna keys pin --cert
    /// FILE` prints it); repeat for a backup key. The server's certificate must have one of
    /// them; without --ca-cert the pin alone is checked, so a self-signed certificate serves.
    #[arg(long = "pin", value_name = "sha256/BASE64")]
    pins: Vec<SpkiPin>,
    /// The log's verifier key (`urna log key --data DIR` prints it); only receipts it signed
    /// are accepted. Receipts are signed by the key current when the note is stored: after
    /// `urna log rotate`, give the new key (receipts kept from before verify under the old).
    #[arg(long)]
    log_key: String,
    /// Store-and-forward queue directory (created if missing).
    #[arg(long)]
    queue: Option<PathBuf>,
    /// Requests per note before leaving it for later.
    #[arg(long, default_value_t = 5)]
    attempts: u32,
    /// Longest time one request may take, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Also write every verified receipt of this run to this note pack.
    #[arg(long)]
    receipts: Option<PathBuf>,
    /// Note files, note packs (.notes) or directories of them.
    files: Vec<PathBuf>,
}

/// Counts for the closing line and the exit code.
#[derive(Default)]
struct Counts {
    stored: u64,
    duplicates: u64,
    refused: u64,
    left: u64,
}

/// What happened to one note.
enum Sent {
    Stored(Stored),
    Refused {
        code: String,
        message: String,
    },
    /// No answer after every attempt: why, said once for the whole run.
    NotStored(String),
}

/// Why the server is taken to be down, from the last failed attempt: `URL: error (N
/// attempts)`, naming the URL once.
fn unreachable(endpoint: &str, attempts: u32, last: &str) -> String {
    let reason = last
        .strip_prefix(endpoint)
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(last);
    let s = if attempts == 1 { "" } else { "s" };
    format!("{endpoint}: {reason} ({attempts} attempt{s})")
}

/// "1 note" or "N notes".
fn notes(n: u64) -> String {
    format!("{n} note{}", if n == 1 { "" } else { "s" })
}

/// Runs `urna submit`.
pub(crate) fn run(args: SubmitArgs) -> Result<ExitCode> {
    let SubmitArgs {
        to,
        ca_cert,
        pins,
        log_key,
        queue,
        attempts,
        timeout_ms,
        receipts: receipts_path,
        files,
    } = args;
    if files.is_empty() && queue.is_none() {
        bail!("nothing to send: give note files, or --queue DIR to send a queue");
    }
    let log =
        NoteVerifier::from_vkey(&log_key).map_err(|e| anyhow!("--log-key {log_key:?}: {e}"))?;
    let options = SubmitOptions {
        timeout: Duration::from_millis(timeout_ms),
        max_attempts: attempts,
        ca_cert,
        pins,
        ..SubmitOptions::default()
    };
    let client = SubmitClient::new(&to, log, options).map_err(|e| flag_error(&e))?;
    let mut receipts = match &receipts_path {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut counts = Counts::default();
    match &queue {
        Some(dir) => send_queue(
            &client,
            dir,
            &files,
            (&to, &log_key),
            &mut counts,
            receipts.as_mut(),
        )?,
        None => {
            let mut down: Option<String> = None;
            for_each_note(&files, |note| {
                let hash = sha256(&note);
                if down.is_some() {
                    counts.left += 1;
                    return Ok(());
                }
                match send(&client, &note, &hash)? {
                    Sent::Stored(s) => {
                        report_stored(&s, &mut counts)?;
                        if let Some(w) = receipts.as_mut() {
                            write_note(w, &s.receipt)?;
                        }
                    }
                    Sent::Refused { code, message } => {
                        counts.refused += 1;
                        out!("refused {code} sha256:{} {message}", hex(&hash));
                    }
                    Sent::NotStored(why) => {
                        counts.left += 1;
                        down = Some(why);
                    }
                }
                Ok(())
            })?;
            if let Some(why) = &down {
                eprintln!("urna submit: cannot reach {why}");
                eprintln!(
                    "urna submit: {} not sent (from the first that got no answer to the end of the input); send them again once the server answers, or give --queue DIR to keep them durably until then",
                    notes(counts.left)
                );
            }
        }
    }
    if let (Some(w), Some(path)) = (receipts, &receipts_path) {
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "urna submit: {} stored, {} duplicates, {} refused, {} {}",
        counts.stored,
        counts.duplicates,
        counts.refused,
        counts.left,
        if queue.is_some() { "queued" } else { "unsent" }
    );
    Ok(if counts.refused > 0 || counts.left > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Sends a scan whose note is stored; `Err` (why) when the server gave no answer. A refusal,
/// which sending again will not change, is said and passed.
fn put_scan(client: &SubmitClient, scan: &[u8]) -> Result<(), String> {
    match client.put_scan(scan) {
        Ok(_) => Ok(()),
        Err(SubmitError::Refused { code, message, .. }) => {
            eprintln!(
                "urna submit: the server refused scan sha256:{}: {code}: {message}",
                hex(&urna_model::intake::sha256(scan))
            );
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Queues every input note durably, then sends the whole queue in order.
fn send_queue(
    client: &SubmitClient,
    dir: &Path,
    files: &[PathBuf],
    (to, log_key): (&str, &str),
    counts: &mut Counts,
    mut receipts: Option<&mut BufWriter<File>>,
) -> Result<()> {
    let queue = Queue::open(dir)?;
    for_each_note(files, |note| {
        queue.push(&note)?;
        Ok(())
    })?;
    let mut down: Option<String> = None;
    for q in queue.pending()? {
        let name = hex(&q.hash);
        if down.is_some() {
            counts.left += 1;
            continue;
        }
        let note = match q.read() {
            Ok(n) => n,
            Err(e) => {
                counts.left += 1;
                out!("queued sha256:{name} ({e})");
                continue;
            }
        };
        match send(client, &note, &q.hash)? {
            Sent::Stored(s) => {
                // The scan the note names, kept in the queue beside it, goes once the note is
                // stored; until the server has it the note stays queued.
                if let Some(scan) = queue.scan_of(&note)
                    && let Err(e) = put_scan(client, &scan)
                {
                    counts.left += 1;
                    down = Some(e);
                    continue;
                }
                queue.done(&q.hash, &s.receipt)?;
                report_stored(&s, counts)?;
                if let Some(w) = receipts.as_mut() {
                    write_note(w, &s.receipt)?;
                }
            }
            Sent::Refused { code, message } => {
                queue.refuse(&q.hash, &format!("{code}: {message}"))?;
                counts.refused += 1;
                out!("refused {code} sha256:{name} {message}");
            }
            Sent::NotStored(why) => {
                counts.left += 1;
                down = Some(why);
            }
        }
    }
    if let Some(why) = &down {
        eprintln!("urna submit: cannot reach {why}");
    }
    if counts.left > 0 {
        eprintln!(
            "urna submit: {} kept in the queue {}; send them once the server answers: urna submit --to {} --log-key {} --queue {}",
            notes(counts.left),
            dir.display(),
            to,
            log_key,
            dir.display()
        );
    }
    Ok(())
}

/// Sends one note. A bad receipt or an answer outside the contract stops the run.
fn send(client: &SubmitClient, note: &[u8], hash: &[u8; 32]) -> Result<Sent> {
    match client.submit(note) {
        Ok(s) => Ok(Sent::Stored(s)),
        Err(SubmitError::Refused {
            status,
            code,
            message,
            field,
        }) => Ok(Sent::Refused {
            code,
            message: match field {
                Some(f) if !message.contains(&f) => format!("{message} (HTTP {status}, field {f})"),
                _ => format!("{message} (HTTP {status})"),
            },
        }),
        Err(SubmitError::Unavailable { attempts, last }) => Ok(Sent::NotStored(unreachable(
            client.endpoint(),
            attempts,
            &last,
        ))),
        Err(e @ SubmitError::BadReceipt(_)) => bail!(
            "sha256:{}: {e}; the server at {} is misconfigured or is not the log whose key is --log-key; stopped (nothing after this note was sent)",
            hex(hash),
            client.endpoint()
        ),
        Err(SubmitError::Unexpected(m)) => bail!(
            "sha256:{}: {m}; stopped (nothing after this note was sent)",
            hex(hash)
        ),
    }
}

fn report_stored(s: &Stored, counts: &mut Counts) -> Result<()> {
    let entry = hex(&s.entry);
    match s.status {
        StoredStatus::Duplicate => {
            counts.duplicates += 1;
            if s.same_text {
                out!(
                    "duplicate {} {} sha256:{entry} same-text",
                    s.index,
                    s.station
                );
            } else {
                out!("duplicate {} {} sha256:{entry}", s.index, s.station);
            }
        }
        StoredStatus::Accepted | StoredStatus::Quarantined => {
            counts.stored += 1;
            out!(
                "stored {} {} {} sha256:{entry}",
                s.index,
                s.status.as_str(),
                s.station
            );
        }
    }
    Ok(())
}

/// The command-line flag behind a client setting.
fn flag_error(e: &ConfigError) -> anyhow::Error {
    let flag = match e.field {
        "base_url" => "--to",
        "max_attempts" => "--attempts",
        "timeout" => "--timeout-ms",
        "ca_cert" => "--ca-cert",
        "pin" => "--pin",
        other => other,
    };
    anyhow!("{flag}: {}", e.rule)
}

/// Calls `f` with every note of note files, note packs (`.notes`) and directories of them
/// (not recursive, sorted by name), in the order given.
fn for_each_note(paths: &[PathBuf], mut f: impl FnMut(Vec<u8>) -> Result<()>) -> Result<()> {
    for path in crate::note_files(paths)? {
        if path.extension().is_some_and(|e| e == PACK_EXTENSION) {
            let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            for (i, note) in PackReader::new(BufReader::new(file)).enumerate() {
                let note = note.with_context(|| format!("{}: note {}", path.display(), i + 1))?;
                f(note)?;
            }
        } else {
            let note =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            f(note)?;
        }
    }
    Ok(())
}
