//! The write-ahead spool: a record is on local disk before the response leaves, stays there until
//! its destination has accepted it, and what is left is replayed at start-up.
//!
//! Segments `<n>.jsonl` hold `family<TAB>record-json` lines, appended with group commit (fsynced).
//! The ids of delivered records are appended to `<n>.acked` without fsync: losing an
//! acknowledgement (a power cut, not a killed process) only replays a record twice, and
//! `request_id` tells the copies apart. A segment is deleted once it is closed and every record in
//! it is delivered. The undelivered bytes are bounded; past the bound `append` refuses.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::files::{GroupWriter, json_line};
use super::{AuditError, AuditRecord, InFlight};

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// The spool of one sink.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limit: u64,
    writer: GroupWriter,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The segment being appended to.
    current: u64,
    current_bytes: u64,
    /// Undelivered records per segment, and whether the segment still grows.
    segments: BTreeMap<u64, Segment>,
    /// Bytes of undelivered records.
    pending_bytes: u64,
}

#[derive(Debug, Default)]
struct Segment {
    outstanding: usize,
    closed: bool,
}

/// A record in the spool, waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Spooled {
    /// The segment holding it.
    pub segment: u64,
    /// `spi` or `dict`.
    pub family: String,
    /// The record's `request_id`.
    pub request_id: String,
    /// The record as one JSON line (with its newline), as the destination receives it.
    pub data: String,
}

