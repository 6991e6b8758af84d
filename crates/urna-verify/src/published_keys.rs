//! The two published files that are not a function of the log and the definition alone:
//!
//! - `v1/keys.json` (`urna/keys/v1`): the log key and the witnesses' keys as the commission
//!   announces them in its bundle (and as the results page shows them to readers). It must be
//!   there, name the log key the verifier trusts, and give every witness it shares a name with
//!   the trust set that witness's trusted key: otherwise readers of the page are told to
//!   compare against other keys than the ones that sign this log. It must list every witness
//!   pinned, and give a quorum the page's check can meet and that is no weaker than the
//!   trusted one (see `check_witness_set`): the page counts cosignatures against this file's
//!   list and quorum and prints its verify command from them. The witnesses it names that
//!   the trust set does not are handed back ([`Listed`]): their cosignatures are checked
//!   against those keys and reported, never trusted (the bundle's publisher writes this list).
//! - `cdf/election-report.json` (NIST SP 1500-100, optional): recomputed byte for byte from the
//!   replay; its `GeneratedDate` is taken from the published file, but must be the time of a
//!   cosignature on the checkpoint that verifies under a trusted witness key, or under a key
//!   `v1/keys.json` names (reported as such), so the only freedom a publisher has is which of
//!   those times to quote.

use serde_json::Value;
use urna_model::definition::Election;
use urna_tally::cdf;
use urna_tally::public::{CheckpointInfo, KEYS_JSON, Replay};

use urna_tlog::cosignature::CosignatureVerifier;

use crate::compare_bytes;
use crate::report::{CdfDate, Discrepancy, Kind, WitnessReport};
use crate::source::{Source, SourceError};
use crate::trust::Trust;

/// The `format` of `v1/keys.json`.
pub(crate) const KEYS_FORMAT: &str = "urna/keys/v1";

/// A witness `v1/keys.json` names that the trust set does not.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// Its place in the file's `witnesses` list.
    pub(crate) index: usize,
    /// The key the file gives.
    pub(crate) key: CosignatureVerifier,
}

/// The key rotations `v1/keys.json` lists (`log.rotations`: index, old key, new key), empty if
/// it lists none or cannot be read.
///
/// # Errors
/// [`SourceError`] if the source fails.
pub(crate) fn listed_rotations(
    source: &dyn Source,
) -> Result<Vec<(u64, String, String)>, SourceError> {
    Ok(source
        .fetch(KEYS_JSON)?
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .map(|doc| listed_rotations_of(&doc))
        .unwrap_or_default())
}

