//! Sign-in against a real OpenID provider: panva's `oidc-provider` (the
//! certified Node.js implementation), started from
//! `web-tests/lib/oidc-provider.mjs` as a child process on 127.0.0.1.
//!
//! The test plays the browser with a reqwest client that keeps cookies and
//! follows redirects itself: the authorization URL, the provider's login
//! form (a POST of the login name), and the redirect back to the
//! `redirect_uri`, whose `code` and `state` go to [`SignInProvider::finish`].
//! Discovery, the JWKS, PKCE, client authentication and code replay are
//! the provider's own, so a misreading of the specifications on either
//! side shows here.
//!
//! Node and the npm packages are installed by `bash .ci/deps`; without
//! them these tests fail, saying so, rather than skip.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use reqwest::blocking::Client;
use reqwest::Url;
use time::{Duration, OffsetDateTime};

use crate::{
    ClientSecret, IssuerConfig, JwksSource, Purpose, SignInConfig, SignInError, SignInOptions,
    SignInProvider, TokenAuth, TokenVerifier,
};

const CLIENT_ID: &str = "countersign-web";
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/callback";
const ALICE: &str = "email=alice@example.com,name=Alice Liddell,amr=pwd+otp,acr=http://idmanagement.gov/ns/assurance/aal/2";
const CAROL: &str = "email=carol@example.com,name=Carol,amr=hwk+pin";

/// The provider stamps its tokens with this machine's clock, so this test,
/// unlike the others, must read the same clock.
#[allow(clippy::disallowed_methods)]
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The provider script as a child process; killed when dropped.
struct OpenIdProvider {
    child: Child,
    issuer: String,
    stderr: Arc<Mutex<String>>,
}

impl OpenIdProvider {
    /// Starts `node web-tests/lib/oidc-provider.mjs --port 0 <args>` and
    /// waits for the line saying where it listens.
    fn start(args: &[&str]) -> Self {
        let root = workspace_root();
        let missing = |what: &str| -> ! {
            panic!(
                "{what}: the OpenID provider interop tests need Node.js and the npm packages of \
                 web-tests/; run `bash .ci/deps` in {}",
                root.display()
            )
        };
        match Command::new("node").arg("--version").output() {
            Ok(output) if output.status.success() => {}
            _ => missing("node is not installed"),
        }
        if !root
            .join("web-tests/node_modules/oidc-provider/package.json")
            .is_file()
        {
            missing("web-tests/node_modules/oidc-provider is missing");
        }
        let mut child = Command::new("node")
            .current_dir(&root)
            .arg("web-tests/lib/oidc-provider.mjs")
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| missing(&format!("cannot start node: {e}")));

