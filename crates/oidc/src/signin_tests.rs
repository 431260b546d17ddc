//! Sign-in tests: configuration, the RFC 7636 vector, the authorization
//! URL, discovery, and `finish` against a one-request token endpoint on
//! 127.0.0.1 answering what each test needs, with ID tokens minted here.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use time::Duration;

use crate::signin::{basic_authorization, code_challenge, discovery_url, parse_discovery};
use crate::tests::{
    caller_claims, caller_config, key_set, with, without, Signer, AUD, CALLER_ISS, NOW,
};
use crate::{
    read_client_secret, ClientSecret, ConfigError, Expected, IssuerConfig, Purpose, SignInConfig,
    SignInError, SignInOptions, SignInProvider, TokenAuth, TokenError, TokenVerifier,
};

const CLIENT_ID: &str = "countersign-web";
/// A secret with characters that HTTP Basic must form-encode.
const SECRET: &str = "s3cr3t:+/ é%";
const REDIRECT_URI: &str = "https://countersign.example.com/auth/callback";
const AUTHORIZE: &str = "https://idp.example.com/oauth2/authorize?tenant=acme";
const CODE: &str = "SplxlOBeZQQYbYS6WxSbIA";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const NONCE: &str = "n-0S6_WzA2Mj";

/// The caller issuer of the other tests with a confidential sign-in client.
fn sign_in_config() -> IssuerConfig {
    let mut config = caller_config();
    config.audiences.push(CLIENT_ID.to_owned());
    let mut sign_in = SignInConfig::new(CLIENT_ID);
    sign_in.client_secret = Some(ClientSecret::new(SECRET));
    config.sign_in = Some(sign_in);
    config
}

fn configure(edit: impl FnOnce(&mut SignInConfig)) -> IssuerConfig {
    let mut config = sign_in_config();
    edit(config.sign_in.as_mut().unwrap());
    config
}

fn expected(max_age_seconds: Option<u64>) -> Expected<'static> {
    Expected {
        code_verifier: VERIFIER,
        nonce: NONCE,
        redirect_uri: REDIRECT_URI,
        max_age_seconds,
    }
}

/// The claims of a good ID token for the sign-in client.
fn id_token_claims() -> Value {
    with(
        with(caller_claims(), "aud", json!(CLIENT_ID)),
        "nonce",
        json!(NONCE),
    )
}

/// One HTTP request as the test server saw it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// A server on 127.0.0.1:0 answering exactly one request with what
/// `answer` makes of its base URL (`http://127.0.0.1:port`); it gives up
/// after 20 s. Joining the handle yields the request it saw.
fn serve_once(
    answer: impl FnOnce(&str) -> (u16, String) + Send + 'static,
) -> (String, thread::JoinHandle<Option<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (status, answer) = answer(&base);
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return None;
                    }
                    thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        while bytes.len() < head_end + length {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
        let body = String::from_utf8_lossy(&bytes[head_end..]).into_owned();
        let response = format!(
            "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len(),
        );
        stream.write_all(response.as_bytes()).unwrap();
        Some(Seen {
            request_line,
            headers,
            body,
        })
    });
    (base, handle)
}

/// A provider for `config` whose token endpoint answers `status` and
/// `body` once, and a verifier trusting `signer` for the caller issuer.
fn exchange(
    config: IssuerConfig,
    signer: &Signer,
    status: u16,
    body: String,
) -> (
    SignInProvider,
    TokenVerifier,
    thread::JoinHandle<Option<Seen>>,
) {
    let (base, server) = serve_once(move |_| (status, body));
    let provider =
        SignInProvider::from_endpoints(&config, AUTHORIZE, &format!("{base}/token"), None).unwrap();
    let verifier = TokenVerifier::from_keys(vec![(config, key_set(&[signer.jwk("k1")]))]).unwrap();
    (provider, verifier, server)
}

fn token_answer(id_token: &str) -> String {
    json!({
        "access_token": "SlAV32hkKG",
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    })
    .to_string()
}

/// Runs `finish` against a token endpoint answering with an ID token of
/// `claims`, and checks that whatever comes back says nothing secret.
fn finish_with_claims(
    claims: &Value,
    max_age_seconds: Option<u64>,
) -> Result<crate::VerifiedToken, SignInError> {
    let signer = Signer::ed25519();
    let token = signer.sign(Some("k1"), claims);
    let (provider, verifier, server) =
        exchange(sign_in_config(), &signer, 200, token_answer(&token));
    let result = provider.finish(&verifier, CODE, &expected(max_age_seconds), NOW);
    server
        .join()
        .unwrap()
        .expect("the token endpoint was called");
    if let Err(error) = &result {
        assert_safe(&error.to_string(), &[&token]);
    }
    result
}

/// An error message shows no secret, code, code verifier or token.
fn assert_safe(message: &str, more: &[&str]) {
    for secret in [SECRET, CODE, VERIFIER].iter().chain(more) {
        assert!(
            !message.contains(secret),
            "{message:?} must not contain {secret:?}"
        );
    }
}

