//! The socket as the HTTP parser sees it (S18): every byte read is checked by the strict
//! framing [`Scanner`], half-sent heads are counted against their peer address, and a
//! response the client does not read within [`WRITE_STALL`] ends the connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::strict::{Scanner, Violation};

/// How long a write may make no progress (the client reads nothing, its window is shut)
/// before the connection is closed.
pub const WRITE_STALL: Duration = Duration::from_secs(10);

/// After answering, a connection whose request body was not read (a 413 sent from the
/// declared length) reads and drops what the client still sends, for at most this long and
/// this much, before closing: closing with unread data would reset the connection and the
/// client could lose the answer (a lingering close).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 32 * 1024 * 1024;

/// The answer to a request refused before the HTTP parser (and so before the router's
/// error and header layers) sees it: problem+json with a request id, like every other
/// error (S19), and the headers that matter for an error body (S20). The connection closes.
fn refusal(status: u16, reason: &str, detail: &str, extra_headers: &str) -> Vec<u8> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::json!({
        "type": "about:blank",
        "title": reason,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    })
    .to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nx-request-id: {request_id}\r\nx-content-type-options: nosniff\r\n\
         cache-control: no-store\r\n{extra_headers}connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sent in place of whatever the parser would have made of a refused request.
fn bad_request(violation: Violation) -> Vec<u8> {
    refusal(
        400,
        "Bad Request",
        &format!(
            "the request is not well-formed HTTP/1.1: {}",
            violation.as_str()
        ),
        "",
    )
}

/// Sent when the peer already holds as many half-sent requests as it may.
fn too_many() -> Vec<u8> {
    refusal(
        429,
        "Too Many Requests",
        "too many requests from this address are still being sent: finish or close them",
        "retry-after: 10\r\n",
    )
}

/// Open connections and half-sent heads of one peer address.
#[derive(Debug, Default)]
pub struct PeerCounts {
    pub open: AtomicUsize,
    pub pending_heads: AtomicUsize,
}

pub struct GuardedStream {
    inner: TcpStream,
    scanner: Scanner,
    /// This peer's counters and the most half-sent heads it may have (`None`: exempt).
    peer: Arc<PeerCounts>,
    pending_cap: Option<usize>,
    /// Whether this connection is counted in `peer.pending_heads` now.
    counted_pending: bool,
    /// Armed while a write waits; fires after [`WRITE_STALL`] without progress.
    stall: Option<Pin<Box<Sleep>>>,
    /// A refused request: the answer to send and how much of it is out, then EOF.
    refusal: Option<(Vec<u8>, usize)>,
    /// The lingering close, once the write side is shut: bytes drained and the deadline.
    linger: Option<(u64, Pin<Box<Sleep>>)>,
}

impl GuardedStream {
    pub fn new(inner: TcpStream, peer: Arc<PeerCounts>, pending_cap: Option<usize>) -> Self {
        Self {
            inner,
            scanner: Scanner::new(),
            peer,
            pending_cap,
            counted_pending: false,
            stall: None,
            refusal: None,
            linger: None,
        }
    }

    /// Keeps the peer's half-sent-head count in step with the scanner; refuses the
    /// connection when the peer already has as many as it may.
    fn track_pending(&mut self) -> Result<(), Violation> {
        let partial = self.scanner.in_partial_head();
        if partial && !self.counted_pending {
            let before = self.peer.pending_heads.fetch_add(1, Ordering::AcqRel);
            self.counted_pending = true;
            if self.pending_cap.is_some_and(|cap| before >= cap) {
                return Err(Violation::TooManyPendingHeads);
            }
        } else if !partial && self.counted_pending {
            self.peer.pending_heads.fetch_sub(1, Ordering::AcqRel);
            self.counted_pending = false;
        }
        Ok(())
    }

    /// Writes the answer to a refused request; `Ready` once all of it is out (or the
    /// client is gone).
    fn poll_send_refusal(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Some((answer, sent)) = self.refusal.as_mut() {
            if *sent >= answer.len() {
                return Poll::Ready(());
            }
            match Pin::new(&mut self.inner).poll_write(cx, &answer[*sent..]) {
                Poll::Ready(Ok(n)) if n > 0 => *sent += n,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    /// Runs a write-side poll under the stall deadline.
    fn poll_with_deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Ready(result) => {
                self.stall = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL)));
                if stall.as_mut().poll(cx).is_ready() {
                    tracing::debug!("response not read by the client; closing the connection");
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        if self.counted_pending {
            self.peer.pending_heads.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // The parser sees the end of the stream once the 400 is out.
            ready!(this.poll_send_refusal(cx));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let verdict = this
            .scanner
            .feed(&buf.filled()[before..])
            .and_then(|()| this.track_pending());
        if let Err(violation) = verdict {
            tracing::info!(
                reason = violation.as_str(),
                "request refused before parsing"
            );
            // Nothing of this read reaches the parser.
            buf.set_filled(before);
            let answer = if violation == Violation::TooManyPendingHeads {
                too_many()
            } else {
                bad_request(violation)
            };
            this.refusal = Some((answer, 0));
            ready!(this.poll_send_refusal(cx));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_with_deadline(cx, |inner, cx| inner.poll_write(cx, data))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_with_deadline(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .poll_with_deadline(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.linger = Some((0, Box::pin(tokio::time::sleep(LINGER))));
        }
        // Our answer is out and the write side closed: drain what the client still sends
        // so the close does not reset the connection under its unread answer.
        let Some((drained, deadline)) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if *drained >= LINGER_BYTES || deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => *drained += buf.filled().len() as u64,
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
