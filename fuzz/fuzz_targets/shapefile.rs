//! Fuzz the shapefile reader of `urna forensics --shapes`: any `.shp` and `.dbf` bytes must
//! give shapes or an error, never a panic, and never more shapes than records.
//!
//! Input layout: a 4-byte little-endian length of the `.shp` part, the `.shp` bytes, then the
//! `.dbf` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_forensics::shape;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (shp, dbf) = rest.split_at(len);
    if let Ok(shapes) = shape::read(shp, dbf) {
        for s in &shapes {
            for ring in &s.rings {
                assert!(ring.len() <= shp.len() / 16);
            }
        }
    }
});
