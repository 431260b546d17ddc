//! One delivery attempt over HTTP: the only IO in this crate.
//!
//! [`deliver`] signs, POSTs and reports what happened as an [`Attempt`];
//! it never returns an error and never panics, because a failed delivery is
//! an ordinary outcome the caller records and schedules a retry for (see
//! [`crate::backoff`]).
//!
//! Following the spec's "Delivery success and failure": only a 2xx status
//! is success, and redirects are failures rather than something to follow,
//! so the client must not follow them. Build it with [`client`], or with
//! `reqwest::redirect::Policy::none()` yourself.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use reqwest::redirect::Policy;

use crate::signature::{sign, SigningSecret, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// `user-agent` of every delivery.
pub const USER_AGENT: &str = concat!("countersign-webhook/", env!("CARGO_PKG_VERSION"));

/// `content-type` of every delivery: the body is a CloudEvents JSON event.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// How much of a response body [`Attempt::response_excerpt`] keeps. Enough
/// to show an error message, little enough that a hostile endpoint cannot
/// make us buffer much.
pub const EXCERPT_LIMIT: usize = 1024;

/// Connect timeout of [`client`]; the whole-attempt timeout is per call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to send, and where.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The endpoint URL.
    pub url: &'a str,
    /// `webhook-id`: stable across retries so the receiver can deduplicate.
    pub msg_id: &'a str,
    /// `webhook-timestamp`: Unix seconds of *this* attempt, refreshed on
    /// every retry (receivers refuse stale timestamps).
    pub timestamp: i64,
    /// The serialized CloudEvent, sent byte for byte as signed.
    pub body: &'a [u8],
    /// Secrets to sign with; several while rotating.
    pub secrets: &'a [SigningSecret],
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The response status, if a response arrived.
    pub status: Option<u16>,
    /// True exactly when the status is 2xx.
    pub ok: bool,
    /// Why the attempt failed; `None` when `ok`. Never contains the URL,
    /// which may carry the receiver's credentials.
    pub error: Option<String>,
    /// Wall time the attempt took, from signing to the end of the excerpt.
    pub elapsed_ms: u64,
    /// Up to [`EXCERPT_LIMIT`] bytes of the response body, as text (invalid
    /// UTF-8 replaced); `None` when the body was empty or unreadable.
    pub response_excerpt: Option<String>,
}

/// A client fit for webhooks: no redirects, [`CONNECT_TIMEOUT`] to connect,
/// our [`USER_AGENT`]. Build it once and share it; it pools connections.
/// Every address it connects to passes `egress` (see [`crate::egress`]).
pub fn client(egress: crate::Egress) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .dns_resolver(crate::egress::resolver(egress))
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
}

/// Signs `d` and POSTs it once, giving up after `timeout` (connecting,
/// sending, and reading the response excerpt all count). The spec suggests
/// 15 to 30 seconds.
///
/// Pass a client from [`client`]: a client that follows redirects would
/// turn a 3xx, which the spec counts as failure, into whatever the
/// redirect target answers.
pub async fn deliver(
    client: &reqwest::Client,
    egress: crate::Egress,
    d: &Delivery<'_>,
    timeout: Duration,
) -> Attempt {
    let started = Instant::now();
    // IP-literal URLs skip the resolver: check them here. A refused
    // destination gets the same words whatever the reason.
    if egress.check_url(d.url).is_err() {
        return failed(started, crate::egress::REFUSED.into());
    }
    let signature = match sign(d.msg_id, d.timestamp, d.body, d.secrets) {
        Ok(signature) => signature,
        Err(err) => return failed(started, format!("cannot sign: {err}")),
    };
    let sent = client
        .post(d.url)
        .timeout(timeout)
        .header(CONTENT_TYPE, CLOUDEVENTS_CONTENT_TYPE)
        .header(USER_AGENT_HEADER, USER_AGENT)
        .header(ID_HEADER, d.msg_id)
        .header(TIMESTAMP_HEADER, d.timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(d.body.to_vec())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(err) if refused_by_policy(&err) => {
            return failed(started, crate::egress::REFUSED.into())
        }
        Err(err) => return failed(started, describe(err)),
    };
    let status = response.status();
    let response_excerpt = read_excerpt(&mut response).await;
    let ok = status.is_success();
    let error = if ok {
        None
    } else if status.is_redirection() {
        Some(format!(
            "HTTP {status}: redirects are not followed; update the endpoint URL"
        ))
    } else {
        Some(format!("HTTP {status}"))
    };
    Attempt {
        status: Some(status.as_u16()),
        ok,
        error,
        elapsed_ms: elapsed_ms(started),
        response_excerpt,
    }
}

