//! Where the consumer hands messages to the bank (`--to`): a directory, the bank's HTTPS
//! endpoint, or an SQS queue (in `proxy-hsm`, which carries the SQS client). A hand-off that
//! returns `Ok` is durable on the bank's side: only then is the page acknowledged to BACEN.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;

use super::Message;

/// Why a hand-off failed (the consumer retries it, with back-off, and does not acknowledge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{destination}: {reason}")]
pub struct HandOffError {
    /// The destination, as `--to` named it.
    pub destination: String,
    /// Why.
    pub reason: String,
}

/// The future a [`Destination`] returns.
pub type HandOff<'a> = Pin<Box<dyn Future<Output = Result<(), HandOffError>> + Send + 'a>>;

/// Somewhere the bank takes its messages.
pub trait Destination: Send + Sync {
    /// Hands one message off, durably: `Ok` means the bank has it.
    fn hand_off<'a>(&'a self, message: &'a Message) -> HandOff<'a>;
    /// Its name in logs and metrics, e.g. `dir:/var/lib/pix/inbox`.
    fn name(&self) -> String;
}

/// `dir:PATH`: one file per message, `<delivered ms>-<PI-ResourceId>[-n].json` (the message's
/// attributes and BACEN's bytes as `body`), written to a temporary name, synced, renamed and
/// the directory synced before the hand-off returns.
pub struct DirDestination {
    dir: PathBuf,
}

impl DirDestination {
    /// The destination `dir` (created when missing).
    pub fn new(dir: PathBuf) -> std::io::Result<DirDestination> {
        std::fs::create_dir_all(&dir)?;
        Ok(DirDestination { dir })
    }

    fn write(&self, message: &Message) -> std::io::Result<()> {
        let mut record = message.attributes();
        record["body"] = String::from_utf8_lossy(&message.body).into_owned().into();
        let millis = message
            .delivered_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        // The id comes from BACEN: only its safe characters go into a file name.
        let id: String = message
            .resource_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        let tmp = self.dir.join(format!(".{millis}-{id}.tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(record.to_string().as_bytes())?;
            f.sync_all()?;
        }
        // Never over another file: a duplicate gets a name of its own.
        let mut n = 0;
        loop {
            let name = if n == 0 {
                format!("{millis}-{id}.json")
            } else {
                format!("{millis}-{id}-{n}.json")
            };
            let target = self.dir.join(name);
            if !target.exists() {
                std::fs::rename(&tmp, &target)?;
                break;
            }
            n += 1;
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

impl Destination for DirDestination {
    fn hand_off<'a>(&'a self, message: &'a Message) -> HandOff<'a> {
        Box::pin(async move {
            let this = self.dir.clone();
            let message = message.clone();
            let dest = DirDestination { dir: this };
            tokio::task::spawn_blocking(move || dest.write(&message))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map_err(|reason| HandOffError {
                    destination: self.name(),
                    reason,
                })
        })
    }

    fn name(&self) -> String {
        format!("dir:{}", self.dir.display())
    }
}
