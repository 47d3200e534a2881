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
    Attribute, Chars, Document, Element, Limits, NO_COLON, NONE, Node, NodeId, NodeKind, NsDecl, XML_NS,
    XmlError, link,
};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Parses `input` (UTF-8, optionally with a byte-order mark) under `limits`.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Document<'a>, XmlError> {
    // Offsets are stored as u32, those into the decoded text too (at most twice the input).
    let max = limits.max_bytes.min(u32::MAX as usize / 4);
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
    verbatim: false,
    tags_as_written: false,
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
    verbatim: false,
    tags_as_written: false,
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
    plain: bool,
    canonical: bool,
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
    /// Its start tag and content so far are written exactly as c14n writes them, without a
    /// namespace declaration to add (see [`Node::verbatim`]).
    plain: bool,
    /// Its start tag is written as c14n writes it (see [`Node::tags_as_written`]).
    canonical: bool,
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
            f.plain = false;
        }
        self.doc.nodes.push(Node {
            kind,
            verbatim: false,
            tags_as_written: false,
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
                f.last_child = id as u32;
                f.id
            }
            None => {
                self.doc.top.push(id);
                NONE
            }
        };
        let node = &mut self.doc.nodes[id];
        node.parent = parent;
        node.end = id as u32 + 1;
        id
    }

    /// Character data between markup, `start..end` of the source; `seen` are the [`TEXT_CLASS`]
    /// bits of its bytes.
    fn text_run(&mut self, start: usize, end: usize, seen: u8) -> Result<(), XmlError> {
        let raw = &self.bytes[start..end];
        if self.open.is_empty() {
            if raw.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                return Ok(());
            }
            return Err(XmlError::Structure(
                "character data outside the root element".into(),
            ));
        }
        if seen & GT != 0 && memmem::find(raw, b"]]>").is_some() {
            return Err(self.syntax(start, "']]>' is not allowed in character data"));
        }
        let text = if seen & DECODE == 0 {
            source_chars(start, end)
        } else {
            let from = self.doc.decoded.len();
            decode_into(&self.src[start..end], false, &mut self.doc.decoded)
                .map_err(|(at, e)| self.reference_error(start + at, e))?;
            self.decoded_since(from)
        };
        self.push_text(text, seen & (DECODE | GT) == 0);
        Ok(())
    }

    /// Appends character data; `verbatim` when c14n may copy it unescaped (see [`Node::verbatim`]).
    #[inline(always)]
    fn push_text(&mut self, text: Chars, verbatim: bool) {
        if let Some(f) = self.open.last_mut() {
            f.plain &= verbatim;
        }
        // Adjacent character data (text and CDATA sections) becomes one text node.
        if let Some(prev) = self.open.last().and_then(|f| link(f.last_child))
            && let NodeKind::Text(t) = self.doc.nodes[prev].kind
        {
            let merged = self.join(t, text);
            let node = &mut self.doc.nodes[prev];
            node.kind = NodeKind::Text(merged);
            node.verbatim &= verbatim;
            return;
        }
        // Pushed blank and set in place, for the reason given in `element`.
        self.doc.nodes.push(BLANK_TEXT);
        let id = self.attach();
        let node = &mut self.doc.nodes[id];
        node.verbatim = verbatim;
        node.kind = NodeKind::Text(text);
    }

    /// `a` followed by `b`, as decoded text (text next to a CDATA section). A merged text is
    /// the last decoded text, so it is extended where it lies: each merge costs what it adds,
    /// never the text so far (alternating text and CDATA cannot make parsing quadratic).
    fn join(&mut self, a: Chars, b: Chars) -> Chars {
        if a.decoded && b.decoded && a.end == b.start {
            return Chars { end: b.end, ..a };
        }
        let start = if a.decoded && a.end as usize == self.doc.decoded.len() {
            a.start as usize
        } else {
            let from = self.doc.decoded.len();
            self.push_chars(a);
            from
        };
        self.push_chars(b);
        self.decoded_since(start)
    }

    /// Appends the text of `c` to the decoded text.
    fn push_chars(&mut self, c: Chars) {
        let range = c.start as usize..c.end as usize;
        if c.decoded {
            self.doc.decoded.extend_from_within(range);
        } else {
            self.doc.decoded.push_str(&self.src[range]);
        }
    }

    /// The decoded text appended from offset `from` on.
    fn decoded_since(&self, from: usize) -> Chars {
        Chars {
            start: from as u32,
            end: self.doc.decoded.len() as u32,
            decoded: true,
        }
    }

    /// The source's `start..end` with XML 1.0 end-of-line handling (`\r\n` and lone `\r` become
    /// `\n`): the source range itself when it has no carriage return.
    fn eol_chars(&mut self, start: usize, end: usize) -> Chars {
        let raw = &self.src[start..end];
        if memchr(b'\r', raw.as_bytes()).is_none() {
            return source_chars(start, end);
        }
        let from = self.doc.decoded.len();
        let normalized = raw.replace("\r\n", "\n").replace('\r', "\n");
        self.doc.decoded.push_str(&normalized);
        self.decoded_since(from)
    }

    fn reference_error(&self, at: usize, e: RefError) -> XmlError {
        match e {
            RefError::Entity(name) => XmlError::Entity(name),
            RefError::Syntax(m) => self.syntax(at, m),
        }
    }

    /// `<!--…-->`, `<![CDATA[…]]>` or a refused `<!DOCTYPE`.
    fn bang(&mut self) -> Result<(), XmlError> {
        let rest = &self.bytes[self.pos..];
        if rest.starts_with(b"<!--") {
            let body = self.pos + 4;
            let end = memmem::find(&self.bytes[body..], b"--")
                .map(|i| body + i)
                .ok_or_else(|| self.syntax(self.pos, "unterminated comment"))?;
            if self.bytes.get(end + 2) != Some(&b'>') {
                return Err(self.syntax(end, "'--' is not allowed inside a comment"));
            }
            let text = self.eol_chars(body, end);
            self.append(NodeKind::Comment(text));
            self.pos = end + 3;
        } else if rest.starts_with(b"<![CDATA[") {
            if self.open.is_empty() {
                return Err(XmlError::Structure(
                    "CDATA section outside the root element".into(),
                ));
            }
            let body = self.pos + 9;
            let end = memmem::find(&self.bytes[body..], b"]]>")
                .map(|i| body + i)
                .ok_or_else(|| self.syntax(self.pos, "unterminated CDATA section"))?;
            let text = self.eol_chars(body, end);
            self.push_text(text, false);
            self.pos = end + 3;
        } else if rest.starts_with(b"<!DOCTYPE") {
            return Err(XmlError::Doctype);
        } else {
            return Err(self.syntax(self.pos, "unknown markup declaration"));
        }
        Ok(())
    }

    /// A processing instruction `<?target data?>`.
    fn pi(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let end = memmem::find(&self.bytes[start + 2..], b"?>")
            .map(|i| start + 2 + i)
            .ok_or_else(|| self.syntax(start, "unterminated processing instruction"))?;
        let body = &self.src[start + 2..end];
        let split = body.find(|c: char| c.is_ascii_whitespace()).unwrap_or(body.len());
        let target = &body[..split];
        check_name(target).map_err(|m| self.syntax(start, format!("processing instruction target: {m}")))?;
        if target.eq_ignore_ascii_case("xml") {
            return Err(XmlError::Structure(format!(
                "misplaced XML declaration at byte {start}"
            )));
        }
        if split < body.len() && !body.as_bytes()[split].is_ascii_whitespace() {
            return Err(self.syntax(start, "bad processing instruction"));
        }
        let data = body[split..].trim_start_matches([' ', '\t', '\n', '\r']);
        let data = self.eol_chars(end - data.len(), end);
        self.append(NodeKind::Pi { target, data });
        self.pos = end + 2;
        Ok(())
    }

    /// The XML declaration: only version 1.0 and the UTF-8 encoding are accepted.
    fn declaration(&mut self) -> Result<(), XmlError> {
        let end =
            memmem::find(self.bytes, b"?>").ok_or_else(|| self.syntax(0, "unterminated XML declaration"))?;
        let body = &self.src[5..end];
        let mut version = None;
        let mut rest = body.trim_start();
        while !rest.is_empty() {
            let (name, tail) = rest
                .split_once('=')
                .ok_or_else(|| self.syntax(0, "malformed XML declaration"))?;
            let tail = tail.trim_start();
            let quote = tail.chars().next().filter(|c| *c == '"' || *c == '\'');
            let quote = quote.ok_or_else(|| self.syntax(0, "malformed XML declaration"))?;
            let (value, after) = tail[1..]
                .split_once(quote)
                .ok_or_else(|| self.syntax(0, "malformed XML declaration"))?;
            match name.trim() {
                "version" => version = Some(value),
                "encoding" if !value.eq_ignore_ascii_case("utf-8") => {
                    return Err(XmlError::UnsupportedDeclaration(format!("encoding {value}")));
                }
                "encoding" | "standalone" => {}
                other => return Err(self.syntax(0, format!("unknown XML declaration field '{other}'"))),
            }
            rest = after.trim_start();
        }
        match version {
            Some("1.0") => {}
            Some(v) => return Err(XmlError::UnsupportedDeclaration(format!("version {v}"))),
            None => return Err(self.syntax(0, "XML declaration without version")),
        }
        self.pos = end + 2;
        Ok(())
    }

    fn start_tag(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        if self.open.is_empty() && self.root.is_some() {
            return Err(XmlError::Structure(format!(
                "second root element at byte {start}"
            )));
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep {
                limit: self.limits.max_depth,
                offset: self.doc.bom_len + start,
            });
        }
        let i = start + 1;
        let (name_end, colons) =
            scan_name(self.bytes, i).map_err(|at| self.syntax(at, "invalid character in element name"))?;
        let qname = &self.src[i..name_end];
        if qname.len() >= usize::from(u16::MAX) {
            return Err(self.syntax(i, "element name longer than 65534 bytes"));
        }
        check_qname(qname, colons).map_err(|m| self.syntax(start, format!("element name: {m}")))?;
        if self.bytes.get(name_end) == Some(&b'>') && !self.open.is_empty() {
            return match colons {
                Colons::None => self.simple_element(qname, start, None),
                Colons::One(c) => self.prefixed_element(qname, start, c),
                Colons::Several => self.any_start_tag(qname, colons),
            };
        }
        self.any_start_tag(qname, colons)
    }

    /// The rest of a start tag [`Builder::start_tag`] did not take at once (attributes, a
    /// prefix, an empty-element tag, the root element), from the end of its name `qname`.
    #[inline(never)]
    fn any_start_tag(&mut self, qname: &'a str, colons: Colons) -> Result<(), XmlError> {
        let start = self.pos;
        let mut i = start + 1 + qname.len();
        self.pending.clear();
        // The start tag is written as c14n writes it: no white space before '>', and each
        // attribute as ` name="value"` (see `canonical_attribute`) in c14n's order.
        let mut canonical = true;
        let empty;
        loop {
            let ws = skip_ws(self.bytes, i);
            match self.bytes.get(ws) {
                Some(b'>') => {
                    canonical &= ws == i;
                    empty = false;
                    i = ws + 1;
                    break;
                }
                Some(b'/') if self.bytes.get(ws + 1) == Some(&b'>') => {
                    empty = true;
                    i = ws + 2;
                    break;
                }
                Some(_) if ws > i => {}
                Some(_) => {
                    return Err(self.syntax(ws, format!("expected white space, '>' or '/>' in <{qname}>")));
                }
                None => return Err(self.syntax(start, format!("unterminated start tag <{qname}>"))),
            }
            let (name_end, colon) = scan_name(self.bytes, ws)
                .map_err(|at| self.syntax(at, "invalid character in attribute name"))?;
            let name = &self.src[ws..name_end];
            check_qname(name, colon)
                .map_err(|m| self.syntax(ws, format!("attribute name in <{qname}>: {m}")))?;
            let eq = skip_ws(self.bytes, name_end);
            if self.bytes.get(eq) != Some(&b'=') {
                return Err(self.syntax(eq, format!("attribute '{name}' has no value")));
            }
            let q = skip_ws(self.bytes, eq + 1);
            let quote = match self.bytes.get(q) {
                Some(&c @ (b'"' | b'\'')) => c,
                _ => return Err(self.syntax(q, format!("value of attribute '{name}' is not quoted"))),
            };
            let (close, seen) = scan_value(self.bytes, q + 1, quote)
                .ok_or_else(|| self.syntax(q, format!("unterminated value of attribute '{name}'")))?;
            let raw = &self.src[q + 1..close];
            if seen & LT != 0 {
                return Err(self.syntax(q, format!("'<' in the value of attribute '{name}'")));
            }
            let value = if seen & DECODE == 0 {
                Cow::Borrowed(raw)
            } else {
                let mut decoded = String::with_capacity(raw.len());
                decode_into(raw, true, &mut decoded)
                    .map_err(|(at, e)| self.reference_error(q + 1 + at, e))?;
                Cow::Owned(decoded)
            };
            if self.pending.len() >= self.limits.max_attributes {
                return Err(XmlError::TooManyAttributes {
                    element: qname.to_string(),
                    limit: self.limits.max_attributes,
                });
            }
            if self.pending.iter().any(|(n, _)| *n == name) {
                return Err(XmlError::DuplicateAttribute {
                    element: qname.to_string(),
                    attribute: name.to_string(),
                });
            }
            canonical = canonical
                && ws == i + 1
                && self.bytes[i] == b' '
                && eq == name_end
                && q == eq + 1
                && quote == b'"'
                && matches!(value, Cow::Borrowed(_))
                && canonical_attribute(name, colon, self.pending.last().map(|(n, _)| *n));
            self.pending.push((name, value));
            i = close + 1;
        }
        let colon = match colons {
            Colons::One(c) => Some(c),
            _ => None,
        };
        self.element(qname, colon, start, i, empty, canonical)
    }

    /// Resolves namespaces and records the element whose start tag spans `start..end`;
    /// `canonical` when the tag is written as c14n writes it.
    fn element(
        &mut self,
        qname: &'a str,
        colon: Option<usize>,
        start: usize,
        end: usize,
        empty: bool,
        canonical: bool,
    ) -> Result<(), XmlError> {
        let prefix = colon.map_or("", |i| &qname[..i]);
        let scope_mark = self.scope.len();
        let outer_default_ns = self.default_ns;
        let decls_start = self.doc.ns_decls.len();
        let attrs_start = self.doc.attrs.len();
        if !self.pending.is_empty() {
            self.attributes(qname)?;
        }
        let ns = self.element_ns(prefix)?;
        // Written as c14n writes it, in its parent's prefix (so with no namespace to render).
        let plain = !empty
            && canonical
            && self
                .open
                .last()
                .is_some_and(|f| self.has_prefix_of(f, start, colon));
        let id = self.open_element(Opened {
            span: (start, end),
            name_len: qname.len(),
            colon,
            ns,
            attrs: attrs_start,
            decls: decls_start,
            scope_mark,
            outer_default_ns,
            plain,
            canonical,
        });
        if self.root.is_none() {
            self.root = Some(id);
        }
        if empty {
            self.close(end, end, false);
        }
        Ok(())
    }

    /// `<name>` or `<p:name>` inside the root: no attribute, so no declaration to bring into
    /// scope, and the tag is written as c14n writes it. Most elements of a payment message; the
    /// same node and frame as [`Builder::element`] records. Inlined for unprefixed names (one
    /// call site), the commonest; a prefix calls [`Builder::prefixed_element`].
    #[inline(always)]
    fn simple_element(&mut self, qname: &str, start: usize, colon: Option<usize>) -> Result<(), XmlError> {
        let parent = self.open.last();
        let plain = parent.is_some_and(|f| self.has_prefix_of(f, start, colon));
        let ns = match (colon, parent) {
            (None, _) => self.default_ns,
            // The parent's prefix, and no declaration here: the parent's binding.
            (Some(_), Some(f)) if plain => link(f.ns),
            (Some(i), _) => self.element_ns(&qname[..i])?,
        };
        self.open_element(Opened {
            span: (start, start + qname.len() + 2),
            name_len: qname.len(),
            colon,
            ns,
            attrs: self.doc.attrs.len(),
            decls: self.doc.ns_decls.len(),
            scope_mark: self.scope.len(),
            outer_default_ns: self.default_ns,
            plain,
            canonical: true,
        });
        Ok(())
    }

    /// [`Builder::simple_element`] for a prefixed name, out of the main loop.
    #[inline(never)]
    fn prefixed_element(&mut self, qname: &str, start: usize, colon: usize) -> Result<(), XmlError> {
        self.simple_element(qname, start, Some(colon))
    }

    /// The declaration binding the prefix of an element in the current scope (for no prefix, the
    /// default namespace: `None` when there is none).
    fn element_ns(&self, prefix: &str) -> Result<Option<usize>, XmlError> {
        let ns = self.resolve(prefix)?;
        if !prefix.is_empty() && ns.is_none() {
            return Err(XmlError::UnboundPrefix(prefix.to_string()));
        }
        Ok(ns)
    }

    /// Records an element node and makes it the innermost open element; its id.
    #[inline(always)]
    fn open_element(&mut self, o: Opened) -> NodeId {
        let (start, end) = o.span;
        // A constant node, then its fields set in place: building it on the stack from small
        // stores and copying it with wide loads stalls store forwarding (measured: the largest
        // single cost of parsing a 1 MB message).
        self.doc.nodes.push(BLANK_ELEMENT);
        let id = self.attach();
        let colon = o.colon.map_or(NO_COLON, |i| i as u16);
        if let NodeKind::Element(el) = &mut self.doc.nodes[id].kind {
            // Both fit: `start_tag` refuses longer names.
            el.name_len = o.name_len as u16;
            el.colon = colon;
            el.ns = o.ns.map_or(NONE, |i| i as u32);
            el.attrs = (o.attrs as u32, self.doc.attrs.len() as u32);
            el.decls = (o.decls as u32, self.doc.ns_decls.len() as u32);
            el.span = (start as u32, end as u32);
            el.content = (end as u32, end as u32);
        }
        self.open.push(Frame {
            id: id as u32,
            scope_mark: o.scope_mark as u32,
            outer_default_ns: o.outer_default_ns.map_or(NONE, |d| d as u32),
            last_child: NONE,
            name_head: name_head(self.bytes, start + 1, o.name_len),
            name: start as u32 + 1,
            name_len: o.name_len as u16,
            colon,
            ns: o.ns.map_or(NONE, |i| i as u32),
            plain: o.plain,
            canonical: o.canonical,
        });
        self.pos = end;
        id
    }

    /// The namespace declarations and attributes of the start tag just read (`pending`): the
    /// declarations come into scope, the attributes are resolved and recorded.
    fn attributes(&mut self, qname: &'a str) -> Result<(), XmlError> {
        let attrs_start = self.doc.attrs.len();
        let pending = std::mem::take(&mut self.pending);
        for (name, value) in &pending {
            if *name == "xmlns" || name.starts_with("xmlns:") {
                let p = name.strip_prefix("xmlns:").unwrap_or("");
                check_declaration(p, value)?;
                self.doc.ns_decls.push(NsDecl {
                    prefix: p,
                    uri: value.clone(),
                });
                let index = self.doc.ns_decls.len() - 1;
                self.scope.push(index);
                if p.is_empty() {
                    self.default_ns = (!value.is_empty()).then_some(index);
                }
            }
        }
        for (name, value) in pending
            .iter()
            .filter(|(n, _)| *n != "xmlns" && !n.starts_with("xmlns:"))
        {
            let (p, l) = split_qname(name);
            let ns_uri = if p.is_empty() {
                Cow::Borrowed("")
            } else {
                let idx = self
                    .resolve(p)?
                    .ok_or_else(|| XmlError::UnboundPrefix(p.to_string()))?;
                self.doc.ns_decls[idx].uri.clone()
            };
            if !p.is_empty()
                && self.doc.attrs[attrs_start..]
                    .iter()
                    .any(|a| a.local == l && a.ns_uri == ns_uri)
            {
                return Err(XmlError::DuplicateAttribute {
                    element: qname.to_string(),
                    attribute: name.to_string(),
                });
            }
            self.doc.attrs.push(Attribute {
                qname: name,
                prefix: p,
                local: l,
                ns_uri,
                value: value.clone(),
            });
        }
        self.pending = pending;
        Ok(())
    }

    fn end_tag(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        // The usual case, the open element's name followed by '>', needs no scan. Names are
        // short: compared eight bytes at once, then byte by byte, not with a call to `memcmp`.
        if let Some(f) = self.open.last()
            && let len = usize::from(f.name_len)
            && self.bytes.get(start + 2 + len) == Some(&b'>')
            && f.name_head != 0
            && name_head(self.bytes, start + 2, len) == f.name_head
            && (len <= 8 || {
                let open = f.name as usize + 8;
                self.bytes[start + 10..start + 2 + len]
                    .iter()
                    .zip(&self.bytes[open..open + len - 8])
                    .all(|(a, b)| a == b)
            })
        {
            let end = start + 3 + len;
            self.close(start, end, true);
            self.pos = end;
            return Ok(());
        }
        self.any_end_tag()
    }

    /// An end tag [`Builder::end_tag`] did not recognise at once: white space before '>', a
    /// long name near the end of the input, or an error.
    #[inline(never)]
    fn any_end_tag(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let (name_end, _) =
            scan_name(self.bytes, start + 2).map_err(|at| self.syntax(at, "invalid character in end tag"))?;
        let name = &self.src[start + 2..name_end];
        let gt = skip_ws(self.bytes, name_end);
        if self.bytes.get(gt) != Some(&b'>') {
            return Err(self.syntax(start, format!("malformed end tag </{name}")));
        }
        let open = self
            .open
            .last()
            .and_then(|f| self.doc.element(f.id as NodeId))
            .map(|e| self.doc.qname(e));
        match open {
            Some(q) if q == name => {}
            Some(q) => return Err(self.syntax(start, format!("end tag </{name}> does not match <{q}>"))),
            None => return Err(self.syntax(start, format!("end tag </{name}> without a start tag"))),
        }
        self.close(start, gt + 1, gt == name_end);
        self.pos = gt + 1;
        Ok(())
    }

    /// True when the element whose start tag begins at `start` (its name's colon at `colon`) has
    /// the same prefix as the open element `parent`.
    #[inline(always)]
    fn has_prefix_of(&self, parent: &Frame, start: usize, colon: Option<usize>) -> bool {
        match colon {
            None => parent.colon == NO_COLON,
            Some(i) if usize::from(parent.colon) == i => {
                // A prefix of up to eight bytes is in the heads of both names.
                let mine = name_head(self.bytes, start + 1, i);
                if i <= 8 && mine != 0 && parent.name_head != 0 {
                    return mine == parent.name_head & HEAD_MASKS[i];
                }
                let theirs = parent.name as usize;
                self.bytes[theirs..theirs + i] == self.bytes[start + 1..start + 1 + i]
            }
            Some(_) => false,
        }
    }

    /// Ends the innermost open element; `bare_end` when its end tag is exactly `</qname>`.
    #[inline(always)]
    fn close(&mut self, content_end: usize, end: usize, bare_end: bool) {
        if let Some(frame) = self.open.pop() {
            self.scope.truncate(frame.scope_mark as usize);
            self.default_ns = link(frame.outer_default_ns);
            let subtree_end = self.doc.nodes.len() as u32;
            let node = &mut self.doc.nodes[frame.id as usize];
            node.end = subtree_end;
            node.verbatim = frame.plain && bare_end;
            node.tags_as_written = frame.canonical && bare_end;
            if let NodeKind::Element(el) = &mut node.kind {
                el.span.1 = end as u32;
                el.content.1 = (content_end as u32).max(el.content.0);
            }
            if !node.verbatim
                && let Some(parent) = self.open.last_mut()
            {
                parent.plain = false;
            }
        }
    }

    /// The declaration binding `prefix` in the current scope; `None` for an unbound default.
    #[inline]
    fn resolve(&self, prefix: &str) -> Result<Option<usize>, XmlError> {
        if prefix.is_empty() {
            return Ok(self.default_ns);
        }
        for &i in self.scope.iter().rev() {
            let d = &self.doc.ns_decls[i];
            if super::c14n::same(d.prefix, prefix) {
                return Ok((!d.uri.is_empty()).then_some(i));
            }
        }
        Err(XmlError::UnboundPrefix(prefix.to_string()))
    }
}

