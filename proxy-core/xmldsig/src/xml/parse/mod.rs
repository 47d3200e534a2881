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
                assert!(doc.node(el).copy >= CopyHint::Tags, "{good}");
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
