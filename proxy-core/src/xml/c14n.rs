//! Exclusive XML Canonicalization 1.0 (`http://www.w3.org/2001/10/xml-exc-c14n#`), with or
//! without comments, of a whole document or of one element's subtree, minus excluded subtrees
//! (the enveloped-signature transform). No InclusiveNamespaces prefix list: the PIX profiles
//! never use one.

use super::{Document, NodeId, NodeKind, XML_NS};

/// How to canonicalize.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct C14nOptions {
    /// Render comments (`…xml-exc-c14n#WithComments`).
    pub with_comments: bool,
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
        match &self.doc.nodes[id].kind {
            NodeKind::Element(_) => self.element(id),
            NodeKind::Text(t) => escape_text(self.out, t),
            NodeKind::Comment(c) => {
                if self.opts.with_comments {
                    self.out.extend_from_slice(b"<!--");
                    self.out.extend_from_slice(c.as_bytes());
                    self.out.extend_from_slice(b"-->");
                }
            }
            NodeKind::Pi { target, data } => {
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
        self.utilize(el.prefix, doc.namespace(el), &mut decls);
        let attrs = doc.attributes(el);
        for a in attrs {
            if !a.prefix.is_empty() {
                self.utilize(a.prefix, &a.ns_uri, &mut decls);
            }
        }
        decls.sort_unstable_by(|a, b| a.0.cmp(b.0));

        self.out.push(b'<');
        self.out.extend_from_slice(el.qname.as_bytes());
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

        let mut child = doc.nodes[id].first_child;
        while let Some(c) = child {
            if !self.exclude.contains(&c) {
                self.node(c);
            }
            child = doc.nodes[c].next_sibling;
        }

        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(el.qname.as_bytes());
        self.out.push(b'>');
        self.rendered.truncate(mark);
    }

    /// Queues the declaration of `prefix` unless the nearest output ancestor already rendered the
    /// same binding (for the default namespace, an absent one counts as `xmlns=""`).
    fn utilize(&self, prefix: &'d str, uri: &'d str, decls: &mut Vec<(&'d str, &'d str)>) {
        if prefix == "xml" && uri == XML_NS {
            return;
        }
        if decls.iter().any(|d| d.0 == prefix) {
            return;
        }
        let in_effect = self
            .rendered
            .iter()
            .rev()
            .find(|d| d.0 == prefix)
            .map_or("", |d| d.1);
        if in_effect != uri {
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

/// Text nodes: `&`, `<`, `>` and carriage returns are escaped.
fn escape_text(out: &mut Vec<u8>, s: &str) {
    escape(out, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Attribute values: `&`, `<`, `"`, tab, line feed and carriage return are escaped.
fn escape_attr(out: &mut Vec<u8>, s: &str) {
    escape(out, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

#[inline]
fn escape(out: &mut Vec<u8>, s: &str, map: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = map(b) {
            out.extend_from_slice(&bytes[last..i]);
            out.extend_from_slice(rep);
            last = i + 1;
        }
    }
    out.extend_from_slice(&bytes[last..]);
}
