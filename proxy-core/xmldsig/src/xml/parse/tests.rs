//! Unit tests of `parse`.

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