/// The first eight bytes of the `len`-byte name at `at`, zero-padded when shorter, as a
/// little-endian word (0 when the input ends within eight bytes: the bytes are then compared).
#[inline(always)]
fn name_head(bytes: &[u8], at: usize, len: usize) -> u64 {
    bytes
        .get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |w| u64::from_le_bytes(*w) & HEAD_MASKS[len.min(8)])
}

/// `HEAD_MASKS[n]` keeps the low `n` bytes of a word.
const HEAD_MASKS: [u64; 9] = {
    let mut m = [u64::MAX; 9];
    let mut i = 0;
    while i < 8 {
        m[i] = (1 << (8 * i)) - 1;
        i += 1;
    }
    m
};

/// How a byte behaves inside a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameByte {
    Part,
    Colon,
    End,
    Invalid,
}

const NAME_BYTES: [NameByte; 256] = {
    let mut t = [NameByte::Part; 256];
    let ends = b" \t\n\r>/=<\"'?";
    let mut i = 0;
    while i < ends.len() {
        t[ends[i] as usize] = NameByte::End;
        i += 1;
    }
    let invalid = b"&;![](){},`$%*+@^|~#\\";
    let mut i = 0;
    while i < invalid.len() {
        t[invalid[i] as usize] = NameByte::Invalid;
        i += 1;
    }
    t[b':' as usize] = NameByte::Colon;
    let mut c = 0;
    while c < 0x20 {
        if t[c].eq_part() {
            t[c] = NameByte::Invalid;
        }
        c += 1;
    }
    t
};

