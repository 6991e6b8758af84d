//! The assessment file (`assessment.toml`): what `urna assess init` writes with urna's own
//! answers filled in, and the operator completes with theirs and their evidence.
//!
//! ```toml
//! [assessment]
//! election = "sim-2025-assembly"
//! definition = "sha256:…"
//! controls = "sha256:…"
//! date = "2026-12-06"
//! data = "/srv/urna/data"          # what the checks read, again when it is signed
//! backups = "/backups"             # optional
//! serve_config = "/etc/systemd/system/urna.service"   # optional
//! desk = "/srv/urna/centre"        # optional
//!
//! [[answer]]
//! id = "asset-inventory"
//! answer = "open"                  # yes | partly | no | not-applicable | open
//! evidence = ""
//! ```
//!
//! urna's answers (`pass`, `fail`, `unknown`) are not the operator's to edit: signing runs
//! the checks again on the same inputs and refuses an answer or evidence that differs.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::{Finding, Inputs, run_all};
use crate::controls::{Control, catalogue, catalogue_sha256, hex};
use crate::note::{Answer, AssessmentBody, ControlAnswer, check_evidence, valid_date};

/// An assessment being completed: its header, the check inputs and one answer per control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The election's id.
    pub election: String,
    /// SHA-256 of the definition, lower-case hex.
    pub definition: String,
    /// SHA-256 of the controls file answered, lower-case hex.
    pub controls: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// What the automatic checks read.
    pub inputs: Inputs,
    /// Answers, in the catalogue's order.
    pub answers: Vec<ControlAnswer>,
}

/// Why an assessment file was refused or cannot be signed; names the field and the rule.
#[derive(Debug, thiserror::Error)]
pub enum AssessmentError {
    /// Not TOML of the expected shape.
    #[error("assessment: {0}")]
    Toml(String),
    /// A field breaks a rule.
    #[error("assessment: {field}: {rule}")]
    Invalid {
        /// The field, e.g. `answer[3].evidence` or `answer station-keys`.
        field: String,
        /// The rule broken.
        rule: String,
    },
    /// The checks could not run.
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
}

impl Assessment {
    /// A new assessment of the data directory in `inputs`: the checks run, urna's answers
    /// filled in, the operator's left `open`.
    ///
    /// # Errors
    /// [`AssessmentError::Check`] if `inputs.data` is not a data directory;
    /// [`AssessmentError::Invalid`] for a bad `date`.
    pub fn init(inputs: Inputs, date: &str) -> Result<Self, AssessmentError> {
        if !valid_date(date) {
            return Err(invalid("date", "must be a calendar date YYYY-MM-DD"));
        }
        let findings = run_all(&inputs)?;
        let election =
            urna_model::definition::Election::load(&inputs.data.join(urna_store::DEFINITION_FILE))
                .map_err(|e| invalid("data", &e.to_string()))?;
        let answers = catalogue()
            .iter()
            .map(|c| automatic(c, &findings).unwrap_or_else(|| open(c)))
            .collect();
        Ok(Self {
            election: election.id,
            definition: hex(&election.digest),
            controls: catalogue_sha256(),
            date: date.to_owned(),
            inputs,
            answers,
        })
    }

