//! `MANIFEST.sha256` and `backup.toml`, the two files that describe a backup, parsed and
//! checked as text: pure (serde and toml only), so that the fuzz target `backup_manifest`
//! reads them as [`super::Backup::open`] does. Whether the files match the manifest is checked
//! by `Backup::open` itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format id written as `format` in `backup.toml`.
pub const FORMAT: &str = "urna/backup/v1";

/// `backup.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupInfo {
    /// Always [`FORMAT`].
    pub format: String,
    /// The election id of the definition.
    pub election: String,
    /// The log's origin line.
    pub log_origin: String,
    /// The log's verifier key (`name+id+key`).
    pub log_vkey: String,
    /// Entries in the database snapshot.
    pub log_size: u64,
    /// Merkle root (base64, as in checkpoints) of the snapshot's entries.
    pub root_hash: String,
    /// Size of `data/log-latest.checkpoint`, the last checkpoint the log signed.
    pub signed_size: u64,
    /// Size of `data/log/checkpoint`, the last published checkpoint; 0 if none.
    pub published_size: u64,
    /// When the backup was taken, Unix milliseconds.
    pub created_ms: u64,
    /// Whether `data/secrets/` (private keys) is included.
    pub with_secrets: bool,
    /// Every file included, relative to the backup.
    pub files: Vec<String>,
}

/// `MANIFEST.sha256`: `<sha256 hex>  <path>` lines, each path relative without `..`, none
/// twice. Returns path → digest.
///
/// # Errors
/// `line N: ` and the rule a line breaks.
pub fn parse_manifest(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut listed = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |rule: &str| format!("line {}: {rule}", n + 1);
        let (digest, rel) = line
            .split_once("  ")
            .ok_or_else(|| bad("expected `<sha256 hex>  <path>`"))?;
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the digest must be 64 hex digits"));
        }
        if !safe_relative(rel) {
            return Err(bad(
                "the path must be relative, without `..` or control characters",
            ));
        }
        if listed.insert(rel.to_owned(), digest.to_owned()).is_some() {
            return Err(bad("the path is listed twice"));
        }
    }
    Ok(listed)
}

/// `backup.toml`, its `format` this urna's, and every file it names one that `listed` (the
/// parsed manifest) lists, by a safe relative path: restore copies exactly these files, and a
/// hostile `backup.toml` could otherwise name a path outside the new directory
/// (`data//etc/x`, `data/../x`).
///
/// # Errors
/// The field and the rule.
pub fn parse_info(text: &str, listed: &BTreeMap<String, String>) -> Result<BackupInfo, String> {
    let info: BackupInfo = toml::from_str(text).map_err(|e| e.to_string())?;
    if info.format != FORMAT {
        return Err(format!(
            "format = {:?}: this urna reads {FORMAT:?}",
            info.format
        ));
    }
    for rel in &info.files {
        if !safe_relative(rel) || !listed.contains_key(rel) {
            return Err(format!(
                "files: {rel:?} is not a relative path without `..` that MANIFEST.sha256 lists"
            ));
        }
    }
    Ok(info)
}

/// A path a manifest may name: relative, no `..`, no empty parts, no control characters (a
/// name ending in a carriage return reads back as another name, one line of the manifest
/// written again).
pub fn safe_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.chars().any(char::is_control)
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}
