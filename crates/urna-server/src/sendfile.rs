//! Large bundle files sent with `sendfile(2)`, without copying their bytes into the socket
//! from user space, the way nginx's `sendfile on` does, and without unsafe code.
//!
//! The public side keeps bundle files in memory ([`crate::serve`]'s file cache) and hands
//! their bytes to hyper as the response body. hyper writes a response as vectored writes on
//! the connection's stream: the head from its own buffer, the body as the very slice of the
//! cached bytes. [`FileRegions`] remembers, for each cached file of at least
//! [`MIN_SENDFILE`] bytes, where its bytes live in memory and the open file they were read
//! from; [`SendfileStream`] wraps a plain TCP connection and, when a write's slice lies in
//! such a region, sends the head with `MSG_MORE` and the body from the file with
//! `sendfile(2)` at the same offset, instead of `writev`. Everything else is written as it
//! is.
//!
//! Why the bytes are the same: a bundle file is written once, before its generation goes
//! live, and never changed in place (a later generation links it or writes a new file), and
//! the cached bytes are read from the very descriptor kept here. A region holds its bytes,
//! so their memory is not reused while it is registered; once the generation changes the
//! regions are dropped, and a response still being written falls back to plain writes of
//! the same bytes.
//!
//! Out of scope: TLS connections (rustls encrypts in user space, so there is nothing to
//! spare), files below [`MIN_SENDFILE`] (one more system call costs more than the copy).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use axum::body::Bytes;
use rustix::net::{SendAncillaryBuffer, SendFlags};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Smallest body sent with `sendfile(2)` (a full level-0 hash tile is 8 KiB). Measured with
/// `urna bench serve`: from here on the extra system call for the head costs less than
/// copying the bytes (gzip-compressed election documents of 3–24 kB: 0.86× nginx's rate with
/// a 32 KiB threshold, 0.91–0.98× with this one); below it the copy is cheaper.
pub const MIN_SENDFILE: usize = 8 << 10;

/// Cached file bytes in memory and the open files they were read from.
#[derive(Default)]
pub struct FileRegions {
    /// By the address of the bytes' first byte.
    regions: RwLock<BTreeMap<usize, Region>>,
}

struct Region {
    bytes: Bytes,
    file: Arc<File>,
}

impl FileRegions {
    /// Registers `bytes`, read from `file` starting at offset 0 (the whole file), if they are
    /// at least [`MIN_SENDFILE`] long.
    pub fn insert(&self, bytes: &Bytes, file: Arc<File>) {
        if bytes.len() < MIN_SENDFILE {
            return;
        }
        if let Ok(mut map) = self.regions.write() {
            map.insert(
                address(bytes),
                Region {
                    bytes: bytes.clone(),
                    file,
                },
            );
        }
    }

    /// Forgets every region (the generation changed).
    pub fn clear(&self) {
        if let Ok(mut map) = self.regions.write() {
            map.clear();
        }
    }

    /// The file and offset holding `slice`, if it lies wholly within a region.
    fn find(&self, slice: &[u8]) -> Option<(Arc<File>, u64)> {
        let start = address(slice);
        let map = self.regions.read().ok()?;
        let (&base, region) = map.range(..=start).next_back()?;
        let offset = start - base;
        (offset + slice.len() <= region.bytes.len())
            .then(|| (Arc::clone(&region.file), offset as u64))
    }
}

/// The address of a slice's first byte, as a number: only compared, never dereferenced.
fn address(slice: &[u8]) -> usize {
    slice.as_ptr() as usize
}

/// A plain TCP connection whose writes of registered file bytes go out with `sendfile(2)`.
pub struct SendfileStream {
    inner: TcpStream,
    regions: Arc<FileRegions>,
}

impl SendfileStream {
    /// Wraps `inner`; writes of bytes in `regions` are sent from their files.
    pub fn new(inner: TcpStream, regions: Arc<FileRegions>) -> Self {
        Self { inner, regions }
    }