// --- configuration ---------------------------------------------------------

#[test]
fn sign_in_config_from_toml_with_defaults() {
    let toml_text = r#"
issuer = "https://idp.example.com"
audiences = ["countersign-web", "https://countersign.example.com"]
jwks_url = "https://idp.example.com/keys"
purpose = "caller"

[sign_in]
client_id = "countersign-web"
client_secret_file = "/run/secrets/idp"
"#;
    let config: IssuerConfig = toml::from_str(toml_text).unwrap();
    config.validate().unwrap();
    let sign_in = config.sign_in.as_ref().unwrap();
    assert_eq!(sign_in.client_id, "countersign-web");
    assert_eq!(
        sign_in.client_secret_file.as_deref(),
        Some(std::path::Path::new("/run/secrets/idp"))
    );
    assert_eq!(sign_in.scopes, ["openid", "email", "profile"]);
    assert_eq!(sign_in.token_auth, None);
    assert_eq!(sign_in.effective_token_auth(), TokenAuth::ClientSecretBasic);
    assert_eq!(
        config.sign_in_display_name().as_deref(),
        Some("idp.example.com")
    );
    let again: IssuerConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    assert_eq!(again, config);

    // Every key, and the public-client default.
    let full = r#"
issuer = "https://idp.example.com"
audiences = ["web"]
jwks_file = "/x"
purpose = "caller"

[sign_in]
client_id = "web"
display_name = "Example Corp"
authorization_endpoint = "https://idp.example.com/authorize"
token_endpoint = "https://idp.example.com/token"
scopes = ["openid", "email"]
token_auth = "none"
"#;
    let config: IssuerConfig = toml::from_str(full).unwrap();
    config.validate().unwrap();
    let sign_in = config.sign_in.as_ref().unwrap();
    assert_eq!(sign_in.effective_token_auth(), TokenAuth::None);
    assert_eq!(
        config.sign_in_display_name().as_deref(),
        Some("Example Corp")
    );
    assert_eq!(
        SignInConfig::new("web").effective_token_auth(),
        TokenAuth::None
    );
    let again: IssuerConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    assert_eq!(again, config);

    // A configuration without sign_in is what it was.
    let plain: IssuerConfig = toml::from_str(
        "issuer = \"i\"\naudiences = [\"a\"]\npurpose = \"caller\"\njwks_file = \"/x\"\n",
    )
    .unwrap();
    assert_eq!(plain.sign_in, None);
    assert_eq!(plain.sign_in_display_name(), None);
    assert!(!toml::to_string(&plain).unwrap().contains("sign_in"));

    for (extra, needle) in [
        (
            "client_id = \"web\"\nclient_secrets = \"x\"\n",
            "unknown field `client_secrets`",
        ),
        (
            "client_id = \"web\"\ntoken_auth = \"private_key_jwt\"\n",
            "unknown variant `private_key_jwt`",
        ),
        ("client_secret = \"x\"\n", "missing field `client_id`"),
    ] {
        let text = format!(
            "issuer = \"https://i.example\"\naudiences = [\"web\"]\npurpose = \"caller\"\njwks_file = \"/x\"\n[sign_in]\n{extra}"
        );
        let message = toml::from_str::<IssuerConfig>(&text)
            .unwrap_err()
            .to_string();
        assert!(message.contains(needle), "{extra:?}: {message}");
    }
}