    /// Writes the file the operator completes: each control's title, sources and question
    /// as comments above its answer.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let path = |p: &Path| q(&p.display().to_string());
        let mut s = String::from(
            "# urna standards self-assessment. urna answered the controls it can check itself\n\
             # (pass, fail, unknown: signing checks them again, so do not edit them). Answer the\n\
             # others with yes, partly, no or not-applicable and name your evidence (a document,\n\
             # its version and date, who keeps it; one line). Then: urna assess sign.\n\n[assessment]\n",
        );
        s.push_str(&format!("election = {}\n", q(&self.election)));
        s.push_str(&format!("definition = \"sha256:{}\"\n", self.definition));
        s.push_str(&format!("controls = \"sha256:{}\"\n", self.controls));
        s.push_str(&format!("date = {}\n", q(&self.date)));
        s.push_str(&format!("data = {}\n", path(&self.inputs.data)));
        for (key, value) in [
            ("backups", &self.inputs.backups),
            ("serve_config", &self.inputs.serve_config),
            ("desk", &self.inputs.desk),
        ] {
            if let Some(v) = value {
                s.push_str(&format!("{key} = {}\n", path(v)));
            }
        }
        for a in &self.answers {
            s.push_str("\n[[answer]]\n");
            if let Some(c) = crate::controls::control(&a.id) {
                s.push_str(&format!(
                    "# {} ({}; EU: {})\n",
                    c.title(crate::Lang::En),
                    c.nist.join(", "),
                    c.eu
                ));
                s.push_str(&format!("# {}\n", c.question(crate::Lang::En)));
                if c.check.is_some() {
                    s.push_str("# answered by urna's own check\n");
                }
            }
            s.push_str(&format!("id = {}\n", q(&a.id)));
            s.push_str(&format!("answer = {}\n", q(a.answer.word())));
            s.push_str(&format!(
                "evidence = {}\n",
                q(a.evidence.as_deref().unwrap_or(""))
            ));
        }
        s
    }

    /// Parses an assessment file. Every control of the catalogue must be answered once
    /// (answers come back in the catalogue's order), automatic controls with urna's words,
    /// the others with the operator's; evidence is one line.
    ///
    /// # Errors
    /// [`AssessmentError`] naming the field and the rule.
    pub fn from_toml(text: &str) -> Result<Self, AssessmentError> {
        let file: File = toml::from_str(text).map_err(|e| AssessmentError::Toml(e.to_string()))?;
        let h = file.assessment;
        let sha = |field: &str, v: &str| -> Result<String, AssessmentError> {
            v.strip_prefix("sha256:")
                .filter(|x| {
                    x.len() == 64
                        && x.bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                })
                .map(str::to_owned)
                .ok_or_else(|| invalid(field, "must be sha256:<64 lower-case hex>"))
        };
        let definition = sha("assessment.definition", &h.definition)?;
        let controls = sha("assessment.controls", &h.controls)?;
        if controls != catalogue_sha256() {
            return Err(invalid(
                "assessment.controls",
                "answers another version of the controls; run urna assess init again",
            ));
        }
        if !valid_date(&h.date) {
            return Err(invalid(
                "assessment.date",
                "must be a calendar date YYYY-MM-DD",
            ));
        }
        let mut answers = Vec::with_capacity(catalogue().len());
        for c in catalogue() {
            let mut matching = file.answer.iter().enumerate().filter(|(_, a)| a.id == c.id);
            let Some((i, a)) = matching.next() else {
                return Err(invalid(&format!("answer {}", c.id), "missing"));
            };
            if matching.next().is_some() {
                return Err(invalid(&format!("answer {}", c.id), "answered twice"));
            }
            let at = |f: &str| format!("answer[{}].{f} ({})", i + 1, c.id);
            let answer = Answer::from_word(&a.answer).ok_or_else(|| {
                invalid(
                    &at("answer"),
                    "must be one of yes, partly, no, not-applicable, open (or urna's pass, fail, unknown)",
                )
            })?;
            if c.check.is_some() != answer.is_automatic() {
                return Err(invalid(
                    &at("answer"),
                    if c.check.is_some() {
                        "urna answers this control itself (pass, fail or unknown)"
                    } else {
                        "urna cannot check this control: answer yes, partly, no, not-applicable or open"
                    },
                ));
            }
            let evidence = a.evidence.trim();
            let evidence = if evidence.is_empty() {
                if answer.needs_evidence() {
                    return Err(invalid(
                        &at("evidence"),
                        &format!("`{}` needs its evidence", answer.word()),
                    ));
                }
                None
            } else {
                check_evidence(evidence).map_err(|rule| invalid(&at("evidence"), rule))?;
                Some(evidence.to_owned())
            };
            answers.push(ControlAnswer {
                id: c.id.clone(),
                answer,
                evidence,
            });
        }
        if let Some(extra) = file
            .answer
            .iter()
            .find(|a| !catalogue().iter().any(|c| c.id == a.id))
        {
            return Err(invalid(
                &format!("answer {}", extra.id),
                "not a control of this catalogue",
            ));
        }
        Ok(Self {
            election: h.election,
            definition,
            controls,
            date: h.date,
            inputs: Inputs {
                data: h.data,
                backups: h.backups,
                serve_config: h.serve_config,
                desk: h.desk,
            },
            answers,
        })
    }

    /// Runs the checks again on the same inputs and refuses any automatic answer or evidence
    /// that differs, or a definition that changed; then gives the note body.
    ///
    /// # Errors
    /// [`AssessmentError::Invalid`] naming the first control that differs, with both answers.
    pub fn recheck_into_body(&self) -> Result<AssessmentBody, AssessmentError> {
        let findings = run_all(&self.inputs)?;
        let election = urna_model::definition::Election::load(
            &self.inputs.data.join(urna_store::DEFINITION_FILE),
        )
        .map_err(|e| invalid("assessment.data", &e.to_string()))?;
        if hex(&election.digest) != self.definition || election.id != self.election {
            return Err(invalid(
                "assessment.definition",
                "the data directory's definition is not the one assessed; run urna assess init again",
            ));
        }
        for (c, a) in catalogue().iter().zip(&self.answers) {
            if let Some(fresh) = automatic(c, &findings)
                && fresh != *a
            {
                return Err(invalid(
                    &format!("answer {}", c.id),
                    &format!(
                        "urna's check now says `{} {}`, the file says `{} {}`; run urna assess init again",
                        fresh.answer,
                        fresh.evidence.as_deref().unwrap_or(""),
                        a.answer,
                        a.evidence.as_deref().unwrap_or("")
                    ),
                ));
            }
        }
        Ok(self.body())
    }

    /// The note body of this assessment as it stands (no checks run).
    #[must_use]
    pub fn body(&self) -> AssessmentBody {
        AssessmentBody {
            election: self.election.clone(),
            definition: self.definition.clone(),
            controls: self.controls.clone(),
            date: self.date.clone(),
            answers: self.answers.clone(),
        }
    }
}

