//! Exclusive XML Canonicalization 1.0 (`http://www.w3.org/2001/10/xml-exc-c14n#`), with or
//! without comments, of a whole document or of one element's subtree, minus excluded subtrees
//! (the enveloped-signature transform). No InclusiveNamespaces prefix list: the PIX profiles
//! never use one.

use super::{CopyHint, Document, Node, NodeId, NodeKind, XML_NS, index};

/// How to canonicalize.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct C14nOptions {
    /// Render comments (`…xml-exc-c14n#WithComments`).
    pub with_comments: bool,
    /// Write every node, never copying source bytes where the parser's copy hint allows: the
    /// general writer alone, for differential tests and fuzzing (same bytes, slower).
    pub no_copy: bool,
}

/// Canonicalizes the whole document (the node-set of `URI=""` or of a plain c14n call): the root
/// element, and PIs (and comments, when asked) before and after it. Nodes in `exclude`, with
/// their subtrees, are left out.
pub fn canonicalize_document(doc: &Document<'_>, opts: C14nOptions, exclude: &[NodeId], out: &mut Vec<u8>) {
    let mut seen_root = false;
    let mut w = Writer::new(doc, opts, exclude, out);
    for &id in &doc.top {
        if exclude.contains(&id) {
            continue;
        }
        let is_root = id == doc.root;
        let renders = match &doc.nodes[id].kind {
            NodeKind::Comment(_) => opts.with_comments,
            _ => true,
        };
        if !renders {
            continue;
        }
        if seen_root && !is_root {
            w.out.push(b'\n');
        }
        w.node(id);
        if !seen_root && !is_root {
            w.out.push(b'\n');
        }
        seen_root |= is_root;
    }
}

/// Canonicalizes the subtree of element `apex` (the node-set of a same-document reference to it),
/// leaving out the subtrees of nodes in `exclude`.
pub fn canonicalize_subtree(
    doc: &Document<'_>,
    apex: NodeId,
    opts: C14nOptions,
    exclude: &[NodeId],
    out: &mut Vec<u8>,
) {
    if exclude.contains(&apex) {
        return;
    }
    Writer::new(doc, opts, exclude, out).node(apex);
}

struct Writer<'d, 'a, 'o> {
    doc: &'d Document<'a>,
    opts: C14nOptions,
    exclude: &'d [NodeId],
    out: &'o mut Vec<u8>,
    /// Namespace declarations rendered on output ancestors: (prefix, uri), innermost last.
    rendered: Vec<(&'d str, &'d str)>,
}

impl<'d, 'a, 'o> Writer<'d, 'a, 'o> {
    fn new(doc: &'d Document<'a>, opts: C14nOptions, exclude: &'d [NodeId], out: &'o mut Vec<u8>) -> Self {
        Writer {
            doc,
            opts,
            exclude,
            out,
            rendered: Vec::with_capacity(8),
        }
    }

    fn node(&mut self, id: NodeId) {
        let node = &self.doc.nodes[id];
        match node.kind {
            NodeKind::Element(_) => self.element(id),
            NodeKind::Text(t) if self.may_copy(node, CopyHint::Whole) => {
                self.out.extend_from_slice(self.doc.chars(t).as_bytes())
            }
            NodeKind::Text(t) => escape_text(self.out, self.doc.chars(t)),
            NodeKind::Comment(c) => {
                if self.opts.with_comments {
                    self.out.extend_from_slice(b"<!--");
                    self.out.extend_from_slice(self.doc.chars(c).as_bytes());
                    self.out.extend_from_slice(b"-->");
                }
            }
            NodeKind::Pi { target, data } => {
                let data = self.doc.chars(data);
                self.out.extend_from_slice(b"<?");
                self.out.extend_from_slice(target.as_bytes());
                if !data.is_empty() {
                    self.out.push(b' ');
                    self.out.extend_from_slice(data.as_bytes());
                }
                self.out.extend_from_slice(b"?>");
            }
        }
    }