impl Spooled {
    fn size(&self) -> u64 {
        (self.family.len() + 1 + self.data.len()) as u64
    }
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, allowing `limit` bytes of undelivered records, and
    /// returns what earlier runs left undelivered, oldest first.
    pub fn open(dir: &Path, limit: u64) -> std::io::Result<(Spool, Vec<Spooled>)> {
        std::fs::create_dir_all(dir)?;
        let mut state = State::default();
        let mut left = Vec::new();
        let mut segments: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(".jsonl").and_then(|n| n.parse().ok()) {
                segments.push(n);
            }
        }
        segments.sort_unstable();
        for n in segments {
            let records = read_segment(dir, n)?;
            state.pending_bytes += records.iter().map(Spooled::size).sum::<u64>();
            if records.is_empty() {
                remove_segment(dir, n);
            } else {
                state.segments.insert(
                    n,
                    Segment {
                        outstanding: records.len(),
                        closed: true,
                    },
                );
            }
            state.current = n + 1;
            left.extend(records);
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            limit,
            writer: GroupWriter::start(),
            state: Mutex::new(state),
        };
        Ok((spool, left))
    }

    /// Stores a record durably (fsynced) and returns it as it waits for delivery.
    pub async fn append(&self, family: &str, record: &AuditRecord) -> Result<Spooled, AuditError> {
        let data = json_line(record).map_err(|e| AuditError::Io {
            path: self.dir.display().to_string(),
            reason: e.to_string(),
        })?;
        self.append_line(family, &record.request_id, data).await
    }

    /// [`Spool::append`] for a record already serialised as one JSON line (with its newline).
    pub async fn append_line(
        &self,
        family: &str,
        request_id: &str,
        data: String,
    ) -> Result<Spooled, AuditError> {
        let io = |reason: String| AuditError::Io {
            path: self.dir.display().to_string(),
            reason,
        };
        let mut spooled = Spooled {
            segment: 0,
            family: family.to_string(),
            request_id: request_id.to_string(),
            data,
        };
        let size = spooled.size();
        spooled.segment = {
            let mut s = self.lock();
            if s.pending_bytes + size > self.limit {
                return Err(AuditError::SpoolFull {
                    bytes: s.pending_bytes,
                    limit: self.limit,
                });
            }
            if s.current_bytes >= SEGMENT_BYTES {
                let old = s.current;
                s.current += 1;
                s.current_bytes = 0;
                self.close(&mut s, old);
            }
            s.current_bytes += size;
            s.pending_bytes += size;
            let current = s.current;
            s.segments.entry(current).or_default().outstanding += 1;
            current
        };
        let line = format!("{family}\t{}", spooled.data);
        match self.writer.append(self.segment_path(spooled.segment), line).await {
            Ok(()) => Ok(spooled),
            Err(reason) => {
                // Not stored as far as the caller knows; a torn line is skipped at replay.
                self.release(std::slice::from_ref(&spooled));
                Err(io(reason))
            }
        }
    }

    /// Records that the destination accepted `records`; their segments go once fully delivered.
    pub fn delivered(&self, records: &[Spooled]) {
        let mut by_segment: BTreeMap<u64, String> = BTreeMap::new();
        for r in records {
            let ids = by_segment.entry(r.segment).or_default();
            ids.push_str(&r.request_id);
            ids.push('\n');
        }
        for (segment, ids) in by_segment {
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{segment}.acked")))
                .and_then(|mut f| f.write_all(ids.as_bytes()));
            if let Err(e) = appended {
                // Only costs a duplicate at the next start (same request_id).
                tracing::warn!(segment, error = %e, "cannot note delivered audit records");
            }
        }
        self.release(records);
    }

    /// The gauge of exchanges under way that the spool's group commit waits for.
    pub fn in_flight(&self) -> &InFlight {
        self.writer.in_flight()
    }

    /// Bytes of records not yet delivered.
    pub fn pending_bytes(&self) -> u64 {
        self.lock().pending_bytes
    }

    /// The bound on [`Spool::pending_bytes`].
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn release(&self, records: &[Spooled]) {
        let mut s = self.lock();
        for r in records {
            s.pending_bytes = s.pending_bytes.saturating_sub(r.size());
            if let Some(seg) = s.segments.get_mut(&r.segment) {
                seg.outstanding = seg.outstanding.saturating_sub(1);
                if seg.outstanding == 0 && seg.closed {
                    s.segments.remove(&r.segment);
                    remove_segment(&self.dir, r.segment);
                }
            }
        }
    }

    /// Marks `segment` as no longer growing, deleting it when nothing in it waits.
    fn close(&self, s: &mut State, segment: u64) {
        match s.segments.get_mut(&segment) {
            Some(seg) if seg.outstanding > 0 => seg.closed = true,
            _ => {
                s.segments.remove(&segment);
                remove_segment(&self.dir, segment);
            }
        }
    }

    fn segment_path(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("{segment}.jsonl"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent at every await-free step, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The records of segment `n` that were not acknowledged. A line cut short (the process died
/// while writing it, before the fsync that would have let its response leave) is skipped.
fn read_segment(dir: &Path, n: u64) -> std::io::Result<Vec<Spooled>> {
    let acked: HashSet<String> = match std::fs::read_to_string(dir.join(format!("{n}.acked"))) {
        Ok(s) => s.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
        Err(e) => return Err(e),
    };
    let text = std::fs::read(dir.join(format!("{n}.jsonl")))?;
    let text = String::from_utf8_lossy(&text);
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        let parsed = line
            .strip_suffix('\n')
            .and_then(|l| l.split_once('\t'))
            .and_then(|(family, json)| {
                let record: AuditRecord = serde_json::from_str(json).ok()?;
                Some((family, record.request_id))
            });
        match parsed {
            Some((family, id)) if !acked.contains(&id) => out.push(Spooled {
                segment: n,
                family: family.to_string(),
                request_id: id,
                data: line[family.len() + 1..].to_string(),
            }),
            Some(_) => {}
            None => tracing::warn!(segment = n, "skipping an incomplete audit spool line"),
        }
    }
    Ok(out)
}

fn remove_segment(dir: &Path, n: u64) {
    for ext in ["jsonl", "acked"] {
        let path = dir.join(format!("{n}.{ext}"));
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a delivered spool segment");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> AuditRecord {
        AuditRecord {
            request_id: id.into(),
            request_date: "2026-11-25T13:04:05.123Z".into(),
            request_body: "<Document/>".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn undelivered_records_are_replayed_and_delivered_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, left) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(left.is_empty());
        let a = spool.append("spi", &record("a")).await.unwrap();
        let b = spool.append("dict", &record("b")).await.unwrap();
        spool.delivered(&[a]);
        drop(spool);
        let (spool, left) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(
            (left[0].family.as_str(), left[0].request_id.as_str()),
            ("dict", "b")
        );
        assert_eq!(left[0].data, b.data);
        let again: AuditRecord = serde_json::from_str(&left[0].data).unwrap();
        assert_eq!(again, record("b"));
        // Delivering the replayed record removes the old segment; nothing is left after.
        spool.delivered(&left);
        assert_eq!(spool.pending_bytes(), 0);
        drop(spool);
        let (_, left) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(left.is_empty());
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(files.is_empty(), "delivered segments are removed: {files:?}");
    }

    #[tokio::test]
    async fn a_full_spool_refuses_and_takes_records_again_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let one = (json_line(&record("x0")).unwrap().len() + 4) as u64;
        let (spool, _) = Spool::open(dir.path(), one * 3).unwrap();
        let mut kept = Vec::new();
        for i in 0..3 {
            kept.push(spool.append("spi", &record(&format!("x{i}"))).await.unwrap());
        }
        let err = spool.append("spi", &record("x3")).await.unwrap_err();
        assert!(matches!(err, AuditError::SpoolFull { .. }), "{err}");
        spool.delivered(&kept[..1]);
        spool.append("spi", &record("x3")).await.unwrap();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        let a = spool.append("spi", &record("a")).await.unwrap();
        drop(spool);
        let path = dir.path().join(format!("{}.jsonl", a.segment));
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(b"spi\t{\"request_id\":\"b\",\"requ").unwrap();
        let (_, left) = Spool::open(dir.path(), 1 << 20).unwrap();
        let ids: Vec<&str> = left.iter().map(|s| s.request_id.as_str()).collect();
        assert_eq!(ids, ["a"]);
    }

    #[tokio::test]
    async fn closed_segments_go_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        let mut big = record("big0");
        big.request_body = "x".repeat(SEGMENT_BYTES as usize);
        let first = spool.append("spi", &big).await.unwrap();
        big.request_id = "big1".into();
        let second = spool.append("spi", &big).await.unwrap();
        assert_ne!(first.segment, second.segment, "a full segment is closed");
        spool.delivered(std::slice::from_ref(&first));
        assert!(!dir.path().join(format!("{}.jsonl", first.segment)).exists());
        assert!(dir.path().join(format!("{}.jsonl", second.segment)).exists());
    }
}