impl NameByte {
    const fn eq_part(self) -> bool {
        matches!(self, NameByte::Part)
    }
}

/// Where the colons of a name are, as [`scan_name`] saw them.
#[derive(Clone, Copy)]
enum Colons {
    None,
    /// Exactly one, at this offset in the name.
    One(usize),
    Several,
}

/// End of the name starting at `i` (the first delimiter) and its colons, or the offset of a byte
/// no name has.
fn scan_name(bytes: &[u8], start: usize) -> Result<(usize, Colons), usize> {
    let mut i = start;
    let mut colons = Colons::None;
    loop {
        // ASCII letters and digits, nearly all of a name, eight at a time; then the byte that
        // stopped them, and any other name byte, one at a time.
        i = skip_unflagged(bytes, i, not_alphanumeric);
        while bytes
            .get(i)
            .is_some_and(|&b| NAME_BYTES[b as usize] == NameByte::Part)
        {
            i += 1;
        }
        match bytes.get(i).map(|&b| NAME_BYTES[b as usize]) {
            Some(NameByte::Colon) => {
                colons = match colons {
                    Colons::None => Colons::One(i - start),
                    _ => Colons::Several,
                };
                i += 1;
            }
            Some(NameByte::Invalid) => return Err(i),
            _ => return Ok((i, colons)),
        }
    }
}

