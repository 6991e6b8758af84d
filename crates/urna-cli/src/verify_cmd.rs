//! `urna verify`: a thin wrapper over `urna_verify`; the logic and its tests live there.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use urna_verify::report::REPORT_FORMAT;
use urna_verify::source::TlsRoots;
use urna_verify::{Progress, SpkiPin, Stage, State, Trust, TrustFile, source, verify};

/// `urna verify` arguments.
#[derive(clap::Args)]
#[command(after_long_help = HELP_AFTER)]
pub(crate) struct VerifyArgs {
    /// The bundle: an http:// or https:// URL, or a directory (`BUNDLE/current`, or `BUNDLE`
    /// itself, whose `current` generation is then followed).
    #[arg(value_name = "URL|DIR")]
    location: String,
    /// For an https:// URL: check the server's certificate against the CA certificates of
    /// this PEM file only (e.g. the commission's own CA) instead of the built-in Mozilla root
    /// certificates.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// For an https:// URL: a pinned public key, `sha256/<base64>` (`urna keys pin --cert
    /// FILE` prints it); repeat for a backup key. The server's certificate must have one of
    /// them; without --ca-cert the pin alone is checked, so a self-signed certificate serves.
    #[arg(long = "pin", value_name = "sha256/BASE64")]
    pins: Vec<SpkiPin>,
    /// The log's public key (a C2SP signed-note verifier key; its name is the log's origin).
    /// `urna log key --data DIR` prints it. Given alone (no --witness, no witnesses in
    /// --trust), the witness quorum is not checked, and the verdict says so. After the log
    /// rotated its key (`urna log rotate`), the old key still verifies: the rotation entries
    /// in the log are followed. The new key alone verifies the checkpoints from its rotation
    /// on; what the old key signed before rests on the rotation the new key signed.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// A witness's public key (a C2SP cosignature/v1 verifier key, as `urna witness keygen`
    /// prints it). Repeat for each witness.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// Valid cosignatures from distinct trusted witnesses required [default: every witness
    /// given].
    #[arg(long, value_name = "K")]
    quorum: Option<usize>,
    /// A trust file (TOML): `log = "VKEY"`, `witnesses = ["VKEY", …]` and/or `[[witness]]`
    /// tables with `key = "VKEY"` (so the commission's witnesses.toml works as it is),
    /// `quorum = K`. --log-key replaces its log key, --witness adds witnesses, --quorum
    /// replaces its quorum. A witness rotating its key may be listed with both keys under
    /// its one name: either key's cosignature counts, the witness once.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// A state file holding the checkpoint verified last time. If it exists, the log must
    /// extend that checkpoint (a smaller size is a rollback, another history a fork); after
    /// a verification without discrepancies it is (re)written with this checkpoint.
    #[arg(long, value_name = "STATE")]
    since: Option<PathBuf>,
    /// Write the report as JSON to FILE; `-` writes it to stdout instead of the summary
    /// (which then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
}

const HELP_AFTER: &str = "\
What is checked: the checkpoint's signature by the log key and the witnesses' cosignatures \
(at least --quorum from distinct trusted witnesses; lines from other keys are ignored but \
named); that v1/keys.json names the log key and, for every witness you pinned, that witness's \
key, with a quorum the results page can meet and that needs at least your quorum of the \
witnesses you pinned (the page counts cosignatures against that file); that entry 0 is the genesis signed by the log key and that the definition files \
(blob/sha256/…) hash to what it names; every entry bundle, hashed into the RFC 6962 tree, \
against the checkpoint's root and the published hash tiles; every entry's signatures, as \
intake checks them; the entries replayed in order; every derived file (v1/…, csv/…, \
README.txt) recomputed and compared byte for byte, and the NIST CDF export when present (its \
GeneratedDate must be the time of a verified cosignature on the checkpoint); with --since, \
that the log extends the checkpoint verified before. A log that rotated its key: every \
urna/key-rotation/v1 entry signed by both keys it names and naming the tree before it (size: its \
index, root: the root of the entries before it), and the checkpoint signed by the key \
of its size (the old key while the rotation is not in the tree, the new key once it is; the \
other key is checkpoint-key-rotated).

Witnesses: the trust anchor is the keys you give. Witnesses named only by the bundle's own \
v1/keys.json (not pinned by --witness or --trust) are no independent assurance, since whoever \
publishes the bundle writes that file and could list witnesses it controls: their \
cosignatures are checked against the keys the file gives and reported as \"named by the \
bundle itself, not pinned by you\", never counted toward the quorum (a line that does not \
verify under the key the file gives for its witness is a discrepancy). With only --log-key, \
the verdict is \"VERIFIED against the log key only\": the checkpoint is the log's, and every \
entry and result is what it signed, but without a quorum of witnesses you pinned a log that \
shows other readers another history (a split view) would go unnoticed; pass --trust FILE or \
--witness KEY to check that too.

