//! Durable appends to local files with group commit, and the [`FileSink`] built on them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{AuditError, AuditRecord, AuditSink, InFlight, WriteFuture};
use pix_xmldsig::dsig::Profile;

/// Appends lines to files and fsyncs them before answering, from one writer thread.
///
/// Group commit: the lines of every caller waiting at that moment are appended, then each file
/// touched is fsynced once, then all those callers go on. Under load that is one fsync per batch
/// instead of one per record, with the same guarantee for each. When many exchanges are under way
/// ([`InFlight`]), the writer first waits a little for their records (see [`COMMIT_DELAY`]):
/// on a virtual machine each fsync costs the host far more than the write itself.
#[derive(Debug, Clone)]
pub(crate) struct GroupWriter {
    queue: std::sync::mpsc::Sender<Pending>,
    in_flight: InFlight,
    /// Batches written and fsynced so far.
    commits: Arc<AtomicU64>,
}

/// A line waiting for the writer: its file, the line, and who to tell.
type Pending = (PathBuf, String, tokio::sync::oneshot::Sender<Result<(), String>>);

/// The longest a record waits for others before its fsync, when at least [`COMMIT_SIBLINGS`]
/// other exchanges are under way. It bounds the latency added under load; at light load no record
/// waits. Measured with `pix-dev/examples/audit_overhead.rs` (README, "Cost of the audit path").
pub(crate) const COMMIT_DELAY: Duration = Duration::from_millis(4);

/// Exchanges under way, besides those whose records are already in the batch, from which the
/// writer waits for more records ([`COMMIT_DELAY`]).
pub(crate) const COMMIT_SIBLINGS: usize = 16;

impl GroupWriter {
    /// Starts the writer thread; it ends when the last clone is dropped.
    pub(crate) fn start() -> Self {
        let (queue, pending) = std::sync::mpsc::channel::<Pending>();
        let in_flight = InFlight::default();
        let gauge = in_flight.clone();
        let commits = Arc::new(AtomicU64::new(0));
        let committed = Arc::clone(&commits);
        let spawned = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let mut open = OpenFiles::default();
                while let Ok(first) = pending.recv() {
                    let mut batch = vec![first];
                    batch.extend(pending.try_iter());
                    if gauge.count() >= batch.len() + COMMIT_SIBLINGS {
                        // Their records are coming: wait for them, not past the deadline, and
                        // not once every exchange under way has handed its record in. Sleeping
                        // (rather than waiting on the queue) spares a wake-up per record.
                        let deadline = Instant::now() + COMMIT_DELAY;
                        loop {
                            batch.extend(pending.try_iter());
                            let left = deadline.saturating_duration_since(Instant::now());
                            if gauge.count() <= batch.len() || left.is_zero() {
                                break;
                            }
                            std::thread::sleep(left.min(COMMIT_DELAY / 4));
                        }
                    }
                    let result = open.write_batch(&batch).map_err(|e| e.to_string());
                    committed.fetch_add(1, Ordering::Relaxed);
                    for (_, _, done) in batch {
                        let _ = done.send(result.clone());
                    }
                }
            });
        if let Err(e) = spawned {
            // Every append will then fail with "the audit writer has stopped", which callers report.
            tracing::error!(error = %e, "cannot start the audit writer thread");
        }
        GroupWriter {
            queue,
            in_flight,
            commits,
        }
    }

    /// Batches written and fsynced so far (one fsync per file each).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The gauge the relay counts its exchanges on (see [`AuditSink::in_flight`]).
    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Appends `line` to `path` (directories created) and returns once it is fsynced.
    pub(crate) async fn append(&self, path: PathBuf, line: String) -> Result<(), String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.queue
            .send((path, line, done))
            .map_err(|_| "the audit writer has stopped".to_string())?;
        wait.await
            .map_err(|_| "the audit writer has stopped".to_string())?
    }
}

/// The writer's open files, kept across batches (an hourly partition gets many batches).
#[derive(Default)]
struct OpenFiles {
    files: std::collections::HashMap<PathBuf, std::fs::File>,
}

impl OpenFiles {
    /// Files beyond which the least useful (all of them) are closed: partitions are hourly.
    const MAX: usize = 64;

