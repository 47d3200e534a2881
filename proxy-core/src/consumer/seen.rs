//! The duplicate window: the ids of the messages handed off lately (`PI-ResourceId` and the
//! message's `BizMsgIdr`), kept in a file so that it survives a restart. BACEN may deliver a
//! message twice with the same `PI-ResourceId` (DESIGN §6), and delivers again what was not
//! acknowledged before a reader stopped: the destination gets it again, marked duplicate.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many ids the window keeps (the oldest go first).
pub const WINDOW: usize = 200_000;

/// The window, and its file (`<state dir>/seen.log`, one id per line, appended).
pub struct Seen {
    inner: Mutex<Inner>,
    path: PathBuf,
}

struct Inner {
    order: VecDeque<String>,
    counts: HashMap<String, u32>,
    file: std::fs::File,
    lines: usize,
}

impl Seen {
    /// The window of `dir` (created), with what an earlier run recorded.
    pub fn open(dir: &Path) -> std::io::Result<Seen> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("seen.log");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut order = VecDeque::new();
        let mut counts = HashMap::new();
        let mut lines = 0;
        for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            lines += 1;
            remember(&mut order, &mut counts, id);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(Seen {
            inner: Mutex::new(Inner {
                order,
                counts,
                file,
                lines,
            }),
            path,
        })
    }

    /// Whether any of `ids` was seen; all are recorded (in memory: [`Seen::persist`] writes them).
    pub fn check(&self, ids: &[&str]) -> bool {
        let mut inner = self.lock();
        let seen = ids.iter().any(|id| inner.counts.contains_key(*id));
        for id in ids {
            let Inner { order, counts, .. } = &mut *inner;
            remember(order, counts, id);
        }
        seen
    }

    /// Writes `ids` to the file, synced: called as each message is handed off, before its page
    /// is acknowledged. The file is rewritten with the window alone when it has grown to twice it.
    pub fn persist(&self, ids: &[String]) -> std::io::Result<()> {
        let mut inner = self.lock();
        let mut text = String::new();
        for id in ids {
            text.push_str(id);
            text.push('\n');
        }
        inner.file.write_all(text.as_bytes())?;
        inner.file.sync_data()?;
        inner.lines += ids.len();
        if inner.lines > 2 * WINDOW {
            let kept: String = inner.order.iter().map(|id| format!("{id}\n")).collect();
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, kept)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            inner.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
            inner.lines = inner.order.len();
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn remember(order: &mut VecDeque<String>, counts: &mut HashMap<String, u32>, id: &str) {
    order.push_back(id.to_string());
    *counts.entry(id.to_string()).or_insert(0) += 1;
    while order.len() > WINDOW {
        if let Some(old) = order.pop_front()
            && let Some(n) = counts.get_mut(&old)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_seen_before_a_restart_is_a_duplicate_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen::open(dir.path()).unwrap();
        assert!(!seen.check(&["R1", "M1"]));
        assert!(seen.check(&["R1"]));
        assert!(seen.check(&["R2", "M1"]), "the message id alone recognises it");
        seen.persist(&["R1".into(), "M1".into()]).unwrap();
        drop(seen);
        let again = Seen::open(dir.path()).unwrap();
        assert!(again.check(&["R1"]));
        assert!(!again.check(&["R3"]));
    }
}