#[test]
fn sign_in_config_validation() {
    let invalid = |config: IssuerConfig, needle: &str| {
        let err = config.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&config.issuer), "{message}");
        assert!(
            message.contains(needle),
            "{message} should mention {needle}"
        );
        assert_safe(&message, &[]);
    };
    sign_in_config().validate().unwrap();

    let mut workload = crate::tests::workload_config();
    workload.sign_in = Some(SignInConfig::new(AUD));
    invalid(workload, "caller issuers only");

    let mut config = sign_in_config();
    config.audiences.retain(|aud| aud != CLIENT_ID);
    invalid(config, "must also be listed in audiences");
    invalid(
        configure(|s| s.client_id.clear()),
        "client_id must not be empty",
    );
    invalid(
        configure(|s| s.client_secret_file = Some("/run/secret".into())),
        "both client_secret and client_secret_file",
    );
    invalid(
        configure(|s| s.client_secret = Some(ClientSecret::new(""))),
        "client_secret must not be empty",
    );
    invalid(
        configure(|s| {
            s.client_secret = None;
            s.client_secret_file = Some("".into());
        }),
        "client_secret_file must not be empty",
    );
    invalid(
        configure(|s| s.token_auth = Some(TokenAuth::None)),
        "public client",
    );
    for auth in [TokenAuth::ClientSecretBasic, TokenAuth::ClientSecretPost] {
        invalid(
            configure(|s| {
                s.client_secret = None;
                s.token_auth = Some(auth);
            }),
            "needs client_secret or client_secret_file",
        );
    }
    invalid(
        configure(|s| s.display_name = Some(" ".into())),
        "display_name",
    );
    invalid(
        configure(|s| s.display_name = Some("Corp\nLogin".into())),
        "display_name",
    );
    invalid(
        configure(|s| s.scopes = vec!["email".into(), "profile".into()]),
        "must include openid",
    );
    invalid(
        configure(|s| s.scopes = vec!["openid".into(), "email profile".into()]),
        "not a scope",
    );
    invalid(
        configure(|s| s.scopes = vec!["openid".into(), "".into()]),
        "not a scope",
    );
    invalid(
        configure(|s| s.scopes = vec!["openid".into(), "email".into(), "email".into()]),
        "twice",
    );
    invalid(
        configure(|s| s.token_endpoint = Some("http://idp.example.com/token".into())),
        "sign_in.token_endpoint \"http://idp.example.com/token\" uses http",
    );
    invalid(
        configure(|s| s.authorization_endpoint = Some("https://idp.example.com/a#x".into())),
        "fragment",
    );
    invalid(
        configure(|s| s.authorization_endpoint = Some("not a url".into())),
        "sign_in.authorization_endpoint",
    );
    // Discovery needs an issuer that can be fetched; with both endpoints
    // configured the issuer may be any string.
    let mut config = sign_in_config();
    config.issuer = "http://idp.example.com".into();
    invalid(config, "discovers its endpoints");
    let mut config = sign_in_config();
    config.issuer = "urn:example:idp".into();
    invalid(config.clone(), "issuer");
    let sign_in = config.sign_in.as_mut().unwrap();
    sign_in.authorization_endpoint = Some("https://idp.example.com/authorize".into());
    sign_in.token_endpoint = Some("https://idp.example.com/token".into());
    config.validate().unwrap();
    assert_eq!(
        config.sign_in_display_name().as_deref(),
        Some("urn:example:idp")
    );

    // Loopback endpoints and issuers are fine, as for jwks_url.
    let mut config = configure(|s| {
        s.authorization_endpoint = Some("http://127.0.0.1:8080/authorize".into());
        s.token_endpoint = Some("http://localhost:8080/token".into());
    });
    config.issuer = "http://[::1]:8080".into();
    config.validate().unwrap();
    // Public clients and client_secret_post.
    configure(|s| s.client_secret = None).validate().unwrap();
    configure(|s| s.token_auth = Some(TokenAuth::ClientSecretPost))
        .validate()
        .unwrap();
    configure(|s| {
        s.client_secret = None;
        s.client_secret_file = Some("/run/secret".into());
        s.token_auth = Some(TokenAuth::ClientSecretPost);
    })
    .validate()
    .unwrap();
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let signer = Signer::ed25519();
    let config = sign_in_config();
    let provider =
        SignInProvider::from_endpoints(&config, AUTHORIZE, "https://idp.example.com/token", None)
            .unwrap();
    let request = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let verifier =
        TokenVerifier::from_keys(vec![(config.clone(), key_set(&[signer.jwk("k1")]))]).unwrap();
    for text in [
        format!("{:?}", ClientSecret::new(SECRET)),
        format!("{config:?}"),
        format!("{provider:?}"),
        format!("{verifier:?}"),
    ] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    assert_eq!(
        format!("{:?}", ClientSecret::new(SECRET)),
        "ClientSecret(<redacted>)"
    );
    let shown = format!("{request:?} {:?}", request.expected());
    assert!(!shown.contains(&request.code_verifier), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn client_secret_file_is_read_at_load() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let with_file = |path: &std::path::Path| {
        configure(|s| {
            s.client_secret = None;
            s.client_secret_file = Some(path.to_owned());
        })
    };
    for (contents, secret) in [
        ("from-a-file\n", "from-a-file"),
        ("from-a-file\r\n", "from-a-file"),
        ("trailing spaces kept  ", "trailing spaces kept  "),
        ("two newlines\n\n", "two newlines\n"),
    ] {
        std::fs::write(file.path(), contents).unwrap();
        let read = read_client_secret(&with_file(file.path()))
            .unwrap()
            .unwrap();
        assert_eq!(read.expose(), secret, "{contents:?}");
    }
    // The secret that was read is the one the provider uses.
    std::fs::write(file.path(), "from-a-file\n").unwrap();
    let config = with_file(file.path());
    let provider = SignInProvider::from_endpoints(
        &config,
        AUTHORIZE,
        "https://idp.example.com/token",
        read_client_secret(&config).unwrap(),
    )
    .unwrap();
    assert!(!format!("{provider:?}").contains("from-a-file"));
    // Without it, a configuration that needs a secret file is refused.
    let err =
        SignInProvider::from_endpoints(&config, AUTHORIZE, "https://idp.example.com/token", None)
            .unwrap_err();
    assert!(err.to_string().contains("read_client_secret"), "{err}");

    std::fs::write(file.path(), "\n").unwrap();
    let err = read_client_secret(&with_file(file.path())).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let missing = std::path::Path::new("/nonexistent/countersign/secret");
    let err = read_client_secret(&with_file(missing)).unwrap_err();
    assert!(
        matches!(err, ConfigError::ClientSecretFile { ref issuer, ref path, .. }
            if issuer == CALLER_ISS && path == missing),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("/nonexistent/countersign/secret"),
        "{err}"
    );
    // Inline secrets and public clients need no file.
    assert_eq!(
        read_client_secret(&sign_in_config()).unwrap(),
        Some(ClientSecret::new(SECRET))
    );
    assert_eq!(
        read_client_secret(&configure(|s| s.client_secret = None)).unwrap(),
        None
    );
    assert_eq!(read_client_secret(&caller_config()).unwrap(), None);
}

