//! HTTP client for the NoETL server contract (docs/api.md).

use std::error::Error as StdError;
use std::time::Duration;

use anyhow::{anyhow, Result};
use base64::Engine as _;
use reqwest::blocking::{Client as HttpClient, RequestBuilder};
use reqwest::Url;
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    base: Url,
    http: HttpClient,
}

impl Client {
    pub fn new(server_url: &str) -> Result<Self> {
        Self::with_timeout(server_url, REQUEST_TIMEOUT)
    }

    pub fn with_timeout(server_url: &str, timeout: Duration) -> Result<Self> {
        let base = Url::parse(server_url)
            .map_err(|err| anyhow!("invalid server URL '{server_url}': {err}"))?;
        let mut builder = HttpClient::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(format!("noetl-cli/{}", crate::VERSION));
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|err| anyhow!("cannot create the HTTP client: {}", root_cause(&err)))?;
        Ok(Self { base, http })
    }

    /// The server URL as given, without a trailing slash.
    pub fn server_url(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    pub fn health(&self) -> Result<Value> {
        self.send(self.http.get(self.url(&["health"])))
    }

    pub fn register_playbook(&self, content: &[u8]) -> Result<Value> {
        let body =
            json!({ "content_base64": base64::engine::general_purpose::STANDARD.encode(content) });
        self.send(
            self.http
                .post(self.url(&["api", "catalog", "register"]))
                .json(&body),
        )
    }

    pub fn list_playbooks(&self) -> Result<Value> {
        self.send(self.http.get(self.url(&["api", "catalog"])))
    }

    pub fn get_playbook(&self, path: &str, version: Option<u64>) -> Result<Value> {
        let mut segments = vec!["api", "catalog"];
        segments.extend(path.split('/').filter(|segment| !segment.is_empty()));
        let mut request = self.http.get(self.url(&segments));
        if let Some(version) = version {
            request = request.query(&[("version", version)]);
        }
        self.send(request)
    }

    pub fn db_init(&self) -> Result<Value> {
        self.send(self.http.post(self.url(&["api", "db", "init"])))
    }

    pub fn db_validate(&self) -> Result<Value> {
        self.send(self.http.get(self.url(&["api", "db", "validate"])))
    }

    /// Base URL plus percent-encoded path segments.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends a request and returns the JSON body of a 2xx answer; anything else is one-line error.
    fn send(&self, request: RequestBuilder) -> Result<Value> {
        let response = request.send().map_err(|err| self.transport_error(&err))?;
        let status = response.status();
        let url = response.url().clone();
        let body = response
            .text()
            .map_err(|err| anyhow!("cannot read the response from {url}: {}", root_cause(&err)))?;
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

    fn transport_error(&self, err: &reqwest::Error) -> anyhow::Error {
        if err.is_connect() || err.is_timeout() {
            anyhow!(
                "cannot reach the NoETL server at {}: {} (start it with 'noetl server start' or pass --server-url)",
                self.server_url(),
                root_cause(err)
            )
        } else {
            anyhow!(
                "request to {} failed: {}",
                self.server_url(),
                root_cause(err)
            )
        }
    }
}

/// The server's `detail` when it sent one, else the status and a bit of the body.
fn http_error(status: reqwest::StatusCode, url: &Url, body: &str) -> anyhow::Error {
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

/// The innermost error message, e.g. "Connection refused (os error 111)".
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
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
            url.as_str(),
            "http://localhost:8082/api/catalog/examples/hello%20world"
        );
    }

    #[test]
    fn base_path_prefix_is_kept() {
        let c = client("http://host:1/noetl");
        assert_eq!(c.url(&["health"]).as_str(), "http://host:1/noetl/health");
        assert_eq!(c.server_url(), "http://host:1/noetl");
    }

    #[test]
    fn http_error_prefers_detail() {
        let url = Url::parse("http://h/x").unwrap();
        let err = http_error(
            reqwest::StatusCode::NOT_FOUND,
            &url,
            r#"{"detail":"playbook 'a' not found"}"#,
        );
        assert_eq!(err.to_string(), "playbook 'a' not found");
        let err = http_error(
            reqwest::StatusCode::BAD_GATEWAY,
            &url,
            "<html>\n bad\n</html>",
        );
        assert_eq!(
            err.to_string(),
            "server answered 502 Bad Gateway for http://h/x: <html> bad </html>"
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback(&Url::parse("http://localhost:1").unwrap()));
        assert!(is_loopback(&Url::parse("http://127.0.0.1:1").unwrap()));
        assert!(is_loopback(&Url::parse("http://[::1]:1").unwrap()));
        assert!(!is_loopback(&Url::parse("http://example.org").unwrap()));
    }
}
