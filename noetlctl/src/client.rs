//! HTTP client for the NoETL server contract (docs/api.md).

use std::time::Duration;

use anyhow::{anyhow, Result};
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};
use ureq::http::{Response, StatusCode, Uri};
use ureq::{Agent, Body, ResponseExt};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// What a path segment must escape (the WHATWG URL path-segment set): a playbook path's parts
/// stay parts, whatever characters they hold.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%');

pub struct Client {
    /// scheme://authority[/path], no trailing slash, no query.
    base: String,
    http: Agent,
}

impl Client {
    pub fn new(server_url: &str) -> Result<Self> {
        Self::with_timeout(server_url, REQUEST_TIMEOUT)
    }

    pub fn with_timeout(server_url: &str, timeout: Duration) -> Result<Self> {
        let uri = parse_url(server_url)
            .map_err(|err| anyhow!("invalid server URL '{server_url}': {err}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(anyhow!(
                "invalid server URL '{server_url}': expected http://HOST[:PORT] or https://HOST[:PORT]"
            ));
        };
        let base = format!("{scheme}://{authority}{}", uri.path().trim_end_matches('/'));
        let mut config = Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .timeout_global(Some(timeout))
            .http_status_as_error(false) // a 4xx/5xx answer's body says why: read it
            .user_agent(format!("noetl-cli/{}", crate::VERSION));
        if is_loopback(&uri) {
            config = config.proxy(None);
        }
        Ok(Self {
            base,
            http: config.build().into(),
        })
    }

    /// The server URL as given, without a trailing slash.
    pub fn server_url(&self) -> String {
        self.base.clone()
    }

    pub fn health(&self) -> Result<Value> {
        let url = self.url(&["health"]);
        self.answer(self.http.get(&url).call())
    }

    pub fn register_playbook(&self, content: &[u8]) -> Result<Value> {
        let body =
            json!({ "content_base64": base64::engine::general_purpose::STANDARD.encode(content) });
        let body = body.to_string();
        let url = self.url(&["api", "catalog", "register"]);
        let request = self
            .http
            .post(&url)
            .header("content-type", "application/json");
        self.answer_to_body(request.send(body.as_bytes()), body.len())
    }

    pub fn list_playbooks(&self) -> Result<Value> {
        let url = self.url(&["api", "catalog"]);
        self.answer(self.http.get(&url).call())
    }

    pub fn get_playbook(&self, path: &str, version: Option<u64>) -> Result<Value> {
        let mut segments = vec!["api", "catalog"];
        segments.extend(path.split('/').filter(|segment| !segment.is_empty()));
        let url = self.url(&segments);
        let mut request = self.http.get(&url);
        if let Some(version) = version {
            request = request.query("version", version.to_string());
        }
        self.answer(request.call())
    }

    pub fn db_init(&self) -> Result<Value> {
        let url = self.url(&["api", "db", "init"]);
        self.answer(self.http.post(&url).send_empty())
    }

    pub fn db_validate(&self) -> Result<Value> {
        let url = self.url(&["api", "db", "validate"]);
        self.answer(self.http.get(&url).call())
    }

    /// Base URL plus percent-encoded path segments.
    fn url(&self, segments: &[&str]) -> String {
        let mut url = self.base.clone();
        for segment in segments {
            url.push('/');
            url.extend(utf8_percent_encode(segment, SEGMENT));
        }
        url
    }

    /// The JSON body of a 2xx answer; anything else is a one-line error.
    fn answer(&self, sent: std::result::Result<Response<Body>, ureq::Error>) -> Result<Value> {
        self.answer_to_body(sent, 0)
    }

    /// As `answer`, for a request that sent a body of `body_len` bytes.
    fn answer_to_body(
        &self,
        sent: std::result::Result<Response<Body>, ureq::Error>,
        body_len: usize,
    ) -> Result<Value> {
        let mut response = sent.map_err(|err| self.transport_error(&err, body_len))?;
        let status = response.status();
        let url = response.get_uri().to_string(); // after redirects, as ureq followed them
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|err| anyhow!("cannot read the response from {url}: {}", describe(&err)))?;
        if !status.is_success() {
            return Err(http_error(status, &url, &body));
        }
        serde_json::from_str(&body).map_err(|_| {
            anyhow!(
                "unexpected response from {url}: not JSON ({})",
                snippet(&body)
            )
        })
    }

    fn transport_error(&self, err: &ureq::Error, body_len: usize) -> anyhow::Error {
        if body_len > 0 && is_cut_off(err) {
            anyhow!(
                "the server at {} closed the connection while the request body ({body_len} bytes) was being sent ({}): \
                 a body over the server's limit (2 MiB unless the server was started with --max-body-size) is refused that way",
                self.server_url(),
                describe(err)
            )
        } else if is_unreachable(err) {
            anyhow!(
                "cannot reach the NoETL server at {}: {} (start it with 'noetl server start' or pass --server-url)",
                self.server_url(),
                describe(err)
            )
        } else {
            anyhow!("request to {} failed: {}", self.server_url(), describe(err))
        }
    }
}