https://: fetched over TLS (rustls; no OpenSSL needed). The server's certificate is checked \
against the Mozilla root certificates built into urna (the CAs browsers trust), or with \
--ca-cert FILE against that file's CA certificates only. With --pin sha256/… the server's key \
must be a pinned one: pins alone accept a self-signed certificate (the key is what is \
trusted); with --ca-cert as well, both checks must pass. A certificate that fails the check \
(unknown issuer, another host name, expired, a key that is not pinned: the seen and the \
expected pins are named) stops the verification with exit code 2, naming the check. The \
verdict never rests on the transport, only on the keys you give: a \
copy of the bundle from anywhere verifies the same.

Exit codes:
  0  verified: no discrepancy in anything checked (with only --log-key, the witness quorum \
is not among the things checked, and the verdict line says so).
  1  a discrepancy: the bundle does not match what the trusted keys vouch for, or lacks \
something the checkpoint needs (a tile, a definition blob, a derived file: missing or \
answered 404 or 410 is a discrepancy), or a rollback or fork with --since. Each one is listed with \
the file, entry index, station, field, expected and found values it concerns.
  2  the verification could not run, so nothing is known either way: bad usage, an \
unreadable key, trust, state or CA certificate file, a malformed pin, a directory without a checkpoint, a \
server that cannot be reached, whose TLS certificate fails the check, or that answers with \
an error other than 404 or 410, a disk that cannot be read, or a bundle \
that moved on to a newer checkpoint while it was being verified (run again).

The JSON report (--json): {format, verified, source, checkpoint {origin, size, root_hash, \
log_signature, note}, witnesses {quorum, trusted, cosigned [{name, key_id, timestamp, time}], \
missing, unknown [{name, key_id}], unpinned [{name, key_id, timestamp, time}]}, counts \
{entries, entries_verified, entries_skipped, protocols, amendments, stations, \
stations_reporting, stations_counted, stations_quarantined, tiles, bytes, files_compared, \
files_identical}, since, cdf {generated, witness, pinned}, totals [{contest, counted, \
quarantined, stations, votes, seats}], discrepancies [{kind, file?, index?, station?, field?, \
expected?, found?, message}], timings {checkpoint_ms, log_ms, files_ms, total_ms}}; \
witnesses.quorum 0 means the witness quorum was not checked, and unpinned lists the \
cosignatures by witnesses named only by the bundle. When the verification could not run: \
{format, verified: false, error}.";

/// Runs `urna verify`.
// main.rs hands every subcommand its arguments by value.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn run(args: VerifyArgs) -> Result<ExitCode> {
    let result = verify_with(&args);
    if let (Err(e), Some(target)) = (&result, args.json.as_deref()) {
        // Scripts get a report even when the verification could not run.
        let doc = serde_json::json!({
            "format": REPORT_FORMAT,
            "verified": false,
            "error": format!("{e:#}"),
        });
        let mut bytes = serde_json::to_vec_pretty(&doc)?;
        bytes.push(b'\n');
        write_json(target, &bytes)?;
    }
    result
}

fn verify_with(args: &VerifyArgs) -> Result<ExitCode> {
    let file = args.trust.as_deref().map(TrustFile::load).transpose()?;
    let trust = Trust::from_parts(
        file.as_ref(),
        args.log_key.as_deref(),
        &args.witnesses,
        args.quorum,
    )?;
    let since = args
        .since
        .as_deref()
        .map(State::load)
        .transpose()?
        .flatten();
    let roots = match &args.ca_cert {
        Some(path) => TlsRoots::from_pem_file(path)?,
        None => TlsRoots::Builtin,
    };
    let bundle = source::open_pinned(&args.location, &roots, &args.pins)?;

    let bar = if std::io::stderr().is_terminal() {
        crate::progress(0, "verifying the log")
    } else {
        ProgressBar::hidden()
    };
    let on_progress = |p: Progress| {
        if bar.length() != Some(p.total) {
            bar.set_length(p.total);
        }
        if p.stage == Stage::Files {
            bar.set_message("comparing files");
        }
        bar.set_position(p.done);
    };
    let report = verify(bundle.as_ref(), &trust, since.as_ref(), &on_progress)
        .with_context(|| format!("verifying {}", args.location))?;
    bar.finish_and_clear();

    let summary = report.summary();
    match args.json.as_deref() {
        Some("-") => {
            write_json("-", &report.to_json())?;
            eprint!("{summary}");
        }
        Some(path) => {
            write_json(path, &report.to_json())?;
            outp!("{summary}");
        }
        None => outp!("{summary}"),
    }
    if !report.verified {
        return Ok(ExitCode::from(1));
    }
    if let (Some(path), Some(cp)) = (&args.since, &report.checkpoint) {
        let root = urna_tlog::Hash::from_base64(&cp.root_hash)
            .map_err(|e| anyhow::anyhow!("checkpoint root: {e}"))?;
        State::new(&cp.origin, cp.size, &root, &cp.note).save(path)?;
        let msg = format!(
            "state: {} now holds the checkpoint of {} entries",
            path.display(),
            cp.size
        );
        if args.json.as_deref() == Some("-") {
            eprintln!("{msg}");
        } else {
            out!("{msg}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_json(target: &str, bytes: &[u8]) -> Result<()> {
    if target == "-" {
        std::io::stdout().write_all(bytes)?;
        return Ok(());
    }
    std::fs::write(target, bytes).with_context(|| format!("writing {target}"))
}
