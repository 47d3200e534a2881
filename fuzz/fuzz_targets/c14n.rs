//! Exclusive c14n of whatever the parser accepts: never a panic, and the writer's copy shortcut
//! gives the same bytes as the general writer, for the whole document (with and without
//! comments) and for the subtree of each of the root's children.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pix_xmldsig::xml::{self, C14nOptions, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = xml::parse(data, &Limits::default()) else { return };
    for with_comments in [false, true] {
        let (mut fast, mut general) = (Vec::new(), Vec::new());
        let opts = C14nOptions { with_comments, no_copy: false };
        xml::canonicalize_document(&doc, opts, &[], &mut fast);
        xml::canonicalize_document(&doc, C14nOptions { no_copy: true, ..opts }, &[], &mut general);
        assert_eq!(fast, general, "copy shortcut differs (document, comments {with_comments})");
    }
    for child in doc.child_elements(doc.root()).take(8) {
        let (mut fast, mut general) = (Vec::new(), Vec::new());
        xml::canonicalize_subtree(&doc, child, C14nOptions::default(), &[], &mut fast);
        let opts = C14nOptions { no_copy: true, ..Default::default() };
        xml::canonicalize_subtree(&doc, child, opts, &[], &mut general);
        assert_eq!(fast, general, "copy shortcut differs (subtree)");
    }
});
