//! Incident sharing between the institutions that guard an election: signed
//! `urna/incident/v1` notes (reports, updates, acknowledgments) in an incident log of their
//! own, cosigned by the same witnesses as the results log.
//!
//! Implements:
//! - The `urna/incident/v1` note body ([`body`]): reporting institution, time, systems
//!   affected, indicators, Traffic Light Protocol 2.0 level (<https://www.first.org/tlp/>),
//!   status; parsed strictly, so each body has exactly one text. Carried in a C2SP signed note
//!   (<https://c2sp.org/signed-note>) signed by the institution's Ed25519 key
//!   ([`urna_model::note`]).
//! - Sealing above TLP:CLEAR ([`seal`]): the details encrypted in the age format
//!   (<https://age-encryption.org/v1>, X25519 recipients) to the named recipients and the
//!   reporter, so the log stays public while their content does not.
//! - The incidents config ([`config`]): the origin and the institutions with their signing
//!   and age keys.
//! - Writing notes ([`compose`]).
//! - The incident log ([`log`]): a C2SP tlog-tiles directory (<https://c2sp.org/tlog-tiles>)
//!   with C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>) through [`urna_tlog`], every
//!   note checked against the rules at append and at every open.
//! - The timeline and the public summary ([`timeline`]): text, JSON and a static HTML page.
//!
//! Out of scope: HTTP (the witnesses are asked by the CLI through `urna-server`'s cosignature
//! client; this crate gives it the consistency proofs and installs the cosigned checkpoint);
//! sending notes between institutions (a note is a file; the log operator appends it);
//! removing institutions or rotating their keys (the config only grows); binding a sealed
//! blob to the note it sits in (the institution's signature covers both, so only the signer
//! could move a blob).
//!
//! ```
//! use urna_incident::body::{Content, Details, Status, Tlp, UtcTime};
//! use urna_incident::compose::{Draft, report};
//! use urna_incident::log::IncidentLog;
//! use urna_incident::seal::{Identity, open};
//! use urna_model::note::NoteSigner;
//!
//! let cert = NoteSigner::from_seed("cert", &[1; 32]).unwrap();
//! let cec = NoteSigner::from_seed("cec", &[2; 32]).unwrap();
//! let (cert_age, cec_age) = (Identity::generate(), Identity::generate());
//! let config = format!(
//!     "origin = \"cec.example/incidents\"\n\
//!      [[institution]]\nid = \"cert\"\nname = \"CERT\"\nkey = \"{}\"\nage = \"{}\"\n\
//!      [[institution]]\nid = \"cec\"\nname = \"Commission\"\nkey = \"{}\"\nage = \"{}\"\n",
//!     cert.verifier().to_vkey(), cert_age.recipient(),
//!     cec.verifier().to_vkey(), cec_age.recipient(),
//! );
//! let dir = tempfile::tempdir().unwrap();
//! IncidentLog::init(dir.path(), &config).unwrap();
//! let mut log = IncidentLog::open(dir.path()).unwrap();
//!
//! let details = Details { systems: vec!["desk".into()], indicators: vec![], summary: "phishing".into() };
//! let draft = Draft { tlp: Tlp::Amber, status: Status::Open, recipients: vec!["cec".into()], details };
//! let note = report(log.config(), &cert, UtcTime(1_800_000_000), &draft).unwrap();
//! log.append(&[note]).unwrap();
//!
//! let Some(Content::Sealed(blob)) = log.entries()[0].body.notice.as_ref().map(|n| &n.content)
//! else { unreachable!() };
//! assert_eq!(open(blob, &cec_age).unwrap().summary, "phishing");
//! assert!(open(blob, &Identity::generate()).is_err());
//! //! ```

pub mod body;
pub mod compose;
pub mod config;
pub mod log;
pub mod seal;
pub mod timeline;
