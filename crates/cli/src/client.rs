//! A small blocking client for the `/v1` API.

use anyhow::{anyhow, bail, Context as _, Result};
use countersign_proto::Problem;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub struct Client {
    base: String,
    token: Option<String>,
    http: Http,
}

/// A refusal from the server, kept whole so the CLI can show code and detail.
#[derive(Debug)]
pub struct Refused(pub Problem);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused ({}): {}", self.0.code, self.0.detail)?;
        if let Some(i) = self.0.log_index {
            write!(f, " [recorded at log index {i}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Self> {
        let http = Http::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    fn send(&self, r: RequestBuilder) -> Result<Response> {
        let response = r
            .send()
            .with_context(|| format!("cannot reach the Countersign server at {}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().unwrap_or_default();
        match serde_json::from_str::<Problem>(&body) {
            Ok(p) => Err(anyhow!(Refused(p))),
            Err(_) => bail!("server answered {status}: {body}"),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path))?
            .json()
            .context("reading the server's answer")
    }

    pub fn get_text(&self, path: &str) -> Result<String> {
        self.send(self.request(Method::GET, path))?
            .text()
            .context("reading the server's answer")
    }

    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        Ok(self
            .send(self.request(Method::GET, path))?
            .bytes()
            .context("reading the server's answer")?
            .to_vec())
    }

    pub fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send(self.request(method, path).json(body))?
            .json()
            .context("reading the server's answer")
    }

    pub fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        media_type: Option<&str>,
    ) -> Result<T> {
        self.send_bytes(
            Method::PUT,
            path,
            body,
            media_type.unwrap_or("application/octet-stream"),
        )
    }

    /// Send a body that is already serialized (NDJSON, say) with its media type.
    pub fn send_bytes<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<T> {
        let r = self
            .request(method, path)
            .header("content-type", media_type)
            .body(body);
        self.send(r)?.json().context("reading the server's answer")
    }
}

/// `path?name=value&…` from the fields of a filter (any struct that
/// serializes to a JSON object); fields that are absent (`null`) are left out.
pub fn with_query<F: Serialize>(path: &str, filter: &F) -> Result<String> {
    let serde_json::Value::Object(fields) = serde_json::to_value(filter)? else {
        bail!("a query filter must serialize to an object");
    };
    let pairs: Vec<String> = fields
        .iter()
        .filter_map(|(name, value)| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(format!("{name}={}", seg(s))),
            other => Some(format!("{name}={}", seg(&other.to_string()))),
        })
        .collect();
    Ok(if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    })
}

/// Percent-encode one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
