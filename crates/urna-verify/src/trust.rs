//! What the verifier trusts, and nothing else: the log's public key (its name is the log's
//! origin), the witnesses' public keys, and how many of them must have cosigned.
//!
//! A trust file is TOML. It may be the commission's own `witnesses.toml` (the `[[witness]]`
//! tables; `url` and `name` are ignored beyond a check that `name` is the key's name) with a
//! `log` line added, or a short list:
//!
//! ```toml
//! log = "urna/al-2025-assembly+1a2b3c4d+AQ…"       # `urna log key --data DIR` prints it
//! witnesses = ["cyber-security-agency+5e2c…+BM…", "observer-mission+77aa…+BH…"]
//! quorum = 2                                       # default: every witness listed
//!
//! [[witness]]                                      # the same, as witnesses.toml writes it
//! name = "data-protection"
//! key = "data-protection+0c1d…+BK…"
//! ```
//!
//! Keys: the log key is a C2SP signed-note verifier key (`name+hex8+base64(0x01 ‖ key)`);
//! witness keys are C2SP `cosignature/v1` keys (`name+hex8+base64(0x04 ‖ key)`), as
//! `urna witness keygen` prints them.
//!
//! A witness that rotates its key keeps its name: while it does, a trust file may list both
//! keys under that name. Either key's cosignature counts, and the witness counts once toward
//! the quorum, however many of its keys cosigned.

use std::path::Path;

use serde::Deserialize;
use urna_model::note::NoteVerifier;
use urna_tlog::cosignature::CosignatureVerifier;

/// The keys a verification trusts.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The log's key; its name is the log's origin.
    pub log: NoteVerifier,
    /// The witnesses' keys, each once; a witness rotating its key has several under its name.
    pub witnesses: Vec<CosignatureVerifier>,
    /// Valid cosignatures from distinct witnesses (names) required (0 with no witnesses).
    pub quorum: usize,
}

/// Why the trust given is unusable (a usage error: exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// No log key was given.
    #[error(
        "no log key: give --log-key (`urna log key --data DIR` prints it) or `log = \"…\"` in the trust file"
    )]
    NoLogKey,
    /// The log key does not parse.
    #[error("log key {key:?}: {reason}")]
    LogKey {
        /// The key as given.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A witness key does not parse.
    #[error("witness key {key:?}: {reason}")]
    WitnessKey {
        /// The key as given.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A `[[witness]]` table names another name than its key's.
    #[error("witness {name:?}: its key is named {key_name:?}")]
    WitnessName {
        /// The table's `name`.
        name: String,
        /// The key's name.
        key_name: String,
    },
    /// More cosignatures required than witnesses trusted.
    #[error("quorum {quorum} is more than the {witnesses} witness(es) given")]
    Quorum {
        /// Quorum asked.
        quorum: usize,
        /// Distinct witnesses (names).
        witnesses: usize,
    },
    /// The trust file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The trust file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// The TOML parser's message, with line and column.
        message: String,
    },
}

/// A trust file, as read: every part optional, so that command-line flags can complete it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustFile {
    /// `log = "…"`.
    pub log: Option<String>,
    /// `witnesses = [...]` followed by the keys of the `[[witness]]` tables.
    pub witnesses: Vec<String>,
    /// `quorum = k`.
    pub quorum: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    log: Option<String>,
    #[serde(default)]
    witnesses: Vec<String>,
    quorum: Option<usize>,
    #[serde(default)]
    witness: Vec<RawWitness>,
    /// The CA the log operator's client trusts for `https://` witnesses; of no use to a
    /// verifier, read so that the commission's `witnesses.toml` is a trust file as it stands.
    #[allow(dead_code)]
    ca_cert: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWitness {
    name: Option<String>,
    key: String,
    /// Where the log operator reaches the witness; of no use to a verifier.
    #[allow(dead_code)]
    url: Option<String>,
    /// The witness's pinned TLS keys (`sha256/…`) for the log operator's client; of no use
    /// to a verifier.
    #[allow(dead_code)]
    pins: Option<Vec<String>>,
}

