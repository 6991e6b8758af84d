//! The controls, as data: `controls.toml`, embedded in the binary, parsed and checked once.
//!
//! Each control names its sources (NIST IR 8310 / CSF v1.1 subcategory ids such as
//! `PR.AC-1`, and the EU Compendium's phase or theme), a title and a question in the four
//! languages, and the automatic check that answers it, if urna can check it itself. The file's
//! header says where the ids come from and why the Compendium's section numbers are not cited.

use std::sync::OnceLock;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::Lang;

/// The embedded controls file, byte for byte (its SHA-256 is in every signed assessment).
pub const CONTROLS_TOML: &str = include_str!("../controls.toml");

/// One control of the assessment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// urna's stable id (`[a-z0-9-]`), written in the assessment and the signed note.
    pub id: String,
    /// NIST IR 8310 / CSF v1.1 subcategory ids, e.g. `PR.AC-1`.
    pub nist: Vec<String>,
    /// The EU Compendium's phase (2018) or theme (2024), in its own words.
    pub eu: String,
    /// The automatic check that answers it, if urna can check it itself.
    pub check: Option<CheckId>,
    title: [String; 4],
    question: [String; 4],
}

impl Control {
    /// The title in `lang`.
    #[must_use]
    pub fn title(&self, lang: Lang) -> &str {
        &self.title[lang as usize]
    }

    /// The question in `lang`.
    #[must_use]
    pub fn question(&self, lang: Lang) -> &str {
        &self.question[lang as usize]
    }
}

/// Why a controls file was refused; names the control and field.
#[derive(Debug, thiserror::Error)]
pub enum ControlsError {
    /// Not TOML of the expected shape.
    #[error("controls: {0}")]
    Toml(String),
    /// A field breaks a rule.
    #[error("controls: control {index} ({id}): field `{field}`: {rule}")]
    Invalid {
        /// 1-based position in the file.
        index: usize,
        /// The control's id as written.
        id: String,
        /// The field.
        field: &'static str,
        /// The rule broken.
        rule: String,
    },
}

/// The embedded catalogue, parsed once.
///
/// # Panics
/// Never in a released binary: the embedded file is checked by this crate's tests
/// (`embedded_catalogue_parses`), and a change that broke it would fail them.
#[must_use]
pub fn catalogue() -> &'static [Control] {
    static CATALOGUE: OnceLock<Vec<Control>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        #[allow(clippy::expect_used)] // the embedded file is fixed at build time and tested
        parse(CONTROLS_TOML).expect("the embedded controls.toml is valid (tested)")
    })
}

/// The control with this id in the embedded catalogue.
#[must_use]
pub fn control(id: &str) -> Option<&'static Control> {
    catalogue().iter().find(|c| c.id == id)
}

/// SHA-256 of the embedded controls file, lower-case hex.
#[must_use]
pub fn catalogue_sha256() -> String {
    hex(&Sha256::digest(CONTROLS_TOML.as_bytes()))
}

/// Parses and checks a controls file.
///
/// # Errors
/// [`ControlsError`] naming the control and the field: unknown or missing fields, a bad or
/// duplicate id, a NIST id not of the CSF form `XX.YY-n`, an unknown check, an empty text.
pub fn parse(text: &str) -> Result<Vec<Control>, ControlsError> {
    let file: File = toml::from_str(text).map_err(|e| ControlsError::Toml(e.to_string()))?;
    let mut out: Vec<Control> = Vec::with_capacity(file.control.len());
    for (i, c) in file.control.into_iter().enumerate() {
        let bad = |field: &'static str, rule: String| ControlsError::Invalid {
            index: i + 1,
            id: c.id.clone(),
            field,
            rule,
        };
        if !valid_id(&c.id) {
            return Err(bad("id", "must be 1 to 64 of a-z, 0-9 and -".into()));
        }
        if out.iter().any(|o| o.id == c.id) {
            return Err(bad("id", "duplicate id".into()));
        }
        if c.nist.is_empty() {
            return Err(bad("nist", "must name at least one subcategory".into()));
        }
        if let Some(n) = c.nist.iter().find(|n| !valid_csf_id(n)) {
            return Err(bad(
                "nist",
                format!("{n:?} is not a CSF subcategory id (e.g. PR.AC-1)"),
            ));
        }
        if c.eu.trim().is_empty() {
            return Err(bad("eu", "must not be empty".into()));
        }
        let check = match &c.check {
            None => None,
            Some(name) => Some(
                CheckId::from_name(name)
                    .ok_or_else(|| bad("check", format!("unknown check {name:?}")))?,
            ),
        };
        let title = c.title.into_array();
        let question = c.question.into_array();
        for (field, texts) in [("title", &title), ("question", &question)] {
            for (lang, t) in Lang::ALL.iter().zip(texts.iter()) {
                if t.trim().is_empty() || t.contains('\n') {
                    return Err(bad(field, format!("{lang}: must be one non-empty line")));
                }
            }
        }
        out.push(Control {
            id: c.id,
            nist: c.nist,
            eu: c.eu,
            check,
            title,
            question,
        });
    }
    if out.is_empty() {
        return Err(ControlsError::Toml("no [[control]]".into()));
    }
    Ok(out)
}