// --- PKCE and the authorization URL -----------------------------------------

#[test]
fn s256_matches_rfc7636_appendix_b() {
    assert_eq!(
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn http_basic_credentials_are_form_encoded() {
    // RFC 6749 §2.3.1: "s3cr3t:+/ é%" becomes "s3cr3t%3A%2B%2F+%C3%A9%25".
    let header = basic_authorization("web app", &ClientSecret::new(SECRET));
    let encoded = header.strip_prefix("Basic ").unwrap();
    let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(decoded, "web+app:s3cr3t%3A%2B%2F+%C3%A9%25");
}

#[test]
fn authorization_url_carries_every_parameter_encoded() {
    let provider = SignInProvider::from_endpoints(
        &sign_in_config(),
        AUTHORIZE,
        "https://idp.example.com/token",
        None,
    )
    .unwrap();
    let options = SignInOptions {
        max_age_seconds: Some(300),
        force_login: true,
        login_hint: Some("alice+admin@example.com & co".into()),
    };
    let request = provider.begin(REDIRECT_URI, &options).unwrap();
    assert_eq!(request.issuer, CALLER_ISS);
    assert_eq!(request.redirect_uri, REDIRECT_URI);
    assert_eq!(request.max_age_seconds, Some(300));
    let url = &request.url;
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some("idp.example.com"));
    assert_eq!(url.path(), "/oauth2/authorize");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "tenant",
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "max_age",
            "prompt",
            "login_hint",
        ]
    );
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(get("tenant"), "acme");
    assert_eq!(get("response_type"), "code");
    assert_eq!(get("client_id"), CLIENT_ID);
    assert_eq!(get("redirect_uri"), REDIRECT_URI);
    assert_eq!(get("scope"), "openid email profile");
    assert_eq!(get("state"), request.state);
    assert_eq!(get("nonce"), request.nonce);
    assert_eq!(
        get("code_challenge"),
        code_challenge(&request.code_verifier)
    );
    assert_eq!(get("code_challenge_method"), "S256");
    assert_eq!(get("max_age"), "300");
    assert_eq!(get("prompt"), "login");
    assert_eq!(get("login_hint"), "alice+admin@example.com & co");
    // The raw query is form-encoded: reserved characters are escaped.
    let query = url.query().unwrap();
    assert!(
        query.contains("redirect_uri=https%3A%2F%2Fcountersign.example.com%2Fauth%2Fcallback"),
        "{query}"
    );
    assert!(query.contains("scope=openid+email+profile"), "{query}");
    assert!(
        query.contains("login_hint=alice%2Badmin%40example.com+%26+co"),
        "{query}"
    );
    assert!(!url.as_str().contains(&request.code_verifier));

    // 256-bit base64url values, fresh each time.
    let again = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    for value in [
        &request.state,
        &request.nonce,
        &request.code_verifier,
        &again.state,
        &again.nonce,
        &again.code_verifier,
    ] {
        assert_eq!(value.len(), 43, "{value}");
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{value}"
        );
    }
    let mut all = vec![
        &request.state,
        &request.nonce,
        &request.code_verifier,
        &again.state,
        &again.nonce,
        &again.code_verifier,
    ];
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6);
    // Without options, none of their parameters.
    let plain: Vec<String> = again
        .url
        .query_pairs()
        .map(|(n, _)| n.into_owned())
        .collect();
    for absent in ["max_age", "prompt", "login_hint"] {
        assert!(!plain.iter().any(|n| n == absent), "{absent} in {plain:?}");
    }
    assert_eq!(again.max_age_seconds, None);
    // The configured scopes are what is asked for.
    let provider = SignInProvider::from_endpoints(
        &configure(|s| s.scopes = vec!["openid".into(), "offline_access".into()]),
        "https://idp.example.com/authorize",
        "https://idp.example.com/token",
        None,
    )
    .unwrap();
    let url = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap()
        .url;
    assert!(url
        .as_str()
        .starts_with("https://idp.example.com/authorize?response_type=code&"));
    assert!(url
        .query_pairs()
        .any(|(n, v)| n == "scope" && v == "openid offline_access"));
}

