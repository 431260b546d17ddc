//! The mailer against a real SMTP server: aiosmtpd, run by
//! `interop/smtp_server.py` as a child process on 127.0.0.1, with a
//! certificate made here by rcgen and trusted through `ca_file`.
//!
//! These tests fail, never skip, when python3 or aiosmtpd is missing: run
//! `bash .ci/deps`. Every wait is bounded, and the child is killed by
//! [`SmtpServer`]'s `Drop`, so a failing test leaves no process behind.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use time::macros::datetime;
use time::OffsetDateTime;

use crate::{ConfigFiles, Email, Error, Mailer, Recipient, Security, SmtpConfig, Stage};

const INSTALL_HINT: &str = "run `bash .ci/deps` (it installs aiosmtpd==1.4.6 for python3)";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const USER: &str = "countersign";
const PASSWORD: &str = "correct-horse-battery-staple";
const NOW: OffsetDateTime = datetime!(2025-03-04 05:06:07 UTC);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/smtp_server.py")
}

/// How the test server listens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listen {
    Plain,
    Starttls,
    ImplicitTls,
}

struct Options {
    listen: Listen,
    auth: bool,
    fail_rcpt: Option<&'static str>,
}

/// A running `smtp_server.py`, its maildir, and the certificate it serves.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // SIGKILL rather than SIGTERM: the test is over, and nothing the
        // server still holds matters; kill cannot be ignored or delayed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        std::fs::create_dir(&maildir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let ca_pem = certified.cert.pem();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &ca_pem).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();

        let mut cmd = Command::new("python3");
        cmd.arg(script())
            .args(["--host", "127.0.0.1", "--port", "0", "--maildir"])
            .arg(&maildir);
        if options.listen != Listen::Plain {
            cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
        }
        if options.listen == Listen::ImplicitTls {
            cmd.arg("--implicit-tls");
        }
        if options.auth {
            cmd.args(["--auth-user", USER, "--auth-password", PASSWORD]);
        }
        if let Some(address) = options.fail_rcpt {
            cmd.args(["--fail-rcpt", address]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}; {INSTALL_HINT}"));

        // Read the "ready <port>" line on a thread, so that a server that
        // neither prints nor exits cannot hang the test.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        let mut server = SmtpServer {
            child,
            port: 0,
            dir,
            ca_pem,
        };
        match line.trim().strip_prefix("ready ").map(str::parse) {
            Some(Ok(port)) => server.port = port,
            _ => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                panic!(
                    "smtp_server.py exited or did not report \"ready <port>\" within {READY_TIMEOUT:?} \
                     (stdout {line:?}); {INSTALL_HINT}\nstderr:\n{}",
                    server.stderr()
                );
            }
        }
        server
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// The stored messages, in the order received.
    fn messages(&self) -> Vec<PathBuf> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir.path().join("maildir"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter_map(|path| {
                let n = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".eml")?
                    .parse()
                    .ok()?;
                Some((n, path))
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, path)| path).collect()
    }

    /// An `[smtp]` section for this server; `ca_file` points at its
    /// certificate, written where `read_files` will find it.
    fn config(&self, security: Security) -> SmtpConfig {
        let ca_file = self.dir.path().join("ca.pem");
        std::fs::write(&ca_file, &self.ca_pem).unwrap();
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(self.port),
            security,
            username: None,
            password: None,
            password_file: None,
            from: "Countersign <countersign@example.com>".into(),
            ca_file: (security != Security::None).then_some(ca_file),
            timeout_seconds: 10,
            hello_name: Some("countersign.test".into()),
        }
    }

    fn with_password(&self, mut config: SmtpConfig, password: &str) -> SmtpConfig {
        let file = self.dir.path().join("password");
        std::fs::write(&file, format!("{password}\n")).unwrap();
        config.username = Some(USER.into());
        config.password_file = Some(file);
        config
    }
}

fn build_mailer(config: &SmtpConfig) -> Mailer {
    config.build(config.read_files().unwrap()).unwrap()
}

fn approval_email(to: &str) -> Email {
    Email {
        message_id: "<request-42.approval@countersign.example.com>".into(),
        to: Recipient {
            name: Some("Zoë Ångström".into()),
            address: to.into(),
        },
        subject: "Approbation requise : déploiement « prod » ✓ 承認".into(),
        text: "Bonjour Zoë,\n\nune approbation vous attend : https://countersign.example.com/r/42\n\n— Countersign\n".into(),
        html: Some(
            "<p>Bonjour Zoë,</p>\n<p>une approbation vous attend : \
             <a href=\"https://countersign.example.com/r/42\">ouvrir</a></p>\n"
                .into(),
        ),
    }
}

