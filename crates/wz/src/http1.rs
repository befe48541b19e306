//! The load generator's HTTP/1.1 client for `wz bench verify`: one
//! keep-alive connection per simulated terminal, each request serialised
//! once before the timed phase and written in one call, the reply read on
//! the same task and parsed with `httparse`.
//!
//! The benchmark runs its load generator on the cores it measures, so the
//! generator's own cost lowers the figure it reports. reqwest runs each
//! connection on a task of its own behind a pool and channels (two extra
//! task wake-ups and a pool checkout per request); this client does none
//! of that. It speaks only what the platform answers: a status line,
//! headers and a `content-length` body.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Largest reply head and body accepted (a verdict is a few hundred bytes).
const MAX_REPLY: usize = 1 << 20;
const MAX_HEADERS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Http1Error {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed before the reply was complete")]
    Closed,
    #[error("malformed reply: {0}")]
    Malformed(&'static str),
}

/// The bytes of one `POST` with a body, ready to write.
pub(crate) fn post_bytes(host: &SocketAddr, path: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(b"content-type: application/json\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One keep-alive connection, opened on first use and again after the
/// server closed it or a request on it failed.
pub(crate) struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Connection {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends `request` (from [`post_bytes`]) and returns the reply's status
    /// and body. A request on a reused connection that the server had
    /// already closed is sent once more on a new one (a signed request is
    /// answered idempotently by its nonce, so a resend never verifies twice).
    pub(crate) async fn round_trip(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>), Http1Error> {
        let reused = self.stream.is_some();
        match self.try_round_trip(request).await {
            Err(Http1Error::Closed) if reused => self.try_round_trip(request).await,
            other => other,
        }
    }

    async fn try_round_trip(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>), Http1Error> {
        let result = self.exchange(request).await;
        if !matches!(result, Ok((_, _, true))) {
            // Failed, or the server asked to close: the next request opens
            // a new connection.
            self.stream = None;
        }
        result.map(|(status, body, _)| (status, body))
    }

    /// Status, body and whether the connection may be reused.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>, bool), Http1Error> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        stream.write_all(request).await?;
        self.buf.clear();
        loop {
            if self.buf.len() >= MAX_REPLY {
                return Err(Http1Error::Malformed("reply too large"));
            }
            self.buf.reserve(4096);
            if stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Http1Error::Closed);
            }
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut reply = httparse::Response::new(&mut headers);
            let head_len = match reply.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => continue,
                Err(_) => return Err(Http1Error::Malformed("reply head")),
            };
            let status = reply.code.ok_or(Http1Error::Malformed("status"))?;
            let mut length = None;
            let mut keep_alive = true;
            for h in reply.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok());
                } else if h.name.eq_ignore_ascii_case("connection") {
                    keep_alive = !h.value.eq_ignore_ascii_case(b"close");
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(Http1Error::Malformed("chunked replies are not read"));
                }
            }
            let length = length.ok_or(Http1Error::Malformed("no content-length"))?;
            let end = head_len
                .checked_add(length)
                .filter(|&e| e <= MAX_REPLY)
                .ok_or(Http1Error::Malformed("reply too large"))?;
            while self.buf.len() < end {
                self.buf.reserve(end - self.buf.len());
                if stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(Http1Error::Closed);
                }
            }
            let body = self.buf.get(head_len..end).unwrap_or_default().to_vec();
            // Bytes past the reply would be a reply to nothing we sent.
            return Ok((status, body, keep_alive && self.buf.len() == end));
        }
    }
}

/// Idle connections shared by requests that start on a schedule (the open
/// loop): each takes one, or opens one, and puts it back when answered.
pub(crate) struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn take(&self) -> Connection {
        self.idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop())
            .unwrap_or_else(|| Connection::new(self.addr))
    }

    pub(crate) fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request read with `replies` in turn,
    /// split over several writes, then closes.
    async fn serve(replies: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for reply in replies {
                let _ = sock.read(&mut buf).await.unwrap();
                for part in reply.chunks(7) {
                    sock.write_all(part).await.unwrap();
                    sock.flush().await.unwrap();
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_replies_split_over_writes_and_keeps_the_connection() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello",
            b"HTTP/1.1 422 Unprocessable\r\nContent-Length: 2\r\n\r\n{}",
        ])
        .await;
        let mut conn = Connection::new(addr);
        let req = post_bytes(&addr, "/v1/verify", &[("x-wz-rp", "a".to_owned())], b"{}");
        assert!(req.starts_with(b"POST /v1/verify HTTP/1.1\r\n"));
        assert!(req.ends_with(b"x-wz-rp: a\r\n\r\n{}"));
        assert_eq!(conn.round_trip(&req).await.unwrap(), (200, b"hello".to_vec()));
        assert_eq!(conn.round_trip(&req).await.unwrap(), (422, b"{}".to_vec()));
        // The server has closed: a fresh connection is refused by nobody
        // listening, which is an error, not a panic.
        assert!(conn.round_trip(&req).await.is_err());
    }

    #[tokio::test]
    async fn refuses_replies_it_cannot_read() {
        for reply in [
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        ] {
            let addr = serve(vec![reply]).await;
            let mut conn = Connection::new(addr);
            assert!(conn.round_trip(b"GET / HTTP/1.1\r\n\r\n").await.is_err());
            assert!(conn.stream.is_none());
        }
    }
}