fn listed_rotations_of(doc: &Value) -> Vec<(u64, String, String)> {
    doc["log"]["rotations"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| {
                    (
                        r["index"].as_u64().unwrap_or(u64::MAX),
                        r["old"].as_str().unwrap_or_default().to_owned(),
                        r["new"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Checks `v1/keys.json` against the keys trusted, and returns the witnesses it names that
/// the trust set does not.
///
/// # Errors
/// [`SourceError`] if the source fails.
pub(crate) fn check_keys(
    source: &dyn Source,
    trust: &Trust,
    found: &mut Vec<Discrepancy>,
) -> Result<Vec<Listed>, SourceError> {
    let Some(bytes) = source.fetch(KEYS_JSON)? else {
        found.push(
            Discrepancy::new(
                Kind::Keys,
                format!(
                    "{KEYS_JSON}: missing; a bundle names the log key and the witnesses' keys there"
                ),
            )
            .file(KEYS_JSON),
        );
        return Ok(Vec::new());
    };
    let (wrong, listed) = read_keys(&bytes, trust);
    found.extend(wrong);
    // As a browser is sent it, too: the results page reads the keys there.
    found.extend(crate::served_encoded(source, KEYS_JSON, &bytes)?);
    Ok(listed)
}

/// What is wrong with the published `v1/keys.json` bytes, given the keys trusted.
#[cfg(test)]
pub(crate) fn keys_discrepancies(bytes: &[u8], trust: &Trust) -> Vec<Discrepancy> {
    read_keys(bytes, trust).0
}

/// What is wrong with the published `v1/keys.json` bytes, given the keys trusted, and the
/// witnesses it names that the trust set does not.
fn read_keys(bytes: &[u8], trust: &Trust) -> (Vec<Discrepancy>, Vec<Listed>) {
    let mut out = Vec::new();
    let mut listed = Vec::new();
    let bad = |field: &str, message: String, expected: String, got: String| {
        Discrepancy::new(Kind::Keys, format!("{KEYS_JSON}: {message}"))
            .file(KEYS_JSON)
            .field(field)
            .values(expected, got)
    };
    let doc: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.push(
                Discrepancy::new(Kind::Keys, format!("{KEYS_JSON}: not JSON: {e}")).file(KEYS_JSON),
            );
            return (out, listed);
        }
    };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    if doc["format"] != KEYS_FORMAT {
        out.push(bad(
            "format",
            format!("format is {}, not {KEYS_FORMAT:?}", doc["format"]),
            KEYS_FORMAT.to_owned(),
            text(&doc["format"]),
        ));
    }
    let trusted_log = trust.log.to_vkey();
    let log_key = &doc["log"]["key"];
    // A rotated log names its current key and its rotations: the trusted key must be one of
    // the chain's, the current key its last (the rotations are compared with the log's own
    // entries once they are read: `listed_rotations`).
    let rotations = listed_rotations_of(&doc);
    let in_chain = rotations
        .iter()
        .any(|(_, old, new)| *old == trusted_log || *new == trusted_log);
    let current = rotations.last().map(|(_, _, new)| new.as_str());
    if in_chain && log_key.as_str() == current {
    } else if log_key.as_str() != Some(trusted_log.as_str()) {
        out.push(bad(
            "log.key",
            format!(
                "names log key {}, not the log key you trust ({trusted_log}): readers who compare keys against this file would trust another log",
                text(log_key)
            ),
            trusted_log,
            text(log_key),
        ));
    }
    let origin = &doc["log"]["origin"];
    if origin.as_str() != Some(trust.origin()) {
        out.push(bad(
            "log.origin",
            format!(
                "names log origin {}, not {:?}",
                text(origin),
                trust.origin()
            ),
            trust.origin().to_owned(),
            text(origin),
        ));
    }
    let Some(witnesses) = doc["witnesses"].as_array() else {
        out.push(bad(
            "witnesses",
            "has no `witnesses` list".into(),
            "a list".into(),
            text(&doc["witnesses"]),
        ));
        return (out, listed);
    };
    for (i, w) in witnesses.iter().enumerate() {
        let Some(name) = w["name"].as_str() else {
            out.push(bad(
                &format!("witnesses[{i}].name"),
                format!("witness {i} has no name"),
                "a name".into(),
                text(&w["name"]),
            ));
            continue;
        };
        let trusted: Vec<String> = trust.witness_keys(name).map(|t| t.to_vkey()).collect();
        if trusted.is_empty() {
            // Not pinned: its key is read, so its cosignature can be checked and reported.
            match w["key"].as_str().map(CosignatureVerifier::from_vkey) {
                Some(Ok(key)) if trust.witnesses.iter().all(|t| t.name() != key.name()) => {
                    listed.push(Listed { index: i, key });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => out.push(bad(
                    &format!("witnesses[{i}].key"),
                    format!(
                        "lists witness `{name}` with key {}, which is not a cosignature/v1 verifier key: {e}",
                        text(&w["key"])
                    ),
                    "a cosignature/v1 verifier key".into(),
                    text(&w["key"]),
                )),
                None => out.push(bad(
                    &format!("witnesses[{i}].key"),
                    format!("witness `{name}` has no key"),
                    "a cosignature/v1 verifier key".into(),
                    text(&w["key"]),
                )),
            }
            continue;
        }
        // While a witness rotates its key, the file may list either key you trust for it.
        let expected = trusted.join(" or ");
        if !w["key"]
            .as_str()
            .is_some_and(|k| trusted.iter().any(|t| t == k))
        {
            out.push(bad(
                &format!("witnesses[{i}].key"),
                format!(
                    "lists witness `{name}` with key {}, not the key you trust for it ({expected})",
                    text(&w["key"])
                ),
                expected,
                text(&w["key"]),
            ));
        }
    }
    check_witness_set(&doc, witnesses, trust, &mut out);
    (out, listed)
}

/// The witness set and quorum `v1/keys.json` gives, against the trust: the results page counts
/// cosignatures only from the witnesses this file lists, against the quorum it gives, and
/// builds its `urna verify` command from both. So every witness you pinned must be listed
/// (each name once); the quorum must be one a checkpoint can meet and that needs a
/// cosignature when witnesses are listed (1 ≤ quorum ≤ listed, or 0 with none); and the
/// page's check must be no weaker than yours: even if every listed witness you did not pin
/// cosigned, the quorum must still need yours (quorum − unpinned ≥ your quorum).
fn check_witness_set(doc: &Value, witnesses: &[Value], trust: &Trust, out: &mut Vec<Discrepancy>) {
    let bad = |field: &str, message: String, expected: String, got: String| {
        Discrepancy::new(Kind::Keys, format!("{KEYS_JSON}: {message}"))
            .file(KEYS_JSON)
            .field(field)
            .values(expected, got)
    };
    let names: Vec<Option<&str>> = witnesses.iter().map(|w| w["name"].as_str()).collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(name) = name
            && names[..i].contains(&Some(name))
        {
            out.push(bad(
                &format!("witnesses[{i}].name"),
                format!("lists witness `{name}` more than once"),
                "each witness once".into(),
                (*name).to_owned(),
            ));
        }
    }
    for t in trust.witness_names() {
        if !names.contains(&Some(t)) {
            let keys: Vec<String> = trust.witness_keys(t).map(|k| k.to_vkey()).collect();
            out.push(bad(
                "witnesses",
                format!(
                    "does not list witness `{t}` you pinned: the page counts only the witnesses this file lists and tells readers to verify against them"
                ),
                keys.join(" or "),
                "absent".into(),
            ));
        }
    }
    let listed = witnesses.len();
    let Some(quorum) = doc["quorum"].as_u64().and_then(|q| usize::try_from(q).ok()) else {
        out.push(bad(
            "quorum",
            format!("has no quorum (a whole number): {}", doc["quorum"]),
            "a whole number".into(),
            doc["quorum"].to_string(),
        ));
        return;
    };
    let expected = if listed == 0 {
        "0 (no witnesses listed)".to_owned()
    } else {
        format!("1 to {listed} (the witnesses listed)")
    };
    if (listed == 0) != (quorum == 0) || quorum > listed {
        let why = if quorum == 0 {
            "the page would call a checkpoint with no cosignature verified"
        } else {
            "no checkpoint can meet it"
        };
        out.push(bad(
            "quorum",
            format!("gives quorum {quorum} with {listed} witness(es) listed: {why}"),
            expected,
            quorum.to_string(),
        ));
    }
    let unpinned = names
        .iter()
        .filter(|n| !trust.witnesses.iter().any(|t| Some(t.name()) == **n))
        .count();
    let needs_pinned = quorum.saturating_sub(unpinned);
    if needs_pinned < trust.quorum {
        out.push(bad(
            "quorum",
            format!(
                "gives quorum {quorum} over {listed} witness(es), {unpinned} of them not pinned by you: the page would call verified a checkpoint with {needs_pinned} cosignature(s) from witnesses you pinned, fewer than your quorum {}",
                trust.quorum
            ),
            format!("at least {} + {unpinned} not pinned", trust.quorum),
            quorum.to_string(),
        ));
    }
}

/// If the bundle has `cdf/election-report.json`, recomputes it and compares it byte for byte,
/// after checking that its `GeneratedDate` is the time of a verified cosignature on the
/// checkpoint: by a trusted witness, or by a witness only `v1/keys.json` names (`dated` then
/// says so). Returns whether the bundle has the file.
///
/// # Errors
/// [`SourceError`] if the source fails.
pub(crate) fn check_cdf(
    source: &dyn Source,
    e: &Election,
    replay: &Replay,
    cp: &CheckpointInfo,
    witnesses: &WitnessReport,
    dated: &mut Option<CdfDate>,
    found: &mut Vec<Discrepancy>,
) -> Result<bool, SourceError> {
    let path = cdf::BUNDLE_PATH;
    let Some(published) = source.fetch(path)? else {
        return Ok(false);
    };
    let Some(generated) = cdf::published_generated_date(&published) else {
        found.push(
            Discrepancy::new(
                Kind::FileMismatch,
                format!("{path}: no GeneratedDate found in the published report"),
            )
            .file(path)
            .field("GeneratedDate"),
        );
        return Ok(true);
    };
    let pinned = witnesses.cosigned.iter().map(|c| (c, true));
    let unpinned = witnesses.unpinned.iter().map(|c| (c, false));
    let Some((by, is_pinned)) = pinned.chain(unpinned).find(|(c, _)| c.time == generated) else {
        let times = |list: &[crate::report::Cosigner]| {
            if list.is_empty() {
                "none".to_owned()
            } else {
                list.iter()
                    .map(|c| format!("{} ({})", c.time, c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let expected = format!(
            "the time of a verified cosignature: by a witness you pinned: {}; by a witness named only by {KEYS_JSON}: {}",
            times(&witnesses.cosigned),
            times(&witnesses.unpinned)
        );
        found.push(
            Discrepancy::new(
                Kind::FileMismatch,
                format!(
                    "{path}: GeneratedDate {generated} is not the time of any verified witness cosignature on the checkpoint ({expected})"
                ),
            )
            .file(path)
            .field("GeneratedDate")
            .values(expected, generated.to_owned()),
        );
        return Ok(true);
    };
    *dated = Some(CdfDate {
        generated: generated.to_owned(),
        witness: by.name.clone(),
        pinned: is_pinned,
    });
    match cdf::render_bundle_report(e, replay, cp, generated) {
        // Far larger than recomputed: named by its size, not parsed (parsed, a gigabyte of
        // `[0,0,…]` takes some twenty gigabytes).
        Ok(expected) if published.len() > expected.len() + crate::MAX_EXPLAINED_EXTRA => found
            .push(
                Discrepancy::new(
                    Kind::FileMismatch,
                    format!(
                        "{path}: {} bytes, more than the {} bytes it is recomputed as and 1 MiB; not parsed to name where it differs",
                        published.len(),
                        expected.len()
                    ),
                )
                .file(path)
                .values(
                    format!("{} bytes", expected.len()),
                    format!("{} bytes", published.len()),
                ),
            ),
        Ok(expected) => match compare_bytes(path, &expected, &published) {
            Some(d) => found.push(d),
            // As a browser is sent it, too (a web server's precompressed copy).
            None => found.extend(crate::served_encoded(source, path, &expected)?),
        },
        Err(err) => found.push(
            Discrepancy::new(
                Kind::NotRecomputed,
                format!("{path}: cannot be recomputed: {err}"),
            )
            .file(path),
        ),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use urna_model::note::NoteSigner;
    use urna_tlog::cosignature::CosignatureSigner;

    use super::*;

    fn trust() -> (Trust, String, String) {
        let log = NoteSigner::from_seed("urna/el", &[1; 32]).unwrap();
        let agency = CosignatureSigner::from_seed("agency", &[2; 32]).unwrap();
        let log_key = log.verifier().to_vkey();
        let agency_key = agency.verifier().to_vkey();
        let trust = Trust::new(&log_key, std::slice::from_ref(&agency_key), None).unwrap();
        (trust, log_key, agency_key)
    }

    /// A keys file whose quorum is every witness it lists.
    fn keys(origin: &str, log: &str, witnesses: &[(&str, &str)]) -> Vec<u8> {
        keys_q(origin, log, witnesses, &witnesses.len().into())
    }

    fn keys_q(origin: &str, log: &str, witnesses: &[(&str, &str)], quorum: &Value) -> Vec<u8> {
        let w: Vec<Value> = witnesses
            .iter()
            .map(|(n, k)| serde_json::json!({"name": n, "key": k}))
            .collect();
        serde_json::to_vec_pretty(&serde_json::json!({
            "format": KEYS_FORMAT,
            "log": {"origin": origin, "key": log},
            "witnesses": w,
            "quorum": quorum,
        }))
        .unwrap()
    }

    #[test]
    fn keys_file_is_checked_against_the_trusted_keys() {
        let (trust, log_key, agency_key) = trust();
        let other_log = NoteSigner::from_seed("urna/el", &[7; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        let other_agency = CosignatureSigner::from_seed("agency", &[8; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        let stranger = CosignatureSigner::from_seed("stranger", &[9; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        let both = [("agency", agency_key.as_str()), ("stranger", &stranger)];
        let cases: [(Vec<u8>, &[&str], &str); 13] = [
            (
                keys("urna/el", &log_key, &[("agency", &agency_key)]),
                &[],
                "the honest file",
            ),
            (
                keys("urna/el", &log_key, &both),
                &[],
                "a witness the verifier does not know, while the quorum still needs the pinned one",
            ),
            (
                keys_q("urna/el", &log_key, &both, &Value::from(1)),
                &["quorum"],
                "a witness the verifier does not know that could meet the quorum alone",
            ),
            (
                keys_q("urna/el", &log_key, &[], &Value::from(0)),
                &["witnesses", "quorum"],
                "the pinned witness dropped and the quorum 0: the page would need no cosignature",
            ),
            (
                keys_q("urna/el", &log_key, &[], &Value::from(7)),
                &["witnesses", "quorum"],
                "a quorum with no witnesses to meet it",
            ),
            (
                keys_q(
                    "urna/el",
                    &log_key,
                    &[("agency", &agency_key)],
                    &Value::from(0),
                ),
                &["quorum", "quorum"],
                "quorum 0 with a witness listed",
            ),
            (
                keys_q(
                    "urna/el",
                    &log_key,
                    &[("agency", &agency_key)],
                    &Value::from(2),
                ),
                &["quorum"],
                "a quorum above the witnesses listed",
            ),
            (
                keys_q(
                    "urna/el",
                    &log_key,
                    &[("agency", &agency_key)],
                    &Value::Null,
                ),
                &["quorum"],
                "no quorum",
            ),
            (
                keys_q(
                    "urna/el",
                    &log_key,
                    &[("agency", &agency_key), ("agency", &agency_key)],
                    &Value::from(1),
                ),
                &["witnesses[1].name"],
                "one witness listed twice",
            ),
            (
                keys("urna/el", &other_log, &[("agency", &agency_key)]),
                &["log.key"],
                "another log key",
            ),
            (
                keys("urna/el", &log_key, &[("agency", &other_agency)]),
                &["witnesses[0].key"],
                "another key for a trusted witness's name",
            ),
            (
                keys("urna/other", &log_key, &[("agency", &agency_key)]),
                &["log.origin"],
                "another origin",
            ),
            (b"{".to_vec(), &[""], "not JSON"),
        ];
        for (bytes, fields, what) in cases {
            let got = keys_discrepancies(&bytes, &trust);
            let got_fields: Vec<&str> = got
                .iter()
                .map(|d| d.field.as_deref().unwrap_or(""))
                .collect();
            assert_eq!(got_fields, fields, "{what}: {got:?}");
            for d in &got {
                assert_eq!(d.kind, Kind::Keys, "{what}");
                assert_eq!(d.file.as_deref(), Some(KEYS_JSON), "{what}");
                assert!(d.message.starts_with(KEYS_JSON), "{what}: {}", d.message);
            }
        }
        let d = &keys_discrepancies(
            &keys("urna/el", &other_log, &[("agency", &agency_key)]),
            &trust,
        )[0];
        assert_eq!(d.expected.as_deref(), Some(log_key.as_str()));
        assert_eq!(d.found.as_deref(), Some(other_log.as_str()));
        // A witness rotating its key, both keys trusted: the file may list either, not a
        // third; the witness still counts once, so it must be listed once.
        let rotating =
            Trust::new(&log_key, &[agency_key.clone(), other_agency.clone()], None).unwrap();
        for listed in [&agency_key, &other_agency] {
            let file = keys("urna/el", &log_key, &[("agency", listed)]);
            assert!(keys_discrepancies(&file, &rotating).is_empty(), "{listed}");
        }
        let third = CosignatureSigner::from_seed("agency", &[10; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        let got = keys_discrepancies(&keys("urna/el", &log_key, &[("agency", &third)]), &rotating);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].expected.as_deref(),
            Some(format!("{agency_key} or {other_agency}").as_str())
        );
        // Trusting the log key alone, the page's witnesses and quorum are the publisher's
        // word: only their consistency is checked.
        let log_only = Trust::new(&log_key, &[], None).unwrap();
        let honest = keys_q("urna/el", &log_key, &both, &Value::from(1));
        assert!(keys_discrepancies(&honest, &log_only).is_empty());
        let none_needed = keys_q("urna/el", &log_key, &both, &Value::from(0));
        assert_eq!(keys_discrepancies(&none_needed, &log_only).len(), 1);
    }
}