/// Flags (high bit set) the bytes of `word` that are not ASCII letters or digits. Each byte is
/// tested on its own low seven bits, so no carry crosses bytes and every flag is exact.
#[inline]
fn not_alphanumeric(word: u64) -> u64 {
    const HIGH: u64 = ONES << 7;
    let low = word & !HIGH;
    // Bit 7 of `low + (0x80 - n)` is set exactly when a byte is at least n.
    let at_least = |v: u64, n: u8| v + ONES * u64::from(0x80 - n);
    let digit = at_least(low, b'0') & !at_least(low, b'9' + 1);
    let folded = low | (ONES * 0x20);
    let letter = at_least(folded, b'a') & !at_least(folded, b'z' + 1);
    !(digit | letter) & !word & HIGH | word & HIGH
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// A name (delimiters and invalid bytes were refused by `scan_name`): not empty, not starting
/// with a digit, `-` or `.`.
fn check_name(name: &str) -> Result<(), String> {
    match name.as_bytes().first() {
        None => Err("empty name".into()),
        Some(b'-' | b'.' | b'0'..=b'9') => Err(format!("'{name}' is not a valid name")),
        Some(_) => Ok(()),
    }
}

/// A qualified name (`colons` as [`scan_name`] found them): a name with at most one colon, and
/// a non-empty prefix and local part.
#[inline(always)]
fn check_qname(name: &str, colons: Colons) -> Result<(), String> {
    // Nearly every name: no colon, starting with a letter.
    if matches!(colons, Colons::None) && name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return Ok(());
    }
    check_qname_fully(name, colons)
}

