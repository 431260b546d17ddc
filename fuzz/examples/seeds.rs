//! Writes the seed corpora under `fuzz/corpus/<target>/`: real examples
//! from the repository's tests and published vectors, real evidence bundles
//! from `countersign_verify::testkit`, and notes, receipts, envelopes and
//! tokens signed with the fixed keys of `countersign_fuzz`, so that the
//! fuzzer starts past every signature check.
//!
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`, then
//! minimise each corpus with `cargo fuzz cmin` (see `.ci/fuzz`).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_fuzz::*;
use countersign_proto::model::{ApprovalOrder, Decision};
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::proof::TlogProof;
use countersign_tlog::{inclusion_proof, leaf_hash, MemoryTree};
use countersign_verify::testkit::{self, at, Fixture};
use serde_json::json;

/// `fuzz/corpus/<target>`, or `$COUNTERSIGN_SEEDS_DIR/<target>` to write
/// fresh seeds somewhere else and pick from them.
fn dir(target: &str) -> PathBuf {
    let root = std::env::var_os("COUNTERSIGN_SEEDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let d = root.join(target);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Seeds {
    dir: PathBuf,
    n: usize,
}

impl Seeds {
    fn new(target: &str) -> Self {
        Seeds {
            dir: dir(target),
            n: 0,
        }
    }
    fn add(&mut self, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.dir.join(format!("seed-{:03}", self.n)), bytes).unwrap();
        self.n += 1;
    }
    fn with_mode(&mut self, mode: u8, bytes: impl AsRef<[u8]>) {
        let mut v = vec![mode];
        v.extend_from_slice(bytes.as_ref());
        self.add(v);
    }
}

/// The string literals (`"…"` with escapes, and `r#"…"#`) of a Rust file.
fn string_literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"r#\"") {
            if let Some(end) = src[i + 3..].find("\"#") {
                out.push(src[i + 3..i + 3 + end].to_owned());
                i += 3 + end + 2;
                continue;
            }
        }
        if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
            let mut j = i + 1;
            let mut s = String::new();
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' && j + 1 < b.len() {
                    match b[j + 1] {
                        b'n' => s.push('\n'),
                        b't' => s.push('\t'),
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'\n' => {
                            j += 2;
                            while j < b.len() && (b[j] == b' ' || b[j] == b'\n') {
                                j += 1;
                            }
                            continue;
                        }
                        c => {
                            s.push('\\');
                            s.push(c as char);
                        }
                    }
                    j += 2;
                    continue;
                }
                let ch = src[j..].chars().next().unwrap();
                s.push(ch);
                j += ch.len_utf8();
            }
            out.push(s);
            i = j + 1;
            continue;
        }
        i += 1;
    }
    out
}

