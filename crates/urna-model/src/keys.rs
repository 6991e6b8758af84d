//! `urna/keys/v1`: an authority's signed statement of the polling stations' verifier keys, as
//! made in bulk for printing and provisioning (`urna keys stations`).
//!
//! Two files travel together:
//! - the **key list**: one station verifier key (`<station>+<key id>+<base64>`, the stations
//!   file's `key` column) per line, sorted by station id, each id once;
//! - the **manifest**, a signed note whose body names the election, the number of keys and
//!   the SHA-256 of the key list:
//!
//! ```text
//! urna/keys/v1
//! election: sim-2025-assembly
//! stations: 5200
//! list: sha256:<hex of the key list's bytes>
//! ```
//!
//! The list is a file of its own because a signed note is at most
//! [`crate::note::MAX_NOTE_BYTES`] long, and a national election's keys are several hundred
//! kilobytes. Whoever holds the authority's verifier key can check that the keys in a
//! stations file are the ones the authority provisioned ([`KeyList::verify_stations`]).
//!
//! Out of scope: the private keys (files of their own, never in a list), revocation
//! ([`crate::revocation`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::definition::Station;
use crate::note::{NoteVerifier, format_vkey};
use crate::protocol::{BodyError, check_id, hex, parse_sha256};

/// First line of a key manifest.
pub const KEYS_V1: &str = "urna/keys/v1";

/// A parsed manifest body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyManifest {
    /// The election the keys are for.
    pub election: String,
    /// Number of keys in the list.
    pub stations: u64,
    /// SHA-256 of the key list's bytes.
    pub list: [u8; 32],
}

/// Station verifier keys by station id (sorted, each once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyList {
    /// The keys, by station id (the key's name).
    pub keys: BTreeMap<String, NoteVerifier>,
}

/// Why a key list is not well formed, or does not match a manifest or a stations file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyListError {
    /// A line that is not a station verifier key.
    #[error("key list line {line}: {rule}")]
    Line {
        /// The line (1-based).
        line: usize,
        /// The rule broken.
        rule: String,
    },
    /// The list and the manifest disagree.
    #[error("key list: {0}")]
    Manifest(String),
    /// The list and a stations file disagree.
    #[error("station {station}: {rule}")]
    Station {
        /// The station id.
        station: String,
        /// What differs.
        rule: String,
    },
}

impl KeyManifest {
    /// The canonical text.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(160);
        let _ = write!(
            s,
            "{KEYS_V1}\nelection: {}\nstations: {}\nlist: sha256:{}\n",
            self.election,
            self.stations,
            hex(&self.list)
        );
        s
    }

    /// Parses a manifest body, strictly (fixed lines, canonical numbers, nothing after).
    ///
    /// # Errors
    /// [`BodyError`] naming the line and field.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        if lines.first() != Some(&KEYS_V1) {
            return Err(BodyError::UnknownType(
                lines.first().unwrap_or(&"").chars().take(80).collect(),
            ));
        }
        let field = |i: usize, key: &'static str| -> Result<&str, BodyError> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(": "))
                .ok_or(BodyError::Missing {
                    line: i + 1,
                    expected: key,
                })
        };
        let bad = |line: usize, field: &str, rule: &str| BodyError::Field {
            line,
            field: field.into(),
            rule: rule.into(),
        };
        let election = field(1, "election")?;
        check_id(election).map_err(|r| bad(2, "election", r))?;
        let n = field(2, "stations")?;
        if n.is_empty()
            || !n.bytes().all(|b| b.is_ascii_digit())
            || (n.len() > 1 && n.starts_with('0'))
        {
            return Err(bad(3, "stations", "must be a canonical whole number"));
        }
        let stations = n.parse().map_err(|_| bad(3, "stations", "out of range"))?;
        let list = parse_sha256(field(3, "list")?).map_err(|r| bad(4, "list", r))?;
        if let Some(extra) = lines.get(4) {
            return Err(BodyError::Unexpected {
                line: 5,
                text: extra.chars().take(80).collect(),
            });
        }
        Ok(Self {
            election: election.to_owned(),
            stations,
            list,
        })
    }
}