fn check_qname_fully(name: &str, colons: Colons) -> Result<(), String> {
    check_name(name)?;
    match colons {
        Colons::None => Ok(()),
        Colons::One(i) if i + 1 < name.len() => check_name(&name[i + 1..]),
        _ => Err(format!("'{name}' is not a valid qualified name")),
    }
}

/// An attribute c14n writes as the source does, its value aside: unprefixed (so no namespace to
/// render), not a namespace declaration, and after `previous` in c14n's order (by local name for
/// attributes without a namespace).
fn canonical_attribute(name: &str, colons: Colons, previous: Option<&str>) -> bool {
    matches!(colons, Colons::None) && name != "xmlns" && previous.is_none_or(|p| p < name)
}

fn check_declaration(prefix: &str, uri: &str) -> Result<(), XmlError> {
    let bad = match prefix {
        "xmlns" => true,
        "xml" => uri != XML_NS,
        "" => uri == XML_NS || uri == XMLNS_NS,
        _ => uri.is_empty() || uri == XML_NS || uri == XMLNS_NS,
    };
    if bad {
        return Err(XmlError::Structure(format!(
            "illegal namespace declaration of prefix '{prefix}' as '{uri}'"
        )));
    }
    Ok(())
}

fn split_qname(qname: &str) -> (&str, &str) {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => (&qname[..i], &qname[i + 1..]),
        None => ("", qname),
    }
}

