//! The latest checkpoint the ledger signed, kept outside the database.
//!
//! A database administrator can copy the database back to an older state,
//! or cut its tail (entries, hashes and checkpoints together), and the
//! database alone would not show it: it is consistent with itself. So the
//! ledger also keeps the newest checkpoint it signed in a file beside the
//! database, written (atomically, and durably) after each commit and
//! before the write is acknowledged. The ledger refuses to open a database
//! that is behind that checkpoint or diverges from it, and refuses to sign
//! a checkpoint that is not consistent with it. (An operator who controls
//! both the file and the database can still roll both back; witnesses,
//! which a later issue adds, close that.)

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Where the latest signed checkpoint is kept, outside the database.
pub trait CheckpointKeeper: Send + Sync {
    /// The kept checkpoint note, if one was kept.
    fn load(&self) -> std::io::Result<Option<String>>;
    /// Keep `note` in place of the previous one, durably, before returning.
    fn keep(&self, note: &str) -> std::io::Result<()>;
}

/// A checkpoint kept in a file (mode 0600), replaced atomically: written
/// to a temporary file, synced, renamed over the old one, and the
/// directory synced.
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CheckpointFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CheckpointKeeper for CheckpointFile {
    fn load(&self) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn keep(&self, note: &str) -> std::io::Result<()> {
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp)?;
            f.write_all(note.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable only once the directory is.
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}