/// An absolute http(s) URL with a host, or why not.
pub fn parse_url(text: &str) -> std::result::Result<Uri, String> {
    let uri: Uri = text.parse().map_err(|err| format!("{err}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err("expected http://HOST[:PORT] or https://HOST[:PORT]".to_string());
    }
    Ok(uri)
}

/// No connection was made (refused, unresolvable, unroutable, timed out): the server is not
/// there. An I/O error before any answer counts, but for the kinds that mean a connection was
/// made and then broke (an answer cut short, bytes that are not HTTP).
fn is_unreachable(err: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    match err {
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            ErrorKind::UnexpectedEof
                | ErrorKind::InvalidData
                | ErrorKind::BrokenPipe
                | ErrorKind::WriteZero
        ),
        ureq::Error::Timeout(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

/// The peer closed the connection under a request: a write failed (broken pipe), or the
/// server's close with unread bytes turned into a reset. A server over its body limit
/// answers and closes before reading the rest, which is where a large body meets this.
fn is_cut_off(err: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    matches!(err, ureq::Error::Io(io) if matches!(io.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset))
}

/// The error as one line, e.g. "Connection refused (os error 111)".
fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        other => other.to_string(),
    }
}

/// The server's `detail` when it sent one, else the status and a bit of the body.
fn http_error(status: StatusCode, url: &str, body: &str) -> anyhow::Error {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value.get("detail").cloned());
    match detail {
        Some(Value::String(detail)) if !detail.trim().is_empty() => anyhow!("{detail}"),
        Some(detail) if !detail.is_null() => anyhow!("server answered {status}: {detail}"),
        _ => anyhow!("server answered {status} for {url}: {}", snippet(body)),
    }
}

fn snippet(body: &str) -> String {
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "empty body".to_string();
    }
    let mut cut: String = one_line.chars().take(200).collect();
    if cut.len() < one_line.len() {
        cut.push('…');
    }
    cut
}

fn is_loopback(url: &Uri) -> bool {
    let Some(host) = url.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        Client::new(url).unwrap()
    }

    #[test]
    fn playbook_paths_keep_slashes_and_encode_segments() {
        let c = client("http://localhost:8082/");
        let url = c.url(&["api", "catalog", "examples", "hello world"]);
        assert_eq!(
            url,
            "http://localhost:8082/api/catalog/examples/hello%20world"
        );
        assert_eq!(c.url(&["a/b", "50%"]), "http://localhost:8082/a%2Fb/50%25");
    }

    #[test]
    fn base_path_prefix_is_kept() {
        let c = client("http://host:1/noetl");
        assert_eq!(c.url(&["health"]), "http://host:1/noetl/health");
        assert_eq!(c.server_url(), "http://host:1/noetl");
    }

    #[test]
    fn http_error_prefers_detail() {
        let url = "http://h/x";
        let err = http_error(
            StatusCode::NOT_FOUND,
            url,
            r#"{"detail":"playbook 'a' not found"}"#,
        );
        assert_eq!(err.to_string(), "playbook 'a' not found");
        let err = http_error(StatusCode::BAD_GATEWAY, url, "<html>\n bad\n</html>");
        assert_eq!(
            err.to_string(),
            "server answered 502 Bad Gateway for http://h/x: <html> bad </html>"
        );
    }

    #[test]
    fn a_cut_off_body_names_its_size_and_the_limit_and_nothing_else_changes() {
        use std::io::{Error, ErrorKind};
        let c = client("http://127.0.0.1:9");
        let io = |kind: ErrorKind| ureq::Error::Io(Error::from(kind));
        for kind in [ErrorKind::BrokenPipe, ErrorKind::ConnectionReset] {
            let line = c.transport_error(&io(kind), 3_000_000).to_string();
            assert!(
                line.starts_with("the server at http://127.0.0.1:9 closed the connection while the request body (3000000 bytes) was being sent ("),
                "{line}"
            );
            assert!(
                line.ends_with("): a body over the server's limit (2 MiB unless the server was started with --max-body-size) is refused that way"),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
        // Without a body, or for other errors, the messages are what they were.
        let reset = c
            .transport_error(&io(ErrorKind::ConnectionReset), 0)
            .to_string();
        assert!(
            reset.starts_with("cannot reach the NoETL server at http://127.0.0.1:9: "),
            "{reset}"
        );
        let pipe = c.transport_error(&io(ErrorKind::BrokenPipe), 0).to_string();
        assert!(
            pipe.starts_with("request to http://127.0.0.1:9 failed: "),
            "{pipe}"
        );
        let eof = c
            .transport_error(&io(ErrorKind::UnexpectedEof), 10)
            .to_string();
        assert!(
            eof.starts_with("request to http://127.0.0.1:9 failed: "),
            "{eof}"
        );
        let refused = c
            .transport_error(&io(ErrorKind::ConnectionRefused), 10)
            .to_string();
        assert!(
            refused.starts_with("cannot reach the NoETL server at "),
            "{refused}"
        );
    }

    #[test]
    fn loopback_detection() {
        let uri = |text: &str| parse_url(text).unwrap();
        assert!(is_loopback(&uri("http://localhost:1")));
        assert!(is_loopback(&uri("http://127.0.0.1:1")));
        assert!(is_loopback(&uri("http://[::1]:1")));
        assert!(!is_loopback(&uri("http://example.org")));
    }
}
