//! `urna/receipt/v1`: the log's signed promise that an entry is stored at an index.
//!
//! ```text
//! urna/receipt/v1
//! log: urna/al-2021-assembly
//! index: 4711
//! entry: sha256:<hex of the entry's note bytes>
//! time: 1745600000123
//! ```
//! Signed by the log key. A station keeps it and can later ask for an inclusion proof of
//! `index` against any checkpoint at least `index + 1` in size, and check that the proven
//! leaf is its note (SHA-256 matching `entry`). A log that signed a receipt and never
//! includes the entry is caught with the receipt in hand.

use std::fmt::Write as _;

use crate::protocol::{BodyError, hex, parse_sha256};

/// First line of a receipt.
pub const RECEIPT_V1: &str = "urna/receipt/v1";

/// A parsed receipt body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The log's origin.
    pub log: String,
    /// The entry's index in the log.
    pub index: u64,
    /// SHA-256 of the entry (the submitted note's bytes).
    pub entry: [u8; 32],
    /// When the log answered, Unix milliseconds: for a new entry, the moment it was durably
    /// stored; for a note already held, the moment of this later answer.
    pub time_ms: u64,
}

impl Receipt {
    /// The canonical text.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(160);
        let _ = write!(
            s,
            "{RECEIPT_V1}\nlog: {}\nindex: {}\nentry: sha256:{}\ntime: {}\n",
            self.log,
            self.index,
            hex(&self.entry),
            self.time_ms
        );
        s
    }

    /// Parses a receipt body, strictly (fixed lines, canonical numbers).
    ///
    /// # Errors
    /// [`BodyError`] naming the line and field.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        if lines.first() != Some(&RECEIPT_V1) {
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
        let number = |i: usize, key: &'static str| -> Result<u64, BodyError> {
            let v = field(i, key)?;
            if v.is_empty()
                || !v.bytes().all(|b| b.is_ascii_digit())
                || (v.len() > 1 && v.starts_with('0'))
            {
                return Err(BodyError::Field {
                    line: i + 1,
                    field: key.into(),
                    rule: "must be a canonical whole number".into(),
                });
            }
            v.parse().map_err(|_| BodyError::Field {
                line: i + 1,
                field: key.into(),
                rule: "out of range".into(),
            })
        };
        let log = field(1, "log")?.to_owned();
        let index = number(2, "index")?;
        let entry = parse_sha256(field(3, "entry")?).map_err(|r| BodyError::Field {
            line: 4,
            field: "entry".into(),
            rule: r.into(),
        })?;
        let time_ms = number(4, "time")?;
        if let Some(extra) = lines.get(5) {
            return Err(BodyError::Unexpected {
                line: 6,
                text: extra.chars().take(80).collect(),
            });
        }
        Ok(Self {
            log,
            index,
            entry,
            time_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_round_trips_and_is_strict() {
        let r = Receipt {
            log: "urna/x".into(),
            index: 42,
            entry: [7; 32],
            time_ms: 1_745_600_000_123,
        };
        assert_eq!(Receipt::parse(&r.to_text()).unwrap(), r);
        let bad = r.to_text().replace("index: 42", "index: 042");
        assert!(matches!(
            Receipt::parse(&bad),
            Err(BodyError::Field { line: 3, .. })
        ));
        let extra = format!("{}more: 1\n", r.to_text());
        assert!(matches!(
            Receipt::parse(&extra),
            Err(BodyError::Unexpected { line: 6, .. })
        ));
    }
}