impl KeyList {
    /// The canonical bytes: one verifier key per line, by station id, each line ending `\n`.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.keys.len() * 72);
        for v in self.keys.values() {
            s.push_str(&v.to_vkey());
            s.push('\n');
        }
        s
    }

    /// The manifest of this list for `election`.
    pub fn manifest(&self, election: &str) -> KeyManifest {
        KeyManifest {
            election: election.to_owned(),
            stations: self.keys.len() as u64,
            list: crate::intake::sha256(self.to_text().as_bytes()),
        }
    }

    /// Parses a key list, strictly: every line a verifier key named by a valid station id,
    /// in ascending id order with no id twice, each line ending `\n`, nothing else.
    ///
    /// # Errors
    /// [`KeyListError::Line`] naming the line and the rule.
    pub fn parse(text: &str) -> Result<Self, KeyListError> {
        let mut keys = BTreeMap::new();
        if text.is_empty() {
            return Ok(Self { keys });
        }
        let Some(body) = text.strip_suffix('\n') else {
            return Err(KeyListError::Line {
                line: text.split('\n').count(),
                rule: "the last line must end with a newline".into(),
            });
        };
        let mut last: Option<&str> = None;
        for (i, l) in body.split('\n').enumerate() {
            let bad = |rule: String| KeyListError::Line { line: i + 1, rule };
            let v =
                NoteVerifier::from_vkey(l).map_err(|e| bad(format!("not a verifier key: {e}")))?;
            check_id(v.name()).map_err(|r| bad(format!("key name {:?}: {r}", v.name())))?;
            // A canonical key line only: the text must be what the key writes.
            if v.to_vkey() != l {
                return Err(bad("not the canonical form of the key".into()));
            }
            let name = l.split('+').next().unwrap_or_default();
            if let Some(prev) = last
                && name <= prev
            {
                return Err(bad(format!(
                    "station {name:?} after {prev:?}: ids must be in ascending order, each once"
                )));
            }
            last = Some(name);
            keys.insert(name.to_owned(), v);
        }
        Ok(Self { keys })
    }

    /// Checks the list against a manifest: the same number of keys and the same SHA-256.
    ///
    /// # Errors
    /// [`KeyListError::Manifest`] naming what differs.
    pub fn verify_manifest(&self, manifest: &KeyManifest) -> Result<(), KeyListError> {
        if self.keys.len() as u64 != manifest.stations {
            return Err(KeyListError::Manifest(format!(
                "{} keys, the manifest names {}",
                self.keys.len(),
                manifest.stations
            )));
        }
        let got = crate::intake::sha256(self.to_text().as_bytes());
        if got != manifest.list {
            return Err(KeyListError::Manifest(format!(
                "SHA-256 {}, the manifest names {}",
                hex(&got),
                hex(&manifest.list)
            )));
        }
        Ok(())
    }

    /// Checks that every station has exactly the key the list gives, and that the list has no
    /// key for a station that is not there.
    ///
    /// # Errors
    /// [`KeyListError::Station`] naming the first station that differs (in id order).
    pub fn verify_stations(&self, stations: &[Station]) -> Result<(), KeyListError> {
        let mut seen = BTreeMap::new();
        for s in stations {
            seen.insert(s.id.as_str(), format_vkey(&s.id, s.key_id, &s.public_key));
        }
        for (id, vkey) in &seen {
            match self.keys.get(*id) {
                None => {
                    return Err(KeyListError::Station {
                        station: (*id).to_owned(),
                        rule: "not in the key list".into(),
                    });
                }
                Some(v) if v.to_vkey() != *vkey => {
                    return Err(KeyListError::Station {
                        station: (*id).to_owned(),
                        rule: format!("key {vkey} is not the listed {}", v.to_vkey()),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = self.keys.keys().find(|id| !seen.contains_key(id.as_str())) {
            return Err(KeyListError::Station {
                station: extra.clone(),
                rule: "listed, but not a station of the definition".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Note, NoteSigner};

    fn list(n: u8) -> KeyList {
        let mut l = KeyList::default();
        for i in 1..=n {
            let s = NoteSigner::from_seed(&format!("PS-{i:03}"), &[i; 32]).unwrap();
            l.keys.insert(s.name().to_owned(), s.verifier());
        }
        l
    }

    /// The fixed vector: three stations' keys from fixed seeds, signed by a fixed authority
    /// key. Ed25519 signatures are deterministic, so the bytes never change; a change here
    /// changes the format.
    #[test]
    fn manifest_fixed_vector() {
        let l = list(3);
        let text = l.to_text();
        assert_eq!(text, include_str!("../tests/data/keys/station-keys.txt"));
        let cec = NoteSigner::from_seed("cec", &[42; 32]).unwrap();
        let note = cec.sign_text(&l.manifest("sim-2025-assembly").to_text());
        assert_eq!(
            String::from_utf8(note.to_bytes()).unwrap(),
            include_str!("../tests/data/keys/station-keys.note")
        );
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        cec.verifier().verify(&parsed).unwrap();
        let m = KeyManifest::parse(parsed.text()).unwrap();
        assert_eq!(m.stations, 3);
        assert_eq!(m.election, "sim-2025-assembly");
        KeyList::parse(&text).unwrap().verify_manifest(&m).unwrap();
    }

    #[test]
    fn manifest_round_trips_and_is_strict() {
        let m = list(2).manifest("e-1");
        assert_eq!(KeyManifest::parse(&m.to_text()).unwrap(), m);
        let t = m.to_text();
        let cases: Vec<(String, &str)> = vec![
            (
                t.replace("urna/keys/v1", "urna/keys/v2"),
                "unknown note type",
            ),
            (
                t.replace("stations: 2", "stations: 02"),
                "line 3: field `stations`",
            ),
            (
                t.replace("stations: 2", "stations: -2"),
                "line 3: field `stations`",
            ),
            (
                t.replace("election: e-1", "election: -e"),
                "line 2: field `election`",
            ),
            (
                t.replace("list: sha256:", "list: sha1:"),
                "line 4: field `list`",
            ),
            (
                t.replace("election: ", "election:"),
                "line 2: expected field `election`",
            ),
            (format!("{t}more: 1\n"), "line 5: unexpected line"),
        ];
        for (text, want) in cases {
            let e = KeyManifest::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn key_list_is_strict_and_checked_against_manifest_and_stations() {
        let l = list(3);
        let t = l.to_text();
        assert_eq!(KeyList::parse(&t).unwrap(), l);
        assert_eq!(KeyList::parse("").unwrap(), KeyList::default());
        let lines: Vec<&str> = t.lines().collect();
        let cases: Vec<(String, &str)> = vec![
            (
                t.trim_end().to_owned(),
                "line 3: the last line must end with a newline",
            ),
            (
                format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]),
                "line 2: station \"PS-001\" after \"PS-002\"",
            ),
            (
                format!("{}\n{}\n", lines[0], lines[0]),
                "line 2: station \"PS-001\" after \"PS-001\"",
            ),
            (format!("{}\n\n", lines[0]), "line 2: not a verifier key"),
            (t.replace("PS-002", "P S"), "line 2: not a verifier key"),
            (format!("{t}x\n"), "line 4: not a verifier key"),
        ];
        for (text, want) in cases {
            let e = KeyList::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        // Against a manifest of another list.
        let e = l
            .verify_manifest(&list(2).manifest("e"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 keys, the manifest names 2"), "{e}");
        let mut other = list(3).manifest("e");
        other.list[0] ^= 1;
        let e = l.verify_manifest(&other).unwrap_err().to_string();
        assert!(e.contains("SHA-256"), "{e}");
    }
}
