//! `countersign backup` and `countersign restore`: a data directory copied
//! whole and consistently (the database by SQLite's online backup, while
//! the server runs), and put back only when it audits clean and is not
//! behind the newest checkpoint the server kept.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use countersign_ledger::Store as _;
use countersign_store_sqlite::SqliteStore;
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;

use crate::local::{
    lock_for_serving, write_private, DataDir, Database, CHECKPOINT_FILE, DB_FILE, KEY_FILE,
    POLICY_DIR,
};

/// What goes with the database: the log key, the workload CA, the policy
/// set and the settings. Missing optional files are skipped.
const FILES: &[&str] = &[KEY_FILE, "ca.key", "ca.pem", "countersign.toml"];

/// A directory's database, checked: it audits clean; answers its latest
/// checkpoint.
fn audited(db: &Path, verifier: &NoteVerifier) -> Result<Option<(u64, String)>> {
    let store = SqliteStore::open(db).with_context(|| format!("opening {}", db.display()))?;
    let report = countersign_ledger::audit::audit(&store, verifier, &mut |_, _| {})?;
    if let Some(p) = report.problems.first() {
        bail!(
            "{} does not audit clean ({} problem{}; the first: {}); run `countersign log audit --data` on it",
            db.display(),
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" },
            p.detail
        );
    }
    let tx = store.read()?;
    Ok(tx.latest_checkpoint()?)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            fs::copy(e.path(), &target)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

fn private_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// PostgreSQL is backed up with its own tools, which see a consistent
/// snapshot of a live database; this command would only copy half of it.
fn sqlite_only(dir: &DataDir, what: &str) -> Result<()> {
    if let Database::Postgres(_) = dir.database {
        bail!(
            "`countersign {what}` copies a SQLite data directory; on PostgreSQL use pg_dump / pg_restore for the database and copy {KEY_FILE}, ca.key, ca.pem, {POLICY_DIR}/, countersign.toml and {CHECKPOINT_FILE} from the data directory beside it, then check the result with `countersign log audit` (README, \"Running on PostgreSQL\")"
        );
    }
    Ok(())
}

/// Back `dir` up into the new directory `out`; answers the backup's
/// latest checkpoint (size, note).
pub fn backup(dir: &DataDir, out: &Path) -> Result<(u64, String)> {
    sqlite_only(dir, "backup")?;
    if !dir.initialised() {
        bail!("{} holds no Countersign data directory", dir.path.display());
    }
    if out.exists() && fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} exists and is not empty; a backup goes to a new directory",
            out.display()
        );
    }
    private_dir(out)?;
    let store = SqliteStore::open(&dir.path.join(DB_FILE))
        .with_context(|| format!("opening {}", dir.path.join(DB_FILE).display()))?;
    store.backup_to(&out.join(DB_FILE))?;
    drop(store);
    for f in FILES {
        let from = dir.path.join(f);
        if from.exists() {
            fs::copy(&from, out.join(f)).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    copy_tree(&dir.path.join(POLICY_DIR), &out.join(POLICY_DIR))?;
    // The copy keeps its own latest checkpoint: the server may have signed
    // newer ones since the copy was taken.
    let verifier = dir.signer()?.verifier();
    let latest =
        audited(&out.join(DB_FILE), &verifier)?.context("the copied database has no checkpoint")?;
    write_private(&out.join(CHECKPOINT_FILE), &latest.1)?;
    Ok(latest)
}

/// Restore the backup in `from` into `dir`, which no server may be using.
/// Refused when the backup does not audit clean, or is behind or off the
/// checkpoint `dir` kept (receipts already answered would be lost: the
/// server would refuse it anyway). Answers the restored checkpoint.
pub fn restore(dir: &DataDir, from: &Path) -> Result<(u64, String)> {
    sqlite_only(dir, "restore")?;
    let source = DataDir::sqlite(from.to_path_buf());
    if !source.initialised() {
        bail!(
            "{} is not a Countersign backup (no {DB_FILE} and {KEY_FILE})",
            from.display()
        );
    }
    private_dir(&dir.path)?;
    let _serving = lock_for_serving(dir)
        .map_err(|e| anyhow::anyhow!("{e:#}; `restore` needs the server stopped"))?;
    let verifier = source.signer()?.verifier();
    let (size, note) = audited(&from.join(DB_FILE), &verifier)?
        .context("the backup's database has no checkpoint")?;
    if let Ok(k) = fs::read_to_string(dir.path.join(CHECKPOINT_FILE)) {
        let kept = Checkpoint::open(&k, &verifier).context(
            "the data directory's kept checkpoint is not signed by the backup's log key: this backup is of another log",
        )?;
        if kept.size > size {
            bail!(
                "the backup holds {size} entries, but this server signed and acknowledged a checkpoint for {}: restoring it would lose entries clients hold receipts for, and the server would refuse it. Restore a newer backup",
                kept.size
            );
        }
        let store = SqliteStore::open(&from.join(DB_FILE))?;
        let tx = store.read()?;
        let root = countersign_tlog::tree_hash(kept.size, &countersign_ledger::Hashes(&*tx))?;
        if kept.size > 0 && root != kept.root {
            bail!(
                "the backup's log differs from the one this server kept at size {}: it is a fork, not a copy",
                kept.size
            );
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.path.join(format!("{DB_FILE}{suffix}"));
        if p.exists() {
            fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    fs::copy(from.join(DB_FILE), dir.path.join(DB_FILE)).context("copying the database")?;
    for f in FILES {
        let p = from.join(f);
        if p.exists() {
            let target = dir.path.join(f);
            if target.exists() {
                fs::remove_file(&target)?;
            }
            fs::copy(&p, &target).with_context(|| format!("copying {}", p.display()))?;
        }
    }
    let policy = dir.path.join(POLICY_DIR);
    if policy.exists() {
        fs::remove_dir_all(&policy)?;
    }
    copy_tree(&from.join(POLICY_DIR), &policy)?;
    let kept = dir.path.join(CHECKPOINT_FILE);
    if kept.exists() {
        fs::remove_file(&kept)?;
    }
    write_private(&kept, &note)?;
    Ok((size, note))
}