/// A bad reference, with its offset in the decoded run.
enum RefError {
    Entity(String),
    Syntax(String),
}

/// Decodes the reference at the start of `s` (which begins with `&`): the character and the
/// reference's length in bytes.
fn reference(s: &str) -> Result<(char, usize), RefError> {
    let semi = s.find(';').filter(|&i| i <= 12).ok_or_else(|| {
        RefError::Syntax("'&' must start a reference ending in ';' (escape it as &amp;)".into())
    })?;
    let body = &s[1..semi];
    let c = if let Some(num) = body.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        let c = Some(digits)
            .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(radix)))
            .and_then(|d| u32::from_str_radix(d, radix).ok())
            .and_then(char::from_u32)
            .ok_or_else(|| RefError::Syntax(format!("bad character reference &{body};")))?;
        let legal =
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        if !legal {
            return Err(RefError::Syntax(format!(
                "character reference &{body}; is not an XML character"
            )));
        }
        c
    } else {
        match body {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => return Err(RefError::Entity(body.to_string())),
        }
    };
    Ok((c, semi + 1))
}

/// [`TEXT_CLASS`] bit: a byte that needs decoding (`&`, `\r`).
const DECODE: u8 = 1;
/// [`TEXT_CLASS`] bit: `>`, which may end a forbidden `]]>`.
const GT: u8 = 2;
/// [`TEXT_CLASS`] bit: `<`, the end of character data.
const LT: u8 = 4;
/// What character data scanning must notice about each byte.
const TEXT_CLASS: [u8; 256] = {
    let mut t = [0; 256];
    t[b'&' as usize] = DECODE;
    t[b'\r' as usize] = DECODE;
    t[b'>' as usize] = GT;
    t[b'<' as usize] = LT;
    t
};

/// The next `<` at or after `i` (or the end of input) and the [`TEXT_CLASS`] bits of the bytes
/// before it. Runs between tags are mostly indentation and short values: eight bytes are checked
/// at a time (portable SWAR, no SIMD intrinsics), then the byte that stopped the check.
#[inline]
fn scan_text(bytes: &[u8], mut i: usize) -> (usize, u8) {
    let mut seen = 0;
    loop {
        i = skip_unflagged(bytes, i, |word| {
            // '<' (0x3C) and '>' (0x3E) differ only in bit 1: one test finds both.
            has_byte(word | (ONES * 2), b'>') | has_byte(word, b'&') | has_byte(word, b'\r')
        });
        let Some(&b) = bytes.get(i) else {
            return (i, seen);
        };
        let class = TEXT_CLASS[b as usize];
        if class == LT {
            return (i, seen);
        }
        seen |= class;
        i += 1;
    }
}

