//! Builds a [`Document`] straight from the bytes, enforcing [`Limits`], XML 1.0 well-formedness
//! where a signature depends on it, and namespace well-formedness.
//!
//! The tokenizer is our own: quick-xml's event loop alone runs at about 150 MB/s on tag-dense
//! ISO 20022 documents, below the 300 MB/s c14n target (README, "c14n: build or borrow").
//! Scanning uses `memchr` and never allocates for text or attribute values that need no
//! decoding, so a typical message is parsed with a handful of allocations.

use std::borrow::Cow;

use memchr::{memchr, memmem};

use super::{
    Attribute, Chars, CopyHint, Document, Element, Limits, MAX_DOCUMENT, NO_COLON, NONE, Node, NodeId,
    NodeKind, NsDecl, XML_NS, XmlError, index, link, name_offset, offset,
};

mod attributes;
mod names;
mod prolog;
mod scan;
mod tags;
mod text;

use scan::scan_text;

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Parses `input` (UTF-8, optionally with a byte-order mark) under `limits`.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Document<'a>, XmlError> {
    let max = limits.max_bytes.min(MAX_DOCUMENT);
    if input.len() > max {
        return Err(XmlError::TooLarge {
            size: input.len(),
            limit: max,
        });
    }
    let bom_len = if input.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let src = std::str::from_utf8(&input[bom_len..]).map_err(|e| XmlError::NotUtf8 {
        offset: bom_len + e.valid_up_to(),
    })?;
    // Size the node arena once for typical documents (a node per 8 bytes is more than ISO 20022
    // messages need) instead of growing and copying it; counting the '<' would cost more.
    Builder::new(src, bom_len, limits, src.len() / 8 + 8).run()
}

struct Builder<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    limits: Limits,
    doc: Document<'a>,
    /// Open elements, innermost last.
    open: Vec<Frame>,
    /// Indices into `doc.ns_decls` of the declarations in scope, innermost last.
    scope: Vec<usize>,
    /// The default namespace declaration in scope (`None` when none, or undeclared), kept so
    /// that unprefixed names, most of them, resolve without a search.
    default_ns: Option<usize>,
    root: Option<NodeId>,
    /// Attributes of the start tag being read: (qualified name, value).
    pending: Vec<(&'a str, Cow<'a, str>)>,
}

/// The node [`Builder::element`] pushes, then fills in.
const BLANK_ELEMENT: Node<'static> = Node {
    kind: NodeKind::Element(Element {
        name_len: 0,
        colon: NO_COLON,
        ns: NONE,
        attrs: (0, 0),
        decls: (0, 0),
        span: (0, 0),
        content: (0, 0),
    }),
    copy: CopyHint::Nothing,
    parent: NONE,
    end: 0,
};

/// The node [`Builder::push_text`] pushes, then fills in.
const BLANK_TEXT: Node<'static> = Node {
    kind: NodeKind::Text(Chars {
        start: 0,
        end: 0,
        decoded: false,
    }),
    copy: CopyHint::Nothing,
    parent: NONE,
    end: 0,
};

/// What [`Builder::open_element`] records of a start tag.
struct Opened {
    /// The start tag's bytes.
    span: (usize, usize),
    name_len: usize,
    colon: Option<usize>,
    ns: Option<usize>,
    /// Where its attributes and declarations start in the document's lists (they end at the
    /// lists' ends).
    attrs: usize,
    decls: usize,
    /// The scope outside the element (see [`Frame`]).
    scope_mark: usize,
    outer_default_ns: Option<usize>,
    /// The most of its source c14n may copy, as far as its start tag says.
    copy: CopyHint,
}

