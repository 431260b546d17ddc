//! Notifications by mail, through a real SMTP server process (aiosmtpd,
//! `interop/smtp_server.py`): the approver's mail and its link, outcomes,
//! reminders, enrolment links for SCIM joiners, dead letters, and nothing
//! lost or sent twice while the mail server is down.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use countersign_proto::governance::Role;
use countersign_webauthn::testkit::TestAttestation;
use reqwest::Method;
use serde_json::json;

use crate::harness::*;

/// aiosmtpd writing each message to a maildir; killed on drop.
struct SmtpServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(fail_rcpt: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SmtpServer {
            child: None,
            port: 0,
            dir,
        };
        s.up(fail_rcpt);
        s
    }

    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/smtp_server.py")
    }

    /// Start (again, on the same port once it had one).
    fn up(&mut self, fail_rcpt: Option<&str>) {
        let mut cmd = Command::new("python3");
        cmd.arg(Self::script())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--maildir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::piped());
        if let Some(r) = fail_rcpt {
            cmd.args(["--fail-rcpt", r]);
        }
        let mut child = cmd
            .spawn()
            .expect("python3 runs interop/smtp_server.py (run `bash .ci/deps`)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.port = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| {
                panic!("the SMTP server did not start ({line:?}); run `bash .ci/deps`")
            })
            .parse()
            .unwrap();
        self.child = Some(child);
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn mailer(&self) -> countersign_mail::Mailer {
        let config: countersign_mail::SmtpConfig = toml::from_str(&format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Countersign <cs@example.com>\"\ntimeout_seconds = 3\n",
            self.port
        ))
        .unwrap();
        config.build(config.read_files().unwrap()).unwrap()
    }

    /// Every message so far, raw.
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| pred(m)) {
                return m;
            }
            assert!(
                Instant::now() < until,
                "no mail {what} arrived; have: {:?}",
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.down();
    }
}

fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
}

/// The text part's lines, quoted-printable soft breaks undone.
fn text(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// A server that sends mail through `smtp`, retrying quickly.
fn server_with_mail(smtp: &SmtpServer) -> TestServer {
    let mut s = TestServer::start();
    s.mail = Some(countersign_ledger::MailRules {
        reminders: vec![time::Duration::hours(1)],
        max_attempts: 50,
        retry_base: time::Duration::milliseconds(200),
        retry_cap: time::Duration::milliseconds(400),
    });
    s.mailer = Some(smtp.mailer());
    s.sweep = Duration::from_millis(100);
    s.stop();
    s.boot();
    s.tick();
    s
}

#[test]
fn the_approver_is_mailed_a_link_that_opens_the_request() {
    let smtp = SmtpServer::start(None);
    let s = server_with_mail(&smtp);
    for h in ["alice", "dave", "bob", "carol"] {
        s.person(h);
    }
    s.document("offer-letter", b"Offer letter for Dave\n");
    let mut body = request_body("offer-letter", "alice", "dave", &["bob", "carol"]);
    body.order = countersign_proto::model::ApprovalOrder::Sequential;
    let r = s.request(&body);
    let mail = smtp.wait_for("to bob", |m| header(m, "To").contains("bob@example.com"));
    assert!(header(&mail, "Subject").starts_with("Approval needed: Onboard a new engineer"));
    assert_eq!(header(&mail, "Auto-Submitted"), "auto-generated");
    let t = text(&mail);
    let link = format!("{}/requests/{}", s.origin(), r.id);
    assert!(t.contains(&link), "{t}");
    assert!(t.contains("grant dave"), "{t}");
    // Sequential: carol is told only after bob signs.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!smtp
        .messages()
        .iter()
        .any(|m| header(m, "To").contains("carol@")));

    // The link works: the request's page, for bob signed in with a passkey.
    let mut d = Device::synced();
    let (session, _) = s.enrol_passkey("bob", &mut d, TestAttestation::None);
    let path = link.strip_prefix(&s.origin()).unwrap();
    let page = s.web(Method::GET, path, None, Some(&session), None);
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("Onboard a new engineer"));
    // Signed out, it leads to the sign-in page and back.
    let anon = s.web(Method::GET, path, None, None, None);
    assert_eq!(anon.status(), 303);
    assert_eq!(anon.headers()["location"], format!("/sign-in?next={path}"));

    let token = s.token_for(Some("bob"), &[Role::Approver]);
    let (status, _) = s.passkey_approve(&r.id, &token, &mut d);
    assert_eq!(status, 201);
    smtp.wait_for("to carol", |m| {
        header(m, "To").contains("carol@example.com")
    });
    // bob's history shows what was sent to him.
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let (_, list) = s.call_as(Method::GET, "/v1/notifications", None, Some(&bob));
    let kinds: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["approval_needed"]);
    assert!(list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["state"] == "sent"));
    // Nobody reads another's history.
    let (status, _) = s.call_as(
        Method::GET,
        "/v1/notifications?identity=carol",
        None,
        Some(&bob),
    );
    assert_eq!(status, 403);
}