    fn element(&mut self, id: NodeId) {
        let doc = self.doc;
        let Some(el) = doc.element(id) else { return };
        let mark = self.rendered.len();

        // Namespaces visibly utilized here: the element's own prefix and its attributes' prefixes.
        let mut decls: Vec<(&'d str, &'d str)> = Vec::new();
        self.utilize(doc.prefix(el), doc.namespace(el), &mut decls);
        let attrs = doc.attributes(el);
        for a in attrs {
            if !a.prefix.is_empty() {
                self.utilize(a.prefix, &a.ns_uri, &mut decls);
            }
        }
        decls.sort_unstable_by(|a, b| a.0.cmp(b.0));

        // Tags written in the source exactly as c14n writes them, with no declaration to add, are
        // copied from it (whole elements like that are copied by `children`).
        if decls.is_empty() && self.may_copy(&doc.nodes[id], CopyHint::Tags) {
            let (start, end, content) = (index(el.span.0), index(el.span.1), el.content());
            let src = doc.src.as_bytes();
            self.out.extend_from_slice(&src[start..content.start]);
            self.children(id);
            self.out.extend_from_slice(&src[content.end..end]);
            return;
        }

        self.out.push(b'<');
        self.out.extend_from_slice(self.doc.qname(el).as_bytes());
        for (prefix, uri) in &decls {
            if prefix.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(prefix.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            escape_attr(self.out, uri);
            self.out.push(b'"');
        }
        self.rendered.extend_from_slice(&decls);

        if attrs.len() > 1 {
            let mut sorted: Vec<_> = attrs.iter().collect();
            sorted.sort_unstable_by(|a, b| (&*a.ns_uri, a.local).cmp(&(&*b.ns_uri, b.local)));
            for a in sorted {
                self.attribute(a.qname, &a.value);
            }
        } else if let Some(a) = attrs.first() {
            self.attribute(a.qname, &a.value);
        }
        self.out.push(b'>');
        self.children(id);
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(self.doc.qname(el).as_bytes());
        self.out.push(b'>');
        self.rendered.truncate(mark);
    }

    fn children(&mut self, id: NodeId) {
        for c in self.doc.children(id) {
            if self.exclude.contains(&c) {
                continue;
            }
            // A verbatim element under its rendered parent is copied whole (the apex of a
            // subtree never comes here: it may need declarations).
            match &self.doc.nodes[c] {
                node @ Node {
                    kind: NodeKind::Element(el),
                    ..
                } if self.may_copy(node, CopyHint::Whole) && !self.holds_excluded(c) => {
                    self.out.extend_from_slice(&self.doc.src.as_bytes()[el.span()]);
                }
                _ => self.node(c),
            }
        }
    }

    /// Whether the node's source may be copied as far as `wanted` (its tags, or all of it).
    #[inline(always)]
    fn may_copy(&self, node: &Node<'_>, wanted: CopyHint) -> bool {
        node.copy >= wanted && !self.opts.no_copy
    }

    /// True when an excluded node lies inside element `id`.
    fn holds_excluded(&self, id: NodeId) -> bool {
        self.exclude.iter().any(|&x| self.doc.is_within(x, id))
    }

    /// Queues the declaration of `prefix` unless the nearest output ancestor already rendered the
    /// same binding (for the default namespace, an absent one counts as `xmlns=""`).
    #[inline(always)]
    fn utilize(&self, prefix: &'d str, uri: &'d str, decls: &mut Vec<(&'d str, &'d str)>) {
        if prefix == "xml" && uri == XML_NS {
            return;
        }
        if decls.iter().any(|d| same(d.0, prefix)) {
            return;
        }
        let in_effect = self
            .rendered
            .iter()
            .rev()
            .find(|d| same(d.0, prefix))
            .map_or("", |d| d.1);
        if !same(in_effect, uri) {
            decls.push((prefix, uri));
        }
    }

    fn attribute(&mut self, qname: &str, value: &str) {
        self.out.push(b' ');
        self.out.extend_from_slice(qname.as_bytes());
        self.out.extend_from_slice(b"=\"");
        escape_attr(self.out, value);
        self.out.push(b'"');
    }
}

/// String equality that skips the comparison when both sides are the same slice (names and URIs
/// usually come from the same declaration) or empty.
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

/// Bytes that text nodes escape: `&`, `<`, `>` and carriage return.
const TEXT_SPECIAL: [bool; 256] = special(b"&<>\r");
/// Bytes that attribute values escape: `&`, `<`, `"`, tab, line feed and carriage return.
const ATTR_SPECIAL: [bool; 256] = special(b"&<\"\t\n\r");

const fn special(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

fn escape_text(out: &mut Vec<u8>, s: &str) {
    escape(out, s, &TEXT_SPECIAL);
}

fn escape_attr(out: &mut Vec<u8>, s: &str) {
    escape(out, s, &ATTR_SPECIAL);
}

#[inline]
fn escape(out: &mut Vec<u8>, s: &str, special: &[bool; 256]) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if special[usize::from(b)] {
            out.extend_from_slice(&bytes[last..i]);
            out.extend_from_slice(match b {
                b'&' => b"&amp;",
                b'<' => b"&lt;",
                b'>' => b"&gt;",
                b'"' => b"&quot;",
                b'\t' => b"&#x9;",
                b'\n' => b"&#xA;",
                _ => b"&#xD;",
            });
            last = i + 1;
        }
    }
    out.extend_from_slice(&bytes[last..]);
}

#[cfg(test)]
mod tests;
