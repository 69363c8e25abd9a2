//! Connection-level bounds (S18): slow or silent clients cannot hold connections open,
//! request heads are capped, and a half-sent request cannot keep a stopping server alive.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, spawn_app};

/// The server's header-read timeout is 10 s; this leaves room for a slow machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(25);

/// Reads until the server closes the connection; returns what it sent, or `None` if it
/// was still open after `CLOSED_WITHIN`.
async fn read_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(CLOSED_WITHIN, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_a_request_head_sent_too_slowly_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Trickle one header at a time, well inside any per-read timeout.
    let trickle = async {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if stream
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
        }
        false
    };
    let cut_off = tokio::time::timeout(CLOSED_WITHIN, trickle).await;
    assert!(
        matches!(cut_off, Ok(true)),
        "a head trickled over 40 s must be refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_silent_and_idle_connections_are_closed() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let mut silent = TcpStream::connect(app.addr).await.unwrap();

    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    assert!(
        read_until_closed(&mut silent).await.is_some(),
        "a connection that never sends a request is closed"
    );
    let answered = read_until_closed(&mut idle)
        .await
        .expect("an idle keep-alive connection is closed");
    let text = String::from_utf8_lossy(&answered);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_an_oversized_request_head_is_refused() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let filler = "a".repeat(8 * 1024);
    let mut head = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..12 {
        head.push_str(&format!("X-Fill-{i}: {filler}\r\n"));
    }
    head.push_str("\r\n");
    // The server may stop reading and close before all of it is written.
    let _ = stream.write_all(head.as_bytes()).await;
    let answered = read_until_closed(&mut stream).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&answered);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "a 96 KiB head is not served: {text}"
    );
    assert!(!text.contains("200 OK"), "{text}");
}
