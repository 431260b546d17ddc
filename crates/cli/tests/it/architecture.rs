//! Invariants of the workspace's layout, checked on the sources: SQL and
//! database drivers stay in the backend crates, and a backend compiles
//! against the storage seam alone, never against the ledger.

use std::path::{Path, PathBuf};

/// The crates that speak to a database.
const BACKENDS: &[&str] = &["store-sqlite", "store-postgres"];
/// Crates a backend must not depend on: it sees the seam, not the application.
const ABOVE_THE_SEAM: &[&str] = &["countersign-ledger", "countersign-server"];
/// Database drivers, by crate name.
const DRIVERS: &[&str] = &[
    "rusqlite",
    "postgres",
    "tokio-postgres",
    "sqlx",
    "diesel",
    "libsqlite3-sys",
];
/// What a statement of SQL starts with.
const SQL: &[&str] = &[
    "SELECT ",
    "INSERT INTO",
    "DELETE FROM",
    "CREATE TABLE",
    "CREATE INDEX",
    "ALTER TABLE",
    "PRAGMA ",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The `[dependencies]` of a manifest (not dev-dependencies: tests may
/// edit a database the way an attacker would).
fn dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                let name = name.trim();
                if !name.is_empty() && !name.starts_with('#') {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

fn crates() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(workspace().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

#[test]
fn sql_and_database_drivers_stay_in_the_backend_crates() {
    let mut found = Vec::new();
    let all = crates();
    assert!(
        all.iter().any(|(n, _)| n == "ledger"),
        "the ledger crate is missing"
    );
    for (name, dir) in &all {
        if BACKENDS.contains(&name.as_str()) {
            continue;
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for dep in dependencies(&manifest) {
            if DRIVERS.contains(&dep.as_str()) {
                found.push(format!(
                    "crates/{name} depends on the database driver {dep}"
                ));
            }
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                if let Some(k) = SQL.iter().find(|k| line.contains(*k)) {
                    found.push(format!(
                        "{}:{}: SQL ({k:?}) outside a backend",
                        f.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_backend_sees_the_storage_seam_and_not_the_ledger() {
    let all = crates();
    let mut seen = 0;
    for (name, dir) in &all {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let deps = dependencies(&manifest);
        if BACKENDS.contains(&name.as_str()) {
            seen += 1;
            assert!(
                deps.iter().any(|d| d == "countersign-store"),
                "{name} does not implement the store seam"
            );
            for d in &deps {
                assert!(
                    !ABOVE_THE_SEAM.contains(&d.as_str()),
                    "{name} depends on {d}"
                );
            }
        }
        if name == "ledger" || name == "store" {
            for d in &deps {
                assert!(
                    !d.starts_with("countersign-store-"),
                    "crates/{name} depends on the backend {d}"
                );
            }
        }
    }
    assert!(seen >= 1, "no backend crate found");
}

#[test]
fn the_readmes_run_command_names_one_binary() {
    // `cargo run --release -p countersign -- serve` (the README's first
    // command) must not be ambiguous when the package has several binaries.
    let manifest = std::fs::read_to_string(workspace().join("crates/cli/Cargo.toml")).unwrap();
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo run --release -p countersign -- serve"),
        "the README's run command changed; update this test"
    );
    let bins = manifest.matches("[[bin]]").count();
    assert!(
        bins <= 1 || manifest.contains("default-run = \"countersign\""),
        "crates/cli has {bins} binaries and no default-run: `cargo run -p countersign` would refuse"
    );
}
