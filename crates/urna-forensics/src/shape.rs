//! A minimal reader of ESRI shapefiles (`.shp` polygons with their `.dbf` attributes), enough
//! to draw units on a map. Bytes in, shapes out: every offset and count is checked against the
//! data, so malformed files give an error naming the file part and the rule, never a panic.
//!
//! Supported: polygon shapes (types 5, 15 and 25; Z and M values are ignored) and null shapes;
//! dBASE III+ attribute tables (each value as text, trimmed). Coordinates are used as they
//! are (projected or degrees), y up.

/// One record: its attributes and its polygon rings.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// `(field name, value)` in the table's order.
    pub attributes: Vec<(String, String)>,
    /// Rings (outer and holes alike), each a closed list of `(x, y)` points.
    pub rings: Vec<Vec<(f64, f64)>>,
}

/// A shapefile that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The data ends before the structure it announces.
    #[error("{part}: truncated at byte {at} (needs {needed} more bytes)")]
    Truncated {
        /// `shp` or `dbf`.
        part: &'static str,
        /// Offset of the read.
        at: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The `.shp` header's file code is not 9994.
    #[error("shp: file code {0} is not 9994 (not a shapefile)")]
    FileCode(i32),
    /// A record of a shape type other than polygon or null.
    #[error("shp: record {record} has shape type {shape_type}; only polygons (5, 15, 25) are read")]
    ShapeType {
        /// Record number (1-based).
        record: usize,
        /// Its type.
        shape_type: i32,
    },
    /// A count or index out of range.
    #[error("{part}: {what}")]
    Invalid {
        /// `shp` or `dbf`.
        part: &'static str,
        /// The rule broken.
        what: String,
    },
    /// The two files disagree.
    #[error("shp has {shapes} records, dbf has {records}")]
    Records {
        /// Records in the `.shp`.
        shapes: usize,
        /// Records in the `.dbf`.
        records: usize,
    },
}

fn bytes<'a, const N: usize>(
    part: &'static str,
    b: &'a [u8],
    at: usize,
) -> Result<&'a [u8; N], ShapeError> {
    b.get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .ok_or(ShapeError::Truncated {
            part,
            at,
            needed: N,
        })
}

fn be_i32(b: &[u8], at: usize) -> Result<i32, ShapeError> {
    Ok(i32::from_be_bytes(*bytes::<4>("shp", b, at)?))
}

fn le_i32(b: &[u8], at: usize) -> Result<i32, ShapeError> {
    Ok(i32::from_le_bytes(*bytes::<4>("shp", b, at)?))
}

fn le_f64(b: &[u8], at: usize) -> Result<f64, ShapeError> {
    Ok(f64::from_le_bytes(*bytes::<8>("shp", b, at)?))
}

fn count(part: &'static str, v: i32, what: &str) -> Result<usize, ShapeError> {
    usize::try_from(v).map_err(|_| ShapeError::Invalid {
        part,
        what: format!("{what} {v} is negative"),
    })
}

/// Reads the polygons of `shp` with the attributes of `dbf`, record by record.
///
/// # Errors
/// [`ShapeError`] naming the file part and the rule broken.
pub fn read(shp: &[u8], dbf: &[u8]) -> Result<Vec<Shape>, ShapeError> {
    let code = be_i32(shp, 0)?;
    if code != 9994 {
        return Err(ShapeError::FileCode(code));
    }
    bytes::<100>("shp", shp, 0)?;
    let mut rings_of = Vec::new();
    let mut at = 100;
    while at < shp.len() {
        let record = rings_of.len() + 1;
        let words = count("shp", be_i32(shp, at + 4)?, "record length")?;
        let start = at + 8;
        let end = start
            .checked_add(words.saturating_mul(2))
            .filter(|&e| e <= shp.len())
            .ok_or(ShapeError::Truncated {
                part: "shp",
                at: start,
                needed: words.saturating_mul(2),
            })?;
        let content = &shp[start..end];
        let shape_type = le_i32(content, 0)?;
        let rings = match shape_type {
            0 => Vec::new(),
            5 | 15 | 25 => polygon(content, record)?,
            _ => return Err(ShapeError::ShapeType { record, shape_type }),
        };
        rings_of.push(rings);
        at = end;
    }
    let table = read_dbf(dbf)?;
    if table.len() != rings_of.len() {
        return Err(ShapeError::Records {
            shapes: rings_of.len(),
            records: table.len(),
        });
    }
    Ok(table
        .into_iter()
        .zip(rings_of)
        .map(|(attributes, rings)| Shape { attributes, rings })
        .collect())
}

