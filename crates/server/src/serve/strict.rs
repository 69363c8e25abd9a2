//! Strict HTTP/1.1 framing, checked on the raw bytes before the parser sees them (S18):
//! lines end with CRLF only (a bare LF or CR is refused: servers and proxies that read
//! them differently disagree about where a request ends), a request names exactly one
//! `Host`, and a body is framed by one `Content-Length` or by `Transfer-Encoding: chunked`
//! alone — never both, never `chunked` twice or followed by another coding. The scanner
//! follows each request's framing, so pipelined and keep-alive requests are all checked.

/// Why a request was refused; for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    BareLineFeed,
    BareCarriageReturn,
    MissingHost,
    RepeatedHost,
    TransferEncoding,
    ContentLength,
    ChunkFraming,
    Malformed,
    /// Not a framing error: the peer holds too many half-sent heads already.
    TooManyPendingHeads,
}

impl Violation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BareLineFeed => "bare LF line ending",
            Self::BareCarriageReturn => "bare CR",
            Self::MissingHost => "missing Host",
            Self::RepeatedHost => "repeated Host",
            Self::TransferEncoding => "Transfer-Encoding other than one final chunked",
            Self::ContentLength => "conflicting Content-Length",
            Self::ChunkFraming => "malformed chunk framing",
            Self::Malformed => "malformed request head",
            Self::TooManyPendingHeads => "too many half-sent requests from this address",
        }
    }
}

/// What the scanner is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A request head (or the empty lines allowed before one).
    Head,
    /// A fixed-length body: bytes left.
    Body(u64),
    /// A chunk-size line (`hex[;ext]CRLF`).
    ChunkSize,
    /// Chunk data: bytes left, then CRLF.
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
}

/// Longest head kept for parsing; the listener refuses longer heads anyway (431).
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size line (size, extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;

pub struct Scanner {
    state: State,
    /// The current head or chunk line, as received.
    line: Vec<u8>,
    /// Whether the previous byte was a CR that still needs its LF.
    pending_cr: bool,
    /// Bytes of the current head seen so far (0: between requests).
    head_bytes: usize,
    /// Length of the current line inside `line` (trailers, chunk lines).
    line_len: usize,
    /// Set once a violation is found; nothing after it is scanned.
    failed: Option<Violation>,
    /// Too long to keep: the parser refuses it; the scanner stops checking.
    given_up: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    pub fn new() -> Self {
        Self {
            state: State::Head,
            line: Vec::new(),
            pending_cr: false,
            head_bytes: 0,
            line_len: 0,
            failed: None,
            given_up: false,
        }
    }

    /// Whether a request head has started but not ended: a half-sent request.
    pub fn in_partial_head(&self) -> bool {
        self.state == State::Head && self.head_bytes > 0
    }

    /// Scans bytes as they arrive; the first violation is returned and sticks.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        if let Some(violation) = self.failed {
            return Err(violation);
        }
        while !bytes.is_empty() && !self.given_up {
            let consumed = match self.state {
                State::Body(left) => {
                    let n = (bytes.len() as u64).min(left);
                    self.state = if n == left {
                        State::Head
                    } else {
                        State::Body(left - n)
                    };
                    n as usize
                }
                State::ChunkData(left) => {
                    let n = (bytes.len() as u64).min(left);
                    self.state = if n == left {
                        State::ChunkDataCr
                    } else {
                        State::ChunkData(left - n)
                    };
                    n as usize
                }
                _ => {
                    if let Err(violation) = self.byte(bytes[0]) {
                        self.failed = Some(violation);
                        return Err(violation);
                    }
                    1
                }
            };
            bytes = &bytes[consumed..];
        }
        Ok(())
    }

    /// One byte of a line-oriented state.
    fn byte(&mut self, b: u8) -> Result<(), Violation> {
        match self.state {
            State::ChunkDataCr => {
                self.state = State::ChunkDataLf;
                return if b == b'\r' {
                    Ok(())
                } else {
                    Err(Violation::ChunkFraming)
                };
            }
            State::ChunkDataLf => {
                self.state = State::ChunkSize;
                return if b == b'\n' {
                    Ok(())
                } else {
                    Err(Violation::ChunkFraming)
                };
            }
            _ => {}
        }
        // CRLF discipline, common to heads, chunk lines and trailers.
        if self.pending_cr {
            if b != b'\n' {
                return Err(Violation::BareCarriageReturn);
            }
            self.pending_cr = false;
            return self.end_of_line();
        }
        match b {
            b'\r' => {
                self.pending_cr = true;
                self.note(b)
            }
            b'\n' => Err(Violation::BareLineFeed),
            _ => {
                self.line_len += 1;
                self.note(b)
            }
        }
    }

    /// Keeps a byte of the head or chunk line being read.
    fn note(&mut self, b: u8) -> Result<(), Violation> {
        match self.state {
            State::Head => {
                // Empty lines before a request line are allowed and ignored.
                if self.head_bytes == 0 && b == b'\r' {
                    return Ok(());
                }
                self.head_bytes += 1;
                if self.line.len() >= MAX_HEAD {
                    self.given_up = true;
                    return Ok(());
                }
                self.line.push(b);
            }
            State::ChunkSize => {
                if self.line.len() >= MAX_CHUNK_LINE {
                    return Err(Violation::ChunkFraming);
                }
                self.line.push(b);
            }
            _ => {}
        }
        Ok(())
    }

    /// A CRLF ended a line.
    fn end_of_line(&mut self) -> Result<(), Violation> {
        let empty = self.line_len == 0;
        self.line_len = 0;
        match self.state {
            State::Head => {
                if self.head_bytes == 0 {
                    return Ok(()); // a leading empty line
                }
                self.line.extend_from_slice(b"\n");
                // The head ends with an empty line: CRLF CRLF.
                if self.line.ends_with(b"\r\n\r\n") {
                    let head = std::mem::take(&mut self.line);
                    self.head_bytes = 0;
                    self.state = framing(&head)?;
                }
                Ok(())
            }
            State::ChunkSize => {
                let line = std::mem::take(&mut self.line);
                let size = chunk_size(&line)?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
                Ok(())
            }
            State::Trailers => {
                if empty {
                    self.state = State::Head;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Reads the framing of a complete head: what follows it.
fn framing(head: &[u8]) -> Result<State, Violation> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        // Too many headers or not a request: the parser answers it (400/431).
        _ => return Err(Violation::Malformed),
    }
    let mut hosts = 0;
    let mut lengths: Vec<&[u8]> = Vec::new();
    let mut encodings = 0;
    let mut chunked = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            lengths.push(header.value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            let value =
                std::str::from_utf8(header.value).map_err(|_| Violation::TransferEncoding)?;
            // Exactly `chunked`, alone: no list, no other coding before or after it.
            if !value.trim().eq_ignore_ascii_case("chunked") {
                return Err(Violation::TransferEncoding);
            }
            chunked = true;
        }
    }
    // HTTP/1.1 requires one Host (RFC 9112 section 3.2); HTTP/1.0 may omit it.
    if request.version == Some(1) {
        match hosts {
            0 => return Err(Violation::MissingHost),
            1 => {}
            _ => return Err(Violation::RepeatedHost),
        }
    } else if hosts > 1 {
        return Err(Violation::RepeatedHost);
    }
    if encodings > 1 {
        return Err(Violation::TransferEncoding);
    }
    if chunked {
        if !lengths.is_empty() {
            return Err(Violation::ContentLength);
        }
        return Ok(State::ChunkSize);
    }
    match lengths.as_slice() {
        [] => Ok(State::Head),
        [one] => {
            let text = std::str::from_utf8(one).map_err(|_| Violation::ContentLength)?;
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Violation::ContentLength);
            }
            let n: u64 = text.parse().map_err(|_| Violation::ContentLength)?;
            Ok(if n == 0 { State::Head } else { State::Body(n) })
        }
        _ => Err(Violation::ContentLength),
    }
}