/// Runs `cmd` to completion within 30 seconds; answers stdout.
fn run_bounded(cmd: &mut Command) -> String {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; {INSTALL_HINT}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took longer than 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(out.path()).unwrap();
    assert!(
        status.success(),
        "{cmd:?} failed: {}",
        std::fs::read_to_string(err.path()).unwrap()
    );
    stdout
}

/// The message as Python's standard `email` package reads it: an
/// independent MIME parser, so encodings are checked, not assumed.
fn parsed(path: &Path) -> serde_json::Value {
    const PARSE: &str = r#"
import email, email.policy, json, sys
with open(sys.argv[1], "rb") as f:
    m = email.message_from_binary_file(f, policy=email.policy.default)
def body(kind):
    part = m.get_body(preferencelist=(kind,))
    return None if part is None else part.get_content().replace("\r\n", "\n")
print(json.dumps({
    "from": str(m["From"]), "to": str(m["To"]), "subject": str(m["Subject"]),
    "message_id": str(m["Message-ID"]), "date": str(m["Date"]),
    "auto_submitted": str(m["Auto-Submitted"]), "content_type": m.get_content_type(),
    "plain": body("plain"), "html": body("html"),
    "defects": [repr(d) for d in m.defects] + [repr(d) for p in m.walk() for d in p.defects],
}))
"#;
    let out = run_bounded(Command::new("python3").args(["-c", PARSE]).arg(path));
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn starttls_with_auth_delivers_utf8_headers_and_both_bodies() {
    let server = SmtpServer::start(Options {
        listen: Listen::Starttls,
        auth: true,
        fail_rcpt: None,
    });
    let config = server.with_password(server.config(Security::Starttls), PASSWORD);
    let mailer = build_mailer(&config);
    mailer.check().await.unwrap();
    let email = approval_email("zoe@example.com");
    let accepted = mailer.send(&email, NOW).await.unwrap();
    assert_eq!(accepted.code, 250);
    assert!(accepted.reply.contains("queued as 1"), "{accepted:?}");

    let files = server.messages();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).unwrap();
    let text = String::from_utf8(raw.clone()).unwrap();
    // On the wire the message is 7-bit: the UTF-8 travels encoded.
    assert!(raw.is_ascii(), "{text}");
    assert!(
        text.contains("\r\nAuto-Submitted: auto-generated\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nMessage-ID: <request-42.approval@countersign.example.com>\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nDate: Tue, 04 Mar 2025 05:06:07 +0000\r\n"),
        "{text}"
    );
    // What arrived is what `format` produces, headers byte for byte (the
    // multipart boundary after them is random per formatting).
    let formatted = String::from_utf8(mailer.format(&email, NOW).unwrap()).unwrap();
    let head = |s: &str| s[..s.find("Content-Type: multipart").unwrap()].to_owned();
    assert_eq!(head(&text), head(&formatted));

    let m = parsed(&files[0]);
    assert_eq!(m["defects"], serde_json::json!([]), "{m}");
    assert_eq!(m["from"], "Countersign <countersign@example.com>", "{m}");
    assert_eq!(m["to"], "Zoë Ångström <zoe@example.com>", "{m}");
    assert_eq!(m["subject"], email.subject.as_str(), "{m}");
    assert_eq!(
        m["message_id"], "<request-42.approval@countersign.example.com>",
        "{m}"
    );
    assert_eq!(m["date"], "Tue, 04 Mar 2025 05:06:07 +0000", "{m}");
    assert_eq!(m["auto_submitted"], "auto-generated", "{m}");
    assert_eq!(m["content_type"], "multipart/alternative", "{m}");
    assert_eq!(m["plain"], email.text.as_str(), "{m}");
    assert_eq!(m["html"], email.html.as_deref().unwrap(), "{m}");
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers() {
    let server = SmtpServer::start(Options {
        listen: Listen::ImplicitTls,
        auth: true,
        fail_rcpt: None,
    });
    let mut config = server.config(Security::Tls);
    // The inline password, for once, instead of password_file.
    config.username = Some(USER.into());
    config.password = Some(crate::Password::new(PASSWORD));
    let mailer = build_mailer(&config);
    mailer.check().await.unwrap();
    let mut email = approval_email("zoe@example.com");
    email.html = None;
    mailer.send(&email, NOW).await.unwrap();

    let files = server.messages();
    assert_eq!(files.len(), 1, "{files:?}");
    // Without a multipart boundary, what arrived is `format` byte for byte.
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        mailer.format(&email, NOW).unwrap()
    );
    let m = parsed(&files[0]);
    assert_eq!(m["content_type"], "text/plain", "{m}");
    assert_eq!(m["plain"], email.text.as_str(), "{m}");
    assert_eq!(m["html"], serde_json::Value::Null, "{m}");
    assert_eq!(m["subject"], email.subject.as_str(), "{m}");
}

