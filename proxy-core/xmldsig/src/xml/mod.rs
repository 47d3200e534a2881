//! XML as the signatures see it: a bounded, namespace-aware parse into a compact tree
//! that remembers where every element sits in the original bytes, and exclusive canonicalization
//! (`c14n`) of a whole document or of one element's subtree.
//!
//! The parser refuses what a payment message never needs and an attacker would love: DOCTYPEs,
//! entities other than the five predefined ones and character references, and documents that are
//! too large, too deep or too wide (see [`Limits`]).

mod c14n;
mod limits;
mod parse;

pub use c14n::{C14nOptions, canonicalize_document, canonicalize_subtree};
pub use limits::{Limits, XmlError};
pub use parse::parse;

use std::borrow::Cow;
use std::ops::Range;

/// The namespace of XML-DSig elements.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The namespace bound to the reserved `xml` prefix.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node in a [`Document`].
pub type NodeId = usize;

/// A parsed document: nodes in document order, each element with its byte span in the source.
#[derive(Debug)]
pub struct Document<'a> {
    pub(crate) src: &'a str,
    pub(crate) bom_len: usize,
    pub(crate) nodes: Vec<Node<'a>>,
    /// Character data that differs from its source bytes (references resolved, line ends
    /// normalized, text and CDATA merged), which [`Chars`] with `decoded` point into.
    pub(crate) decoded: String,
    pub(crate) attrs: Vec<Attribute<'a>>,
    pub(crate) ns_decls: Vec<NsDecl<'a>>,
    /// Children of the document node: the root element and comments/PIs around it.
    pub(crate) top: Vec<NodeId>,
    pub(crate) root: NodeId,
}

/// Marks an absent link in the compact `u32` fields of [`Node`] and [`Element`].
pub(crate) const NONE: u32 = u32::MAX;

/// The size bound the compact fields rest on, stated once: [`parse`] refuses a document over
/// this many bytes, so every offset into it, into its decoded text (at most twice its size) and
/// every node, attribute and declaration index fits a `u32` below [`NONE`].
pub(crate) const MAX_DOCUMENT: usize = (u32::MAX / 4) as usize;

/// An offset or index as stored in a compact field (fits, by [`MAX_DOCUMENT`]). Were the bound
/// ever broken, the value would read as absent ([`NONE`]), never as another place.
#[inline(always)]
pub(crate) fn offset(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(NONE)
}

/// A compact field's offset or index, for indexing.
#[inline(always)]
pub(crate) fn index(x: u32) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

/// A name's length or colon position as stored (names are shorter than `u16::MAX` bytes:
/// [`parse`] refuses longer ones).
#[inline(always)]
pub(crate) fn name_offset(x: usize) -> u16 {
    u16::try_from(x).unwrap_or(NO_COLON)
}

/// One node of the tree. Links are `u32` to keep nodes small (see [`MAX_DOCUMENT`]).
#[derive(Debug)]
pub struct Node<'a> {
    /// What the node is.
    pub kind: NodeKind<'a>,
    pub(crate) parent: u32,
    /// One past the last node of its subtree: nodes are stored in document order, so an
    /// element's children start right after it and each child's `end` is its next sibling.
    pub(crate) end: u32,
    /// What of its source c14n may copy.
    pub(crate) copy: CopyHint,
}

/// What of a node's source bytes c14n may copy instead of writing the node: the parser, which
/// sees the bytes, decides; the writer's one shortcut trusts it (`C14nOptions::no_copy` turns
/// the shortcut off, for differential tests). Ordered: each hint allows what the ones before it
/// allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CopyHint {
    /// Nothing: the writer writes the node.
    Nothing,
    /// An element's start and end tags are written as c14n writes them
    /// (`<qname a="1" b="2">…</qname>`: unprefixed attributes in c14n's order, one space before
    /// each, double quotes, values with nothing to normalize or escape; no declaration): the
    /// writer copies them when it has no namespace declaration to add.
    Tags,
    /// The whole node is its canonical form. Text: nothing in it that c14n escapes (no `&`, `>`
    /// or carriage return in the source, no CDATA). Element: `Tags`, its parent's prefix (so no
    /// namespace to render under a rendered parent), and only `Whole` nodes inside.
    Whole,
}

impl Node<'_> {
    /// The parent element; `None` for top-level nodes.
    pub fn parent(&self) -> Option<NodeId> {
        link(self.parent)
    }
}

pub(crate) fn link(v: u32) -> Option<NodeId> {
    (v != NONE).then_some(v as NodeId)
}

/// The kinds of node exclusive c14n renders. Text is held as [`Chars`] (read it with
/// [`Document::chars`]) so that nodes own nothing: a document is freed without visiting them.
#[derive(Debug)]
pub enum NodeKind<'a> {
    /// An element.
    Element(Element),
    /// Character data (line endings normalized, references resolved; CDATA sections included).
    Text(Chars),
    /// A comment's text (line endings normalized).
    Comment(Chars),
    /// A processing instruction.
    Pi {
        /// The PI target.
        target: &'a str,
        /// The PI data, leading white space removed, line endings normalized.
        data: Chars,
    },
}

/// Where a node's text is: a range of the source, or of the document's decoded text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chars {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) decoded: bool,
}

/// An element with its names, attributes and where it sits in the source. Its name is read
/// through the document ([`Document::qname`], [`Document::prefix`], [`Document::local`]): it is
/// the source right after the start tag's `<`, so the node stores only its length and a node
/// takes 64 bytes instead of 80 (parsing writes one per element and text run).
#[derive(Debug)]
pub struct Element {
    /// Length of the qualified name.
    pub(crate) name_len: u16,
    /// Position of the colon in the qualified name, or `NO_COLON`.
    pub(crate) colon: u16,
    /// Index into the document's namespace declarations of the binding that applies to this
    /// element's prefix; `NONE` when unprefixed and no default namespace is in scope.
    pub(crate) ns: u32,
    pub(crate) attrs: (u32, u32),
    pub(crate) decls: (u32, u32),
    pub(crate) span: (u32, u32),
    pub(crate) content: (u32, u32),
}

