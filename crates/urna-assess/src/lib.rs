//! urna's standards self-assessment: the controls of NIST IR 8310 (the Cybersecurity
//! Framework's election infrastructure profile) and of the EU Compendium on Cyber Security of
//! Election Technology (2018, updated 2024) that concern a results system, answered for one
//! deployment, signed by the commission and co-signed by partner agencies.
//!
//! Implements:
//! - the controls as data ([`controls`]): an embedded TOML file with each control's sources,
//!   its title and question in the results page's four languages, and the automatic check
//!   that answers it, if any;
//! - the automatic checks ([`check`]): read a data directory (read-only: files, and SQLite
//!   opened read-only, never the store's writer lock) and answer pass, fail or unknown with
//!   the evidence seen;
//! - the assessment file the operator completes ([`assessment`], TOML);
//! - the signed note `urna/assessment/v1` ([`note`]): canonical bytes, a strict parser, one
//!   signature per signing institution on the same body (C2SP signed note);
//! - the report ([`report`]): accessible, printable HTML and a PDF ([`pdf`]) in English,
//!   Albanian, Macedonian and Bosnian/Montenegrin/Croatian/Serbian (Latin script).
//!
//! Features: `checks` (default) adds the checks and the assessment file, which read data
//! directories through `urna-store`, `urna-server` and `urna-desk`; without it the crate is
//! the controls, the note and the report only (what the fuzz targets build).
//!
//! Out of scope: judging the operator's answers (the co-signing agencies do that, from the
//! evidence named), certification, and anything that changes a data directory.
//!
//! ```
//! let controls = urna_assess::controls::catalogue();
//! assert!(controls.iter().any(|c| c.id == "witness-quorum"));
//! ```

#[cfg(feature = "checks")]
pub mod assessment;
#[cfg(feature = "checks")]
pub mod check;
pub mod controls;
pub mod note;
pub mod pdf;
pub mod report;

mod lang;

pub use lang::Lang;