#[tokio::test]
async fn no_tls_on_loopback_delivers() {
    let server = SmtpServer::start(Options {
        listen: Listen::Plain,
        auth: false,
        fail_rcpt: None,
    });
    let mailer = build_mailer(&server.config(Security::None));
    mailer.check().await.unwrap();
    mailer
        .send(&approval_email("zoe@example.com"), NOW)
        .await
        .unwrap();
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn wrong_password_is_permanent_and_never_quoted() {
    let server = SmtpServer::start(Options {
        listen: Listen::Starttls,
        auth: true,
        fail_rcpt: None,
    });
    let wrong = "wrong-Pa55word-do-not-print";
    let config = server.with_password(server.config(Security::Starttls), wrong);
    let mailer = build_mailer(&config);

    let checked = mailer.check().await.unwrap_err();
    let sent = mailer
        .send(&approval_email("zoe@example.com"), NOW)
        .await
        .unwrap_err();
    for err in [checked, sent] {
        assert!(
            matches!(
                err,
                Error::Permanent {
                    stage: Stage::Auth,
                    code: Some(535),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_transient());
        let texts = [err.to_string(), format!("{err:?}")];
        for text in &texts {
            for secret in [
                wrong.to_owned(),
                B64.encode(wrong),
                B64.encode(format!("\0{USER}\0{wrong}")),
                PASSWORD.to_owned(),
            ] {
                assert!(!text.contains(&secret), "{secret} in {text}");
            }
        }
        assert!(texts[0].contains("535"), "{}", texts[0]);
    }
    assert_eq!(server.messages().len(), 0);
}

#[tokio::test]
async fn rejected_recipient_is_permanent() {
    let server = SmtpServer::start(Options {
        listen: Listen::Starttls,
        auth: true,
        fail_rcpt: Some("nobody@example.com"),
    });
    let config = server.with_password(server.config(Security::Starttls), PASSWORD);
    let mailer = build_mailer(&config);
    let err = mailer
        .send(&approval_email("nobody@example.com"), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Permanent {
                stage: Stage::Send,
                code: Some(550),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.smtp_code(), Some(550));
    let text = err.to_string();
    assert!(text.contains("no such user"), "{text}");
    assert_eq!(server.messages().len(), 0);

    // The same server still takes mail for someone who exists.
    mailer
        .send(&approval_email("zoe@example.com"), NOW)
        .await
        .unwrap();
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    // A port that was free a moment ago; connecting to it is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = unreachable_config(port);
    let mailer = config.build(ConfigFiles::default()).unwrap();
    for err in [
        mailer.check().await.unwrap_err(),
        mailer
            .send(&approval_email("zoe@example.com"), NOW)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::Transient {
                    stage: Stage::Connect,
                    code: None,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[tokio::test]
async fn starttls_required_but_not_offered_sends_nothing() {
    let server = SmtpServer::start(Options {
        listen: Listen::Plain,
        auth: true,
        fail_rcpt: None,
    });
    let config = server.with_password(server.config(Security::Starttls), PASSWORD);
    let mailer = build_mailer(&config);
    for err in [
        mailer.check().await.unwrap_err(),
        mailer
            .send(&approval_email("zoe@example.com"), NOW)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::Transient {
                    stage: Stage::Tls,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
    }
    assert_eq!(server.messages().len(), 0);
}

#[tokio::test]
async fn untrusted_certificate_is_transient_and_sends_nothing() {
    let server = SmtpServer::start(Options {
        listen: Listen::Starttls,
        auth: true,
        fail_rcpt: None,
    });
    // Only the webpki roots: the test server's self-signed certificate
    // is not among them.
    let mut config = server.with_password(server.config(Security::Starttls), PASSWORD);
    config.ca_file = None;
    let mailer = build_mailer(&config);
    let err = mailer
        .send(&approval_email("zoe@example.com"), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                stage: Stage::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert_eq!(server.messages().len(), 0);

    // Implicit TLS fails the same way, while connecting.
    let server = SmtpServer::start(Options {
        listen: Listen::ImplicitTls,
        auth: false,
        fail_rcpt: None,
    });
    let mut config = server.config(Security::Tls);
    config.ca_file = None;
    let err = build_mailer(&config).check().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    // The kernel accepts the connection into the backlog, but nobody ever
    // sends the 220 greeting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = unreachable_config(listener.local_addr().unwrap().port());
    config.timeout_seconds = 1;
    let mailer = config.build(ConfigFiles::default()).unwrap();
    let started = Instant::now();
    let err = mailer
        .send(&approval_email("zoe@example.com"), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                stage: Stage::Connect,
                code: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

/// STARTTLS with a password, to a loopback port no test server runs on.
fn unreachable_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: Security::Starttls,
        username: Some(USER.into()),
        password: Some(crate::Password::new(PASSWORD)),
        password_file: None,
        from: "countersign@example.com".into(),
        ca_file: None,
        timeout_seconds: 5,
        hello_name: None,
    }
}
