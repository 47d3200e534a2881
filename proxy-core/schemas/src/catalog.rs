//! A directory of BACEN's schemas: one per message type and version, named by its target
//! namespace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pix_xmldsig::xml::{self, Limits};

use crate::message::{Invalid, MessageType, Stage};

/// Why a schema directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file in it cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not a schema of an SPI message (its `targetNamespace` is not
    /// `https://www.bcb.gov.br/pi/<type>/<version>`).
    #[error("{path}: {reason}")]
    NotSpiSchema {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two files declare the same type and version.
    #[error("{first} and {second} are both the schema of {message_type}")]
    Duplicate {
        /// The type and version.
        message_type: MessageType,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// libxml2 refuses a schema.
    #[error("{path}: not a usable schema: {reason}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// libxml2's diagnostics.
        reason: String,
    },
    /// The directory holds no `.xsd` file.
    #[error("{0}: no .xsd file")]
    Empty(PathBuf),
    /// This build has no validator (the `libxml2` feature is off).
    #[error(
        "this build cannot check schemas (built without the libxml2 feature); leave the schema directory unset"
    )]
    Unsupported,
}

/// The schemas of a catalog, by message type and version.
#[derive(Debug)]
pub struct Catalog {
    /// Tells this catalog's compiled schemas apart from another's in a thread's cache.
    #[cfg_attr(not(feature = "libxml2"), allow(dead_code))]
    id: u64,
    dir: PathBuf,
    schemas: BTreeMap<MessageType, PathBuf>,
}

impl Catalog {
    /// Reads every `*.xsd` file of `dir` (not its subdirectories) and compiles each once, so
    /// that a broken schema stops the start rather than the first message.
    pub fn load(dir: &Path) -> Result<Catalog, LoadError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LoadError::Io { path, source }
        };
        let dir = std::fs::canonicalize(dir).map_err(io(dir))?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "xsd") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(LoadError::Empty(dir));
        }
        let mut schemas: BTreeMap<MessageType, PathBuf> = BTreeMap::new();
        for path in files {
            let text = std::fs::read(&path).map_err(io(&path))?;
            let message_type = target(&text).map_err(|reason| LoadError::NotSpiSchema {
                path: path.clone(),
                reason,
            })?;
            if let Some(first) = schemas.get(&message_type) {
                return Err(LoadError::Duplicate {
                    message_type,
                    first: first.clone(),
                    second: path,
                });
            }
            schemas.insert(message_type, path);
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let catalog = Catalog {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dir,
            schemas,
        };
        catalog.compile_all()?;
        Ok(catalog)
    }

    #[cfg(feature = "libxml2")]
    fn compile_all(&self) -> Result<(), LoadError> {
        for (message_type, path) in &self.schemas {
            crate::libxml2::prepare(self.id, message_type, path).map_err(|reason| LoadError::Schema {
                path: path.clone(),
                reason,
            })?;
        }
        Ok(())
    }

    #[cfg(not(feature = "libxml2"))]
    fn compile_all(&self) -> Result<(), LoadError> {
        Err(LoadError::Unsupported)
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every type and version the catalog enables, in order.
    pub fn types(&self) -> impl Iterator<Item = &MessageType> {
        self.schemas.keys()
    }

    /// The versions of `kind` the catalog enables (BACEN may enable two during a transition).
    pub fn versions<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.schemas
            .keys()
            .filter(move |t| t.kind == kind)
            .map(|t| t.version.as_str())
    }

    /// Checks `message` against the schema of the type and version it declares: `Ok` with them,
    /// or why it is refused (not XML, not an SPI envelope, a version not enabled, violations).
    pub fn validate(&self, message: &[u8], stage: Stage) -> Result<MessageType, Invalid> {
        let message_type = MessageType::declared_by(message)?;
        let Some(path) = self.schemas.get(&message_type) else {
            return Err(Invalid::NotEnabled(message_type));
        };
        self.check(&message_type, path, message, stage)?;
        Ok(message_type)
    }

    #[cfg(feature = "libxml2")]
    fn check(
        &self,
        message_type: &MessageType,
        path: &Path,
        message: &[u8],
        stage: Stage,
    ) -> Result<(), Invalid> {
        crate::libxml2::validate(self.id, message_type, path, message, stage)
    }

    #[cfg(not(feature = "libxml2"))]
    fn check(&self, _: &MessageType, _: &Path, _: &[u8], _: Stage) -> Result<(), Invalid> {
        // Unreachable: `load` refuses to build a catalog without the validator.
        Err(Invalid::NotXml("this build cannot check schemas".into()))
    }
}

/// The type and version a schema is for: its root's `targetNamespace`.
fn target(text: &[u8]) -> Result<MessageType, String> {
    let doc = xml::parse(text, &Limits::default()).map_err(|e| format!("not readable XML: {e}"))?;
    let root = doc.root();
    let is_schema = doc.is(root, "http://www.w3.org/2001/XMLSchema", "schema");
    if !is_schema {
        return Err("not an XML Schema (its root is not xs:schema)".into());
    }
    let namespace = doc.attribute(root, "targetNamespace").unwrap_or_default();
    MessageType::from_namespace(namespace).ok_or_else(|| {
        format!("target namespace '{namespace}' is not an SPI message's (https://www.bcb.gov.br/pi/<type>/<version>)")
    })
}
