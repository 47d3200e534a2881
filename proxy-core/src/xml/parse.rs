//! Builds a [`Document`] from quick-xml events, enforcing [`Limits`] and namespace well-formedness.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{Attribute, Document, Element, Limits, Node, NodeId, NodeKind, NsDecl, XML_NS, XmlError};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Parses `input` (UTF-8, optionally with a byte-order mark) under `limits`.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Document<'a>, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let bom_len = if input.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let src = std::str::from_utf8(&input[bom_len..]).map_err(|e| XmlError::NotUtf8 {
        offset: bom_len + e.valid_up_to(),
    })?;
    Builder::new(src, bom_len, limits).run()
}

struct Builder<'a> {
    reader: Reader<&'a [u8]>,
    limits: Limits,
    doc: Document<'a>,
    /// Open elements, innermost last.
    open: Vec<NodeId>,
    /// Indices into `doc.ns_decls` of the declarations in scope, innermost last.
    scope: Vec<usize>,
    /// Length of `scope` when each open element started.
    scope_marks: Vec<usize>,
    /// Last child appended to each open element (and to the document, at index 0).
    last_child: Vec<Option<NodeId>>,
    root: Option<NodeId>,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str, bom_len: usize, limits: &Limits) -> Self {
        let mut reader = Reader::from_str(src);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        let doc = Document {
            src,
            bom_len,
            nodes: Vec::with_capacity(src.len() / 16),
            attrs: Vec::new(),
            // Index 0 is the implicit binding of the `xml` prefix.
            ns_decls: vec![NsDecl {
                prefix: "xml",
                uri: Cow::Borrowed(XML_NS),
            }],
            top: Vec::new(),
            root: 0,
        };
        Builder {
            reader,
            limits: *limits,
            doc,
            open: Vec::new(),
            scope: vec![0],
            scope_marks: Vec::new(),
            last_child: vec![None],
            root: None,
        }
    }

    fn run(mut self) -> Result<Document<'a>, XmlError> {
        loop {
            let start = self.reader.buffer_position() as usize;
            let event = self.reader.read_event().map_err(|e| self.syntax(e))?;
            let end = self.reader.buffer_position() as usize;
            match event {
                Event::Start(e) => self.start(&e, start, end, false)?,
                Event::Empty(e) => self.start(&e, start, end, true)?,
                Event::End(_) => self.end(start, end),
                Event::Text(t) => self.text(t.xml10_content(), true)?,
                Event::CData(t) => self.text(t.xml10_content(), false)?,
                Event::GeneralRef(r) => {
                    let ch = match r.resolve_char_ref().map_err(|e| self.syntax(e))? {
                        Some(c) => c,
                        None => predefined_entity(&r).ok_or_else(|| XmlError::Entity(r.to_string()))?,
                    };
                    self.text(Cow::Owned(ch.to_string()), false)?;
                }
                Event::Comment(t) => {
                    let text = t.xml10_content();
                    self.append(NodeKind::Comment(text));
                }
                Event::PI(pi) => {
                    let target = pi.target();
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(XmlError::Structure(format!(
                            "misplaced XML declaration at byte {start}"
                        )));
                    }
                    let data = match normalize_eol(pi.content().trim_start()) {
                        Cow::Borrowed(_) => Cow::Borrowed(slice_of(self.doc.src, pi.content().trim_start())?),
                        Cow::Owned(s) => Cow::Owned(s),
                    };
                    let target = slice_of(self.doc.src, target)?;
                    self.append(NodeKind::Pi { target, data });
                }
                Event::Decl(d) => {
                    if start != 0 {
                        return Err(XmlError::Structure(format!(
                            "XML declaration not at the start (byte {start})"
                        )));
                    }
                    let version = d.version().map_err(|e| self.syntax(e))?;
                    if version != "1.0" {
                        return Err(XmlError::UnsupportedDeclaration(format!("version {version}")));
                    }
                    if let Some(enc) = d.encoding() {
                        let enc = enc.map_err(|e| self.syntax(e))?;
                        if !enc.eq_ignore_ascii_case("utf-8") {
                            return Err(XmlError::UnsupportedDeclaration(format!("encoding {enc}")));
                        }
                    }
                }
                Event::DocType(_) => return Err(XmlError::Doctype),
                Event::Eof => break,
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

    fn syntax(&self, e: impl std::fmt::Display) -> XmlError {
        XmlError::Syntax {
            offset: self.doc.bom_len + self.reader.error_position() as usize,
            message: e.to_string(),
        }
    }

    /// Appends a node as the last child of the innermost open element (or of the document).
    fn append(&mut self, kind: NodeKind<'a>) -> NodeId {
        let id = self.doc.nodes.len();
        let parent = self.open.last().copied();
        self.doc.nodes.push(Node {
            kind,
            parent,
            first_child: None,
            next_sibling: None,
        });
        let slot = self
            .last_child
            .last_mut()
            .expect("the document slot is never popped");
        match *slot {
            Some(prev) => self.doc.nodes[prev].next_sibling = Some(id),
            None => {
                if let Some(p) = parent {
                    self.doc.nodes[p].first_child = Some(id);
                }
            }
        }
        *slot = Some(id);
        if parent.is_none() {
            self.doc.top.push(id);
        }
        id
    }

    fn text(&mut self, text: Cow<'a, str>, raw: bool) -> Result<(), XmlError> {
        if self.open.is_empty() {
            if raw && text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                return Ok(());
            }
            return Err(XmlError::Structure(
                "character data outside the root element".into(),
            ));
        }
        // Adjacent character data (split by references or CDATA) becomes one text node.
        if let Some(Some(prev)) = self.last_child.last()
            && let NodeKind::Text(t) = &mut self.doc.nodes[*prev].kind
        {
            t.to_mut().push_str(&text);
            return Ok(());
        }
        self.append(NodeKind::Text(text));
        Ok(())
    }

    fn start(&mut self, e: &BytesStart<'a>, start: usize, end: usize, empty: bool) -> Result<(), XmlError> {
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
        let qname = slice_of(self.doc.src, qname_str(e))?;
        let (prefix, local) = split_qname(qname);
        self.scope_marks.push(self.scope.len());
        let decls_start = self.doc.ns_decls.len();
        let attrs_start = self.doc.attrs.len();
        let mut pending: Vec<(&'a str, Cow<'a, str>)> = Vec::new();
        let mut count = 0;
        for attr in e.attributes().with_checks(true) {
            let attr = attr.map_err(|err| self.syntax(err))?;
            count += 1;
            if count > self.limits.max_attributes {
                return Err(XmlError::TooManyAttributes {
                    element: qname.to_string(),
                    limit: self.limits.max_attributes,
                });
            }
            let name = slice_of(self.doc.src, attr_key(&attr))?;
            if attr.value.contains('<') {
                return Err(XmlError::Syntax {
                    offset: self.doc.bom_len + start,
                    message: format!("'<' in the value of attribute '{name}'"),
                });
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| entity_error(err, || self.syntax("bad reference in attribute value")))?;
            let value = match value {
                Cow::Borrowed(v) => Cow::Borrowed(slice_of(self.doc.src, v)?),
                Cow::Owned(v) => Cow::Owned(v),
            };
            if name == "xmlns" || name.starts_with("xmlns:") {
                let p = name.strip_prefix("xmlns:").unwrap_or("");
                check_declaration(p, &value)?;
                self.doc.ns_decls.push(NsDecl {
                    prefix: p,
                    uri: value,
                });
                self.scope.push(self.doc.ns_decls.len() - 1);
            } else {
                pending.push((name, value));
            }
        }
        let ns = self.resolve(prefix)?;
        for (name, value) in pending {
            let (p, l) = split_qname(name);
            let ns_uri = if p.is_empty() {
                Cow::Borrowed("")
            } else {
                let idx = self
                    .resolve(p)?
                    .ok_or_else(|| XmlError::UnboundPrefix(p.to_string()))?;
                self.doc.ns_decls[idx].uri.clone()
            };
            let dup = self.doc.attrs[attrs_start..]
                .iter()
                .any(|a| a.qname == name || (a.local == l && a.ns_uri == ns_uri));
            if dup {
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
                value,
            });
        }
        if !prefix.is_empty() && ns.is_none() {
            return Err(XmlError::UnboundPrefix(prefix.to_string()));
        }
        let id = self.append(NodeKind::Element(Element {
            qname,
            prefix,
            local,
            ns,
            attrs: attrs_start..self.doc.attrs.len(),
            decls: decls_start..self.doc.ns_decls.len(),
            span: start..end,
            content: end..end,
        }));
        if self.open.is_empty() {
            self.root = Some(id);
        }
        self.open.push(id);
        self.last_child.push(None);
        if empty {
            self.end(end, end);
        }
        Ok(())
    }

    fn end(&mut self, start: usize, end: usize) {
        // quick-xml has already checked that this end tag matches the open element.
        if let Some(id) = self.open.pop() {
            self.last_child.pop();
            if let Some(mark) = self.scope_marks.pop() {
                self.scope.truncate(mark);
            }
            if let NodeKind::Element(el) = &mut self.doc.nodes[id].kind {
                el.span.end = end;
                el.content.end = start.max(el.content.start);
            }
        }
    }

    /// The declaration binding `prefix` in the current scope; `None` for an unbound default.
    fn resolve(&self, prefix: &str) -> Result<Option<usize>, XmlError> {
        for &i in self.scope.iter().rev() {
            let d = &self.doc.ns_decls[i];
            if d.prefix == prefix {
                return Ok((!d.uri.is_empty()).then_some(i));
            }
        }
        if prefix.is_empty() {
            Ok(None)
        } else {
            Err(XmlError::UnboundPrefix(prefix.to_string()))
        }
    }
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

