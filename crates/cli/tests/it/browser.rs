//! The web app in a real browser: runs the Node test suite in `web-tests/`
//! (Debian's Chromium driven by playwright-core with the DevTools WebAuthn
//! virtual authenticator, axe-core on every page, a real SMTP server and a
//! real OpenID provider) against this build's `countersign` binary.
//! `bash .ci/deps` installs Chromium and the npm packages.

use std::path::Path;
use std::process::Command;

use crate::harness::binary;

#[test]
fn web_app_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let suite = root.join("web-tests");
    assert!(
        suite.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Chromium and web-tests' npm packages: run `bash .ci/deps`"
    );
    let out = Command::new("node")
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            "--test-timeout=120000",
            "tests/",
        ])
        .current_dir(&suite)
        .env("COUNTERSIGN_BIN", binary())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ℹ fail 0"), "{stdout}");
}