    /// Writes `head` (with `MSG_MORE`: more follows at once) and then `count` bytes of `file`
    /// from `offset`; the bytes written, at least one, or `WouldBlock` if none could be.
    fn send(
        &self,
        head: &[IoSlice<'_>],
        file: &File,
        offset: u64,
        count: usize,
    ) -> io::Result<usize> {
        let head_len: usize = head.iter().map(|s| s.len()).sum();
        let mut sent = 0;
        if head_len > 0 {
            sent = rustix::net::sendmsg(
                &self.inner,
                head,
                &mut SendAncillaryBuffer::default(),
                SendFlags::MORE | SendFlags::NOSIGNAL,
            )?;
            if sent < head_len {
                return Ok(sent);
            }
        }
        let mut at = offset;
        match rustix::fs::sendfile(&self.inner, file, Some(&mut at), count) {
            Ok(n) => Ok(sent + n),
            // The head went out: report it, and the body is tried again on the next write.
            Err(e) if sent > 0 && e == rustix::io::Errno::AGAIN => Ok(sent),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let found = bufs.iter().enumerate().find_map(|(k, b)| {
            if b.len() < MIN_SENDFILE {
                return None;
            }
            self.regions.find(b).map(|(file, offset)| (k, file, offset))
        });
        let Some((k, file, offset)) = found else {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        };
        let (head, count) = (&bufs[..k], bufs[k].len());
        loop {
            std::task::ready!(self.inner.poll_write_ready(cx))?;
            let this = &*self;
            match this
                .inner
                .try_io(Interest::WRITABLE, || this.send(head, &file, offset, count))
            {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn slices_of_registered_bytes_are_found_with_their_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes = Bytes::from(vec![7u8; MIN_SENDFILE * 2]);
        std::fs::write(&path, &bytes).unwrap();
        let regions = FileRegions::default();
        let small = Bytes::from(vec![1u8; 100]);
        regions.insert(&small, Arc::new(File::open(&path).unwrap()));
        assert!(
            regions.find(&small).is_none(),
            "small files are not registered"
        );
        regions.insert(&bytes, Arc::new(File::open(&path).unwrap()));
        assert_eq!(regions.find(&bytes).map(|f| f.1), Some(0));
        assert_eq!(regions.find(&bytes[100..]).map(|f| f.1), Some(100));
        let other = vec![7u8; MIN_SENDFILE * 2];
        assert!(
            regions.find(&other).is_none(),
            "equal bytes elsewhere are not the file"
        );
        regions.clear();
        assert!(regions.find(&bytes).is_none());
    }

    /// What a reader receives is what was written, head and file bytes in order, whether the
    /// body went out by `sendfile(2)` or by plain writes.
    #[test]
    fn a_head_and_a_registered_body_arrive_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let body: Vec<u8> = (0..MIN_SENDFILE * 40).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &body).unwrap();
        let bytes = Bytes::from(std::fs::read(&path).unwrap());
        let regions = Arc::new(FileRegions::default());
        regions.insert(&bytes, Arc::new(File::open(&path).unwrap()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // A slow reader, so that the socket fills and writes come back short.
            let reader = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = c.read(&mut buf).unwrap();
                    if n == 0 {
                        return got;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            });
            let (s, _) = listener.accept().await.unwrap();
            let mut s = SendfileStream::new(s, Arc::clone(&regions));
            let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
            let (mut h, mut b) = (&head[..], &bytes[..]);
            while !h.is_empty() || !b.is_empty() {
                let slices = [IoSlice::new(h), IoSlice::new(b)];
                let n =
                    std::future::poll_fn(|cx| Pin::new(&mut s).poll_write_vectored(cx, &slices))
                        .await
                        .unwrap();
                assert!(n > 0);
                let from_head = n.min(h.len());
                h = &h[from_head..];
                b = &b[n - from_head..];
            }
            drop(s);
            let got = reader.join().unwrap();
            assert_eq!(got.len(), head.len() + body.len());
            assert!(got[..head.len()] == head[..] && got[head.len()..] == body[..]);
        });
    }
}
