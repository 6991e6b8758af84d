//! `urna decide`: writes a commission's decision on a station's current entry (accept, recount,
//! annul) as an `urna/decision/v1` note signed with an authority key. Send it like any note:
//! `urna submit` to a running server, or `urna ingest` into a data directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use urna_model::decision::{DecisionBody, DecisionKind};
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::intake::bind_note_unverified;
use urna_model::note::NoteSigner;
use urna_model::protocol::{MAX_REASON_LEN, hex, parse_sha256};
use urna_store::DEFINITION_FILE;
use urna_store::reader::EntryReader;

/// Arguments of `urna decide`.
#[derive(clap::Args)]
pub(crate) struct DecideArgs {
    /// Data directory (its definition, and its log to find the station's current entry).
    #[arg(long)]
    data: PathBuf,
    /// The authority's key file (`urna keys generate`): an authority of the definition whose
    /// scope covers the station.
    #[arg(long)]
    key: PathBuf,
    /// The station.
    #[arg(long)]
    station: String,
    /// The contest (may be left out when the election has one).
    #[arg(long)]
    contest: Option<String>,
    /// `accept` (count the entry as it stands), `recount` (out of the totals until the
    /// recount's amendment) or `annul` (the station's votes leave the totals).
    #[arg(long)]
    decision: String,
    /// Why, in words (at most 1000 bytes, one line).
    #[arg(long)]
    reason: String,
    /// The entry decided on, `sha256:<hex>`; by default the station's current entry in the
    /// data directory's log.
    #[arg(long)]
    decides: Option<String>,
    /// Write the signed note here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `urna decide`.
pub(crate) fn run(args: &DecideArgs) -> Result<ExitCode> {
    let e = Election::load(&args.data.join(DEFINITION_FILE))
        .with_context(|| format!("{}: not an urna data directory", args.data.display()))?;
    let kind = DecisionKind::from_word(&args.decision).with_context(|| {
        format!(
            "--decision {:?}: must be accept, recount or annul",
            args.decision
        )
    })?;
    check_reason(&args.reason)?;
    let station = e.station(&args.station).with_context(|| {
        format!(
            "--station {:?}: not a station of this election",
            args.station
        )
    })?;
    let contest = match &args.contest {
        Some(c) => e
            .contest(c)
            .with_context(|| format!("--contest {c:?}: not a contest of this election"))?,
        None if e.contests.len() == 1 => ContestIdx(0),
        None => bail!("--contest: the election has several contests; name one"),
    };
    let signer = authority_over(&e, station, &args.key, "--key")?;
    let decides = match &args.decides {
        Some(h) => parse_sha256(h).map_err(|rule| anyhow::anyhow!("--decides: {rule}"))?,
        None => current_entry(&args.data, &e, contest, station)?,
    };
    let body = DecisionBody {
        election: e.id.clone(),
        contest: e.contests[contest.0 as usize].id.clone(),
        station: args.station.clone(),
        decides,
        decision: kind,
        reason: args.reason.clone(),
    };
    let note = signer.sign_text(&body.to_text()).to_bytes();
    match &args.out {
        Some(path) => {
            std::fs::write(path, &note).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "decision {kind} on station {} (entry sha256:{}) written to {}",
                args.station,
                hex(&decides),
                path.display()
            );
        }
        None => std::io::stdout().write_all(&note)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a `--reason` that is not one line of 1 to [`MAX_REASON_LEN`] bytes without
/// leading or trailing spaces (what every authority's note requires of its reason).
pub(crate) fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty()
        || reason.len() > MAX_REASON_LEN
        || reason.chars().any(char::is_control)
        || reason.trim() != reason
    {
        bail!("--reason: must be one line of 1 to 1000 bytes, without leading or trailing spaces");
    }
    Ok(())
}

/// The signer key in `path` (given as `flag`), if it is an authority of the definition whose
/// scope covers `station`.
pub(crate) fn authority_over(
    e: &Election,
    station: StationIdx,
    path: &Path,
    flag: &str,
) -> Result<NoteSigner> {
    let skey =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let signer = NoteSigner::from_skey(skey.trim())
        .with_context(|| format!("{}: not a signer key", path.display()))?;
    let authority = e
        .authorities
        .iter()
        .find(|a| a.key.name() == signer.name() && a.key.key_id() == signer.key_id())
        .with_context(|| {
            format!(
                "{flag}: {} is not an authority of the election definition",
                signer.name()
            )
        })?;
    let st = &e.stations[station.0 as usize];
    if !e.unit_within(st.unit, authority.scope) {
        bail!(
            "{flag}: the scope of {} ({}) does not cover station {}",
            authority.name,
            e.units[authority.scope.0 as usize].id,
            st.id
        );
    }
    Ok(signer)
}

/// The hash of the station's current entry in the contest (its highest revision) in the log.
fn current_entry(
    data: &std::path::Path,
    e: &Election,
    contest: ContestIdx,
    station: StationIdx,
) -> Result<[u8; 32]> {
    let reader = EntryReader::open(data)?;
    let len = reader.len()?;
    let mut current: Option<(u32, [u8; 32])> = None;
    reader.for_each(1, len, |_, note| -> Result<(), urna_store::StoreError> {
        if let Ok(sub) = bind_note_unverified(e, note)
            && sub.contest == contest
            && sub.station == station
            && sub.decision.is_none()
            && current.is_none_or(|(r, _)| sub.revision > r)
        {
            current = Some((sub.revision, sub.hash));
        }
        Ok(())
    })?;
    current.map(|(_, h)| h).with_context(|| {
        format!(
            "station {}: no entry in the log of {} to decide on",
            e.stations[station.0 as usize].id,
            data.display()
        )
    })
}
