//! The client's own memory of each log, as Go's sumdb client keeps one:
//! the log key pinned at first use (or given with `--log-key`) and every
//! checkpoint the client has verified, the latest among them. Each new
//! checkpoint the server shows is checked against the latest one held,
//! with a consistency proof the client verifies itself; a server that
//! shows a shorter tree, another root for the same size, or a proof that
//! does not verify has forked (or rolled back) its log, and the client
//! reports it with both signed checkpoints as the proof.
//!
//! State lives in `--state` / `COUNTERSIGN_STATE` (default
//! `$XDG_STATE_HOME/countersign`, else `~/.local/state/countersign`), one
//! directory per log origin.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use countersign_proto::api::ConsistencyProof;
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;

use crate::client::Client;

/// The default state directory.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("countersign");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/state/countersign"),
        None => PathBuf::from(".countersign-state"),
    }
}

/// What the client holds for one log.
pub struct LogState {
    dir: PathBuf,
    pub verifier: NoteVerifier,
}

/// A fork, proven by two checkpoints signed with the same key.
#[derive(Debug)]
pub struct Fork {
    pub held: String,
    pub served: String,
    pub why: String,
}

impl std::fmt::Display for Fork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the log has forked or been rolled back: {}.\nThe checkpoint this client holds:\n{}\nThe checkpoint the server shows:\n{}",
            self.why, self.held, self.served
        )
    }
}

impl std::error::Error for Fork {}

fn escape(origin: &str) -> String {
    origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl LogState {
    /// The state for the server's log: its key is pinned at first use (or
    /// `pinned`, when given, must be the server's), and a key the server
    /// shows later must be the pinned one.
    pub fn open(state_dir: &Path, c: &Client, pinned: Option<&str>) -> Result<Self> {
        let served = c.get_text("/v1/log/key")?.trim().to_string();
        let wanted = pinned.unwrap_or(&served);
        let verifier =
            NoteVerifier::from_vkey(wanted).context("the log key is not a valid vkey")?;
        let dir = state_dir.join(escape(verifier.name()));
        std::fs::create_dir_all(dir.join("checkpoints"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let key_file = dir.join("key");
        match std::fs::read_to_string(&key_file) {
            Ok(held) if held.trim() != wanted => bail!(
                "the log key {wanted} is not the one this client pinned for {} ({}); remove {} only if the log really changed its key",
                verifier.name(),
                held.trim(),
                key_file.display()
            ),
            Ok(_) => {}
            Err(_) => write_private(&key_file, &format!("{wanted}\n"))?,
        }
        if served != wanted {
            bail!("the server's log key {served} is not the pinned key {wanted}");
        }
        Ok(LogState { dir, verifier })
    }

    /// The latest checkpoint held, as its signed note.
    pub fn latest(&self) -> Result<Option<(String, Checkpoint)>> {
        match std::fs::read_to_string(self.dir.join("latest")) {
            Ok(note) => {
                let cp = Checkpoint::open(&note, &self.verifier)
                    .context("the checkpoint this client holds does not verify")?;
                Ok(Some((note, cp)))
            }
            Err(_) => Ok(None),
        }
    }

    /// A checkpoint this client verified at `size`, if it holds one.
    pub fn held_at(&self, size: u64) -> Result<Option<(String, Checkpoint)>> {
        if let Some((note, cp)) = self.latest()? {
            if cp.size == size {
                return Ok(Some((note, cp)));
            }
        }
        match std::fs::read_to_string(self.dir.join("checkpoints").join(size.to_string())) {
            Ok(note) => {
                let cp = Checkpoint::open(&note, &self.verifier)
                    .context("a checkpoint this client holds does not verify")?;
                Ok(Some((note, cp)))
            }
            Err(_) => Ok(None),
        }
    }

    fn hold(&self, note: &str, cp: &Checkpoint) -> Result<()> {
        write_private(
            &self.dir.join("checkpoints").join(cp.size.to_string()),
            note,
        )?;
        write_private(&self.dir.join("latest"), note)
    }

    /// Check `note` (which the server showed) against the latest checkpoint
    /// held, with a consistency proof verified here, and hold it when it
    /// extends what was held. A fork is an error carrying both checkpoints.
    pub fn observe(&self, c: &Client, note: &str) -> Result<Checkpoint> {
        let new = Checkpoint::open(note, &self.verifier)
            .context("the checkpoint does not verify with the pinned log key")?;
        let Some((held_note, held)) = self.latest()? else {
            self.hold(note, &new)?;
            return Ok(new);
        };
        if new.size < held.size {
            // The server's tree is shorter than one it signed before: only
            // a proof from the new checkpoint to the held one could clear
            // it, and a server that shows the shorter tree cannot give it.
            if self.consistent(c, &new, &held).is_err() {
                return Err(Fork {
                    held: held_note,
                    served: note.to_string(),
                    why: format!(
                        "the server shows a tree of {} entries, behind the {} it signed before",
                        new.size, held.size
                    ),
                }
                .into());
            }
            return Ok(new);
        }
        if new.size == held.size {
            if new.root != held.root {
                return Err(Fork {
                    held: held_note,
                    served: note.to_string(),
                    why: format!("two different trees of size {} are signed", new.size),
                }
                .into());
            }
            return Ok(new);
        }
        if let Err(e) = self.consistent(c, &held, &new) {
            return Err(Fork {
                held: held_note,
                served: note.to_string(),
                why: format!(
                    "the tree of size {} does not extend the one of size {}: {e:#}",
                    new.size, held.size
                ),
            }
            .into());
        }
        self.hold(note, &new)?;
        Ok(new)
    }

    /// Fetch and verify, here, that `old` is a prefix of `new`.
    pub fn consistent(&self, c: &Client, old: &Checkpoint, new: &Checkpoint) -> Result<usize> {
        if old.size == 0 {
            return Ok(0);
        }
        let p: ConsistencyProof = c.get(&format!(
            "/v1/log/proof/consistency?old={}&new={}",
            old.size, new.size
        ))?;
        let hashes = p
            .hashes
            .iter()
            .map(|h| {
                countersign_tlog::hash_from_base64(h)
                    .map_err(|e| anyhow::anyhow!("proof hash {h:?} {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        countersign_tlog::verify_consistency(old.size, new.size, &old.root, &new.root, &hashes)
            .context("the consistency proof does not verify")?;
        Ok(hashes.len())
    }
}