#[test]
fn begin_refuses_a_redirect_uri_that_would_leak_the_code() {
    let provider = SignInProvider::from_endpoints(
        &sign_in_config(),
        AUTHORIZE,
        "https://idp.example.com/token",
        None,
    )
    .unwrap();
    for bad in [
        "http://countersign.example.com/auth/callback",
        "/auth/callback",
        "https://countersign.example.com/auth/callback#done",
        "",
    ] {
        let err = provider.begin(bad, &SignInOptions::default()).unwrap_err();
        assert_eq!(err.kind(), "invalid_redirect_uri", "{bad:?}: {err}");
        assert!(err.to_string().contains("redirect_uri"), "{err}");
    }
    provider
        .begin(
            "http://127.0.0.1:8080/auth/callback",
            &SignInOptions::default(),
        )
        .unwrap();
}

// --- discovery ----------------------------------------------------------------

fn discovery_document(issuer: &str) -> serde_json::Map<String, Value> {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "code_challenge_methods_supported": ["S256"],
    })
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn discovery_documents_are_checked() {
    assert_eq!(
        discovery_url("https://idp.example.com"),
        "https://idp.example.com/.well-known/openid-configuration"
    );
    assert_eq!(
        discovery_url("https://idp.example.com/tenant/"),
        "https://idp.example.com/tenant/.well-known/openid-configuration"
    );
    let good = discovery_document(CALLER_ISS);
    let found = parse_discovery(CALLER_ISS, &good).unwrap();
    assert_eq!(
        found.authorization_endpoint,
        "https://idp.example.com/authorize"
    );
    assert_eq!(found.token_endpoint, "https://idp.example.com/token");
    // Without code_challenge_methods_supported the provider may still do S256.
    let mut quiet = good.clone();
    quiet.remove("code_challenge_methods_supported");
    parse_discovery(CALLER_ISS, &quiet).unwrap();

    let refuse = |document: serde_json::Map<String, Value>, needle: &str| {
        let reason = parse_discovery(CALLER_ISS, &document).unwrap_err();
        assert!(reason.contains(needle), "{reason} should mention {needle}");
    };
    // The issuer must be identical, not merely equivalent.
    refuse(discovery_document("https://idp.example.com/"), "exactly");
    refuse(discovery_document("https://IDP.example.com"), "exactly");
    let mut doc = good.clone();
    doc.remove("issuer");
    refuse(doc, "no issuer");
    let mut doc = good.clone();
    doc.remove("token_endpoint");
    refuse(doc, "no token_endpoint");
    let mut doc = good.clone();
    doc.insert("authorization_endpoint".into(), json!(7));
    refuse(doc, "not a string");
    let mut doc = good.clone();
    doc.insert(
        "token_endpoint".into(),
        json!("http://idp.example.com/token"),
    );
    refuse(doc, "https");
    let mut doc = good.clone();
    doc.insert("code_challenge_methods_supported".into(), json!(["plain"]));
    refuse(doc, "S256");
}

#[test]
fn load_discovers_the_endpoints_from_the_issuer() {
    let (base, server) =
        serve_once(|base| (200, Value::Object(discovery_document(base)).to_string()));
    let mut config = sign_in_config();
    config.issuer = base.clone();
    config.sign_in.as_mut().unwrap().token_endpoint = Some("http://127.0.0.1:1/configured".into());
    let provider = SignInProvider::load(&config).unwrap();
    let seen = server.join().unwrap().unwrap();
    assert_eq!(
        seen.request_line,
        "GET /.well-known/openid-configuration HTTP/1.1"
    );
    assert_eq!(provider.issuer(), base);
    assert_eq!(
        provider.authorization_endpoint().as_str(),
        format!("{base}/authorize")
    );
    // A configured endpoint wins over the discovered one.
    assert_eq!(
        provider.token_endpoint().as_str(),
        "http://127.0.0.1:1/configured"
    );
    assert_eq!(provider.display_name(), "127.0.0.1");
    assert_eq!(provider.client_id(), CLIENT_ID);

    // A document for another issuer is refused, naming where it came from.
    let (base, server) = serve_once(|_| {
        (
            200,
            Value::Object(discovery_document("https://evil.example")).to_string(),
        )
    });
    let mut config = sign_in_config();
    config.issuer = base.clone();
    let err = SignInProvider::load(&config).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(err, ConfigError::Discovery { ref issuer, .. } if *issuer == base),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("/.well-known/openid-configuration"),
        "{message}"
    );
    assert!(message.contains("exactly"), "{message}");

    let (base, server) = serve_once(|_| (404, "{}".to_owned()));
    let mut config = sign_in_config();
    config.issuer = base;
    let err = SignInProvider::load(&config).unwrap_err();
    server.join().unwrap();
    assert!(err.to_string().contains("404"), "{err}");

    // With both endpoints configured nothing is fetched.
    let config = configure(|s| {
        s.authorization_endpoint = Some("https://idp.example.com/authorize".into());
        s.token_endpoint = Some("https://idp.example.com/token".into());
    });
    let provider = SignInProvider::load(&config).unwrap();
    assert_eq!(
        provider.token_endpoint().as_str(),
        "https://idp.example.com/token"
    );
}

// --- finish -------------------------------------------------------------------