fn failed(started: Instant, error: String) -> Attempt {
    Attempt {
        status: None,
        ok: false,
        error: Some(error),
        elapsed_ms: elapsed_ms(started),
        response_excerpt: None,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Whether the resolver refused the destination.
fn refused_by_policy(err: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.to_string() == crate::egress::REFUSED {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The error and its causes ("error sending request: client error
/// (Connect): tcp connect error: Connection refused"), without the URL:
/// reqwest's own message names it, and webhook URLs often embed tokens.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper sometimes repeats a cause's text verbatim one level down.
        if !message.ends_with(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// Reads at most [`EXCERPT_LIMIT`] bytes and drops the rest unread: the
/// receiver's answer is a diagnostic, not data we are owed.
async fn read_excerpt(response: &mut reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = EXCERPT_LIMIT - bytes.len();
                bytes.extend(chunk.iter().take(room));
            }
            // A body cut short still leaves a useful excerpt.
            Ok(None) | Err(_) => break,
        }
    }
    if bytes.is_empty() {
        return None;
    }
    // Cutting at the limit may split a character; drop the fragment rather
    // than show a replacement character that was never sent.
    if let Err(e) = std::str::from_utf8(&bytes) {
        if e.error_len().is_none() {
            bytes.truncate(e.valid_up_to());
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::post;
    use axum::Router;
    use rand_core::OsRng;
    use tokio::net::TcpListener;

    use super::*;
    use crate::signature::{verify, VerifyingSecret, WebhookHeaders, DEFAULT_TOLERANCE_SECS};
    use crate::Egress;

    /// The receivers here listen on loopback over plain http.
    const DEV: Egress = Egress {
        allow_http: true,
        allow_private: true,
    };

    const TS: i64 = 1_700_000_000;
    const BODY: &[u8] =
        br#"{"specversion":"1.0","type":"countersign.request.approved","id":"msg_1"}"#;

    /// Answers 200 "verified" only if the request carries our headers and a
    /// signature that verifies, 401 with the reason otherwise.
    async fn checking_receiver(
        secrets: Vec<VerifyingSecret>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let pairs = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let webhook = WebhookHeaders::from_pairs(pairs);
        if let Err(err) = verify(&webhook, &body, TS, DEFAULT_TOLERANCE_SECS, &secrets) {
            return (StatusCode::UNAUTHORIZED, err.to_string()).into_response();
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header("content-type") != Some(CLOUDEVENTS_CONTENT_TYPE) {
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type").into_response();
        }
        if header("user-agent") != Some(USER_AGENT) {
            return (StatusCode::BAD_REQUEST, "user-agent").into_response();
        }
        (StatusCode::OK, "verified").into_response()
    }

    async fn serve(secrets: Vec<VerifyingSecret>) -> SocketAddr {
        let app = Router::new()
            .route(
                "/hook",
                post(move |headers: HeaderMap, body: Bytes| {
                    checking_receiver(secrets.clone(), headers, body)
                }),
            )
            .route(
                "/fail",
                post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route(
                "/big",
                post(|| async { format!("é{}", "x".repeat(64 * 1024)) }),
            )
            .route("/moved", post(|| async { Redirect::temporary("/hook") }))
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "late"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    async fn attempt(url: &str, secrets: &[SigningSecret], timeout: Duration) -> Attempt {
        let d = Delivery {
            url,
            msg_id: "msg_1",
            timestamp: TS,
            body: BODY,
            secrets,
        };
        deliver(&client(DEV).unwrap(), DEV, &d, timeout).await
    }

    #[tokio::test]
    async fn the_default_policy_refuses_loopback_with_one_generic_error() {
        let addr = serve(Vec::new()).await;
        let secrets = [SigningSecret::generate_hmac(&mut OsRng)];
        let strict = Egress {
            allow_http: true,
            allow_private: false,
        };
        // An open port, a closed port, a name resolving to loopback, the
        // metadata address: the same words, and no request made.
        for url in [
            format!("http://{addr}/"),
            "http://127.0.0.1:9/".to_string(),
            format!("http://localhost:{}/", addr.port()),
            "http://169.254.169.254/latest/meta-data".to_string(),
            format!("http://[::1]:{}/", addr.port()),
        ] {
            let d = Delivery {
                url: &url,
                msg_id: "msg_1",
                timestamp: TS,
                body: BODY,
                secrets: &secrets,
            };
            let a = deliver(&client(strict).unwrap(), strict, &d, Duration::from_secs(2)).await;
            assert!(!a.ok && a.status.is_none(), "{url}: {a:?}");
            assert_eq!(a.error.as_deref(), Some(crate::egress::REFUSED), "{url}");
        }
        // The resolver refuses a name that resolves to loopback even when
        // the URL check is skipped (a client used without `deliver`).
        let err = client(strict)
            .unwrap()
            .post(format!("http://localhost:{}/", addr.port()))
            .send()
            .await
            .expect_err("refused");
        assert!(refused_by_policy(&err), "{err:?}");
    }

    #[tokio::test]
    async fn receiver_verifies_and_answers_200() {
        let old = SigningSecret::generate_hmac(&mut OsRng);
        let (new, new_public) = SigningSecret::generate_ed25519(&mut OsRng);
        // The receiver holds only the new key: rotation must still verify.
        let addr = serve(vec![new_public]).await;
        let a = attempt(
            &format!("http://{addr}/hook"),
            &[old, new],
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(a.status, Some(200), "{a:?}");
        assert!(a.ok);
        assert_eq!(a.error, None);
        assert_eq!(a.response_excerpt.as_deref(), Some("verified"));
    }

    #[tokio::test]
    async fn receiver_with_other_secret_refuses() {
        let addr = serve(vec![
            SigningSecret::generate_hmac(&mut OsRng).verifying_secret()
        ])
        .await;
        let ours = [SigningSecret::generate_hmac(&mut OsRng)];
        let a = attempt(
            &format!("http://{addr}/hook"),
            &ours,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(a.status, Some(401));
        assert!(!a.ok);
        assert_eq!(a.error.as_deref(), Some("HTTP 401 Unauthorized"));
        assert_eq!(
            a.response_excerpt.as_deref(),
            Some("no signature in webhook-signature verifies under the given secrets")
        );
    }

    #[tokio::test]
    async fn server_error_is_a_failure_with_excerpt() {
        let addr = serve(vec![]).await;
        let s = [SigningSecret::generate_hmac(&mut OsRng)];
        let a = attempt(&format!("http://{addr}/fail"), &s, Duration::from_secs(5)).await;
        assert_eq!(a.status, Some(500));
        assert!(!a.ok);
        assert_eq!(a.error.as_deref(), Some("HTTP 500 Internal Server Error"));
        assert_eq!(a.response_excerpt.as_deref(), Some("boom"));
    }

    #[tokio::test]
    async fn excerpt_is_capped_at_one_kibibyte() {
        let addr = serve(vec![]).await;
        let s = [SigningSecret::generate_hmac(&mut OsRng)];
        let a = attempt(&format!("http://{addr}/big"), &s, Duration::from_secs(5)).await;
        assert!(a.ok);
        let excerpt = a.response_excerpt.unwrap();
        assert_eq!(excerpt.len(), EXCERPT_LIMIT);
        assert!(excerpt.starts_with("éxxx"));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let addr = serve(vec![]).await;
        let s = [SigningSecret::generate_hmac(&mut OsRng)];
        let a = attempt(&format!("http://{addr}/moved"), &s, Duration::from_secs(5)).await;
        assert_eq!(a.status, Some(307));
        assert!(!a.ok);
        assert!(a.error.unwrap().contains("redirects are not followed"));
    }

    #[tokio::test]
    async fn timeout_is_a_failure_without_status() {
        let addr = serve(vec![]).await;
        let s = [SigningSecret::generate_hmac(&mut OsRng)];
        let a = attempt(
            &format!("http://{addr}/slow"),
            &s,
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(a.status, None);
        assert!(!a.ok);
        assert!(a.error.is_some());
        assert!(a.elapsed_ms >= 200, "{a:?}");
        assert!(a.elapsed_ms < 5_000, "{a:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_a_failure_without_status() {
        // Bind and drop to find a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook?token=hunter2");
        let s = [SigningSecret::generate_hmac(&mut OsRng)];
        let a = attempt(&url, &s, Duration::from_secs(5)).await;
        assert_eq!(a.status, None);
        assert!(!a.ok);
        assert_eq!(a.response_excerpt, None);
        let error = a.error.unwrap();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.to_lowercase().contains("connect"), "{error}");
    }

    #[tokio::test]
    async fn unsignable_or_unsendable_input_fails_without_panicking() {
        let s = [SigningSecret::generate_hmac(&mut OsRng)];
        let bad_id = Delivery {
            url: "http://127.0.0.1:9/",
            msg_id: "has.dot",
            timestamp: TS,
            body: BODY,
            secrets: &s,
        };
        let a = deliver(&client(DEV).unwrap(), DEV, &bad_id, Duration::from_secs(1)).await;
        assert!(!a.ok);
        assert!(a.error.unwrap().starts_with("cannot sign"));

        let a = attempt("not a url", &s, Duration::from_secs(1)).await;
        assert_eq!(a.status, None);
        assert!(!a.ok);
        assert!(a.error.is_some());

        let a = attempt("http://127.0.0.1:9/", &[], Duration::from_secs(1)).await;
        assert!(!a.ok);
    }
}
