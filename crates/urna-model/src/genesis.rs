//! `urna/genesis/v1`: entry 0 of every election's log, committing the log to its definition.
//!
//! ```text
//! urna/genesis/v1
//! election: al-2021-assembly
//! log: urna/al-2021-assembly
//! definition: sha256:<hex of election.toml followed by the stations file>
//! election-toml: sha256:<hex of election.toml>
//! stations: stations.csv sha256:<hex of the stations file>
//! ```
//! Signed by the log key when the data directory is created (`urna init`), so the one key a
//! verifier pins vouches for the definition too. The two files are published as blobs
//! (`blob/sha256/<hex>`): a verifier fetches them by the hashes named here, never by what a
//! results file claims, loads the definition, and checks that its digest is `definition`.
//! Every later entry is read against that definition.

use std::fmt::Write as _;

use crate::definition::Election;
use crate::protocol::{BodyError, hex, parse_sha256};

/// First line of a genesis entry.
pub const GENESIS_V1: &str = "urna/genesis/v1";

/// A parsed genesis body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// The election's id.
    pub election: String,
    /// The log's origin (its key's name).
    pub log: String,
    /// SHA-256 of `election.toml` followed by the stations file ([`Election::digest`]).
    pub definition: [u8; 32],
    /// SHA-256 of `election.toml`.
    pub election_toml: [u8; 32],
    /// The stations file's name, as `election.toml` names it.
    pub stations_file: String,
    /// SHA-256 of the stations file.
    pub stations: [u8; 32],
}

/// Why a genesis entry does not commit to a definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The two files together do not hash to the loaded definition's digest.
    #[error(
        "definition: election.toml followed by {stations_file} hashes to sha256:{got}, but the definition loaded is sha256:{expected}"
    )]
    FilesDiffer {
        /// The stations file's name.
        stations_file: String,
        /// What the files hash to.
        got: String,
        /// The loaded definition's digest.
        expected: String,
    },
    /// A field of the genesis entry disagrees with the definition.
    #[error("{field}: the genesis entry says {found}, the definition gives {expected}")]
    Mismatch {
        /// The genesis field.
        field: &'static str,
        /// What the definition gives.
        expected: String,
        /// What the genesis entry says.
        found: String,
    },
}

impl Genesis {
    /// The genesis of `e`, from the exact bytes of its two files (which must be what `e` was
    /// loaded from).
    ///
    /// # Errors
    /// [`GenesisError::FilesDiffer`] if they are not.
    pub fn of(e: &Election, election_toml: &[u8], stations: &[u8]) -> Result<Self, GenesisError> {
        use sha2::{Digest, Sha256};
        let mut both = Sha256::new();
        both.update(election_toml);
        both.update(stations);
        let both: [u8; 32] = both.finalize().into();
        if both != e.digest {
            return Err(GenesisError::FilesDiffer {
                stations_file: e.stations_file.clone(),
                got: hex(&both),
                expected: hex(&e.digest),
            });
        }
        Ok(Self {
            election: e.id.clone(),
            log: e.log_origin(),
            definition: e.digest,
            election_toml: Sha256::digest(election_toml).into(),
            stations_file: e.stations_file.clone(),
            stations: Sha256::digest(stations).into(),
        })
    }

    /// Checks that this genesis commits to `e`: same election, log origin, stations file name
    /// and definition digest. (The two file hashes are checked when the files are fetched.)
    ///
    /// # Errors
    /// [`GenesisError::Mismatch`] naming the first field that differs.
    pub fn check(&self, e: &Election) -> Result<(), GenesisError> {
        let differs = |field, expected: String, found: String| {
            Err(GenesisError::Mismatch {
                field,
                expected,
                found,
            })
        };
        if self.election != e.id {
            return differs("election", e.id.clone(), self.election.clone());
        }
        if self.log != e.log_origin() {
            return differs("log", e.log_origin(), self.log.clone());
        }
        if self.stations_file != e.stations_file {
            return differs(
                "stations",
                e.stations_file.clone(),
                self.stations_file.clone(),
            );
        }
        if self.definition != e.digest {
            return differs(
                "definition",
                format!("sha256:{}", hex(&e.digest)),
                format!("sha256:{}", hex(&self.definition)),
            );
        }
        Ok(())
    }

    /// The canonical text.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(320);
        let _ = write!(
            s,
            "{GENESIS_V1}\nelection: {}\nlog: {}\ndefinition: sha256:{}\nelection-toml: sha256:{}\nstations: {} sha256:{}\n",
            self.election,
            self.log,
            hex(&self.definition),
            hex(&self.election_toml),
            self.stations_file,
            hex(&self.stations),
        );
        s
    }

    /// Parses a genesis body, strictly (fixed lines in a fixed order, lowercase hex).
    ///
    /// # Errors
    /// [`BodyError`] naming the line and field.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        if lines.first() != Some(&GENESIS_V1) {
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
        let name = |i: usize, key: &'static str, v: &str| -> Result<String, BodyError> {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(BodyError::Field {
                    line: i + 1,
                    field: key.into(),
                    rule: "must be a non-empty name without spaces".into(),
                });
            }
            Ok(v.to_owned())
        };
        let sha = |i: usize, key: &'static str, v: &str| {
            parse_sha256(v).map_err(|r| BodyError::Field {
                line: i + 1,
                field: key.into(),
                rule: r.into(),
            })
        };
        let election = name(1, "election", field(1, "election")?)?;
        let log = name(2, "log", field(2, "log")?)?;
        let definition = sha(3, "definition", field(3, "definition")?)?;
        let election_toml = sha(4, "election-toml", field(4, "election-toml")?)?;
        let stations_line = field(5, "stations")?;
        let Some((stations_file, stations_hash)) = stations_line.split_once(' ') else {
            return Err(BodyError::Field {
                line: 6,
                field: "stations".into(),
                rule: "must be `<file name> sha256:<hex>`".into(),
            });
        };
        let stations_file = name(5, "stations", stations_file)?;
        let stations = sha(5, "stations", stations_hash)?;
        if let Some(extra) = lines.get(6) {
            return Err(BodyError::Unexpected {
                line: 7,
                text: extra.chars().take(80).collect(),
            });
        }
        Ok(Self {
            election,
            log,
            definition,
            election_toml,
            stations_file,
            stations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Genesis {
        Genesis {
            election: "al-2021".into(),
            log: "urna/al-2021".into(),
            definition: [1; 32],
            election_toml: [0xab; 32],
            stations_file: "stations.csv".into(),
            stations: [3; 32],
        }
    }

    #[test]
    fn genesis_round_trips_and_is_strict() {
        let g = sample();
        let text = g.to_text();
        assert!(text.starts_with("urna/genesis/v1\nelection: al-2021\nlog: urna/al-2021\n"));
        assert_eq!(Genesis::parse(&text).unwrap(), g);
        let upper = text.replace(&hex(&[0xab; 32]), &hex(&[0xab; 32]).to_uppercase());
        assert!(matches!(
            Genesis::parse(&upper),
            Err(BodyError::Field { line: 5, .. })
        ));
        let extra = format!("{text}more: 1\n");
        assert!(matches!(
            Genesis::parse(&extra),
            Err(BodyError::Unexpected { line: 7, .. })
        ));
        let no_file = text.replace("stations: stations.csv ", "stations: ");
        assert!(matches!(
            Genesis::parse(&no_file),
            Err(BodyError::Field { line: 6, .. })
        ));
        assert!(matches!(
            Genesis::parse("urna/protocol/v1\n"),
            Err(BodyError::UnknownType(_))
        ));
    }
}