#[test]
fn finish_redeems_the_code_and_verifies_the_id_token() {
    let signer = Signer::ed25519();
    let claims = with(
        with(id_token_claims(), "acr", json!("phr")),
        "amr",
        json!(["pwd", "otp"]),
    );
    let token = signer.sign(Some("k1"), &claims);
    let (provider, verifier, server) =
        exchange(sign_in_config(), &signer, 200, token_answer(&token));
    let verified = provider
        .finish(&verifier, CODE, &expected(Some(300)), NOW)
        .unwrap();
    assert_eq!(verified.identity, "alice@example.com");
    assert_eq!(verified.issuer, CALLER_ISS);
    assert_eq!(verified.purpose, Purpose::Caller);
    assert_eq!(verified.acr.as_deref(), Some("phr"));
    assert_eq!(verified.amr, ["pwd", "otp"]);
    assert_eq!(verified.aal, 2);
    assert_eq!(verified.auth_time, Some(NOW - Duration::minutes(2)));
    assert_eq!(verified.claims["nonce"], json!(NONCE));

    let seen = server.join().unwrap().unwrap();
    assert_eq!(seen.request_line, "POST /token HTTP/1.1");
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(
        seen.header("authorization"),
        Some(basic_authorization(CLIENT_ID, &ClientSecret::new(SECRET)).as_str())
    );
    let form = seen.form();
    let names: Vec<&str> = form.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["grant_type", "code", "redirect_uri", "code_verifier"]
    );
    assert_eq!(seen.form_value("grant_type").unwrap(), "authorization_code");
    assert_eq!(seen.form_value("code").unwrap(), CODE);
    assert_eq!(seen.form_value("redirect_uri").unwrap(), REDIRECT_URI);
    assert_eq!(seen.form_value("code_verifier").unwrap(), VERIFIER);
    // The secret travels in the header only.
    assert!(!seen.body.contains("s3cr3t"), "{}", seen.body);
}

#[test]
fn finish_authenticates_per_token_auth() {
    let signer = Signer::p256();
    let token = signer.sign(Some("k1"), &id_token_claims());

    let post = configure(|s| s.token_auth = Some(TokenAuth::ClientSecretPost));
    let (provider, verifier, server) = exchange(post, &signer, 200, token_answer(&token));
    provider
        .finish(&verifier, CODE, &expected(None), NOW)
        .unwrap();
    let seen = server.join().unwrap().unwrap();
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.form_value("client_id").unwrap(), CLIENT_ID);
    assert_eq!(seen.form_value("client_secret").unwrap(), SECRET);

    let public = configure(|s| s.client_secret = None);
    let (provider, verifier, server) = exchange(public, &signer, 200, token_answer(&token));
    provider
        .finish(&verifier, CODE, &expected(None), NOW)
        .unwrap();
    let seen = server.join().unwrap().unwrap();
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.form_value("client_id").unwrap(), CLIENT_ID);
    assert_eq!(seen.form_value("client_secret"), None);
    assert_eq!(seen.form_value("code_verifier").unwrap(), VERIFIER);
}

