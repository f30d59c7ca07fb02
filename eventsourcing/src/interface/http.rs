//! A small HTTP endpoint for a notification log, and a client for it (feature `http`).
//!
//! Two routes, both `GET`, both answering JSON:
//!
//! - `/notifications?start=N&limit=M`: at most `M` notifications from id `N`; with
//!   `&topics=T1,T2` (each topic percent-encoded), only those whose topic is one of them. The
//!   reference's other parameters of `get_notifications` are accepted too: `start` may be left
//!   out (the start of the log), `&inclusive_of_start=false` begins after `N`, `&stop=S` ends
//!   at id `S`;
//! - `/sections/FIRST,LAST`: the section "FIRST,LAST".
//!
//! It is plain HTTP/1.1 on `std::net`, one request per connection, meant for followers on a
//! trusted network reading a leader in another process. Put a reverse proxy with TLS and
//! authentication in front of it for anything else.
//!
//! ```
//! use std::sync::Arc;
//! use eventsourcing::application::{Application, NotificationLog};
//! use eventsourcing::interface::http::{HttpNotificationLog, NotificationLogServer};
//! use eventsourcing::interface::NotificationLogJsonService;
//! # use eventsourcing::prelude::*;
//! # #[aggregate] pub struct Note { text: String }
//! # #[aggregate] impl Note { #[created] pub fn create(text: String) -> Self { Note { text } } }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Application::new("Notes")?;
//! app.save(&mut Note::create("hello".into()))?;
//! let service = NotificationLogJsonService::new(Arc::new(app.log().clone()));
//! let server = NotificationLogServer::bind("127.0.0.1:0", service)?;
//!
//! let remote = HttpNotificationLog::connect(&format!("http://{}", server.local_addr()))?;
//! assert_eq!(remote.select(1, 10)?, app.log().select(1, 10)?);
//! server.stop();
//! # Ok(())
//! # }
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{NotificationLogInterface, NotificationLogJsonClient, NotificationLogJsonService};
use crate::application::ApplicationError;

/// The largest request head the server reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// The largest response head the client reads.
const MAX_HEAD: usize = 64 * 1024;
/// The largest response body the client reads.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// The most requests the server answers at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;