#[test]
fn while_the_mail_server_is_down_mails_wait_and_each_arrives_once_it_is_back() {
    let mut smtp = SmtpServer::start(None);
    let s = server_with_mail(&smtp);
    for h in ["alice", "dave", "bob"] {
        s.person(h);
    }
    s.document("offer-letter", b"Offer letter for Dave\n");
    smtp.down();
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = request_body("offer-letter", "alice", "dave", &["bob"]);
        body.purpose = format!("Request number {i}");
        ids.push(s.request(&body).id);
    }
    // Attempts fail and are retried (the outbox records them).
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, list) = s.call_as(Method::GET, "/v1/notifications", None, Some(&bob));
        let n = list["notifications"].as_array().unwrap();
        if n.len() == 5
            && n.iter()
                .all(|m| m["state"] == "pending" && m["attempts"].as_u64().unwrap() >= 2)
        {
            assert!(n[0]["last_error"].as_str().unwrap().len() > 3);
            break;
        }
        assert!(Instant::now() < until, "no retries recorded: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(smtp.messages().is_empty());
    smtp.up(None);
    let until = Instant::now() + Duration::from_secs(20);
    while smtp.messages().len() < 5 {
        assert!(
            Instant::now() < until,
            "only {} of 5 mails arrived",
            smtp.messages().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A little longer: nothing arrives twice.
    std::thread::sleep(Duration::from_millis(1500));
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in smtp.messages() {
        *by_id
            .entry(header(&m, "Message-ID").to_string())
            .or_default() += 1;
    }
    assert_eq!(by_id.len(), 5, "{by_id:?}");
    assert!(by_id.values().all(|n| *n == 1), "{by_id:?}");
    for i in 0..5 {
        assert!(smtp
            .messages()
            .iter()
            .any(|m| header(m, "Subject").contains(&format!("Request number {i}"))));
    }
    let (_, list) = s.call_as(Method::GET, "/v1/notifications", None, Some(&bob));
    assert!(list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["state"] == "sent"));
}

#[test]
fn a_mailbox_that_does_not_exist_is_dead_lettered_not_retried_forever() {
    let smtp = SmtpServer::start(Some("bob@example.com"));
    let s = server_with_mail(&smtp);
    for h in ["alice", "dave", "bob"] {
        s.person(h);
    }
    s.document("offer-letter", b"Offer letter for Dave\n");
    s.request(&request_body("offer-letter", "alice", "dave", &["bob"]));
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, list) = s.call_as(Method::GET, "/v1/notifications", None, Some(&bob));
        let n = &list["notifications"][0];
        if n["state"] == "dead" {
            assert_eq!(n["attempts"], 1, "a permanent refusal is not retried");
            assert!(n["last_error"].as_str().unwrap().contains("550"), "{n}");
            break;
        }
        assert!(Instant::now() < until, "{list}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_reminder_goes_out_once_before_the_request_expires_and_outcomes_reach_the_requester() {
    let smtp = SmtpServer::start(None);
    let s = server_with_mail(&smtp);
    for h in ["alice", "dave", "bob"] {
        s.person(h);
    }
    s.document("offer-letter", b"Offer letter for Dave\n");
    let mut body = request_body("offer-letter", "alice", "dave", &["bob"]);
    body.expires_in_seconds = Some(2 * 3600);
    let r = s.request(&body);
    smtp.wait_for("the first", |m| {
        header(m, "Subject").starts_with("Approval needed")
    });
    // An hour and a bit later, the reminder (1 hour before expiry).
    s.advance(time::Duration::minutes(61));
    let reminder = smtp.wait_for("a reminder", |m| {
        header(m, "Subject").starts_with("Reminder:")
    });
    assert!(text(&reminder).contains(&format!("/requests/{}", r.id)));
    std::thread::sleep(Duration::from_millis(800));
    s.advance(time::Duration::minutes(10));
    std::thread::sleep(Duration::from_millis(800));
    let reminders = smtp
        .messages()
        .iter()
        .filter(|m| header(m, "Subject").starts_with("Reminder:"))
        .count();
    assert_eq!(reminders, 1);
    // It expires: alice is told.
    s.advance(time::Duration::hours(1));
    smtp.wait_for("the expiry", |m| {
        header(m, "To").contains("alice@example.com") && header(m, "Subject").contains("expired")
    });
}

#[test]
fn a_scim_joiner_is_mailed_a_link_to_create_their_passkey() {
    let smtp = SmtpServer::start(None);
    let s = server_with_mail(&smtp);
    let token = s.token_for(None, &[Role::Scim]);
    let (status, user) = s.call_as(
        Method::POST,
        "/scim/v2/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "erin@example.com", "displayName": "Erin Egan",
            "emails": [{"value": "erin@example.com", "primary": true}],
        })),
        Some(&token),
    );
    assert_eq!(status, 201, "{user}");
    let mail = smtp.wait_for("an invitation", |m| {
        header(m, "To").contains("erin@example.com")
    });
    assert_eq!(
        header(&mail, "Subject"),
        "Set up your passkey for Countersign"
    );
    let t = text(&mail);
    let at = t.find("/enrol/").expect("an enrolment link");
    let secret: String = t[at + 7..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    // The link works, once.
    let mut d = Device::synced();
    let (_, c) = s.enrol_with(&secret, &mut d, TestAttestation::None);
    assert_eq!(c.identity, "erin");
    // The log says who issued it, never the link.
    let (_, entries) = s.call(
        Method::GET,
        "/v1/log/entries?start=0&limit=1000",
        None,
        true,
    );
    let text = entries.to_string();
    assert!(
        text.contains("invitation.issued") && text.contains("\\\"issued_by\\\":\\\"scim\\\""),
        "{text}"
    );
    assert!(!text.contains(&secret));
}