        // Whatever the provider says on stderr is kept for failure messages.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (lines, first) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() {
                let _ = lines.send(line);
            }
            // Keep draining so the provider never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut provider = Self {
            child,
            issuer: String::new(),
            stderr,
        };
        let line = first
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the OpenID provider did not start: {}",
                    provider.stderr.lock().unwrap()
                )
            });
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "the OpenID provider said {line:?} ({e}): {}",
                provider.stderr.lock().unwrap()
            )
        });
        provider.issuer = started["issuer"].as_str().unwrap().to_owned();
        let port = started["port"].as_u64().unwrap();
        assert_eq!(provider.issuer, format!("http://127.0.0.1:{port}"));
        provider
    }

    /// The caller issuer configuration Countersign would have for it.
    fn config(&self, sign_in: SignInConfig) -> IssuerConfig {
        IssuerConfig {
            issuer: self.issuer.clone(),
            audiences: vec![CLIENT_ID.to_owned()],
            jwks: JwksSource::Url(format!("{}/jwks", self.issuer)),
            purpose: Purpose::Caller,
            identity_claim: None,
            acr_values: Default::default(),
            rules: Vec::new(),
            leeway_seconds: 60,
            sign_in: Some(sign_in),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that behaves like a browser: it keeps cookies, and leaves
/// redirects to [`authorize`] so that it can stop at the redirect URI.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// What the browser ended with.
struct Callback {
    code: String,
    state: String,
    iss: Option<String>,
    /// Whether the provider showed its login form on the way.
    logged_in: bool,
}

/// Goes to the authorization URL and follows the provider until it
/// redirects to [`REDIRECT_URI`], filling the login form with `login` if
/// the provider shows it.
fn authorize(browser: &Client, url: &Url, login: &str) -> Callback {
    authorize_with(browser, url, login, "")
}

/// [`authorize`], saying in the login form that the person authenticated
/// with `amr` (`+`-joined; empty for the account's own methods).
fn authorize_with(browser: &Client, url: &Url, login: &str, amr: &str) -> Callback {
    let mut request = browser.get(url.clone());
    let mut logged_in = false;
    for _ in 0..12 {
        let response = request.send().unwrap();
        let here = response.url().clone();
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap();
            let next = here.join(location).unwrap();
            if next.as_str().starts_with(REDIRECT_URI) {
                return callback(&next, logged_in);
            }
            request = browser.get(next);
            continue;
        }
        let page = response.text().unwrap();
        assert_eq!(status, 200, "{here}: {page}");
        // The login page: one form, a "login" field and a submit button,
        // posted back to where it came from, as a browser would.
        assert!(
            page.contains("name=\"login\""),
            "{here} is not the login form: {page}"
        );
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert!(!logged_in, "the login form came back: {page}");
        logged_in = true;
        request = browser.post(here.join(action).unwrap()).form(&[
            ("login", login),
            ("amr", amr),
            ("action", "login"),
        ]);
    }
    panic!("the provider never redirected to {REDIRECT_URI}");
}

fn callback(url: &Url, logged_in: bool) -> Callback {
    let get = |name: &str| {
        url.query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = get("error") {
        panic!(
            "the provider answered {error}: {}",
            get("error_description").unwrap_or_default()
        );
    }
    Callback {
        code: get("code").unwrap(),
        state: get("state").unwrap(),
        iss: get("iss"),
        logged_in,
    }
}

#[test]
fn sign_in_with_oidc_provider_as_a_confidential_client() {
    // RFC 6749 Appendix A.2: a client secret is printable ASCII, spaces
    // included; these characters all need form-encoding in HTTP Basic.
    let secret = "a secret: with + and / and %";
    let op = OpenIdProvider::start(&[
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        secret,
        "--redirect-uri",
        REDIRECT_URI,
        "--account",
        ALICE,
        "--account",
        CAROL,
    ]);
    let mut sign_in = SignInConfig::new(CLIENT_ID);
    sign_in.client_secret = Some(ClientSecret::new(secret));
    let config = op.config(sign_in);
    // Keys from the provider's JWKS and endpoints from its discovery
    // document, both fetched as at startup.
    let verifier = TokenVerifier::load(vec![config.clone()]).unwrap();
    let provider = &SignInProvider::load(&config).unwrap();
    assert_eq!(
        provider.authorization_endpoint().as_str(),
        format!("{}/auth", op.issuer)
    );
    assert_eq!(
        provider.token_endpoint().as_str(),
        format!("{}/token", op.issuer)
    );
    let browser = browser();

    // A first sign-in: the login form, then back with code and state.
    let started = now() - Duration::seconds(1);
    let request = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let back = authorize(&browser, &request.url, "alice@example.com");
    assert!(back.logged_in);
    assert_eq!(back.state, request.state);
    // RFC 9207: the provider names itself in the redirect.
    assert_eq!(back.iss.as_deref(), Some(op.issuer.as_str()));
    let verified = provider
        .finish(&verifier, &back.code, &request.expected(), now())
        .unwrap_or_else(|e| panic!("{e}: {}", op.stderr()));
    assert_eq!(verified.identity, "alice@example.com");
    assert_eq!(verified.email.as_deref(), Some("alice@example.com"));
    assert_eq!(verified.subject, "alice@example.com");
    assert_eq!(verified.claims["name"], "Alice Liddell");
    assert_eq!(verified.claims["email_verified"], true);
    assert_eq!(verified.issuer, op.issuer);
    assert_eq!(verified.audience, [CLIENT_ID]);
    assert_eq!(
        verified.acr.as_deref(),
        Some("http://idmanagement.gov/ns/assurance/aal/2")
    );
    assert_eq!(verified.amr, ["pwd", "otp"]);
    assert_eq!(verified.aal, 2);
    let first_auth = verified.auth_time.expect("auth_time");
    assert!(
        first_auth >= started - Duration::seconds(1) && first_auth <= now(),
        "auth_time {first_auth} is not this sign-in's"
    );

    // The same code again: the provider refuses it.
    let err = provider
        .finish(&verifier, &back.code, &request.expected(), now())
        .unwrap_err();
    assert!(
        matches!(err, SignInError::TokenRefused { status: 400, ref error, .. }
            if error.as_deref() == Some("invalid_grant")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&back.code), "{err}");

    // A second sign-in rides on the provider's session (no login form);
    // its ID token does not fit a nonce of another sign-in.
    let request = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let back = authorize(&browser, &request.url, "alice@example.com");
    assert!(!back.logged_in);
    let other = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let mut expected = request.expected();
    expected.nonce = &other.nonce;
    assert_eq!(
        provider
            .finish(&verifier, &back.code, &expected, now())
            .unwrap_err(),
        SignInError::NonceMismatch
    );

    // A wrong PKCE verifier: the provider refuses the code.
    let request = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let back = authorize(&browser, &request.url, "alice@example.com");
    let mut expected = request.expected();
    expected.code_verifier = &other.code_verifier;
    let err = provider
        .finish(&verifier, &back.code, &expected, now())
        .unwrap_err();
    assert!(
        matches!(err, SignInError::TokenRefused { ref error, .. }
            if error.as_deref() == Some("invalid_grant")),
        "{err:?}"
    );

    // max_age without a new login: fine now, stale ten minutes later.
    let options = SignInOptions {
        max_age_seconds: Some(300),
        ..SignInOptions::default()
    };
    let request = provider.begin(REDIRECT_URI, &options).unwrap();
    let back = authorize(&browser, &request.url, "alice@example.com");
    assert!(!back.logged_in);
    let err = provider
        .finish(
            &verifier,
            &back.code,
            &request.expected(),
            now() + Duration::minutes(10),
        )
        .unwrap_err();
    assert!(
        matches!(err, SignInError::StaleAuthentication { auth_time, max_age_seconds: 300 }
            if auth_time == first_auth),
        "{err:?}"
    );

    // Step-up: prompt=login shows the form despite the session, and
    // Alice's stronger authentication (a hardware key with a PIN) is AAL3,
    // with an auth_time fresh enough for max_age 0 plus the leeway.
    let options = SignInOptions {
        max_age_seconds: Some(0),
        force_login: true,
        login_hint: Some("alice@example.com".to_owned()),
    };
    let request = provider.begin(REDIRECT_URI, &options).unwrap();
    let back = authorize_with(&browser, &request.url, "alice@example.com", "hwk+pin");
    assert!(back.logged_in);
    let verified = provider
        .finish(&verifier, &back.code, &request.expected(), now())
        .unwrap_or_else(|e| panic!("{e}: {}", op.stderr()));
    assert_eq!(verified.identity, "alice@example.com");
    assert_eq!(verified.amr, ["hwk", "pin"]);
    assert_eq!(verified.aal, 3);
    assert!(verified.auth_time.unwrap() >= first_auth);
}

#[test]
fn sign_in_with_oidc_provider_as_a_public_client_with_eddsa() {
    let op = OpenIdProvider::start(&[
        "--client-id",
        CLIENT_ID,
        "--redirect-uri",
        REDIRECT_URI,
        "--id-token-alg",
        "EdDSA",
        "--account",
        CAROL,
    ]);
    let config = op.config(SignInConfig::new(CLIENT_ID));
    let verifier = TokenVerifier::load(vec![config.clone()]).unwrap();
    let provider = SignInProvider::load(&config).unwrap();
    let request = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let back = authorize(&browser(), &request.url, "carol@example.com");
    assert_eq!(back.state, request.state);
    let verified = provider
        .finish(&verifier, &back.code, &request.expected(), now())
        .unwrap_or_else(|e| panic!("{e}: {}", op.stderr()));
    assert_eq!(verified.identity, "carol@example.com");
    assert_eq!(verified.aal, 3);
    assert!(verified.auth_time.is_some());
}

#[test]
fn sign_in_with_oidc_provider_using_client_secret_post() {
    let op = OpenIdProvider::start(&[
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        "post-secret",
        "--token-auth",
        "client_secret_post",
        "--redirect-uri",
        REDIRECT_URI,
    ]);
    let mut sign_in = SignInConfig::new(CLIENT_ID);
    sign_in.client_secret = Some(ClientSecret::new("post-secret"));
    sign_in.token_auth = Some(TokenAuth::ClientSecretPost);
    let config = op.config(sign_in);
    let verifier = TokenVerifier::load(vec![config.clone()]).unwrap();
    let provider = SignInProvider::load(&config).unwrap();
    let request = provider
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let back = authorize(&browser(), &request.url, "alice@example.com");
    let verified = provider
        .finish(&verifier, &back.code, &request.expected(), now())
        .unwrap_or_else(|e| panic!("{e}: {}", op.stderr()));
    // The fixture's default account signs in with a password only.
    assert_eq!(verified.identity, "alice@example.com");
    assert_eq!(verified.amr, ["pwd"]);
    assert_eq!(verified.aal, 1);

    // The same client authenticating the wrong way is refused by the
    // provider, and the answer does not repeat the secret.
    let mut sign_in = SignInConfig::new(CLIENT_ID);
    sign_in.client_secret = Some(ClientSecret::new("wrong-secret"));
    sign_in.token_auth = Some(TokenAuth::ClientSecretPost);
    let wrong = SignInProvider::load(&op.config(sign_in)).unwrap();
    let request = wrong
        .begin(REDIRECT_URI, &SignInOptions::default())
        .unwrap();
    let back = authorize(&browser(), &request.url, "alice@example.com");
    let err = wrong
        .finish(&verifier, &back.code, &request.expected(), now())
        .unwrap_err();
    assert!(
        matches!(err, SignInError::TokenRefused { status: 401, ref error, .. }
            if error.as_deref() == Some("invalid_client")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-secret"), "{err}");
}
