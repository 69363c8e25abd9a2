//! The listener: HTTP/1.1 connections with the bounds an internet-facing server needs (S18).
//!
//! - A client has [`HEADER_READ_TIMEOUT`] to send a request head; the same timer closes a
//!   keep-alive connection that sits idle, so slow or silent sockets cannot pile up.
//! - A request head may not exceed [`MAX_HEAD_BYTES`] (431 beyond), which also bounds
//!   what a half-sent head can make the server buffer.
//! - Framing is strict (`strict`): bare LF or CR, a missing or repeated `Host`, and any
//!   `Transfer-Encoding` but one final `chunked` are refused with 400 before parsing.
//! - One peer address holds at most `COPYTHAT_CONNECTIONS_PER_ADDRESS` connections, and
//!   a quarter of that many half-sent heads (429 beyond); trusted proxies are exempt, as
//!   they guard their own edge. At most [`MAX_CONNECTIONS`] are open in all; beyond that,
//!   new ones wait in the kernel's backlog instead of exhausting file descriptors.
//! - A response the client does not read for `guard::WRITE_STALL` closes the connection,
//!   and request bodies must keep a minimum rate (`body_rate`).
//! - On shutdown the listener closes, idle connections close, in-flight requests finish,
//!   and whatever is still open after the drain deadline is dropped.

pub mod body_rate;
mod guard;
pub mod strict;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use self::body_rate::MinRateBody;
use self::guard::{GuardedStream, PeerCounts};

pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS: u32 = 4096;
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Kernel send buffer per connection: small responses fit, and a client that never reads
/// pins little memory before the write deadline closes it.
const SEND_BUFFER_BYTES: usize = 256 * 1024;

/// Per-address connection bounds (S18).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub per_address: usize,
    pub pending_heads_per_address: usize,
    /// Peers exempt from the per-address bounds (reverse proxies).
    pub trusted: Vec<IpNet>,
}

/// Counters of every peer address with an open connection.
#[derive(Default)]
struct Peers {
    map: Mutex<HashMap<IpAddr, Arc<PeerCounts>>>,
}

impl Peers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Arc<PeerCounts>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `ip`, or refuses it when the address has its fill.
    fn admit(&self, ip: IpAddr, cap: Option<usize>) -> Option<Arc<PeerCounts>> {
        let mut map = self.lock();
        let counts = map.entry(ip).or_default().clone();
        let open = counts.open.load(Ordering::Acquire);
        if cap.is_some_and(|cap| open >= cap) {
            return None;
        }
        counts.open.fetch_add(1, Ordering::AcqRel);
        Some(counts)
    }

    fn release(&self, ip: IpAddr, counts: &PeerCounts) {
        let mut map = self.lock();
        if counts.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            map.remove(&ip);
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS as usize));
    let peers = Arc::new(Peers::default());
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Usually out of file descriptors: back off rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ip = crate::request_id::canonical(peer.ip());
        let exempt = limits.trusted.iter().any(|net| net.contains(&ip));
        let Some(counts) = peers.admit(ip, (!exempt).then_some(limits.per_address)) else {
            // Dropped at once: the address already holds its share of connections.
            tracing::debug!(peer = %ip, "connection refused: too many from this address");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
        let stream = GuardedStream::new(
            stream,
            counts.clone(),
            (!exempt).then_some(limits.pending_heads_per_address),
        );
        let service = router
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(|body| axum::body::Body::new(MinRateBody::new(body)));
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let mut stopped = stopped.clone();
        let peers = peers.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_header_size(MAX_HEAD_BYTES);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut connection = pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                }
                () = async { drop(stopped.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            peers.release(ip, &counts);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its slot back when it ends: all slots free = drained.
    if tokio::time::timeout(drain, slots.acquire_many(MAX_CONNECTIONS))
        .await
        .is_err()
    {
        tracing::warn!("connections still open at the drain deadline; closing them");
    }
}