fn polygon(c: &[u8], record: usize) -> Result<Vec<Vec<(f64, f64)>>, ShapeError> {
    let parts = count("shp", le_i32(c, 36)?, "number of parts")?;
    let points = count("shp", le_i32(c, 40)?, "number of points")?;
    let parts_at = 44;
    let points_at = parts
        .checked_mul(4)
        .and_then(|p| p.checked_add(parts_at))
        .ok_or_else(|| ShapeError::Invalid {
            part: "shp",
            what: format!("record {record}: {parts} parts"),
        })?;
    let needed = points
        .checked_mul(16)
        .and_then(|p| p.checked_add(points_at))
        .filter(|&n| n <= c.len());
    if needed.is_none() {
        return Err(ShapeError::Invalid {
            part: "shp",
            what: format!(
                "record {record}: {parts} parts and {points} points do not fit in its {} bytes",
                c.len()
            ),
        });
    }
    let mut starts = Vec::with_capacity(parts);
    for p in 0..parts {
        let s = count("shp", le_i32(c, parts_at + 4 * p)?, "part start")?;
        if s > points || starts.last().is_some_and(|&l| s < l) {
            return Err(ShapeError::Invalid {
                part: "shp",
                what: format!("record {record}: part {p} starts at point {s} of {points}"),
            });
        }
        starts.push(s);
    }
    let mut rings = Vec::with_capacity(parts);
    for (p, &s) in starts.iter().enumerate() {
        let e = starts.get(p + 1).copied().unwrap_or(points);
        let mut ring = Vec::with_capacity(e - s);
        for i in s..e {
            let at = points_at + 16 * i;
            ring.push((le_f64(c, at)?, le_f64(c, at + 8)?));
        }
        rings.push(ring);
    }
    Ok(rings)
}

/// A dBASE table: each record's `(field, value)` pairs, deleted records left out.
fn read_dbf(d: &[u8]) -> Result<Vec<Vec<(String, String)>>, ShapeError> {
    let n = u32::from_le_bytes(*bytes::<4>("dbf", d, 4)?) as usize;
    let header = usize::from(u16::from_le_bytes(*bytes::<2>("dbf", d, 8)?));
    let record_len = usize::from(u16::from_le_bytes(*bytes::<2>("dbf", d, 10)?));
    let mut fields = Vec::new();
    let mut at = 32;
    let mut width = 1;
    while *bytes::<1>("dbf", d, at)? != [0x0d] {
        if at + 32 > header {
            return Err(ShapeError::Invalid {
                part: "dbf",
                what: format!("field descriptors run past the header's {header} bytes"),
            });
        }
        let desc = bytes::<32>("dbf", d, at)?;
        let name_end = desc[..11].iter().position(|&b| b == 0).unwrap_or(11);
        let name = String::from_utf8_lossy(&desc[..name_end]).into_owned();
        let len = usize::from(desc[16]);
        fields.push((name, width, len));
        width += len;
        at += 32;
    }
    if width > record_len {
        return Err(ShapeError::Invalid {
            part: "dbf",
            what: format!("fields are {width} bytes wide, records {record_len}"),
        });
    }
    let mut out = Vec::with_capacity(n.min(1 << 20));
    for r in 0..n {
        let start = r
            .checked_mul(record_len)
            .and_then(|x| x.checked_add(header))
            .ok_or_else(|| ShapeError::Invalid {
                part: "dbf",
                what: format!("{n} records"),
            })?;
        let rec = d
            .get(start..start.saturating_add(record_len))
            .ok_or(ShapeError::Truncated {
                part: "dbf",
                at: start,
                needed: record_len,
            })?;
        if rec.first() == Some(&b'*') {
            continue;
        }
        out.push(
            fields
                .iter()
                .map(|(name, off, len)| {
                    let v = rec.get(*off..off + len).unwrap_or(&[]);
                    (name.clone(), String::from_utf8_lossy(v).trim().to_owned())
                })
                .collect(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "../../../shared/data/albania_2013_eftoolkit/Albania2013_prefectures";

    fn files() -> (Vec<u8>, Vec<u8>) {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
        (
            std::fs::read(base.with_extension("shp")).unwrap(),
            std::fs::read(base.with_extension("dbf")).unwrap(),
        )
    }

    #[test]
    fn albania_has_twelve_prefectures_with_closed_rings() {
        let (shp, dbf) = files();
        let shapes = read(&shp, &dbf).unwrap();
        assert_eq!(shapes.len(), 12);
        let level = |s: &Shape| {
            s.attributes
                .iter()
                .find(|(k, _)| k == "Level")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(level(&shapes[0]), "BERAT");
        assert_eq!(level(&shapes[10]), "TIRANE");
        for s in &shapes {
            assert!(!s.rings.is_empty());
            for r in &s.rings {
                assert!(r.len() >= 4);
                assert_eq!(r.first(), r.last(), "rings are closed");
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (shp, dbf) = files();
        // Cut at many places, and flip bytes in the headers: an error each time, never a panic.
        for cut in (0..shp.len())
            .step_by(997)
            .chain([0, 50, 99, 100, 108, 150])
        {
            assert!(read(&shp[..cut], &dbf).is_err() || cut == shp.len());
        }
        for cut in (0..dbf.len()).step_by(101) {
            assert!(read(&shp, &dbf[..cut]).is_err());
        }
        for at in 100..400 {
            let mut bad = shp.clone();
            bad[at] ^= 0xff;
            let _ = read(&bad, &dbf);
        }
        let mut bad = shp;
        bad[2] = 0;
        assert!(matches!(read(&bad, &dbf), Err(ShapeError::FileCode(_))));
    }
}
