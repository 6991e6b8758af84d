//! The desk's JSON request bodies and request paths, as the HTTP side reads them: pure (serde
//! only), so that the fuzz target `desk_request` reads them as [`crate::http`] does.

use serde::Deserialize;

/// Every POST's body carries the session's CSRF token.
#[derive(Debug, Deserialize)]
pub struct Csrf {
    /// The token.
    pub csrf: Option<String>,
}

/// `POST /api/login`.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// Account name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// `POST /api/password`.
#[derive(Debug, Deserialize)]
pub struct Password {
    /// The current password.
    pub old: String,
    /// The new one.
    pub new: String,
}

/// `POST /api/users`.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    /// Account name.
    pub name: String,
    /// `typist`, `coordinator` or `administrator`.
    pub role: String,
    /// First password.
    pub password: String,
}

/// `POST /api/users/<name>/<action>`.
#[derive(Debug, Deserialize)]
pub struct ManageUser {
    /// The new first password (`reset`).
    pub password: Option<String>,
}

/// `POST /api/claim`.
#[derive(Debug, Deserialize)]
pub struct Claim {
    /// Contest id.
    pub contest: String,
    /// Station id.
    pub station: String,
}

/// `POST /api/entries/<id>/line`.
#[derive(Debug, Deserialize)]
pub struct SaveLine {
    /// The form line's key.
    pub key: String,
    /// Its value as typed.
    pub value: String,
}

/// `POST /api/decisions`.
#[derive(Debug, Deserialize)]
pub struct DecisionRequest {
    /// Contest id.
    pub contest: String,
    /// Station id.
    pub station: String,
    /// `accept`, `recount` or `annul`.
    pub decision: String,
    /// Why.
    pub reason: String,
    /// The quarantined note decided on, `sha256:<hex>` as `/api/quarantine` names it.
    pub entry: String,
}

/// `POST /api/protocols/<contest>/<station>/resolve`.
#[derive(Debug, Deserialize)]
pub struct Resolve {
    /// What to do with the two entries.
    pub action: String,
    /// Why.
    pub reason: String,
    /// The round whose entries the coordinator saw.
    pub round: i64,
}

/// A request body read as `T`.
///
/// # Errors
/// What serde_json says is wrong (line, column, field).
pub fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("request body: {e}"))
}

/// The path's segments, each percent-decoded after the split: a contest or station id may
/// contain `/`, which the page sends as `%2F`.
///
/// # Errors
/// The first segment that does not decode, as it was sent.
pub fn segments(path: &str) -> Result<Vec<String>, String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|seg| percent_decode(seg).ok_or_else(|| seg.to_owned()))
        .collect()
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