/// The size of a chunk-size line `hex[;ext]` (without its CRLF).
fn chunk_size(line: &[u8]) -> Result<u64, Violation> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.split(|b| *b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).map_err(|_| Violation::ChunkFraming)?;
    let digits = digits.trim_end_matches([' ', '\t']);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Violation::ChunkFraming);
    }
    u64::from_str_radix(digits, 16).map_err(|_| Violation::ChunkFraming)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> Result<(), Violation> {
        Scanner::new().feed(bytes)
    }

    /// The same bytes fed one at a time give the same verdict.
    fn scan_bytewise(bytes: &[u8]) -> Result<(), Violation> {
        let mut scanner = Scanner::new();
        for b in bytes {
            scanner.feed(std::slice::from_ref(b))?;
        }
        Ok(())
    }

    #[test]
    fn well_formed_requests_pass_whole_and_byte_by_byte() {
        let pipelined = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel\nl\
            POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
            3;ext=1\r\na\nc\r\n0\r\nX-Trailer: 1\r\n\r\n\
            \r\nGET /d HTTP/1.0\r\n\r\n";
        assert_eq!(scan(pipelined), Ok(()));
        assert_eq!(scan_bytewise(pipelined), Ok(()));
    }

    #[test]
    fn s18_bare_line_endings_are_refused() {
        assert_eq!(
            scan(b"GET / HTTP/1.1\nHost: x\r\n\r\n"),
            Err(Violation::BareLineFeed)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nHost: x\n\n"),
            Err(Violation::BareLineFeed)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\rHost: x\r\n\r\n"),
            Err(Violation::BareCarriageReturn)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\na"),
            Err(Violation::BareLineFeed)
        );
        assert_eq!(
            scan_bytewise(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\nHost: x\r\n\r\n"),
            Err(Violation::BareLineFeed),
            "the second pipelined request is checked too"
        );
    }

    #[test]
    fn s18_host_must_appear_exactly_once_in_http_1_1() {
        assert_eq!(scan(b"GET / HTTP/1.1\r\n\r\n"), Err(Violation::MissingHost));
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(Violation::RepeatedHost)
        );
        assert_eq!(scan(b"GET / HTTP/1.0\r\n\r\n"), Ok(()));
    }

    #[test]
    fn s18_transfer_encoding_must_be_one_final_chunked() {
        for te in [
            "chunked, chunked",
            "gzip, chunked",
            "chunked, gzip",
            "identity",
            "chunked;q=1",
        ] {
            let request =
                format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
            assert_eq!(
                scan(request.as_bytes()),
                Err(Violation::TransferEncoding),
                "{te}"
            );
        }
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Violation::TransferEncoding)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            Err(Violation::ContentLength)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            Err(Violation::ContentLength)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n"),
            Err(Violation::ContentLength)
        );
    }

    #[test]
    fn chunk_framing_is_followed() {
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(Violation::ChunkFraming)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX"),
            Err(Violation::ChunkFraming),
            "chunk data must be followed by CRLF"
        );
    }

    #[test]
    fn a_partial_head_is_reported() {
        let mut scanner = Scanner::new();
        assert!(!scanner.in_partial_head());
        scanner.feed(b"GET / HT").unwrap();
        assert!(scanner.in_partial_head());
        scanner.feed(b"TP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(!scanner.in_partial_head());
    }
}
