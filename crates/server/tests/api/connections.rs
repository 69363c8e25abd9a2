//! Connection-level bounds (S18): slow or silent clients cannot hold connections open,
//! request heads are capped, and a half-sent request cannot keep a stopping server alive.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, spawn_app, spawn_app_with};

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
    let answered = read_until_closed(&mut stream)
        .await
        .expect("the connection of an oversized head is closed");
    let text = String::from_utf8_lossy(&answered);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "a 96 KiB head is not served: {text}"
    );
    assert!(!text.contains("200 OK"), "{text}");
}

/// Sends `raw` on a fresh connection and returns everything the server answers before it
/// closes the connection.
async fn exchange(app: &crate::helpers::TestApp, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let answered = read_until_closed(&mut stream)
        .await
        .expect("the server closes a refused connection");
    String::from_utf8_lossy(&answered).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_requests_with_ambiguous_framing_are_refused() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let cases: &[(&str, &[u8])] = &[
        ("bare LF", b"GET /health HTTP/1.1\nHost: x\n\n"),
        ("bare LF in one header", b"GET /health HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n"),
        ("missing Host", b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"),
        ("duplicate Host", b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        (
            "chunked twice",
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "chunked not last",
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        ),
        (
            "length and chunked",
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "a bare LF in a second pipelined request",
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\nHost: x\n\n",
        ),
    ];
    for (what, raw) in cases {
        let answer = exchange(&app, raw).await;
        assert!(answer.contains("HTTP/1.1 400"), "{what}: {answer:?}");
        // S19: a problem+json body with a request id, like every other error.
        let refused = &answer[answer.find("HTTP/1.1 400").unwrap_or(0)..];
        let (head, body) = refused.split_once("\r\n\r\n").unwrap_or_default();
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: application/problem+json"),
            "{what}: {head}"
        );
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{what}: {head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 400, "{what}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("not well-formed"),
            "{what}"
        );
        let id = problem["request_id"].as_str().unwrap();
        assert!(
            head.contains(&format!("x-request-id: {id}")),
            "{what}: {head}"
        );
        // Nothing after the refusal was served.
        assert!(
            answer.matches("HTTP/1.1 200").count() <= usize::from(what.contains("pipelined")),
            "{what}: {answer:?}"
        );
    }
    // The well-formed forms still work, chunked bodies included.
    let ok = exchange(
        &app,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(ok.matches("HTTP/1.1 200").count(), 2, "{ok}");
    let chunked = exchange(
        &app,
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
          8\r\nusername\r\n0\r\n\r\n",
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 422"), "{chunked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_a_client_that_never_reads_its_responses_is_disconnected() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    // Pipelined requests whose answers (tens of MB) far exceed every socket buffer; the
    // client never reads one.
    let request = b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64);
    let flood = tokio::spawn(async move {
        for _ in 0..200 {
            if writer.write_all(&request).await.is_err() {
                return true;
            }
        }
        // The buffers took it all: one more request now and then shows when the server
        // has closed the connection (the write fails).
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&request[..33]).await.is_err() {
                return true;
            }
        }
    });
    let cut = tokio::time::timeout(CLOSED_WITHIN * 2, flood).await;
    assert!(
        matches!(cut, Ok(Ok(true))),
        "a connection whose answers are never read must be closed"
    );
    drop(reader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_one_address_cannot_hold_every_connection() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("COPYTHAT_CONNECTIONS_PER_ADDRESS", "8")],
    )
    .await
    .unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // The ninth is accepted and closed at once, without an answer.
    let mut ninth = TcpStream::connect(app.addr).await.unwrap();
    let _ = ninth
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut ninth).await.expect("closed at once");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // One of the eight gives its place back when it closes.
    drop(held.pop());
    let served = poll_until(|| async {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let _ = stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer = read_until_closed(&mut stream).await.unwrap_or_default();
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200")
    })
    .await;
    assert!(served, "a freed place is available again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_half_sent_heads_are_capped_per_address_but_proxies_are_exempt() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("COPYTHAT_CONNECTIONS_PER_ADDRESS", "8")],
    )
    .await
    .unwrap();
    // A quarter of eight: two half-sent heads at once.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    let refused = poll_until(|| async {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHos").await;
        let answer = read_until_closed(&mut stream).await.unwrap_or_default();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        answer.starts_with("HTTP/1.1 429")
            && answer.to_ascii_lowercase().contains("retry-after: 10")
            && answer.contains("\"status\":429")
    })
    .await;
    assert!(
        refused,
        "a third half-sent head from the address is refused"
    );
    // A complete request in one packet is not half-sent: still served.
    let ok = exchange(
        &app,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // Behind a trusted proxy the caps do not apply to the proxy's own address.
    let proxied = spawn_app_with(
        Backend::Sqlite,
        &[
            ("COPYTHAT_CONNECTIONS_PER_ADDRESS", "8"),
            ("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await
    .unwrap();
    let mut many = Vec::new();
    for _ in 0..12 {
        let mut stream = TcpStream::connect(proxied.addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        many.push(stream);
    }
    let ok = exchange(
        &proxied,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

/// Tries `check` until it holds or five seconds pass (work the server does after a
/// connection event is not instantaneous).
async fn poll_until<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// S12: a body over the limit is refused from its declared length, and the client gets
/// the 413 even while it is still sending (the server drains before closing, so the close
/// does not reset the connection under the unread answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s12_an_oversized_body_gets_its_413_while_still_being_sent() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let size = 20 * 1024 * 1024;
        let head = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {size}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Send the whole body, as a simple client does, and only then read the answer.
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..size / chunk.len() {
            if stream.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let answer = read_until_closed(&mut stream)
            .await
            .expect("closed after the answer");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
    }
}
