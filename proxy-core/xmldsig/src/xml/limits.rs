//! What the parser refuses: its hard limits, and every reason a document is refused.

/// Hard limits applied while parsing; each breach is its own [`XmlError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes (never more than 1 GiB, whatever is set: offsets in
    /// the tree are 32-bit).
    pub max_bytes: usize,
    /// Deepest accepted element nesting (the root element is depth 1).
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
}

impl Default for Limits {
    /// Generous for SPI/DICT messages (a pacs.008 is about 4 KB and 12 levels deep), small enough
    /// that a hostile input cannot exhaust memory.
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 128,
            max_attributes: 64,
        }
    }
}

/// Why a document was refused by the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The document is larger than [`Limits::max_bytes`].
    #[error("document is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Elements nest deeper than [`Limits::max_depth`].
    #[error("elements nest deeper than the limit of {limit} (at byte {offset})")]
    TooDeep {
        /// The limit in force.
        limit: usize,
        /// Byte offset of the element that went too deep.
        offset: usize,
    },
    /// An element carries more attributes than [`Limits::max_attributes`].
    #[error("element <{element}> has more than {limit} attributes")]
    TooManyAttributes {
        /// The element's qualified name.
        element: String,
        /// The limit in force.
        limit: usize,
    },
    /// The input is not UTF-8.
    #[error("document is not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The XML declaration names an encoding other than UTF-8, or a version other than 1.0.
    #[error("unsupported XML declaration: {0}")]
    UnsupportedDeclaration(String),
    /// A `<!DOCTYPE …>` was found; DTDs are never accepted.
    #[error("DOCTYPE declarations are not allowed")]
    Doctype,
    /// An entity reference other than `&lt; &gt; &amp; &apos; &quot;` and character references.
    #[error(
        "entity reference &{0}; is not allowed (only the five predefined entities and character references)"
    )]
    Entity(String),
    /// A prefix is used without a namespace declaration in scope.
    #[error("namespace prefix '{0}' is not declared")]
    UnboundPrefix(String),
    /// The same attribute (by qualified or expanded name) appears twice on an element.
    #[error("attribute '{attribute}' appears twice on <{element}>")]
    DuplicateAttribute {
        /// The element's qualified name.
        element: String,
        /// The repeated attribute.
        attribute: String,
    },
    /// The document has no root element, or more than one, or text outside it.
    #[error("not a well-formed document: {0}")]
    Structure(String),
    /// A syntax error reported by the tokenizer.
    #[error("XML syntax error at byte {offset}: {message}")]
    Syntax {
        /// Byte offset where the tokenizer stopped.
        offset: usize,
        /// The tokenizer's description.
        message: String,
    },
}
