//! Reading what the simulator needs of a parsed message: elements by local name (the names the
//! SPI and DICT messages use are unique enough within their container that namespaces do not
//! matter here), their text and their source.

use pix_xmldsig::xml::{Document, NodeId};

fn named(doc: &Document<'_>, e: NodeId, local: &str) -> bool {
    doc.element(e).is_some_and(|el| doc.local(el) == local)
}

/// The first child element of `parent` with this local name.
pub(crate) fn child(doc: &Document<'_>, parent: NodeId, local: &str) -> Option<NodeId> {
    doc.child_elements(parent).find(|&c| named(doc, c, local))
}

/// The first element with this local name in document order: strictly inside `within` (not
/// `within` itself), or anywhere when `None`.
pub(crate) fn first(doc: &Document<'_>, within: Option<NodeId>, local: &str) -> Option<NodeId> {
    doc.elements()
        .filter(|&e| within.is_none_or(|w| e != w && doc.is_within(e, w)))
        .find(|&e| named(doc, e, local))
}

/// The trimmed text of [`first`].
pub(crate) fn text(doc: &Document<'_>, within: Option<NodeId>, local: &str) -> Option<String> {
    first(doc, within, local).map(|e| doc.text(e).trim().to_string())
}

/// Every element with this local name, in document order.
pub(crate) fn all<'d>(doc: &'d Document<'_>, local: &'d str) -> impl Iterator<Item = NodeId> + 'd {
    doc.elements().filter(move |&e| named(doc, e, local))
}

/// An element as written, tags included.
pub(crate) fn source(doc: &Document<'_>, id: NodeId) -> String {
    doc.element(id)
        .map(|e| doc.source()[e.span()].to_string())
        .unwrap_or_default()
}

/// An element's content as written.
pub(crate) fn content(doc: &Document<'_>, id: NodeId) -> String {
    doc.element(id)
        .map(|e| doc.source()[e.content()].to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pix_xmldsig::xml::{Limits, parse};

    const XML: &[u8] =
        b"<R><Key>outer</Key><Entry><Key> k1 </Key><Key>k2</Key><Entry><Key>deep</Key></Entry></Entry></R>";

    #[test]
    fn first_is_in_document_order_strictly_inside_and_anywhere_without_a_container() {
        let doc = parse(XML, &Limits::default()).unwrap();
        let entry = first(&doc, None, "Entry").unwrap();
        assert_eq!(text(&doc, None, "Key").as_deref(), Some("outer"));
        assert_eq!(text(&doc, Some(entry), "Key").as_deref(), Some("k1"), "trimmed");
        // The container itself does not count: the first Entry inside the first is the inner one.
        let inner = first(&doc, Some(entry), "Entry").unwrap();
        assert_ne!(inner, entry);
        assert_eq!(text(&doc, Some(inner), "Key").as_deref(), Some("deep"));
        assert_eq!(text(&doc, Some(inner), "Nothing"), None);
        assert_eq!(all(&doc, "Key").count(), 4);
        assert_eq!(source(&doc, inner), "<Entry><Key>deep</Key></Entry>");
        assert_eq!(content(&doc, inner), "<Key>deep</Key>");
        let root = first(&doc, None, "R").unwrap();
        assert_eq!(
            child(&doc, root, "Key")
                .map(|k| doc.text(k).to_string())
                .as_deref(),
            Some("outer")
        );
        assert_eq!(child(&doc, root, "Deep"), None);
    }
}