/// Whether `id` is a valid control id (`[a-z0-9-]{1,64}`, not starting with `-`).
#[must_use]
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `XX.YY-n`: a CSF v1.1 function, a category and a number (ID.AM-1, PR.AC-4, RS.CO-2).
fn valid_csf_id(id: &str) -> bool {
    const FUNCTIONS: [&str; 5] = ["ID", "PR", "DE", "RS", "RC"];
    let Some((head, number)) = id.split_once('-') else {
        return false;
    };
    let Some((function, category)) = head.split_once('.') else {
        return false;
    };
    FUNCTIONS.contains(&function)
        && category.len() == 2
        && category.bytes().all(|b| b.is_ascii_uppercase())
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The automatic checks a control can name (`check`); they run in `crate::check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckId {
    /// Every station has a key of its own.
    StationKeys,
    /// Authorities are named with keys distinct from each other and from the stations'.
    AuthorityKeys,
    /// The log's checkpoints verify with the log key; the log was made for this definition.
    LogIntegrity,
    /// `witnesses.toml`: a quorum of at least two that no single other host can reach.
    WitnessQuorum,
    /// Every witness URL is `https://`.
    WitnessTls,
    /// Every `urna serve`, `urna witness serve` and `urna desk` of the serve configuration
    /// serves TLS with a certificate and key that load, or listens on loopback only.
    ServeTls,
    /// Backups of this election exist and match their manifests.
    Backups,
    /// Private keys in the data directory have mode 0600.
    KeyCustody,
    /// No routine backup holds private keys.
    BackupsWithoutKeys,
    /// The desk's audit trail exists and its database refuses updates and deletes.
    AuditTrail,
}

impl CheckId {
    /// Every check.
    pub const ALL: [Self; 10] = [
        Self::StationKeys,
        Self::AuthorityKeys,
        Self::LogIntegrity,
        Self::WitnessQuorum,
        Self::WitnessTls,
        Self::ServeTls,
        Self::Backups,
        Self::KeyCustody,
        Self::BackupsWithoutKeys,
        Self::AuditTrail,
    ];

    /// The name used in `controls.toml`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::StationKeys => "station-keys",
            Self::AuthorityKeys => "authority-keys",
            Self::LogIntegrity => "log-integrity",
            Self::WitnessQuorum => "witness-quorum",
            Self::WitnessTls => "witness-tls",
            Self::ServeTls => "serve-tls",
            Self::Backups => "backups",
            Self::KeyCustody => "key-custody",
            Self::BackupsWithoutKeys => "backups-without-keys",
            Self::AuditTrail => "audit-trail",
        }
    }

    /// The check of this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    control: Vec<ControlFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlFile {
    id: String,
    nist: Vec<String>,
    eu: String,
    check: Option<String>,
    title: Texts,
    question: Texts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Texts {
    en: String,
    sq: String,
    mk: String,
    #[serde(rename = "sr-Latn")]
    sr_latn: String,
}

impl Texts {
    fn into_array(self) -> [String; 4] {
        [self.en, self.sq, self.mk, self.sr_latn]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_parses() {
        let c = parse(CONTROLS_TOML).unwrap();
        assert!((25..=40).contains(&c.len()), "{} controls", c.len());
        // Every automatic check answers at least one control.
        for check in CheckId::ALL {
            assert!(
                c.iter().any(|x| x.check == Some(check)),
                "no control uses {check:?}"
            );
        }
    }

    #[test]
    fn csf_ids_are_checked_for_form() {
        for (id, ok) in [
            ("PR.AC-1", true),
            ("RS.CO-4", true),
            ("ID.AM-6", true),
            ("PR.IP-12", true),
            ("PR.AC-0", false),
            ("XX.AC-1", false),
            ("PR.Ac-1", false),
            ("PR.AC1", false),
            ("PR-AC-1", false),
            ("GV.OC-01", false),
        ] {
            assert_eq!(valid_csf_id(id), ok, "{id}");
        }
    }

    #[test]
    fn a_bad_control_is_refused_naming_the_field() {
        let base = CONTROLS_TOML.replacen("check = \"station-keys\"", "check = \"nope\"", 1);
        let e = parse(&base).unwrap_err().to_string();
        assert!(e.contains("station-keys") && e.contains("`check`"), "{e}");
        let dup = format!(
            "{CONTROLS_TOML}\n{}",
            &CONTROLS_TOML[CONTROLS_TOML.find("[[control]]").unwrap()..]
                .split("\n\n")
                .next()
                .unwrap()
        );
        let e = parse(&dup).unwrap_err().to_string();
        assert!(e.contains("duplicate id"), "{e}");
        let e = parse("[[control]]\nid = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("missing field"), "{e}");
    }
}
