//! Serving HTTP/1.1 connections within bounds, so that clients who connect and stall cannot use
//! up the simulator's memory or file descriptors:
//!
//! - at most `--max-connections` connections at once (TLS handshakes in progress included); more
//!   wait in the kernel's listen queue until one closes;
//! - a request's headers must arrive within `--header-timeout` of the connection opening or of
//!   the previous reply (so this is also how long an idle kept-alive connection stays open),
//!   else hyper closes the connection;
//! - a request's body must arrive within `--body-timeout` (the query route reads it, see
//!   `routes`);
//! - a reply must be taken: a write to the connection that makes no progress for
//!   `--write-timeout` closes it ([`WriteTimeout`]), so a client that never reads its replies
//!   does not hold a reply and a connection for ever.
//!
//! hyper serves each connection ([`http1::Builder`] with its header timeout); hyper-util turns
//! the axum router into hyper's service and shuts connections down gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Where connections come from, each counted by a permit of the connection limit that it holds
/// until it closes.
pub trait Accept: Send + 'static {
    /// A connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The next connection, its peer and its permit; waits while the limit is reached.
    fn accept(
        &mut self,
    ) -> impl Future<Output = (Self::Io, SocketAddr, OwnedSemaphorePermit)> + Send;
}

/// Plain TCP connections.
pub struct PlainListener {
    tcp: TcpListener,
    permits: Arc<Semaphore>,
}

impl PlainListener {
    /// Accepts connections on `tcp`, each taking one of `permits`.
    pub fn new(tcp: TcpListener, permits: Arc<Semaphore>) -> Self {
        Self { tcp, permits }
    }
}

impl Accept for PlainListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
        let permit = acquire(&self.permits).await;
        let (stream, peer) = accept_tcp(&self.tcp).await;
        (stream, peer, permit)
    }
}

/// One permit of `permits`. The semaphore is never closed, so this only waits.
pub async fn acquire(permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    match permits.clone().acquire_owned().await {
        Ok(permit) => permit,
        Err(_) => std::future::pending().await,
    }
}

/// The next TCP connection on `tcp`, with Nagle's algorithm off (replies go out at once). An
/// error (out of file descriptors and the like) is logged and the accept retried after a pause.
pub async fn accept_tcp(tcp: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match tcp.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// How long a connection may keep the courier waiting.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request's headers, from the connection's start or the previous reply.
    pub header: Duration,
    /// For a write of a reply to make progress.
    pub write: Duration,
}

/// Serves `router` on the connections of `listener`, within `timeouts`, until `stop`
/// completes; then stops accepting and waits for the open connections to finish their
/// requests (idle ones close at once).
pub async fn serve(
    mut listener: impl Accept,
    router: Router,
    timeouts: Timeouts,
    stop: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let graceful = GracefulShutdown::new();
    let mut stop = pin!(stop);
    loop {
        let (io, peer, permit) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(
            builder.serve_connection(TokioIo::new(WriteTimeout::new(io, timeouts.write)), service),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

/// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once one has made no
/// progress for its timeout (the peer stopped reading and the socket's buffers are full).
pub struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Running while a write, flush or shutdown waits; reset by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteTimeout<T> {
    /// `inner`, with `timeout` for each write to make progress.
    pub fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    fn within_timeout<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no reply bytes for {} s", timeout.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.within_timeout(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.within_timeout(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.within_timeout(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.within_timeout(cx, poll)
    }
}