/// A chunked body (`Transfer-Encoding: chunked`) decoded, or `None` if it is malformed.
fn dechunk(mut chunked: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::with_capacity(chunked.len());
    loop {
        let line_end = chunked.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&chunked[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        chunked = &chunked[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(chunked.get(..size)?);
        chunked = chunked.get(size + 2..)?;
    }
}

/// Serves a notification log over HTTP, in a background thread, until stopped or dropped.
pub struct NotificationLogServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for NotificationLogServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationLogServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl NotificationLogServer {
    /// Binds `addr` (port 0 picks a free port) and serves `service` from a background thread,
    /// to anyone who can reach the address: bind a loopback address (`127.0.0.1:PORT`) unless
    /// the network between it and its readers is trusted, or require a token with
    /// [`bind_with_token`](NotificationLogServer::bind_with_token).
    pub fn bind(addr: impl ToSocketAddrs, service: NotificationLogJsonService) -> io::Result<Self> {
        Self::serve(addr, service, None)
    }

    /// As [`bind`](NotificationLogServer::bind), answering only requests that carry
    /// `Authorization: Bearer {token}` (compared in constant time); others get 401. The token
    /// travels in clear text over plain HTTP: put a TLS-terminating proxy in front of the
    /// server for any network you do not trust (see the README).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use eventsourcing::application::{Application, NotificationLog};
    /// use eventsourcing::interface::http::{HttpNotificationLog, HttpNotificationLogInterface, NotificationLogServer};
    /// use eventsourcing::interface::{NotificationLogJsonClient, NotificationLogJsonService};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = Application::new("Notes")?;
    /// let service = NotificationLogJsonService::new(Arc::new(app.log().clone()));
    /// let server = NotificationLogServer::bind_with_token("127.0.0.1:0", service, "s3cret")?;
    /// let url = format!("http://{}", server.local_addr());
    ///
    /// let anonymous = HttpNotificationLog::connect(&url)?;
    /// assert!(anonymous.select(1, 10).is_err()); // 401
    /// let client = NotificationLogJsonClient::new(HttpNotificationLogInterface::new(&url)?.with_token("s3cret"));
    /// assert!(client.select(1, 10)?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind_with_token(
        addr: impl ToSocketAddrs,
        service: NotificationLogJsonService,
        token: &str,
    ) -> io::Result<Self> {
        if token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the bearer token of a notification log server can't be empty",
            ));
        }
        Self::serve(addr, service, Some(token.as_bytes().to_vec()))
    }

    fn serve(
        addr: impl ToSocketAddrs,
        service: NotificationLogJsonService,
        token: Option<Vec<u8>>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread_stopping = Arc::clone(&stopping);
        let service = Arc::new(Served { service, token });
        let active = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("eventsourcing-http".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if thread_stopping.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // A thread per request, up to a limit; beyond it the accepting thread
                    // answers itself, so that new connections wait instead of piling up.
                    if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                        if let Err(error) = handle(stream, &service) {
                            tracing::debug!(%error, "notification log request failed");
                        }
                        continue;
                    }
                    active.fetch_add(1, Ordering::AcqRel);
                    let (service, done) = (Arc::clone(&service), Arc::clone(&active));
                    let spawned = std::thread::Builder::new()
                        .name("eventsourcing-http-conn".into())
                        .spawn(move || {
                            if let Err(error) = handle(stream, &service) {
                                tracing::debug!(%error, "notification log request failed");
                            }
                            done.fetch_sub(1, Ordering::AcqRel);
                        });
                    if let Err(error) = spawned {
                        active.fetch_sub(1, Ordering::AcqRel);
                        tracing::warn!(%error, "can't start a thread for a notification log request");
                    }
                }
            })?;
        Ok(NotificationLogServer {
            addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (requests being answered are finished).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wake the accepting thread up.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NotificationLogServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What a server serves, and to whom.
struct Served {
    service: NotificationLogJsonService,
    /// The bearer token requests must carry, if any.
    token: Option<Vec<u8>>,
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only, not on where
/// they differ (so that a token can't be guessed byte by byte from response times).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Whether the request's headers carry the token `token` as `Authorization: Bearer ...`.
fn authorized(headers: &[httparse::Header<'_>], token: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("authorization"))
        .any(|h| {
            let value = h.value;
            value.len() > 7
                && value[..7].eq_ignore_ascii_case(b"bearer ")
                && constant_time_eq(value[7..].trim_ascii(), token)
        })
}

fn handle(mut stream: TcpStream, served: &Served) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer)?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD {
            return respond(
                &mut stream,
                400,
                &error_json("incomplete or oversized request"),
            );
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let (method, path) = match request.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {
            (request.method.unwrap_or(""), request.path.unwrap_or(""))
        }
        _ => return respond(&mut stream, 400, &error_json("malformed request")),
    };
    if let Some(token) = &served.token {
        if !authorized(request.headers, token) {
            return respond(
                &mut stream,
                401,
                &error_json("a bearer token is required (Authorization: Bearer ...)"),
            );
        }
    }
    if method != "GET" {
        return respond(&mut stream, 405, &error_json("only GET is supported"));
    }
    let (status, body) = route(path, &served.service);
    respond(&mut stream, status, &body)
}

/// The parameters of `/notifications`, as the reference's `get_notifications` takes them.
struct NotificationsQuery {
    /// The first id asked for; `None` for the start of the log.
    start: Option<u64>,
    limit: usize,
    /// The last id wanted, if any.
    stop: Option<u64>,
    /// Whether `start` itself may be returned (the default), or only ids after it.
    inclusive_of_start: bool,
}

impl NotificationsQuery {
    const USAGE: &'static str = "expected /notifications?limit=M, optionally with &start=N, \
         &stop=N, &inclusive_of_start=false and &topics=T1,T2";

    fn parse<'q>(value: &impl Fn(&str) -> Option<&'q str>) -> Result<Self, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            match value(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
                    format!(
                        "{name}={text:?} is not a non-negative integer; {}",
                        Self::USAGE
                    )
                }),
            }
        };
        let limit = number("limit")?.ok_or_else(|| Self::USAGE.to_string())?;
        let inclusive_of_start = match value("inclusive_of_start") {
            None | Some("true" | "True" | "1") => true,
            Some("false" | "False" | "0") => false,
            Some(other) => {
                return Err(format!(
                    "inclusive_of_start={other:?} is not true or false; {}",
                    Self::USAGE
                ))
            }
        };
        Ok(NotificationsQuery {
            start: number("start")?,
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            stop: number("stop")?,
            inclusive_of_start,
        })
    }

    /// The first id to select.
    fn first(&self) -> u64 {
        match self.start {
            None => 1,
            Some(start) if self.inclusive_of_start => start,
            Some(start) => start.saturating_add(1),
        }
    }
}

