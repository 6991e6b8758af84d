//! The incidents config (`incidents.toml`): the incident log's origin and the institutions that
//! may write to it, each with its Ed25519 signed-note key and its age recipient key.
//!
//! ```toml
//! # The incident log's checkpoint origin (its own log, beside the results log).
//! origin = "cec.example/incidents"
//!
//! [[institution]]
//! id = "cert.example"                      # the signer's key name, and the word in notes
//! name = "National CERT"                   # shown in the timeline
//! key = "cert.example+1a2b3c4d+BASE64…"    # Ed25519 verifier key (urna keys generate)
//! age = "age1…"                            # X25519 recipient for sealed details
//! ```
//!
//! Institutions are only ever added: every note in the log is checked against this file, so
//! removing an institution (or changing its key) makes its earlier notes fail the check.

use std::collections::BTreeMap;

use serde::Deserialize;
use urna_model::note::NoteVerifier;

use crate::body::check_id;
use crate::seal::check_recipient;

/// One institution that may report, update and acknowledge incidents.
#[derive(Debug, Clone)]
pub struct Institution {
    /// Its id: the key name of its signed notes and the word in `institution:` lines.
    pub id: String,
    /// Its name, for people.
    pub name: String,
    /// Its Ed25519 signed-note verifier key.
    pub key: NoteVerifier,
    /// Its age X25519 recipient key (`age1…`).
    pub age: String,
}

/// The parsed and checked incidents config.
#[derive(Debug, Clone)]
pub struct IncidentsConfig {
    /// The incident log's checkpoint origin.
    pub origin: String,
    /// The institutions, by id.
    pub institutions: BTreeMap<String, Institution>,
}

/// Why an incidents config was refused; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML of the expected shape (unknown or missing field, wrong type).
    #[error("incidents config: {0}")]
    Toml(String),
    /// A field breaks a rule.
    #[error("incidents config: {field}: {rule}")]
    Invalid {
        /// The field, e.g. `institution[2].key`.
        field: String,
        /// The rule broken.
        rule: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    origin: String,
    #[serde(default)]
    institution: Vec<InstitutionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstitutionFile {
    id: String,
    name: String,
    key: String,
    age: String,
}

impl IncidentsConfig {
    /// Parses and checks a config.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: unknown or missing fields, an origin that is not a
    /// valid checkpoint origin, an id that breaks [`check_id`], a key whose name is not the
    /// id, a bad age key, a repeated id or key, or no institution.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let invalid = |field: String, rule: String| ConfigError::Invalid { field, rule };
        if file.origin.is_empty()
            || file
                .origin
                .chars()
                .any(|c| c.is_control() || c == '\u{2014}')
            || file.origin.trim() != file.origin
        {
            return Err(invalid(
                "origin".into(),
                "must be one line of text without control characters or edge spaces".into(),
            ));
        }
        let mut institutions = BTreeMap::new();
        let mut ages = BTreeMap::new();
        for (i, f) in file.institution.into_iter().enumerate() {
            let at = |name: &str| format!("institution[{}].{name}", i + 1);
            check_id(&f.id).map_err(|rule| invalid(at("id"), rule.into()))?;
            if f.name.trim().is_empty() || f.name.chars().any(char::is_control) {
                return Err(invalid(
                    at("name"),
                    "must be a non-empty name without control characters".into(),
                ));
            }
            let key =
                NoteVerifier::from_vkey(&f.key).map_err(|e| invalid(at("key"), e.to_string()))?;
            if key.name() != f.id {
                return Err(invalid(
                    at("key"),
                    format!(
                        "the key is named {:?}, but must be named after the id {:?}",
                        key.name(),
                        f.id
                    ),
                ));
            }
            if let Err(e) = check_recipient(&at("age"), &f.age) {
                let rule = match e {
                    crate::seal::SealError::BadRecipient { reason, .. } => {
                        format!("not an age X25519 recipient (age1…): {reason}")
                    }
                    other => other.to_string(),
                };
                return Err(invalid(at("age"), rule));
            }
            if let Some(other) = ages.insert(f.age.clone(), f.id.clone()) {
                return Err(invalid(
                    at("age"),
                    format!("the same age key as institution {other:?}"),
                ));
            }
            if institutions.contains_key(&f.id) {
                return Err(invalid(at("id"), format!("duplicate id {:?}", f.id)));
            }
            institutions.insert(
                f.id.clone(),
                Institution {
                    id: f.id,
                    name: f.name,
                    key,
                    age: f.age,
                },
            );
        }
        if institutions.is_empty() {
            return Err(invalid(
                "institution".into(),
                "at least one [[institution]] is needed".into(),
            ));
        }
        Ok(Self {
            origin: file.origin,
            institutions,
        })
    }

    /// The institution with this id, if listed.
    pub fn institution(&self, id: &str) -> Option<&Institution> {
        self.institutions.get(id)
    }
}