fn automatic(c: &Control, findings: &[Finding]) -> Option<ControlAnswer> {
    let check = c.check?;
    let f = findings.iter().find(|f| f.check == check)?;
    Some(ControlAnswer {
        id: c.id.clone(),
        answer: match f.outcome {
            crate::check::Outcome::Pass => Answer::Pass,
            crate::check::Outcome::Fail => Answer::Fail,
            crate::check::Outcome::Unknown => Answer::Unknown,
        },
        evidence: Some(f.evidence.clone()),
    })
}

fn open(c: &Control) -> ControlAnswer {
    ControlAnswer {
        id: c.id.clone(),
        answer: Answer::Open,
        evidence: None,
    }
}

fn invalid(field: &str, rule: &str) -> AssessmentError {
    AssessmentError::Invalid {
        field: field.to_owned(),
        rule: rule.to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    assessment: Header,
    #[serde(default)]
    answer: Vec<AnswerFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    election: String,
    definition: String,
    controls: String,
    date: String,
    data: PathBuf,
    backups: Option<PathBuf>,
    serve_config: Option<PathBuf>,
    desk: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFile {
    id: String,
    answer: String,
    #[serde(default)]
    evidence: String,
}

/// The UTC calendar date (`YYYY-MM-DD`) of a Unix time in milliseconds, for the default
/// `date` of a new assessment.
#[must_use]
pub fn date_of_ms(ms: u64) -> String {
    let (y, m, d) = crate::check::civil_from_days(ms / 86_400_000);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests;