fn route(path: &str, service: &NotificationLogJsonService) -> (u16, String) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let result = if path == "/notifications" {
        let value = |name: &str| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value)
        };
        // Comma-separated, each percent-encoded (so a topic may contain a comma).
        let topics: Vec<String> = value("topics")
            .filter(|topics| !topics.is_empty())
            .map(|topics| topics.split(',').map(percent_decode).collect())
            .unwrap_or_default();
        match NotificationsQuery::parse(&value) {
            Ok(query) => {
                service.notifications_json_until(query.first(), query.limit, query.stop, &topics)
            }
            Err(message) => return (400, error_json(&message)),
        }
    } else if let Some(section_id) = path.strip_prefix("/sections/") {
        service.section_json(&percent_decode(section_id))
    } else {
        return (
            404,
            error_json("no such route: try /notifications?start=1&limit=10 or /sections/1,10"),
        );
    };
    match result {
        Ok(json) => (200, json),
        Err(
            error
            @ (ApplicationError::InvalidSectionId(_) | ApplicationError::LimitTooLarge { .. }),
        ) => (400, error_json(&error.to_string())),
        Err(error) => {
            tracing::warn!(%error, "notification log request failed");
            (500, error_json(&error.to_string()))
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes what is not unreserved in a query value (`,` and `&` included): how a topic
/// goes into `/notifications?...&topics=`.
///
/// ```
/// use eventsourcing::interface::http::percent_encode;
/// assert_eq!(percent_encode("dogs:Dog.Registered"), "dogs:Dog.Registered");
/// assert_eq!(percent_encode("a,b&c d"), "a%2Cb%26c%20d");
/// ```
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if status == 401 { "WWW-Authenticate: Bearer\r\n" } else { "" },
        body.len()
    )?;
    stream.flush()
}

/// The client side of [`NotificationLogServer`]: a [`NotificationLogInterface`] over HTTP.
#[derive(Clone)]
pub struct HttpNotificationLogInterface {
    host: String,
    addr: SocketAddr,
    timeout: Duration,
    /// The bearer token sent with each request, if any.
    token: Option<String>,
}

/// A notification log read over HTTP: give it to a
/// [`Follower`](crate::system::Follower) to follow a leader in another process.
pub type HttpNotificationLog = NotificationLogJsonClient<HttpNotificationLogInterface>;

impl HttpNotificationLog {
    /// The log served at `url`, such as `"http://127.0.0.1:8080"`.
    pub fn connect(url: &str) -> Result<Self, ApplicationError> {
        Ok(NotificationLogJsonClient::new(
            HttpNotificationLogInterface::new(url)?,
        ))
    }
}

impl std::fmt::Debug for HttpNotificationLogInterface {
    /// Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpNotificationLogInterface")
            .field("host", &self.host)
            .field("addr", &self.addr)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl HttpNotificationLogInterface {
    /// The interface served at `url`, such as `"http://127.0.0.1:8080"`, with a 30 s timeout.
    pub fn new(url: &str) -> Result<Self, ApplicationError> {
        if let Some((scheme, _)) = url
            .split_once("://")
            .filter(|(scheme, _)| *scheme != "http")
        {
            return Err(ApplicationError::Interface {
                message: format!(
                    "{url:?}: the {scheme} scheme is not supported: this client speaks plain HTTP \
                     (put it behind a TLS-terminating proxy on a trusted network)"
                ),
                source: None,
            });
        }
        let host = url
            .strip_prefix("http://")
            .unwrap_or(url)
            .trim_end_matches('/')
            .to_string();
        let addr = host
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| ApplicationError::Interface {
                message: format!("can't resolve {url:?}: expected http://HOST:PORT"),
                source: None,
            })?;
        Ok(HttpNotificationLogInterface {
            host,
            addr,
            timeout: Duration::from_secs(30),
            token: None,
        })
    }