/// An element whose content is being read. Compact (`u32`, `NONE` for absent) because one is
/// pushed and popped per element.
struct Frame {
    id: u32,
    /// Length of the builder's `scope` when the element started.
    scope_mark: u32,
    /// The builder's `default_ns` outside the element.
    outer_default_ns: u32,
    /// Its last child so far.
    last_child: u32,
    /// The first eight bytes of its name (fewer, zero-padded, for a shorter name): most end
    /// tags are checked with one comparison, without a visit to the node. Never 0 for a name
    /// that has eight bytes after it (a name has no NUL byte), so 0 means "compare the bytes".
    name_head: u64,
    /// Where its name starts in the source, and its length.
    name: u32,
    name_len: u16,
    /// Where the colon of its name is (`NO_COLON` for none).
    colon: u16,
    /// The binding of its prefix (see [`Element::ns`]).
    ns: u32,
    /// The most of its source c14n may copy, as far as its start tag and content so far say.
    copy: CopyHint,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str, bom_len: usize, limits: &Limits, nodes: usize) -> Self {
        let doc = Document {
            src,
            bom_len,
            nodes: Vec::with_capacity(nodes),
            decoded: String::new(),
            attrs: Vec::with_capacity(nodes / 8),
            ns_decls: Vec::with_capacity(8),
            top: Vec::with_capacity(4),
            root: 0,
        };
        let mut builder = Builder {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            limits: *limits,
            doc,
            open: Vec::with_capacity(32),
            scope: Vec::with_capacity(16),
            default_ns: None,
            root: None,
            pending: Vec::with_capacity(8),
        };
        // Index 0 is the implicit binding of the `xml` prefix, always in scope.
        builder.doc.ns_decls.push(NsDecl {
            prefix: "xml",
            uri: Cow::Borrowed(XML_NS),
        });
        builder.scope.push(0);
        builder
    }

    fn run(mut self) -> Result<Document<'a>, XmlError> {
        if self.bytes.starts_with(b"<?xml") && self.bytes.get(5).is_some_and(|b| b.is_ascii_whitespace()) {
            self.declaration()?;
        }
        loop {
            // Markup often follows markup (`</a></b>`): no text to scan for then.
            if self.bytes.get(self.pos) != Some(&b'<') {
                let (lt, seen) = scan_text(self.bytes, self.pos);
                if lt > self.pos {
                    self.text_run(self.pos, lt, seen)?;
                }
                self.pos = lt;
                if lt == self.bytes.len() {
                    break;
                }
            }
            match self.bytes.get(self.pos + 1) {
                Some(b'/') => self.end_tag()?,
                Some(b'?') => self.pi()?,
                Some(b'!') => self.bang()?,
                _ => self.start_tag()?,
            }
        }
        if !self.open.is_empty() {
            return Err(XmlError::Structure("document ends inside an element".into()));
        }
        self.doc.root = self
            .root
            .ok_or_else(|| XmlError::Structure("no root element".into()))?;
        Ok(self.doc)
    }

    fn syntax(&self, at: usize, message: impl Into<String>) -> XmlError {
        XmlError::Syntax {
            offset: self.doc.bom_len + at,
            message: message.into(),
        }
    }

    /// Appends a node as the last child of the innermost open element (or of the document).
    #[inline(always)]
    fn append(&mut self, kind: NodeKind<'a>) -> NodeId {
        // Only comments and PIs come here: c14n may drop or rewrite them.
        if let Some(f) = self.open.last_mut() {
            f.copy = f.copy.min(CopyHint::Tags);
        }
        self.doc.nodes.push(Node {
            kind,
            copy: CopyHint::Nothing,
            parent: NONE,
            end: 0,
        });
        self.attach()
    }

    /// Makes the node just pushed the last child of the innermost open element (or of the
    /// document); its id. Nothing earlier is written: siblings follow from `end` (see [`Node`]),
    /// which `close` sets for elements.
    #[inline(always)]
    fn attach(&mut self) -> NodeId {
        let id = self.doc.nodes.len() - 1;
        let parent = match self.open.last_mut() {
            Some(f) => {
                f.last_child = offset(id);
                f.id
            }
            None => {
                self.doc.top.push(id);
                NONE
            }
        };
        let node = &mut self.doc.nodes[id];
        node.parent = parent;
        node.end = offset(id + 1);
        id
    }
}

#[cfg(test)]
mod tests;
