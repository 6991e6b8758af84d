//! Writing incident notes: a report, an update or an acknowledgment, signed with the
//! institution's key, with the details sealed to the recipients above TLP:CLEAR.
//!
//! Who may read sealed details: the recipients named, and always the reporter itself. At
//! TLP:GREEN with no recipients named, every other institution of the config (the community).

use urna_model::note::NoteSigner;

use crate::body::{BodyError, Content, Details, IncidentBody, Kind, Notice, Status, Tlp, UtcTime};
use crate::config::IncidentsConfig;
use crate::seal::{SealError, seal};

/// Why a note could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The signing key is not the key of an institution of the config.
    #[error("the key {name:?} is not the key of an institution in the incidents config")]
    NotInstitution {
        /// The key's name.
        name: String,
    },
    /// A recipient named is not another institution of the config.
    #[error("recipient {0:?} is not another institution of the incidents config")]
    BadRecipient(String),
    /// TLP:AMBER or TLP:RED with no recipient named.
    #[error("{0} needs at least one recipient (--to)")]
    NoRecipients(Tlp),
    /// TLP:CLEAR with recipients named.
    #[error("TLP:CLEAR details are public; recipients make no sense there")]
    RecipientsAtClear,
    /// A details value breaks a rule.
    #[error("details: {0}")]
    Details(BodyError),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The note would not be a valid signed note (too long, for instance).
    #[error("the note cannot be written: {0}")]
    Note(String),
}

/// A report's or update's content before sealing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// TLP level.
    pub tlp: Tlp,
    /// Status.
    pub status: Status,
    /// Recipients named (any order; repeats dropped).
    pub recipients: Vec<String>,
    /// The details.
    pub details: Details,
}

/// Signs a report of a new incident.
///
/// # Errors
/// [`ComposeError`].
pub fn report(
    config: &IncidentsConfig,
    signer: &NoteSigner,
    time: UtcTime,
    draft: &Draft,
) -> Result<Vec<u8>, ComposeError> {
    notice_note(config, signer, Kind::Report, None, time, draft)
}

/// Signs an update of the incident whose report note hashes to `incident`.
///
/// # Errors
/// [`ComposeError`].
pub fn update(
    config: &IncidentsConfig,
    signer: &NoteSigner,
    incident: [u8; 32],
    time: UtcTime,
    draft: &Draft,
) -> Result<Vec<u8>, ComposeError> {
    notice_note(config, signer, Kind::Update, Some(incident), time, draft)
}

/// Signs an acknowledgment of the incident whose report note hashes to `incident`.
///
/// # Errors
/// [`ComposeError`].
pub fn ack(
    config: &IncidentsConfig,
    signer: &NoteSigner,
    incident: [u8; 32],
    time: UtcTime,
) -> Result<Vec<u8>, ComposeError> {
    let institution = institution_of(config, signer)?;
    let body = IncidentBody {
        kind: Kind::Ack,
        incident: Some(incident),
        institution,
        time,
        notice: None,
    };
    sign(signer, &body)
}

fn notice_note(
    config: &IncidentsConfig,
    signer: &NoteSigner,
    kind: Kind,
    incident: Option<[u8; 32]>,
    time: UtcTime,
    draft: &Draft,
) -> Result<Vec<u8>, ComposeError> {
    let institution = institution_of(config, signer)?;
    draft.details.validate().map_err(ComposeError::Details)?;
    let mut recipients = draft.recipients.clone();
    recipients.sort();
    recipients.dedup();
    for r in &recipients {
        if *r == institution || config.institution(r).is_none() {
            return Err(ComposeError::BadRecipient(r.clone()));
        }
    }
    let content = match draft.tlp {
        Tlp::Clear if !recipients.is_empty() => return Err(ComposeError::RecipientsAtClear),
        Tlp::Clear => Content::Clear(draft.details.clone()),
        tlp => {
            if recipients.is_empty() {
                if tlp != Tlp::Green {
                    return Err(ComposeError::NoRecipients(tlp));
                }
                recipients = config
                    .institutions
                    .keys()
                    .filter(|id| **id != institution)
                    .cloned()
                    .collect();
                if recipients.is_empty() {
                    return Err(ComposeError::NoRecipients(tlp));
                }
            }
            let keys: Vec<(&str, &str)> = std::iter::once(institution.as_str())
                .chain(recipients.iter().map(String::as_str))
                .filter_map(|id| config.institution(id).map(|i| (id, i.age.as_str())))
                .collect();
            Content::Sealed(seal(&draft.details, &keys)?)
        }
    };
    let body = IncidentBody {
        kind,
        incident,
        institution,
        time,
        notice: Some(Notice {
            tlp: draft.tlp,
            status: draft.status,
            recipients,
            content,
        }),
    };
    sign(signer, &body)
}

fn institution_of(config: &IncidentsConfig, signer: &NoteSigner) -> Result<String, ComposeError> {
    match config.institution(signer.name()) {
        Some(i) if i.key == signer.verifier() => Ok(i.id.clone()),
        _ => Err(ComposeError::NotInstitution {
            name: signer.name().to_owned(),
        }),
    }
}

fn sign(signer: &NoteSigner, body: &IncidentBody) -> Result<Vec<u8>, ComposeError> {
    let mut note = urna_model::note::Note::unsigned(&body.to_text())
        .map_err(|e| ComposeError::Note(e.to_string()))?;
    note.sign(signer);
    let bytes = note.to_bytes();
    if bytes.len() > urna_model::note::MAX_NOTE_BYTES {
        return Err(ComposeError::Note(format!(
            "{} bytes, more than the {} a note may have",
            bytes.len(),
            urna_model::note::MAX_NOTE_BYTES
        )));
    }
    Ok(bytes)
}
