//! The benchmark harness runs here at its tiny size, so it cannot rot:
//! against the debug build its figures mean nothing, but every phase must
//! run and report.

use serde_json::Value;

#[test]
fn the_benchmark_harness_runs_every_phase_at_its_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    // On PostgreSQL too (one instance, then two on one database) when
    // the suite has a server.
    let postgres = countersign_store_postgres::testkit::server_from_env();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_countersign-load"));
    cmd.args([
        "--size",
        "tiny",
        "--server",
        env!("CARGO_BIN_EXE_countersign"),
        "--out",
    ])
    .arg(&out);
    if let Some(pg) = &postgres {
        cmd.args(["--postgres", pg, "--instances", "2"]);
    }
    let run = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the harness failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    for heading in [
        "## Ceilings",
        "## Accepted signatures",
        "## Receipt latency",
        "## Proofs",
    ] {
        assert!(stdout.contains(heading), "no {heading:?} in\n{stdout}");
    }
    let r: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    for k in [
        "ed25519_verify_per_s",
        "ed25519_batch64_verify_per_s",
        "sha256_mib_per_s",
        "sqlite_durable_commits_per_s",
    ] {
        assert!(
            r["ceilings"][k].as_f64().unwrap() > 0.0,
            "{k}: {}",
            r["ceilings"]
        );
    }
    let mut sections = vec![("signing", 1)];
    if postgres.is_some() {
        assert!(
            r["ceilings"]["postgres_durable_commits_per_s"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        sections.extend([("signing_postgres", 1), ("signing_postgres_instances", 2)]);
    }
    for (section, instances) in sections {
        check_signing(&r[section], instances);
    }
}

/// One backend's figures: every phase ran and its signatures are in the
/// log the proofs ran on.
fn check_signing(s: &Value, instances: u64) {
    assert_eq!(s["instances"], instances, "{s}");
    let runs = s["closed_loop"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let mut signed = 0;
    for run in runs {
        assert_eq!(run["signatures"], 80, "{run}");
        assert!(run["accepted_per_s"].as_f64().unwrap() > 0.0, "{run}");
        signed += 80;
    }
    assert_eq!(s["open_loop"]["signatures"], 100, "{}", s["open_loop"]);
    signed += 100;
    // Every accepted signature is an entry of the log the proofs ran on.
    assert!(
        s["proofs"]["log_entries"].as_u64().unwrap() > signed,
        "{}",
        s["proofs"]
    );
    assert!(s["proofs"]["inclusion_p50_us"].as_f64().unwrap() > 0.0);
    assert!(s["server_rss_mib"].as_f64().unwrap() > 0.0);
}