#[test]
fn finish_reports_the_oauth_error_of_a_refusal() {
    let signer = Signer::ed25519();
    let refuse = |status: u16, body: &str| {
        let (provider, verifier, server) =
            exchange(sign_in_config(), &signer, status, body.to_owned());
        let err = provider
            .finish(&verifier, CODE, &expected(None), NOW)
            .unwrap_err();
        server.join().unwrap().unwrap();
        assert_eq!(err.kind(), "token_refused");
        assert_safe(&err.to_string(), &[]);
        err
    };
    let err = refuse(
        400,
        r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
    );
    assert_eq!(
        err,
        SignInError::TokenRefused {
            issuer: CALLER_ISS.to_owned(),
            status: 400,
            error: Some("invalid_grant".to_owned()),
            description: Some("grant request is invalid".to_owned()),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("the token endpoint of {CALLER_ISS} refused the sign-in (HTTP 400: invalid_grant: grant request is invalid)")
    );
    // A description that repeats a secret is dropped; the code stays.
    let err = refuse(
        401,
        &json!({"error": "invalid_client", "error_description": format!("bad secret {SECRET}")})
            .to_string(),
    );
    assert!(
        matches!(err, SignInError::TokenRefused { status: 401, ref error, description: None, .. }
            if error.as_deref() == Some("invalid_client")),
        "{err:?}"
    );
    let err = refuse(
        400,
        &json!({"error": "invalid_grant", "error_description": format!("code {CODE} was used")})
            .to_string(),
    );
    assert!(
        matches!(
            err,
            SignInError::TokenRefused {
                description: None,
                ..
            }
        ),
        "{err:?}"
    );
    // Control characters are flattened; an ill-formed error code is dropped.
    let err = refuse(
        400,
        r#"{"error":"bad\"code","error_description":"line one\r\nline two"}"#,
    );
    assert!(
        matches!(err, SignInError::TokenRefused { error: None, ref description, .. }
            if description.as_deref() == Some("line one line two")),
        "{err:?}"
    );
    // Not JSON at all: the status is all there is to say.
    let err = refuse(500, "<html>Internal Server Error</html>");
    assert_eq!(
        err.to_string(),
        format!("the token endpoint of {CALLER_ISS} refused the sign-in (HTTP 500)")
    );
}

#[test]
fn finish_needs_an_id_token_in_a_json_answer() {
    let signer = Signer::ed25519();
    let answer = |body: &str| {
        let (provider, verifier, server) =
            exchange(sign_in_config(), &signer, 200, body.to_owned());
        let err = provider
            .finish(&verifier, CODE, &expected(None), NOW)
            .unwrap_err();
        server.join().unwrap().unwrap();
        assert_safe(&err.to_string(), &[]);
        err
    };
    let err = answer(r#"{"access_token":"SlAV32hkKG","token_type":"Bearer"}"#);
    assert_eq!(
        err,
        SignInError::NoIdToken {
            issuer: CALLER_ISS.to_owned()
        }
    );
    assert!(err.to_string().contains("without an ID token"), "{err}");
    assert_eq!(answer(r#"{"id_token":""}"#).kind(), "no_id_token");
    assert_eq!(answer(r#"{"id_token":5}"#).kind(), "no_id_token");
    assert_eq!(answer("not json").kind(), "invalid_token_response");
    assert_eq!(answer("[]").kind(), "invalid_token_response");
    // A garbage id_token is the verifier's to refuse.
    assert!(matches!(
        answer(r#"{"id_token":"not.a.token"}"#),
        SignInError::IdToken(TokenError::Malformed(_))
    ));
}

#[test]
fn finish_refuses_an_empty_code_without_calling_the_issuer() {
    let provider = SignInProvider::from_endpoints(
        &sign_in_config(),
        AUTHORIZE,
        "http://127.0.0.1:1/token",
        None,
    )
    .unwrap();
    let verifier = TokenVerifier::from_keys(vec![(
        sign_in_config(),
        key_set(&[Signer::ed25519().jwk("k1")]),
    )])
    .unwrap();
    for code in [String::new(), "c".repeat(5000)] {
        assert_eq!(
            provider
                .finish(&verifier, &code, &expected(None), NOW)
                .unwrap_err(),
            SignInError::MissingCode
        );
    }
}

#[test]
fn finish_reports_an_unreachable_token_endpoint() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = sign_in_config();
    let provider = SignInProvider::from_endpoints(
        &config,
        AUTHORIZE,
        &format!("http://127.0.0.1:{port}/token"),
        None,
    )
    .unwrap();
    let verifier =
        TokenVerifier::from_keys(vec![(config, key_set(&[Signer::ed25519().jwk("k1")]))]).unwrap();
    let err = provider
        .finish(&verifier, CODE, &expected(None), NOW)
        .unwrap_err();
    assert!(
        matches!(err, SignInError::TokenEndpointUnreachable { ref issuer, .. } if issuer == CALLER_ISS),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert_safe(&err.to_string(), &[]);
}

#[test]
fn finish_refuses_an_id_token_the_verifier_refuses() {
    let trusted = Signer::ed25519();
    let impostor = Signer::ed25519();
    let token = impostor.sign(Some("k1"), &id_token_claims());
    let (provider, verifier, server) =
        exchange(sign_in_config(), &trusted, 200, token_answer(&token));
    let err = provider
        .finish(&verifier, CODE, &expected(None), NOW)
        .unwrap_err();
    server.join().unwrap();
    assert_eq!(err, SignInError::IdToken(TokenError::BadSignature));
    assert_eq!(err.kind(), "id_token_invalid");
    assert_eq!(
        err.to_string(),
        "the ID token is refused: token signature does not verify"
    );
    // Expired, and without the identity claim: the verifier's reasons.
    let expired = with(
        with(
            id_token_claims(),
            "exp",
            json!(crate::tests::ts(NOW - Duration::hours(1))),
        ),
        "iat",
        json!(crate::tests::ts(NOW - Duration::hours(2))),
    );
    assert!(matches!(
        finish_with_claims(&expired, None).unwrap_err(),
        SignInError::IdToken(TokenError::Expired { .. })
    ));
    assert_eq!(
        finish_with_claims(&without(id_token_claims(), "email"), None).unwrap_err(),
        SignInError::IdToken(TokenError::MissingClaim("email"))
    );
}

#[test]
fn finish_refuses_an_id_token_of_another_issuer() {
    // Both issuers are trusted callers, but this sign-in went to the first.
    let signer = Signer::ed25519();
    let mut other = sign_in_config();
    other.issuer = "https://other-idp.example.com".into();
    let token = signer.sign(
        Some("k1"),
        &with(
            id_token_claims(),
            "iss",
            json!("https://other-idp.example.com"),
        ),
    );
    let (base, server) = serve_once(move |_| (200, token_answer(&token)));
    let provider = SignInProvider::from_endpoints(
        &sign_in_config(),
        AUTHORIZE,
        &format!("{base}/token"),
        None,
    )
    .unwrap();
    let verifier = TokenVerifier::from_keys(vec![
        (sign_in_config(), key_set(&[signer.jwk("k1")])),
        (other, key_set(&[signer.jwk("k1")])),
    ])
    .unwrap();
    let err = provider
        .finish(&verifier, CODE, &expected(None), NOW)
        .unwrap_err();
    server.join().unwrap();
    assert_eq!(
        err,
        SignInError::IssuerMismatch {
            expected: CALLER_ISS.to_owned(),
            issuer: "https://other-idp.example.com".to_owned(),
        }
    );
}

#[test]
fn finish_checks_the_nonce() {
    let err = finish_with_claims(
        &with(id_token_claims(), "nonce", json!("another-sign-in")),
        None,
    )
    .unwrap_err();
    assert_eq!(err, SignInError::NonceMismatch);
    assert_eq!(err.kind(), "nonce_mismatch");
    assert!(err.to_string().contains("nonce does not match"), "{err}");
    assert!(!err.to_string().contains(NONCE), "{err}");
    // A prefix, a longer value, or a non-string are no match either.
    for nonce in [json!(&NONCE[..5]), json!(format!("{NONCE}x")), json!(7)] {
        assert_eq!(
            finish_with_claims(&with(id_token_claims(), "nonce", nonce), None).unwrap_err(),
            SignInError::NonceMismatch
        );
    }
    assert_eq!(
        finish_with_claims(&without(id_token_claims(), "nonce"), None).unwrap_err(),
        SignInError::NonceMissing
    );
}

#[test]
fn finish_checks_audience_and_authorized_party() {
    // Issued to the API audience, which the verifier accepts, not to the
    // sign-in client.
    let err = finish_with_claims(&with(id_token_claims(), "aud", json!(AUD)), None).unwrap_err();
    assert_eq!(
        err,
        SignInError::WrongAudience {
            client_id: CLIENT_ID.to_owned(),
            audience: vec![AUD.to_owned()],
        }
    );
    // azp names another client.
    let err = finish_with_claims(&with(id_token_claims(), "azp", json!("someone-else")), None)
        .unwrap_err();
    assert_eq!(
        err,
        SignInError::WrongAuthorizedParty {
            client_id: CLIENT_ID.to_owned(),
            azp: Some("someone-else".to_owned()),
        }
    );
    assert!(err.to_string().contains("\"someone-else\""), "{err}");
    // Several audiences without azp: whom was it issued to?
    let several = with(id_token_claims(), "aud", json!([CLIENT_ID, AUD]));
    let err = finish_with_claims(&several, None).unwrap_err();
    assert_eq!(
        err,
        SignInError::WrongAuthorizedParty {
            client_id: CLIENT_ID.to_owned(),
            azp: None,
        }
    );
    assert!(err.to_string().contains("no azp"), "{err}");
    // ... and with azp naming this client, it is fine.
    finish_with_claims(&with(several, "azp", json!(CLIENT_ID)), None).unwrap();
    finish_with_claims(&with(id_token_claims(), "azp", json!(CLIENT_ID)), None).unwrap();
    assert_eq!(
        finish_with_claims(&with(id_token_claims(), "azp", json!(5)), None)
            .unwrap_err()
            .kind(),
        "wrong_authorized_party"
    );
}

#[test]
fn finish_checks_auth_time_when_max_age_was_asked() {
    // caller_claims authenticated two minutes before NOW; leeway is 60 s.
    finish_with_claims(&id_token_claims(), Some(120)).unwrap();
    finish_with_claims(&id_token_claims(), Some(60)).unwrap();
    let err = finish_with_claims(&id_token_claims(), Some(59)).unwrap_err();
    assert_eq!(
        err,
        SignInError::StaleAuthentication {
            auth_time: NOW - Duration::minutes(2),
            max_age_seconds: 59,
        }
    );
    assert_eq!(err.kind(), "stale_authentication");
    assert!(
        err.to_string().contains("2025-06-01T11:58:00Z") && err.to_string().contains("59 s"),
        "{err}"
    );
    let old = with(
        id_token_claims(),
        "auth_time",
        json!(crate::tests::ts(NOW - Duration::hours(3))),
    );
    assert_eq!(
        finish_with_claims(&old, Some(600)).unwrap_err().kind(),
        "stale_authentication"
    );
    // Without max_age an old authentication is the policy's business.
    finish_with_claims(&old, None).unwrap();
    let err = finish_with_claims(&without(id_token_claims(), "auth_time"), Some(600)).unwrap_err();
    assert_eq!(
        err,
        SignInError::MissingAuthTime {
            max_age_seconds: 600
        }
    );
    finish_with_claims(&without(id_token_claims(), "auth_time"), None).unwrap();
    // An absurd max_age is no limit rather than an overflow.
    finish_with_claims(&old, Some(u64::MAX)).unwrap();
}

#[test]
fn sign_in_errors_are_shareable_and_named() {
    fn shareable<T: Send + Sync>() {}
    shareable::<SignInError>();
    shareable::<SignInProvider>();
    assert_eq!(SignInError::Randomness.kind(), "randomness");
    assert_eq!(
        SignInError::IdToken(TokenError::BadSignature).to_string(),
        "the ID token is refused: token signature does not verify"
    );
}