    /// Appends a batch (one write per file), then fsyncs each file it touched.
    fn write_batch(&mut self, batch: &[Pending]) -> std::io::Result<()> {
        let mut by_file: Vec<(&PathBuf, Vec<u8>)> = Vec::new();
        for (path, line, _) in batch {
            match by_file.iter_mut().find(|(p, _)| *p == path) {
                Some((_, bytes)) => bytes.extend_from_slice(line.as_bytes()),
                None => by_file.push((path, line.as_bytes().to_vec())),
            }
        }
        for (path, bytes) in &by_file {
            if !self.files.contains_key(*path) {
                if self.files.len() >= Self::MAX {
                    self.files.clear();
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                self.files.insert((*path).clone(), f);
            }
            let Some(f) = self.files.get_mut(*path) else {
                continue;
            };
            if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_data()) {
                // Reopen next time (the file may have been moved or removed).
                self.files.remove(*path);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// JSON lines under `root/log/<family>/year=…/month=…/day=…/hour=…/records.jsonl`, each record
/// written and fsynced (with group commit) before [`AuditSink::write`] returns.
#[derive(Debug, Clone)]
pub struct FileSink {
    root: PathBuf,
    writer: GroupWriter,
}

impl FileSink {
    /// A sink writing under `root`.
    pub fn new(root: &Path) -> Self {
        FileSink {
            root: root.to_path_buf(),
            writer: GroupWriter::start(),
        }
    }

    /// Batches written and fsynced so far: with the records written, how well group commit
    /// groups (`examples/audit_overhead.rs` prints it).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }
}

/// A record as one JSON line.
pub(crate) fn json_line(record: &AuditRecord) -> Result<String, serde_json::Error> {
    serde_json::to_string(record).map(|mut l| {
        l.push('\n');
        l
    })
}

impl AuditSink for FileSink {
    fn write<'a>(&'a self, family: Profile, record: &'a AuditRecord) -> WriteFuture<'a> {
        let relative = record.partition(family).join("records.jsonl");
        let line = json_line(record);
        Box::pin(async move {
            let fail = |reason: String| AuditError::Io {
                path: relative.display().to_string(),
                reason,
            };
            let line = line.map_err(|e| fail(e.to_string()))?;
            self.writer
                .append(self.root.join(&relative), line)
                .await
                .map_err(fail)
        })
    }

    fn in_flight(&self) -> Option<&InFlight> {
        Some(self.writer.in_flight())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_records_are_all_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                let r = AuditRecord {
                    request_id: format!("r{i}"),
                    request_date: "2026-11-25T13:04:05.123Z".into(),
                    ..Default::default()
                };
                sink.write(if i % 2 == 0 { Profile::Spi } else { Profile::Dict }, &r)
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let read = |family: &str| {
            let path = dir.path().join(format!(
                "log/{family}/year=2026/month=11/day=25/hour=13/records.jsonl"
            ));
            std::fs::read_to_string(path).unwrap().lines().count()
        };
        assert_eq!((read("spi"), read("dict")), (100, 100));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn records_of_many_exchanges_under_way_share_an_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let writer = GroupWriter::start();
        let n = 2 * COMMIT_SIBLINGS;
        let under_way: Vec<_> = (0..n).map(|_| writer.in_flight().enter()).collect();
        // Records arriving one by one, 100 µs apart (well within COMMIT_DELAY): without the
        // delay each would find the writer idle and get an fsync of its own.
        let mut tasks = Vec::new();
        for i in 0..n {
            let (writer, path) = (writer.clone(), dir.path().join("r.jsonl"));
            tasks.push(tokio::spawn(async move {
                writer.append(path, format!("{i}\n")).await
            }));
            std::thread::sleep(Duration::from_micros(100));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        drop(under_way);
        let written = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
        assert_eq!(written.lines().count(), n);
        // Without the delay each record would get an fsync of its own (n); with it they share a
        // few. The bound leaves room for a loaded machine (scheduling stalls of a few ms split a
        // group), not for one fsync per record.
        assert!(
            writer.commits() <= (n / 4) as u64,
            "{} fsyncs for {n} records of exchanges under way",
            writer.commits()
        );
    }

    #[tokio::test]
    async fn at_light_load_no_record_waits_for_others() {
        let dir = tempfile::tempdir().unwrap();
        let writer = GroupWriter::start();
        let _one = writer.in_flight().enter();
        for i in 0..3 {
            writer
                .append(dir.path().join("r.jsonl"), format!("{i}\n"))
                .await
                .unwrap();
        }
        // Committed one by one: with no other exchange under way there is nothing to wait for.
        assert_eq!(writer.commits(), 3);
    }

    #[tokio::test]
    async fn a_write_that_cannot_happen_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the sink needs a directory.
        std::fs::write(dir.path().join("log"), b"").unwrap();
        let err = FileSink::new(dir.path())
            .write(Profile::Spi, &AuditRecord::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("records.jsonl"), "{err}");
    }
}
