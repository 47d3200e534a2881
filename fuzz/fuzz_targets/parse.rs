//! The parser on any bytes: never a panic, and, as a differential oracle, where quick-xml's
//! reader (the XML crate the project's brief names) accepts the same input, the element
//! structure (names, nesting, order) is the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pix_xmldsig::xml::{self, Limits};
use quick_xml::events::Event;

/// Start and end of each element, in document order: `+name` and `-name`.
fn ours(doc: &xml::Document<'_>) -> Vec<String> {
    fn walk(doc: &xml::Document<'_>, id: xml::NodeId, out: &mut Vec<String>) {
        let Some(el) = doc.element(id) else { return };
        out.push(format!("+{}", doc.qname(el)));
        for c in doc.child_elements(id) {
            walk(doc, c, out);
        }
        out.push(format!("-{}", doc.qname(el)));
    }
    let mut out = Vec::new();
    walk(doc, doc.root(), &mut out);
    out
}

/// The same from quick-xml, or `None` where it refuses the input.
fn theirs(input: &[u8]) -> Option<Vec<String>> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = true;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => out.push(format!("+{}", std::str::from_utf8(e.name().as_ref()).ok()?)),
            Event::End(e) => out.push(format!("-{}", std::str::from_utf8(e.name().as_ref()).ok()?)),
            Event::Eof => return Some(out),
            _ => {}
        }
        buf.clear();
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = xml::parse(data, &Limits::default()) else { return };
    let mine = ours(&doc);
    if let Some(other) = theirs(data) {
        assert_eq!(mine, other, "element structure differs from quick-xml's");
    }
});
