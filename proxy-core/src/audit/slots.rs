//! The spool's place on storage shared by the fleet and outliving each task (EFS as the
//! CloudHSM stack mounts it): every task claims a slot of its own, `slot-N/` under the spool's
//! root, by holding an exclusive lock on `slot-N/lock` for as long as it runs, so two tasks never
//! append to the same segments. A task that dies (replaced by ECS, killed, its host gone) lets
//! go of its lock; the next task to start claims the lowest free slot — often that one — and
//! adopts the segments of every other free slot, so whatever a dead task left undelivered is
//! replayed by a living one. A record replayed after it was delivered is sent twice, which the
//! audit's `request_id` deduplicates (docs/audit.md).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Slots tried before giving up: far more tasks than a fleet runs.
const MAX_SLOTS: usize = 64;

/// A slot held by this process (its lock is released when this is dropped, or the process ends).
#[derive(Debug)]
pub struct Claimed {
    /// The slot's directory, where the spool's segments live.
    pub dir: PathBuf,
    /// Segments adopted from slots no task holds.
    pub adopted: usize,
    _lock: File,
}

/// Claims the lowest free slot under `root` (created if needed) and moves into it the segments
/// of every other slot no process holds.
pub fn claim(root: &Path) -> std::io::Result<Claimed> {
    std::fs::create_dir_all(root)?;
    for n in 0..MAX_SLOTS {
        let dir = root.join(format!("slot-{n}"));
        if let Some(lock) = try_slot(&dir)? {
            let adopted = adopt(root, &dir)?;
            return Ok(Claimed {
                dir,
                adopted,
                _lock: lock,
            });
        }
    }
    Err(std::io::Error::other(format!(
        "all {MAX_SLOTS} spool slots under {} are held by running processes",
        root.display()
    )))
}

/// The slot's lock when no other process holds it.
fn try_slot(dir: &Path) -> std::io::Result<Option<File>> {
    std::fs::create_dir_all(dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Moves the segments of every free slot other than `mine` into `mine`, numbered after its own
/// (renames within one file system: a segment is either here or there, never lost or copied).
fn adopt(root: &Path, mine: &Path) -> std::io::Result<usize> {
    let mut next = segments(mine)?.last().map_or(0, |(n, _)| n + 1);
    let mut adopted = 0;
    for entry in std::fs::read_dir(root)? {
        let dir = entry?.path();
        let is_slot = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("slot-"));
        if dir == mine || !is_slot || !dir.is_dir() {
            continue;
        }
        // Held while moving, so that no task starting at the same time adopts the same files.
        let Some(_held) = try_slot(&dir)? else { continue };
        for (_, path) in segments(&dir)? {
            std::fs::rename(&path, mine.join(format!("{next}.jsonl")))?;
            next += 1;
            adopted += 1;
        }
    }
    if adopted > 0 {
        File::open(mine)?.sync_all()?;
    }
    Ok(adopted)
}

/// A slot's segments (`N.jsonl`), in order.
fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            found.push((n, path));
        }
    }
    found.sort_unstable();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_its_own_slot_and_a_free_slot_is_adopted() {
        let root = tempfile::tempdir().unwrap();
        let a = claim(root.path()).unwrap();
        let b = claim(root.path()).unwrap();
        assert_ne!(a.dir, b.dir, "a held slot is never shared");
        std::fs::write(b.dir.join("0.jsonl"), "spi\t{}\n").unwrap();
        std::fs::write(b.dir.join("3.jsonl"), "dict\t{}\n").unwrap();
        std::fs::write(a.dir.join("5.jsonl"), "spi\t{}\n").unwrap();
        drop(b);
        // A held slot's segments stay where they are.
        let c = claim(root.path()).unwrap();
        assert_eq!(c.dir, root.path().join("slot-1"));
        assert_eq!(c.adopted, 0);
        assert_eq!(segments(&a.dir).unwrap().len(), 1);
        drop(c);
        drop(a);
        // Both free: the first claimed, the other's segments moved in after its own.
        let d = claim(root.path()).unwrap();
        assert_eq!(d.dir, root.path().join("slot-0"));
        assert_eq!(d.adopted, 2);
        let names: Vec<u64> = segments(&d.dir).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec![5, 6, 7]);
        assert!(segments(&root.path().join("slot-1")).unwrap().is_empty());
    }
}