/// One in each byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// Skips from `i`, eight bytes at a time, the words in which `flags` (high bit set per byte)
/// flags no byte; stops at the lowest flagged byte, which must be a real match (higher flags may
/// be false), or where fewer than eight bytes are left. The caller reads on from there byte by
/// byte.
#[inline(always)]
fn skip_unflagged(bytes: &[u8], mut i: usize, flags: impl Fn(u64) -> u64) -> usize {
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let hits = flags(u64::from_le_bytes(*chunk));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// Flags (high bit set) the bytes of `word` equal to `b`; exact for the lowest one.
#[inline]
fn has_byte(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// The closing `quote` of the attribute value that starts at `i`, and the [`TEXT_CLASS`] bits
/// of its bytes: `LT` for a `<` (refused), `DECODE` for a byte that normalization or a reference
/// changes (`&`, tab, line end). One pass, eight bytes at a time: values are short names or long
/// URIs, mostly with neither.
#[inline]
fn scan_value(bytes: &[u8], mut i: usize, quote: u8) -> Option<(usize, u8)> {
    let mut seen = 0;
    loop {
        i = skip_unflagged(bytes, i, |word| {
            // Tab, line feed and carriage return are the bytes below 0x20 that matter.
            let below_space = word.wrapping_sub(ONES * 0x20) & !word & (ONES << 7);
            has_byte(word, quote) | has_byte(word, b'<') | has_byte(word, b'&') | below_space
        });
        let &b = bytes.get(i)?;
        if b == quote {
            return Some((i, seen));
        }
        seen |= match b {
            b'<' => LT,
            b'&' | b'\t' | b'\n' | b'\r' => DECODE,
            _ => 0,
        };
        i += 1;
    }
}

/// Appends `raw` to `out` with references resolved and line ends normalized (for an attribute,
/// white space becomes spaces too); on a bad reference, its offset in `raw`.
fn decode_into(raw: &str, attribute: bool, out: &mut String) -> Result<(), (usize, RefError)> {
    out.reserve(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\r', '\n', '\t']) {
        out.push_str(&rest[..i]);
        let offset = raw.len() - rest.len() + i;
        match rest.as_bytes()[i] {
            b'&' => {
                let (c, len) = reference(&rest[i..]).map_err(|e| (offset, e))?;
                out.push(c);
                rest = &rest[i + len..];
                continue;
            }
            b'\r' => {
                out.push(if attribute { ' ' } else { '\n' });
                let skip = if rest.as_bytes().get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
                continue;
            }
            c => out.push(if attribute { ' ' } else { c as char }),
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// The source's `start..end` as it is.
fn source_chars(start: usize, end: usize) -> Chars {
    Chars {
        start: start as u32,
        end: end as u32,
        decoded: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_know_their_bytes() {
        let src = "\u{feff}<r a=\"1\"><s/><t>x</t></r>";
        let doc = parse(src.as_bytes(), &Limits::default()).unwrap();
        let text = doc.source();
        let kids: Vec<_> = doc.child_elements(doc.root()).collect();
        let s = doc.element(kids[0]).unwrap();
        let t = doc.element(kids[1]).unwrap();
        assert_eq!(doc.bom_len(), 3);
        assert_eq!(&text[s.span()], "<s/>");
        assert!(s.is_self_closing() && s.content().is_empty());
        assert_eq!(&text[t.span()], "<t>x</t>");
        assert_eq!(&text[t.content()], "x");
        assert!(!t.is_self_closing());
        assert_eq!(doc.attribute(doc.root(), "a"), Some("1"));
        assert_eq!(doc.text(kids[1]), "x");
    }

    #[test]
    fn an_end_tag_must_repeat_the_name_in_every_byte() {
        // Names of 1 to 20 bytes, a byte changed at each position of the end tag, with the
        // element far from and right at the end of the input (where fewer than eight bytes
        // follow the end tag's name).
        for len in 1..=20 {
            let name: String = "abcdefghijklmnopqrst"[..len].into();
            for tail in ["<pad>0123456789</pad></r>", "</r>"] {
                let good = format!("<r><{name}>x</{name}>{tail}");
                let doc = parse(good.as_bytes(), &Limits::default()).unwrap();
                let el = doc.child_elements(doc.root()).next().unwrap();
                assert!(doc.node(el).tags_as_written, "{good}");
                for at in 0..len {
                    let mut bad = name.clone().into_bytes();
                    bad[at] = b'Z';
                    let bad = String::from_utf8(bad).unwrap();
                    let xml = format!("<r><{name}>x</{bad}>{tail}");
                    assert!(
                        matches!(
                            parse(xml.as_bytes(), &Limits::default()),
                            Err(XmlError::Syntax { .. })
                        ),
                        "{xml}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_prefix_resolves_to_the_declaration_in_scope_or_is_refused() {
        // Same prefix as the parent or another one of the same length, short and long (over the
        // eight bytes kept of a name), redeclared inside.
        let doc = parse(
            br#"<p:r xmlns:p="urn:1" xmlns:q="urn:3" xmlns:prefixAbcd="urn:4" xmlns:prefixAbce="urn:5">
                <p:a><p:b xmlns:p="urn:2"><p:c>x</p:c></p:b><p:d>y</p:d><q:e>z</q:e></p:a>
                <prefixAbcd:f><prefixAbcd:g>1</prefixAbcd:g><prefixAbce:h>2</prefixAbce:h></prefixAbcd:f>
                </p:r>"#,
            &Limits::default(),
        )
        .unwrap();
        let find = |local: &str| {
            doc.elements()
                .find(|&e| doc.element(e).is_some_and(|el| doc.local(el) == local))
        };
        for (local, ns) in [
            ("r", "urn:1"),
            ("a", "urn:1"),
            ("b", "urn:2"),
            ("c", "urn:2"),
            ("d", "urn:1"),
            ("e", "urn:3"),
            ("f", "urn:4"),
            ("g", "urn:4"),
            ("h", "urn:5"),
        ] {
            assert!(doc.is(find(local).unwrap(), ns, local), "{local}");
        }
        for xml in [
            "<p:r/>",
            "<r><p:a>x</p:a></r>",
            "<r><p:a b=\"1\"/></r>",
            "<r><a p:b=\"1\"/></r>",
            "<r><a xmlns:p=\"urn:p\"/><p:b>x</p:b></r>",
            "<r><a xmlns:p=\"urn:p\"><p:b>x</p:b></a><p:c>y</p:c></r>",
        ] {
            assert_eq!(
                parse(xml.as_bytes(), &Limits::default()).unwrap_err(),
                XmlError::UnboundPrefix("p".into()),
                "{xml}"
            );
        }
    }

    #[test]
    fn namespaces_resolve_through_ancestors() {
        let doc = parse(
            br#"<p:a xmlns:p="urn:p" xmlns="urn:d"><b/><c xmlns=""/></p:a>"#,
            &Limits::default(),
        )
        .unwrap();
        let kids: Vec<_> = doc.child_elements(doc.root()).collect();
        assert!(doc.is(doc.root(), "urn:p", "a"));
        assert!(doc.is(kids[0], "urn:d", "b"));
        assert!(doc.is(kids[1], "", "c"));
    }

    #[test]
    fn text_and_attributes_are_decoded() {
        let doc = parse(
            b"<r a=\"x\r\ny&#10;&lt;\">a\r\nb&amp;&#x41;<![CDATA[&c]]></r>",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(doc.attribute(doc.root(), "a"), Some("x y\n<"));
        assert_eq!(doc.text(doc.root()), "a\nb&A&c");
    }

    #[test]
    fn merging_text_and_cdata_costs_what_it_adds() {
        // 20 000 alternations: copying the text so far at each merge would decode ~800 MB.
        let body = "x&amp;<![CDATA[y]]>".repeat(20_000);
        let src = format!("<a>{body}</a>");
        let doc = parse(src.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(doc.text(doc.root()), "x&y".repeat(20_000));
        assert!(
            doc.decoded.len() <= 2 * src.len(),
            "{} decoded bytes",
            doc.decoded.len()
        );
    }

    #[test]
    fn the_attribute_value_scan_finds_its_quote_and_every_byte_that_matters() {
        // Every byte value at every offset of values of 0 to 19 bytes, with either quote,
        // against a byte-by-byte reading.
        for quote in [b'"', b'\''] {
            for len in 0..20 {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut input = vec![b'v'; len];
                        input[at] = b;
                        input.extend_from_slice(&[quote, b'>', b' ', b'x', b'x', b'x', b'x', b'x']);
                        let close = input.iter().position(|&c| c == quote).unwrap();
                        let seen = input[..close].iter().fold(0, |acc, &c| {
                            acc | match c {
                                b'<' => LT,
                                b'&' | b'\t' | b'\n' | b'\r' => DECODE,
                                _ => 0,
                            }
                        });
                        assert_eq!(
                            scan_value(&input, 0, quote),
                            Some((close, seen)),
                            "{b:#04x} at {at} of {len}"
                        );
                    }
                }
            }
            assert_eq!(scan_value(b"abc", 0, quote), None);
        }
    }

    #[test]
    fn the_eight_byte_name_scan_flags_exactly_what_is_not_a_letter_or_digit() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"aZ09mQ5x";
                word[at] = b;
                let flags = not_alphanumeric(u64::from_le_bytes(word));
                let expected = if b.is_ascii_alphanumeric() {
                    0
                } else {
                    0x80u64 << (8 * at)
                };
                assert_eq!(flags, expected, "byte {b:#04x} at {at}");
            }
        }
        // Names longer than one word, with other name bytes, a colon, non-ASCII, at any offset.
        for name in [
            "CdtTrfTxInf",
            "a",
            "Ab12-x.y_z\u{e9}t",
            "PrvtIdOthrFinInstnIdX",
            "p:LongLocalName9",
        ] {
            let xml = format!("<{name} xmlns:p=\"urn:p\"><{name}/></{name}>");
            let doc = parse(xml.as_bytes(), &Limits::default()).expect(name);
            assert_eq!(doc.qname(doc.element(doc.root()).unwrap()), name);
        }
        // A byte no name has, after a whole word of letters.
        assert!(parse(b"<Abcdefghij;k/>", &Limits::default()).is_err());
    }

    #[test]
    fn nodes_stay_small_and_names_bounded() {
        // Parsing writes a node per element and text run: its size is the parser's memory traffic.
        assert!(
            std::mem::size_of::<Node>() <= 64,
            "{}",
            std::mem::size_of::<Node>()
        );
        let long = "a".repeat(70_000);
        let err = parse(format!("<{long}/>").as_bytes(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("element name longer than"), "{err}");
        let ok = "b".repeat(60_000);
        let src = format!("<p:{ok} xmlns:p=\"urn:p\"/>");
        let doc = parse(src.as_bytes(), &Limits::default()).unwrap();
        let root = doc.element(doc.root()).unwrap();
        assert_eq!((doc.prefix(root), doc.local(root).len()), ("p", 60_000));
    }

    #[test]
    fn adjacent_character_data_becomes_one_text() {
        // Source text + decoded CDATA, decoded + decoded (contiguous), CDATA + source text.
        for (xml, text) in [
            ("<r>ab<![CDATA[c\r\nd]]></r>", "abc\nd"),
            ("<r>a&amp;<![CDATA[\rb]]>c</r>", "a&\nbc"),
            ("<r><![CDATA[x]]>y<![CDATA[]]>z</r>", "xyz"),
        ] {
            let doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
            assert_eq!(doc.children(doc.root()).count(), 1, "{xml}");
            assert_eq!(doc.text(doc.root()), text, "{xml}");
        }
        let doc = parse(b"<r><!--a\r\nb--><?p x\ry?></r>", &Limits::default()).unwrap();
        let kinds: Vec<&str> = doc
            .children(doc.root())
            .map(|c| match doc.node(c).kind {
                NodeKind::Comment(t) | NodeKind::Pi { data: t, .. } => doc.chars(t),
                _ => "?",
            })
            .collect();
        assert_eq!(kinds, ["a\nb", "x\ny"]);
    }

    #[test]
    fn malformed_input_is_refused_with_a_reason() {
        for bad in [
            r#"<a xmlns:p=""/>"#,
            r#"<a xmlns:xml="urn:x"/>"#,
            r#"<a xmlns:xmlns="urn:x"/>"#,
        ] {
            assert!(
                matches!(
                    parse(bad.as_bytes(), &Limits::default()),
                    Err(XmlError::Structure(_))
                ),
                "{bad}"
            );
        }
        for bad in [
            "<a x=\"1\"y=\"2\"/>",
            "<a x=1/>",
            "<a x/>",
            "<a>&#0;</a>",
            "<a>& b</a>",
            "<a>]]></a>",
            "<a><!-- a -- b --></a>",
            "<1a/>",
            "<a:/>",
            "<a></b>",
            "</a>",
            "<a><![CDATA[x</a>",
            "<a",
            "<a x='1",
            "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><a/>",
        ] {
            assert!(
                parse(bad.as_bytes(), &Limits::default()).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