fn entity_error(err: quick_xml::Error, other: impl FnOnce() -> XmlError) -> XmlError {
    use quick_xml::escape::EscapeError;
    match err {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name)) => XmlError::Entity(name),
        _ => other(),
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

fn qname_str<'x>(e: &'x BytesStart<'_>) -> &'x str {
    e.name().into_inner()
}

fn attr_key<'x>(a: &'x quick_xml::events::attributes::Attribute<'_>) -> &'x str {
    a.key.into_inner()
}

fn split_qname(qname: &str) -> (&str, &str) {
    qname.split_once(':').unwrap_or(("", qname))
}

/// Re-borrows `part`, a slice of `src` that the reader handed out with a shorter lifetime, with
/// the lifetime of `src`. A reader over a `&str` never copies names or raw values, so the error
/// is unreachable in practice; it exists so that a change in quick-xml cannot cause a panic.
fn slice_of<'a>(src: &'a str, part: &str) -> Result<&'a str, XmlError> {
    let base = src.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= base && p + part.len() <= base + src.len() {
        Ok(&src[p - base..p - base + part.len()])
    } else {
        Err(XmlError::Structure(
            "tokenizer returned text outside the source".into(),
        ))
    }
}

/// XML 1.0 end-of-line handling: `\r\n` and lone `\r` become `\n`.
pub(crate) fn normalize_eol(s: &str) -> Cow<'_, str> {
    if !s.contains('\r') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
}