impl TrustFile {
    /// Reads a trust file (see the module docs).
    ///
    /// # Errors
    /// [`TrustError::Io`], [`TrustError::File`], or [`TrustError::WitnessName`].
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TrustError::Io {
            path: name.clone(),
            source,
        })?;
        Self::parse(&name, &text)
    }

    /// Parses trust-file text; `name` is used in errors.
    ///
    /// # Errors
    /// [`TrustError::File`] or [`TrustError::WitnessName`].
    pub fn parse(name: &str, text: &str) -> Result<Self, TrustError> {
        let raw: RawTrust = toml::from_str(text).map_err(|e| TrustError::File {
            path: name.to_owned(),
            message: e.to_string(),
        })?;
        let mut witnesses = raw.witnesses;
        for w in raw.witness {
            if let Some(n) = &w.name {
                let key_name = w.key.split('+').next().unwrap_or_default();
                if key_name != n {
                    return Err(TrustError::WitnessName {
                        name: n.clone(),
                        key_name: key_name.to_owned(),
                    });
                }
            }
            witnesses.push(w.key);
        }
        Ok(Self {
            log: raw.log,
            witnesses,
            quorum: raw.quorum,
        })
    }
}

impl Trust {
    /// Builds the trust from key strings. `quorum` defaults to every witness given; witness
    /// keys given twice count once, and so do several keys of one witness (one name: a key
    /// rotation).
    ///
    /// # Errors
    /// [`TrustError`] naming the key or number at fault.
    pub fn new(
        log_key: &str,
        witness_keys: &[String],
        quorum: Option<usize>,
    ) -> Result<Self, TrustError> {
        let log = NoteVerifier::from_vkey(log_key.trim()).map_err(|e| TrustError::LogKey {
            key: log_key.to_owned(),
            reason: e.to_string(),
        })?;
        let mut witnesses: Vec<CosignatureVerifier> = Vec::new();
        for k in witness_keys {
            let w =
                CosignatureVerifier::from_vkey(k.trim()).map_err(|e| TrustError::WitnessKey {
                    key: k.clone(),
                    reason: e.to_string(),
                })?;
            if !witnesses.contains(&w) {
                witnesses.push(w);
            }
        }
        let mut trust = Self {
            log,
            witnesses,
            quorum: 0,
        };
        let distinct = trust.witness_names().len();
        trust.quorum = quorum.unwrap_or(distinct);
        if trust.quorum > distinct {
            return Err(TrustError::Quorum {
                quorum: trust.quorum,
                witnesses: distinct,
            });
        }
        Ok(trust)
    }

    /// The trusted witnesses' names, each once, in the order first given.
    pub fn witness_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for w in &self.witnesses {
            if !names.contains(&w.name()) {
                names.push(w.name());
            }
        }
        names
    }

    /// The trusted keys of witness `name` (several while it rotates its key).
    pub fn witness_keys<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a CosignatureVerifier> + 'a {
        self.witnesses.iter().filter(move |w| w.name() == name)
    }

    /// Builds the trust from a trust file completed by command-line values: `log_key`
    /// replaces the file's `log`, `witnesses` are added to the file's, `quorum` replaces the
    /// file's.
    ///
    /// # Errors
    /// As [`Trust::new`]; [`TrustError::NoLogKey`] if neither gives a log key.
    pub fn from_parts(
        file: Option<&TrustFile>,
        log_key: Option<&str>,
        witnesses: &[String],
        quorum: Option<usize>,
    ) -> Result<Self, TrustError> {
        let log = log_key
            .or_else(|| file.and_then(|f| f.log.as_deref()))
            .ok_or(TrustError::NoLogKey)?;
        let mut keys: Vec<String> = file.map(|f| f.witnesses.clone()).unwrap_or_default();
        keys.extend(witnesses.iter().cloned());
        Self::new(log, &keys, quorum.or_else(|| file.and_then(|f| f.quorum)))
    }

    /// The log's origin: the name of its key.
    pub fn origin(&self) -> &str {
        self.log.name()
    }
}

#[cfg(test)]
mod tests {
    use urna_model::note::NoteSigner;
    use urna_tlog::cosignature::CosignatureSigner;

    use super::*;

