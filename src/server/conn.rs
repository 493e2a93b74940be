//! The accept loop and each connection's life: TLS handshake under a
//! timeout, HTTP/1.1 or HTTP/2 by ALPN with limits fit for a webhook whose
//! only client is the API server, an idle timer, shedding at the cap, and the
//! drain.
//!
//! Hand-rolled over tokio-rustls and hyper rather than axum-server: the cap
//! must know which connections are idle (see [`super::limit`]), HTTP/2 has
//! no idle timeout of its own, and the drain must not cut idle HTTP/1.1
//! connections (a request the client sent in that instant would get an EOF):
//! each keeps being served, and every answer from then on carries
//! `Connection: close`; HTTP/2 connections get a GOAWAY.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, Request, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::limit::{Activity, Admit, Entry, Table};
use crate::metrics;

/// How long an HTTP/2 connection closed for idleness gets to finish its GOAWAY.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Per-connection limits.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest wait with no request open: before the first request, between
    /// requests, and (HTTP/1.1) to receive a request's headers.
    pub idle_timeout: Duration,
    /// HTTP/2: most streams open at once on one connection.
    pub h2_max_streams: u32,
    /// HTTP/2: flow-control window of one stream (bytes the client may send
    /// before the guard reads them).
    pub h2_stream_window: u32,
    /// HTTP/2: flow-control window of a whole connection.
    pub h2_connection_window: u32,
    /// Largest request head: HTTP/1.1 read buffer, HTTP/2 header list.
    pub max_header_bytes: u32,
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub table: Arc<Table>,
    pub limits: ConnLimits,
    pub tls: tokio_rustls::TlsAcceptor,
    pub app: axum::Router,
}

/// Resolves once `rx` reads true; never if its sender is gone (a dropped
/// [`super::Running`] leaves the server running, as a detached task).
async fn raised(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Accepts until `stop` turns true, then stops accepting, tells every
/// connection to drain, and waits for them for at most `drain`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let entry = match shared.table.admit() {
                        Admit::Admitted(e) => e,
                        Admit::Shed(e) => {
                            metrics::shed_connection();
                            e
                        }
                        Admit::Refused => {
                            metrics::refused_connection();
                            continue;
                        }
                    };
                    tasks.spawn(connection(tcp, shared.clone(), entry, stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = raised(&mut stop) => break,
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = &mut deadline => {
                tracing::info!(open = tasks.len(), "drain time over: closing the remaining connections");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
}

async fn connection(
    tcp: TcpStream,
    shared: Arc<Shared>,
    entry: Entry,
    drain: watch::Receiver<bool>,
) {
    let act = entry.activity.clone();
    let _entry = entry;
    let _ = tcp.set_nodelay(true);
    let tcp = Heard {
        inner: tcp,
        activity: act.clone(),
    };
    let handshake = tokio::time::timeout(shared.limits.handshake_timeout, shared.tls.accept(tcp));
    // The drain does not cut a handshake: with TLS 1.3 the client counts the
    // connection open once it has the server's Finished and sends its request
    // at once, so the handshake completes (within its timeout) and the
    // request is answered as a draining connection's would be.
    let stream = tokio::select! {
        () = act.shed.notified() => return,
        done = handshake => match done {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                metrics::connection_timeout("handshake");
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    act.set_http1(!h2);
    if *drain.borrow() {
        // Before the first request is read: it may be in already.
        act.set_draining();
    }
    let service = Tracked {
        app: shared.app.clone(),
        activity: act.clone(),
    };
    let io = TokioIo::new(stream);
    if h2 {
        serve_h2(io, service, &shared.limits, &act, drain).await;
    } else {
        serve_h1(io, service, &shared.limits, &act, drain).await;
    }
}

type Io = TokioIo<tokio_rustls::server::TlsStream<Heard>>;

/// The TCP stream, noting on the connection's activity when the client
/// first sends something.
pub(crate) struct Heard {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Heard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.heard();
        }
        polled
    }
}

impl AsyncWrite for Heard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

async fn serve_h1(
    io: Io,
    service: Tracked,
    limits: &ConnLimits,
    act: &Arc<Activity>,
    mut drain: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper starts the header timer as soon as the connection waits for a
    // request: it is also the idle timeout before and between requests.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size((limits.max_header_bytes as usize).max(8192));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    if e.is_timeout() {
                        metrics::connection_timeout("idle");
                    }
                    tracing::debug!(error = %e, "HTTP/1.1 connection ended");
                }
                return;
            }
            () = act.shed.notified() => {
                tracing::debug!("connection shed to make room");
                return;
            }
            // Not cut: the next answer carries `Connection: close`, and an
            // idle connection ends by the header timer or the drain time.
            () = raised(&mut drain), if !draining => {
                draining = true;
                act.set_draining();
            }
        }
    }
}

async fn serve_h2(
    io: Io,
    service: Tracked,
    limits: &ConnLimits,
    act: &Arc<Activity>,
    mut drain: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_streams)
        .initial_stream_window_size(limits.h2_stream_window)
        .initial_connection_window_size(limits.h2_connection_window)
        .max_header_list_size(limits.max_header_bytes)
        .max_send_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing: Option<Instant> = None;
    loop {
        let idle_at = act.idle_since().map(|t| t + limits.idle_timeout);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "HTTP/2 connection ended");
                }
                return;
            }
            () = act.shed.notified() => {
                tracing::debug!("connection shed to make room");
                return;
            }
            () = raised(&mut drain), if closing.is_none() => {
                act.set_draining();
                conn.as_mut().graceful_shutdown();
                // The accept loop's drain time ends it if the client does not.
                closing = Some(Instant::now() + Duration::from_secs(86_400));
            }
            () = sleep_until(idle_at), if closing.is_none() && idle_at.is_some() => {
                if act.idle_since().is_some_and(|t| t.elapsed() >= limits.idle_timeout) {
                    metrics::connection_timeout("idle");
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + CLOSE_GRACE);
                }
            }
            () = act.went_idle.notified() => {}
            () = sleep_until(closing), if closing.is_some() => return,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The router as a hyper service, counting each request on its connection.
#[derive(Clone)]
struct Tracked {
    app: axum::Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let open = self.activity.open_request();
        request.extensions_mut().insert(self.activity.clone());
        let mut app = self.app.clone();
        let activity = self.activity.clone();
        Box::pin(async move {
            let mut response = tower_service::Service::call(&mut app, request).await?;
            if activity.close_after_answer() {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            drop(open);
            Ok(response)
        })
    }
}
