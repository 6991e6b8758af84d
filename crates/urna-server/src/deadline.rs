//! A write deadline on a connection: a client that reads nothing of an answer for a while is
//! disconnected, as one that sends nothing of its request is.
//!
//! hyper's header timeout closes a connection whose client does not send; nothing closed one
//! whose client does not *read*. A client that asks for a large file and never reads the
//! answer keeps its connection, and so a slot of the bounded pool, for as long as it likes:
//! enough of them stop every other request, intake included. [`WriteDeadline`] fails a write
//! that has made no progress for its timeout, and hyper then closes the connection. A client
//! that reads slowly but steadily is not affected: the clock restarts with every byte the
//! socket takes.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream whose writes fail with [`io::ErrorKind::TimedOut`] after `timeout` without
/// progress.
#[derive(Debug)]
pub struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// Armed while a write waits: when it fires, the write fails.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Passes a write's outcome through: progress (or an error) disarms the clock; a wait
    /// arms it, and fails the write once it has run out.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.stalled = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing of the answer for {timeout:?}"),
            )));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A writer whose reader takes nothing fails after the timeout; one whose reader keeps
    /// taking bytes, however slowly, does not.
    #[tokio::test(start_paused = true)]
    async fn a_write_without_progress_fails_after_the_timeout() {
        let (client, server) = tokio::io::duplex(1024);
        let mut w = WriteDeadline::new(server, Duration::from_secs(10));
        let big = vec![7u8; 64 * 1024];
        let err = w.write_all(&big).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        drop(client);

        let (mut client, server) = tokio::io::duplex(1024);
        let mut w = WriteDeadline::new(server, Duration::from_secs(10));
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 512];
            while got < 64 * 1024 {
                // Slower than the timeout in all, faster than it between reads.
                tokio::time::sleep(Duration::from_secs(1)).await;
                got += client.read(&mut buf).await.unwrap();
            }
            got
        });
        w.write_all(&big).await.unwrap();
        assert_eq!(reader.await.unwrap(), 64 * 1024);
    }
}