    fn log_vkey() -> String {
        NoteSigner::from_seed("urna/el", &[1; 32])
            .unwrap()
            .verifier()
            .to_vkey()
    }

    fn witness_vkey(name: &str, seed: u8) -> String {
        CosignatureSigner::from_seed(name, &[seed; 32])
            .unwrap()
            .verifier()
            .to_vkey()
    }

    #[test]
    fn the_commissions_witnesses_toml_with_a_log_line_is_a_trust_file() {
        let (a, b) = (witness_vkey("agency", 2), witness_vkey("observers", 3));
        let text = format!(
            "log = \"{}\"\nquorum = 1\nca_cert = \"partners-ca.pem\"\n\n[[witness]]\nname = \"agency\"\nurl = \"http://127.0.0.1:7001\"\nkey = \"{a}\"\n\n[[witness]]\nname = \"observers\"\nurl = \"https://observers.example\"\nkey = \"{b}\"\npins = [\"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\n",
            log_vkey()
        );
        let f = TrustFile::parse("t.toml", &text).unwrap();
        let t = Trust::from_parts(Some(&f), None, &[], None).unwrap();
        assert_eq!(t.origin(), "urna/el");
        assert_eq!(t.quorum, 1);
        let names: Vec<&str> = t.witnesses.iter().map(|w| w.name()).collect();
        assert_eq!(names, ["agency", "observers"]);
    }

    #[test]
    fn the_short_form_defaults_the_quorum_to_every_witness() {
        let text = format!(
            "log = \"{}\"\nwitnesses = [\"{}\", \"{}\"]\n",
            log_vkey(),
            witness_vkey("agency", 2),
            witness_vkey("observers", 3)
        );
        let f = TrustFile::parse("t.toml", &text).unwrap();
        assert_eq!(
            Trust::from_parts(Some(&f), None, &[], None).unwrap().quorum,
            2
        );
        // Flags complete and override the file.
        let extra = [witness_vkey("parties", 4)];
        let t = Trust::from_parts(Some(&f), None, &extra, Some(3)).unwrap();
        assert_eq!((t.witnesses.len(), t.quorum), (3, 3));
    }

    #[test]
    fn bad_trust_is_refused_with_its_reason() {
        let w = witness_vkey("agency", 2);
        let other = witness_vkey("agency", 9);
        let cases: Vec<(Result<Trust, TrustError>, &str)> = vec![
            (Trust::from_parts(None, None, &[], None), "no log key"),
            (Trust::new("urna/el+00000000+AQ", &[], None), "log key"),
            (
                Trust::new(&log_vkey(), &["nope".into()], None),
                "witness key",
            ),
            (
                // A signed-note key is not a cosignature key.
                Trust::new(&log_vkey(), &[log_vkey()], None),
                "witness key",
            ),
            (
                Trust::new(&log_vkey(), std::slice::from_ref(&w), Some(2)),
                "quorum 2 is more than the 1",
            ),
        ];
        for (got, want) in cases {
            let err = got.err().unwrap().to_string();
            assert!(err.contains(want), "{err:?} should say {want:?}");
        }
        // The same key twice counts once.
        let t = Trust::new(&log_vkey(), &[w.clone(), w.clone()], None).unwrap();
        assert_eq!((t.witnesses.len(), t.quorum), (1, 1));
        // Two keys of one witness (a rotation): both trusted, one witness toward the quorum.
        let t = Trust::new(&log_vkey(), &[w.clone(), other.clone()], None).unwrap();
        assert_eq!((t.witnesses.len(), t.quorum), (2, 1));
        assert_eq!(t.witness_names(), ["agency"]);
        assert_eq!(t.witness_keys("agency").count(), 2);
        let err = Trust::new(&log_vkey(), &[w.clone(), other], Some(2))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("quorum 2 is more than the 1 witness(es)"),
            "{err}"
        );
        let err = TrustFile::parse(
            "t.toml",
            &format!("[[witness]]\nname = \"x\"\nkey = \"{w}\"\n"),
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("its key is named \"agency\""),
            "{err}"
        );
        let err = TrustFile::parse("t.toml", "logg = \"x\"\n").err().unwrap();
        assert!(err.to_string().starts_with("t.toml: "), "{err}");
    }
}
