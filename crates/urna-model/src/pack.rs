//! Note packs: many notes in one file, each prefixed by its length as two bytes big-endian,
//! exactly like entries in a C2SP tlog-tiles data tile. Used for bulk submission and by the
//! simulator; a single note may also simply be its own file.

use std::io::{self, Read, Write};

use crate::note::MAX_NOTE_BYTES;

/// Conventional file extension of a note pack.
pub const PACK_EXTENSION: &str = "notes";

/// Appends one note to a pack.
///
/// # Errors
/// I/O errors, or `InvalidInput` if the note is empty or longer than [`MAX_NOTE_BYTES`].
pub fn write_note(w: &mut impl Write, note: &[u8]) -> io::Result<()> {
    if note.is_empty() || note.len() > MAX_NOTE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a packed note is 1 to {MAX_NOTE_BYTES} bytes, got {}",
                note.len()
            ),
        ));
    }
    let len =
        u16::try_from(note.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(note)
}

/// Reads the notes of a pack one by one.
#[derive(Debug)]
pub struct PackReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> PackReader<R> {
    /// A reader over a pack.
    pub fn new(inner: R) -> Self {
        Self { inner, offset: 0 }
    }
}

impl<R: Read> Iterator for PackReader<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut len = [0u8; 2];
        match read_full(&mut self.inner, &mut len) {
            Ok(0) => return None,
            Ok(2) => {}
            Ok(_) => return Some(Err(truncated(self.offset))),
            Err(e) => return Some(Err(e)),
        }
        let n = usize::from(u16::from_be_bytes(len));
        if n == 0 {
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("note pack: zero-length note at byte {}", self.offset),
            )));
        }
        let mut buf = vec![0u8; n];
        match read_full(&mut self.inner, &mut buf) {
            Ok(k) if k == n => {
                self.offset += 2 + n as u64;
                Some(Ok(buf))
            }
            Ok(_) => Some(Err(truncated(self.offset))),
            Err(e) => Some(Err(e)),
        }
    }
}

fn truncated(offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("note pack: truncated note at byte {offset}"),
    )
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_reports_truncation() {
        let mut buf = Vec::new();
        write_note(&mut buf, b"one\n").unwrap();
        write_note(&mut buf, b"two\n").unwrap();
        let got: Vec<Vec<u8>> = PackReader::new(&buf[..]).map(|r| r.unwrap()).collect();
        assert_eq!(got, vec![b"one\n".to_vec(), b"two\n".to_vec()]);
        let cut = &buf[..buf.len() - 1];
        let last = PackReader::new(cut).last().unwrap();
        assert_eq!(last.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(write_note(&mut Vec::new(), b"").is_err());
        assert!(write_note(&mut Vec::new(), &vec![b'a'; MAX_NOTE_BYTES + 1]).is_err());
    }
}