/// Marks an unprefixed name in [`Element::colon`].
pub(crate) const NO_COLON: u16 = u16::MAX;

impl Element {
    /// Byte range of the whole element in the source (start tag to end of end tag).
    pub fn span(&self) -> Range<usize> {
        index(self.span.0)..index(self.span.1)
    }

    /// Byte range of the content between the start and end tags (empty for `<a/>`).
    pub fn content(&self) -> Range<usize> {
        index(self.content.0)..index(self.content.1)
    }

    /// True for an element written as an empty-element tag (`<a/>`).
    pub fn is_self_closing(&self) -> bool {
        self.content.0 == self.span.1
    }
}

/// An attribute other than a namespace declaration.
#[derive(Debug)]
pub struct Attribute<'a> {
    /// Qualified name as written.
    pub qname: &'a str,
    /// Prefix as written (`""` for none).
    pub prefix: &'a str,
    /// Local name.
    pub local: &'a str,
    /// Namespace URI (`""` for unqualified attributes).
    pub ns_uri: Cow<'a, str>,
    /// Normalized value (references resolved, white space normalized as XML 1.0 requires).
    pub value: Cow<'a, str>,
}

/// A namespace declaration (`xmlns="…"` or `xmlns:p="…"`).
#[derive(Debug)]
pub struct NsDecl<'a> {
    /// The declared prefix (`""` for the default namespace).
    pub prefix: &'a str,
    /// The namespace URI (`""` undeclares the default namespace).
    pub uri: Cow<'a, str>,
}

impl<'a> Document<'a> {
    /// The source text the document was parsed from (without a byte-order mark).
    pub fn source(&self) -> &'a str {
        self.src
    }

    /// Length of the UTF-8 byte-order mark that preceded the source, 0 or 3.
    pub fn bom_len(&self) -> usize {
        self.bom_len
    }

    /// The root element.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id]
    }

    /// Qualified name of an element as written (`ds:Signature`).
    pub fn qname(&self, el: &Element) -> &'a str {
        let start = index(el.span.0) + 1;
        &self.src[start..start + usize::from(el.name_len)]
    }

    /// Prefix of an element's name as written (`""` for none).
    pub fn prefix(&self, el: &Element) -> &'a str {
        if el.colon == NO_COLON {
            ""
        } else {
            &self.qname(el)[..usize::from(el.colon)]
        }
    }

    /// Local name of an element.
    pub fn local(&self, el: &Element) -> &'a str {
        let qname = self.qname(el);
        if el.colon == NO_COLON {
            qname
        } else {
            &qname[usize::from(el.colon) + 1..]
        }
    }

    /// The element with this id, or `None` when the node is not an element.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes.get(id)?.kind {
            NodeKind::Element(e) => Some(e),
            _ => None,
        }
    }

    /// Children of a node, in document order.
    pub fn children(&self, id: NodeId) -> Children<'_, 'a> {
        Children {
            doc: self,
            next: id + 1,
            end: index(self.nodes[id].end),
        }
    }

    /// Element children of a node, in document order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.children(id).filter(|&c| self.element(c).is_some())
    }

    /// Every element of the document, in document order.
    pub fn elements(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).filter(|&i| self.element(i).is_some())
    }

    /// The namespace URI of an element (`""` when it has none).
    pub fn namespace(&self, el: &Element) -> &str {
        link(el.ns).map_or("", |i| &self.ns_decls[i].uri)
    }

    /// True when `id` is an element with this namespace URI and local name.
    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| self.local(e) == local && self.namespace(e) == ns)
    }

    /// Attributes of an element (namespace declarations excluded).
    pub fn attributes(&self, el: &Element) -> &[Attribute<'a>] {
        &self.attrs[index(el.attrs.0)..index(el.attrs.1)]
    }

    /// Namespace declarations made on an element.
    pub fn ns_declarations(&self, el: &Element) -> &[NsDecl<'a>] {
        &self.ns_decls[index(el.decls.0)..index(el.decls.1)]
    }

    /// The value of an unqualified attribute.
    pub fn attribute(&self, id: NodeId, local: &str) -> Option<&str> {
        let el = self.element(id)?;
        self.attributes(el)
            .iter()
            .find(|a| a.prefix.is_empty() && a.local == local)
            .map(|a| a.value.as_ref())
    }

    /// The concatenated character data of an element's direct text children.
    pub fn text(&self, id: NodeId) -> String {
        let mut s = String::new();
        for c in self.children(id) {
            if let NodeKind::Text(t) = self.nodes[c].kind {
                s.push_str(self.chars(t));
            }
        }
        s
    }

    /// The text a node's [`Chars`] stand for.
    pub fn chars(&self, c: Chars) -> &str {
        let text = if c.decoded {
            self.decoded.as_str()
        } else {
            self.src
        };
        &text[index(c.start)..index(c.end)]
    }

    /// True when `id` is `ancestor` or lies inside it.
    pub fn is_within(&self, mut id: NodeId, ancestor: NodeId) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.nodes[id].parent() {
                Some(p) => id = p,
                None => return false,
            }
        }
    }
}

/// Iterator over a node's children.
pub struct Children<'d, 'a> {
    doc: &'d Document<'a>,
    next: NodeId,
    end: NodeId,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.next;
        if id >= self.end {
            return None;
        }
        self.next = index(self.doc.nodes[id].end);
        Some(id)
    }
}