    /// Sends `Authorization: Bearer {token}` with each request (for a server made with
    /// [`NotificationLogServer::bind_with_token`]).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long to wait for the server (connecting, and each read).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn get(&self, path: &str) -> Result<String, ApplicationError> {
        let failed = |e: io::Error| ApplicationError::Interface {
            message: format!("GET http://{}{path} failed", self.host),
            source: Some(Box::new(e)),
        };
        let mut stream = TcpStream::connect_timeout(&self.addr, self.timeout).map_err(failed)?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(failed)?;
        stream
            .set_write_timeout(Some(self.timeout))
            .map_err(failed)?;
        let authorization = match &self.token {
            Some(token) => format!("Authorization: Bearer {token}\r\n"),
            None => String::new(),
        };
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{authorization}Accept: application/json\r\nConnection: close\r\n\r\n",
            self.host
        )
        .map_err(failed)?;
        // The head, then a body of Content-Length bytes, or chunks, or up to the end.
        let mut response = Vec::with_capacity(8 * 1024);
        let mut buffer = [0u8; 16 * 1024];
        let malformed = |what: &str| ApplicationError::Interface {
            message: format!("GET http://{}{path}: {what}", self.host),
            source: None,
        };
        let (head_len, code, content_length, chunked) = loop {
            let read = stream.read(&mut buffer).map_err(failed)?;
            if read == 0 {
                return Err(malformed(
                    "the connection closed before the response's head",
                ));
            }
            response.extend_from_slice(&buffer[..read]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&response) {
                Ok(httparse::Status::Complete(len)) => {
                    let header = |name: &str| {
                        parsed
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                    };
                    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
                    let chunked =
                        header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                    break (len, parsed.code, length, chunked);
                }
                Ok(httparse::Status::Partial) if response.len() < MAX_HEAD => {}
                _ => return Err(malformed("malformed response")),
            }
        };
        let mut body = response.split_off(head_len);
        match content_length {
            Some(length) if length > MAX_BODY => return Err(malformed("response too large")),
            Some(length) => {
                while body.len() < length {
                    let read = stream.read(&mut buffer).map_err(failed)?;
                    if read == 0 {
                        return Err(malformed("the response's body is shorter than announced"));
                    }
                    body.extend_from_slice(&buffer[..read]);
                }
                body.truncate(length);
            }
            None => {
                // Until the server closes (it answers `Connection: close`), within the limit.
                loop {
                    let read = stream.read(&mut buffer).map_err(failed)?;
                    if read == 0 {
                        break;
                    }
                    if body.len() + read > MAX_BODY {
                        return Err(malformed("response too large"));
                    }
                    body.extend_from_slice(&buffer[..read]);
                }
                if chunked {
                    body = dechunk(&body).ok_or_else(|| malformed("malformed chunked body"))?;
                }
            }
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        match code {
            Some(200) => Ok(body),
            code => Err(ApplicationError::Interface {
                message: format!(
                    "GET http://{}{path}: status {}: {body}",
                    self.host,
                    code.unwrap_or_default()
                ),
                source: None,
            }),
        }
    }
}

impl NotificationLogInterface for HttpNotificationLogInterface {
    fn get_log_section(&self, section_id: &str) -> Result<String, ApplicationError> {
        self.get(&format!("/sections/{section_id}"))
    }

    fn get_notifications(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<String, ApplicationError> {
        let mut path = format!("/notifications?start={start}&limit={limit}");
        if !topics.is_empty() {
            let topics: Vec<String> = topics.iter().map(|t| percent_encode(t)).collect();
            path.push_str("&topics=");
            path.push_str(&topics.join(","));
        }
        self.get(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"", b"x"));
        let header = |value: &'static [u8]| {
            [httparse::Header {
                name: "Authorization",
                value,
            }]
        };
        assert!(authorized(&header(b"Bearer s3cret"), b"s3cret"));
        assert!(authorized(&header(b"bearer  s3cret "), b"s3cret"));
        assert!(!authorized(&header(b"Basic s3cret"), b"s3cret"));
        assert!(!authorized(&header(b"Bearer s3cre"), b"s3cret"));
        assert!(!authorized(&[], b"s3cret"));
    }

    #[test]
    fn topics_survive_the_query_string() {
        let topic = "bank:Account.Opened, v2&more%";
        let encoded = percent_encode(topic);
        assert!(!encoded.contains([',', '&', ' ']), "{encoded}");
        assert_eq!(percent_decode(&encoded), topic);
    }

    #[test]
    fn dechunks_bodies_and_refuses_malformed_ones() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n").as_deref(),
            Some(&b"Wikipedia"[..])
        );
        assert_eq!(dechunk(b"0\r\n\r\n").as_deref(), Some(&b""[..]));
        assert_eq!(dechunk(b"9\r\nWiki\r\n0\r\n\r\n"), None);
        assert_eq!(dechunk(b"zz\r\n"), None);
    }

    #[test]
    fn refuses_other_schemes() {
        let error = HttpNotificationLogInterface::new("https://example.com:443").unwrap_err();
        assert!(
            error.to_string().contains("https scheme is not supported"),
            "{error}"
        );
    }
}