fn scim() {
    let mut s = Seeds::new("scim_filter");
    let src = include_str!("../../crates/scim/src/tests/filter.rs");
    let list = include_str!("../../crates/scim/src/tests/list.rs");
    for lit in string_literals(src)
        .into_iter()
        .chain(string_literals(list))
    {
        if countersign_scim::filter::parse(&lit).is_ok() {
            s.add(lit);
        }
    }
    for f in [
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"not (userName eq "x") and active eq true and meta.created ge "2011-05-13T04:42:34Z""#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
        "displayName eq \"Tour Guides\" or externalId eq null",
        "x eq -1.5e3",
    ] {
        s.add(f);
    }

    let mut p = Seeds::new("scim_patch");
    let op = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    let bodies = [
        json!([{"op": "add", "path": "members", "value": [{"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"}]}]),
        json!([{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
        json!([{"op": "replace", "value": {"displayName": "Babs", "title": "Guide", "active": true}}]),
        json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": "26118915-6090-4610-87e4-49d8ca9f808d"}]),
        json!([{"op": "remove", "path": "members", "value": [{"value": "902c246b-6245-4190-8e05-00816be7344a"}]}]),
        json!([{"op": "replace", "path": "name.givenName", "value": "Barb"}, {"op": "remove", "path": "title"}]),
        json!([{"op": "add", "value": {"id": "e9e30dba-f08f-4109-8486-d5c6a331660a", "members": [{"value": "u-9"}]}}]),
        json!([{"op": "replace", "path": "emails[primary eq true]", "value": {"value": "p@example.com", "primary": true}}]),
        json!([{"op": "add", "path": "password", "value": "hunter2"}]),
        json!([{"op": "remove", "path": "userName"}]),
        json!([{"op": "replace", "path": "displayName", "value": "Tour Guides 2"}]),
    ];
    for ops in bodies {
        p.add(json!({"schemas": [op], "Operations": ops}).to_string());
    }
}

fn tlog(bundle_checkpoint: &str, receipts: &[(String, String)]) {
    let signer = note_signer();
    // Go's published signed-note example (x/mod/sumdb/note).
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let peter = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let enoch = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    let mut n = Seeds::new("tlog_note");
    n.with_mode(0, format!("{text}\n{peter}"));
    n.with_mode(0, format!("{text}\n{peter}{enoch}"));
    n.with_mode(0, signer.sign(text).unwrap());
    n.with_mode(0, signer.sign("line one\n\nline three\n").unwrap());
    n.with_mode(0, bundle_checkpoint);
    n.with_mode(
        1,
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    );
    n.with_mode(1, note_verifier().to_vkey());
    n.with_mode(
        2,
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    );
    n.with_mode(3, text);

    let mut tree = MemoryTree::new();
    let entries: Vec<Vec<u8>> = (0..13).map(|i| format!("entry {i}").into_bytes()).collect();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    let cp = Checkpoint {
        origin: LOG_ORIGIN.into(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![],
    };
    let signed_cp = cp.sign(&signer).unwrap();
    let mut c = Seeds::new("tlog_checkpoint");
    c.with_mode(
        0,
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    );
    c.with_mode(0, cp.to_body());
    c.with_mode(
        0,
        Checkpoint {
            extensions: vec!["a: b".into(), "— not a signature".into()],
            ..cp.clone()
        }
        .to_body(),
    );
    c.with_mode(1, &signed_cp);
    c.with_mode(1, format!("{signed_cp}{}", &peter));
    c.with_mode(1, bundle_checkpoint);

    let mut p = Seeds::new("tlog_proof");
    for (index, extra) in [(0u64, None), (5, Some(b"extra data".to_vec())), (12, None)] {
        let proof = TlogProof {
            index,
            extra,
            hashes: inclusion_proof(index, tree.size(), &tree).unwrap(),
            checkpoint: signed_cp.clone(),
        };
        let mut seed = entries[index as usize].clone();
        seed.push(0);
        seed.extend_from_slice(proof.encode().as_bytes());
        p.add(seed);
    }
    for (entry, receipt) in receipts {
        p.add(format!("{entry}\0{receipt}"));
    }

    let mut m = Seeds::new("tlog_merkle");
    for (n, sel) in [(1u16, 0u16), (7, 3), (13, 12), (64, 31), (299, 200)] {
        let mut v = n.to_le_bytes().to_vec();
        v.extend_from_slice(&sel.to_le_bytes());
        v.extend_from_slice(&[5; 17]);
        v.extend_from_slice(&tree.root());
        m.add(v);
    }
}

fn dsse(envelopes: &[serde_json::Value]) {
    let mut d = Seeds::new("dsse_envelope");
    for e in envelopes {
        d.with_mode(0, e.to_string());
    }
    let f = Fixture::new(ApprovalOrder::Parallel, "seed");
    let key = dsse_key();
    for decision in [Decision::Approve, Decision::Reject] {
        let st = testkit::statement(&f.request, "bob", &key, decision, at(10));
        let env = countersign_attest::sign_statement(&st, &key).unwrap();
        d.with_mode(0, serde_json::to_string(&env).unwrap());
        d.with_mode(1, serde_json::to_vec(&st).unwrap());
    }
    d.with_mode(
        3,
        json!({"exception": "ce-1", "revision": 3, "resolution": "accepted_risk",
               "justification": "known", "resolver": "erin", "keyId": "k",
               "signedAt": "2026-03-02T10:00:00Z"})
        .to_string(),
    );
}

fn bundles() -> (
    Vec<Vec<u8>>,
    String,
    Vec<(String, String)>,
    Vec<serde_json::Value>,
) {
    let approved = Fixture::approved("seed approved");
    let pending = Fixture::new(ApprovalOrder::Sequential, "seed pending");
    let r1 = pending.sign("bob", at(10));
    let rejected = Fixture::new(ApprovalOrder::Parallel, "seed rejected");
    rejected
        .sign_with(
            "carol",
            "carol",
            None,
            Decision::Reject,
            &testkit::fresh_login("carol", at(12)),
            at(12),
        )
        .unwrap();
    let mut out = Vec::new();
    let mut envelopes = Vec::new();
    let mut checkpoint = String::new();
    for f in [&approved, &pending, &rejected] {
        let b = f.export(at(20));
        checkpoint.clone_from(&b.checkpoint);
        for e in &b.entries {
            // Entries hold commitments to statements; the bundle's openings
            // give the envelopes back.
            let opened = countersign_attest::commitment::open_entry(e.entry.as_bytes(), |c| {
                b.openings.get(c)
            })
            .unwrap();
            let v = serde_json::to_value(&opened.entry).unwrap();
            find_envelopes(&v, &mut envelopes);
        }
        out.push(testkit::json(&b));
    }
    (out, checkpoint, vec![(r1.entry, r1.receipt)], envelopes)
}

fn find_envelopes(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    match v {
        serde_json::Value::Object(o) => {
            if o.contains_key("payloadType") && o.contains_key("signatures") {
                out.push(v.clone());
            }
            o.values().for_each(|x| find_envelopes(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| find_envelopes(x, out)),
        _ => {}
    }
}

fn oidc() {
    let now = NOW.unix_timestamp();
    let caller = json!({"iss": CALLER_ISS, "aud": AUD, "sub": "u-1", "email": "dana@example.com",
        "exp": now + 600, "iat": now, "auth_time": now - 30, "acr": "urn:example:strong",
        "amr": ["hwk", "pin"]});
    let workload = json!({"iss": WORKLOAD_ISS, "aud": [AUD, "other"], "sub": "repo:acme/app:ref:refs/heads/release/1.2",
        "repository_owner": "acme", "exp": now + 300, "nbf": now - 10, "iat": now, "run_number": "42"});
    let expired =
        json!({"iss": CALLER_ISS, "aud": AUD, "sub": "u-1", "email": "a@b", "exp": now - 3600});
    let mut j = Seeds::new("oidc_jwt");
    for claims in [&caller, &workload, &expired] {
        for (alg, kid, es) in [("EdDSA", "ed", false), ("ES256", "ec", true)] {
            let header = json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string();
            let payload = claims.to_string();
            j.with_mode(0, sign_jwt(header.as_bytes(), payload.as_bytes(), es));
            let mut structured = header.into_bytes();
            structured.push(0);
            structured.extend_from_slice(payload.as_bytes());
            j.with_mode(if es { 2 } else { 1 }, structured);
        }
    }
    j.with_mode(
        0,
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9.",
    );

    let mut k = Seeds::new("oidc_jwks");
    k.add(oidc_jwks().to_string());
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    use rsa::traits::PublicKeyParts as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let n = b64(&rsa_key.n().to_bytes_be());
    let e = b64(&rsa_key.e().to_bytes_be());
    k.add(json!({"keys": [{"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256", "n": n, "e": e}]}).to_string());
    k.add(
        json!({"keys": [{"kty": "RSA", "kid": "ps", "alg": "PS256", "n": n, "e": e},
        {"kty": "oct", "k": "c2VjcmV0"}, {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "use": "enc", "x": "AA"}]})
        .to_string(),
    );
}

fn intake() {
    let mut s = Seeds::new("intake_changes");
    let one = json!({"system": "github", "subject": "dana", "operation": "grant",
        "entitlement": "org:acme/role:admin", "changed_at": "2026-03-02T10:30:00Z",
        "changed_by": "okta-connector", "source_event_id": "evt-1"});
    let two = json!({"system": "okta", "subject": "erin", "operation": "revoke",
        "entitlement": "group:finance", "changed_at": "2026-03-02T11:00:00+01:00",
        "changed_by": "admin", "source_event_id": "evt-2"});
    s.with_mode(0, one.to_string());
    s.with_mode(0, json!([one, two]).to_string());
    s.with_mode(1, format!("{one}\n\n{two}\n"));
    s.with_mode(2, format!("\u{feff}{one}\n{two}\n{one}\n"));
    s.with_mode(
        3,
        "source_event_id,system,subject,operation,entitlement,changed_at,changed_by\n\
         evt-1,github,dana,grant,org:acme/role:admin,2026-03-02T10:30:00Z,okta-connector\n\
         evt-2,okta,erin,revoke,\"group:finance, EU\",2026-03-02T11:00:00Z,admin\n",
    );
    s.with_mode(
        3,
        "system,subject,operation,entitlement,changed_at,changed_by,source_event_id,colour\n",
    );
}

fn config() {
    let mut s = Seeds::new("config_toml");
    let readme = include_str!("../../README.md");
    // The README's countersign.toml examples, between `<<TOML` and `TOML`.
    let mut rest = readme;
    while let Some(at) = rest.find("TOML\n") {
        let after = &rest[at + 5..];
        let Some(end) = after.find("\nTOML") else {
            break;
        };
        if rest[..at].ends_with("<<") || rest[..at].ends_with("<<'") {
            s.add(&after[..end + 1]);
        }
        rest = &after[end + 5..];
    }
    s.add(
        r#"[server]
listen = "127.0.0.1:8443"
origin = "countersign.example.com"

[[oidc.issuers]]
issuer = "https://idp.example.com"
audiences = ["countersign-web", "https://countersign.example.com"]
jwks_url = "https://idp.example.com/oauth2/v1/keys"
purpose = "caller"
identity_claim = "email"
acr_values = { "urn:example:mfa" = 2 }

[oidc.issuers.sign_in]
client_id = "countersign-web"
client_secret_file = "/run/secrets/idp-client-secret"
display_name = "Example Corp"

[[oidc.issuers]]
issuer = "https://token.actions.githubusercontent.com"
audiences = ["https://countersign.example.com"]
jwks_file = "/etc/countersign/github-jwks.json"
purpose = "workload"
leeway_seconds = 30
rules = [{ claims = { sub = "repo:acme/app:ref:refs/heads/*" }, identity = "acme-app-ci" }]

[smtp]
host = "mail.example.com"
port = 587
security = "starttls"
username = "countersign"
password_file = "/run/secrets/smtp"
from = "Countersign <countersign@example.com>"
timeout_seconds = 30
"#,
    );
}

fn main() {
    let (bundles, checkpoint, receipts, envelopes) = bundles();
    let mut v = Seeds::new("verify_bundle");
    for b in &bundles {
        v.add(b);
    }
    scim();
    tlog(&checkpoint, &receipts);
    dsse(&envelopes);
    oidc();
    intake();
    config();
    let _ = STANDARD.encode(b"");
    println!("seed corpora written under {}", dir("").display());
}
