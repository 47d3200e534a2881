//! The bank's side of a `dir:` stream consumer: the messages it handed off, read as a bank's
//! process would take them from its spool — each file once, in the order BACEN delivered them
//! (their names start with the delivery time), moved to `taken/` once read so that the next look
//! reads only what is new.

use std::path::{Path, PathBuf};

/// One message the consumer handed off.
#[derive(Debug, Clone)]
pub struct Handed {
    /// BACEN's XML.
    pub body: String,
    /// The proxy verified BACEN's signature.
    pub valid: bool,
    /// The consumer had handed the message off before.
    pub duplicate: bool,
}

/// The message in one of the consumer's files; `None` when it is not one.
pub fn parse(path: &Path) -> Option<Handed> {
    let text = std::fs::read_to_string(path).ok()?;
    let m: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(Handed {
        body: m["body"].as_str()?.to_string(),
        valid: m["signature_valid"] == true,
        duplicate: m["duplicate"] == true,
    })
}

/// A consumer's `dir:` destination, read by the bank.
#[derive(Debug, Clone)]
pub struct Inbox {
    dir: PathBuf,
    taken: PathBuf,
}

impl Inbox {
    /// The destination `dir` (its `taken/` created when missing).
    pub fn new(dir: &Path) -> Result<Inbox, String> {
        let taken = dir.join("taken");
        std::fs::create_dir_all(&taken).map_err(|e| format!("{}: {e}", taken.display()))?;
        Ok(Inbox {
            dir: dir.to_path_buf(),
            taken,
        })
    }

    /// What was handed off since the last look, oldest first; each moved to `taken/`.
    pub fn take(&self) -> Result<Vec<Handed>, String> {
        let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("{}: {e}", self.dir.display()))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // The consumer's temporary files start with a dot and are not messages yet.
                (name.ends_with(".json") && !name.starts_with('.')).then(|| (name, e.path()))
            })
            .collect();
        files.sort();
        let mut out = Vec::with_capacity(files.len());
        for (name, path) in files {
            if let Some(m) = parse(&path) {
                out.push(m);
            }
            std::fs::rename(&path, self.taken.join(&name)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_is_taken_once_in_delivery_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &str| {
            let v = serde_json::json!({"body": body, "signature_valid": true, "duplicate": false});
            std::fs::write(dir.path().join(name), v.to_string()).unwrap();
        };
        write("1700000000002-b.json", "<second/>");
        write("1700000000001-a.json", "<first/>");
        std::fs::write(dir.path().join(".1700000000003-c.tmp"), "partial").unwrap();
        let inbox = Inbox::new(dir.path()).unwrap();
        let got: Vec<String> = inbox.take().unwrap().into_iter().map(|m| m.body).collect();
        assert_eq!(got, ["<first/>", "<second/>"]);
        assert!(inbox.take().unwrap().is_empty());
        write("1700000000004-d.json", "<third/>");
        assert_eq!(inbox.take().unwrap()[0].body, "<third/>");
    }
}
