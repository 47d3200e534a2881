//! Start and end tags: the element structure, the fast paths for the tags of a payment message
//! (no attribute, the parent's prefix), and the copy hint each element earns (see
//! [`super::super::CopyHint`]).

use super::attributes::AttValue;
use super::names::{Colons, HEAD_MASKS, canonical_attribute, check_qname, name_head, scan_name};
use super::scan::skip_ws;
use super::*;

impl<'a> Builder<'a> {
    /// `[40] STag ::= '<' Name (S Attribute)* S? '>'` and `[44] EmptyElemTag`, from the `<`.
    #[inline]
    pub(super) fn start_tag(&mut self) -> Result<(), XmlError> {
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

    /// `(S Attribute)* S? ('>' | '/>')`, `[41] Attribute ::= Name Eq AttValue`.
    ///
    /// The rest of a start tag [`Builder::start_tag`] did not take at once (attributes, a
    /// prefix, an empty-element tag, the root element), from the end of its name `qname`.
    #[inline(never)]
    pub(super) fn any_start_tag(&mut self, qname: &'a str, colons: Colons) -> Result<(), XmlError> {
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
            let AttValue {
                eq,
                q,
                quote,
                close,
                value,
            } = self.att_value(name, name_end)?;
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

    /// `[39] element ::= EmptyElemTag | STag content ETag`: the element a start tag opens.
    ///
    /// Resolves namespaces and records the element whose start tag spans `start..end`;
    /// `canonical` when the tag is written as c14n writes it.
    #[inline]
    pub(super) fn element(
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
        // Copied whole when written as c14n writes it, in its parent's prefix (so with no
        // namespace to render); its tags alone when written so.
        let whole = !empty
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
            copy: if whole {
                CopyHint::Whole
            } else if canonical {
                CopyHint::Tags
            } else {
                CopyHint::Nothing
            },
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
    pub(super) fn simple_element(
        &mut self,
        qname: &str,
        start: usize,
        colon: Option<usize>,
    ) -> Result<(), XmlError> {
        let parent = self.open.last();
        let same_prefix = parent.is_some_and(|f| self.has_prefix_of(f, start, colon));
        let ns = match (colon, parent) {
            (None, _) => self.default_ns,
            // The parent's prefix, and no declaration here: the parent's binding.
            (Some(_), Some(f)) if same_prefix => link(f.ns),
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
            copy: if same_prefix {
                CopyHint::Whole
            } else {
                CopyHint::Tags
            },
        });
        Ok(())
    }

    /// [`Builder::simple_element`] for a prefixed name, out of the main loop.
    #[inline(never)]
    pub(super) fn prefixed_element(
        &mut self,
        qname: &str,
        start: usize,
        colon: usize,
    ) -> Result<(), XmlError> {
        self.simple_element(qname, start, Some(colon))
    }

    /// The declaration binding the prefix of an element in the current scope (for no prefix, the
    /// default namespace: `None` when there is none).
    #[inline]
    pub(super) fn element_ns(&self, prefix: &str) -> Result<Option<usize>, XmlError> {
        let ns = self.resolve(prefix)?;
        if !prefix.is_empty() && ns.is_none() {
            return Err(XmlError::UnboundPrefix(prefix.to_string()));
        }
        Ok(ns)
    }

    /// Records an element node and makes it the innermost open element; its id.
    #[inline(always)]
    pub(super) fn open_element(&mut self, o: Opened) -> NodeId {
        let (start, end) = o.span;
        // A constant node, then its fields set in place: building it on the stack from small
        // stores and copying it with wide loads stalls store forwarding (measured: the largest
        // single cost of parsing a 1 MB message).
        self.doc.nodes.push(BLANK_ELEMENT);
        let id = self.attach();
        let colon = o.colon.map_or(NO_COLON, name_offset);
        if let NodeKind::Element(el) = &mut self.doc.nodes[id].kind {
            // Both fit: `start_tag` refuses longer names.
            el.name_len = name_offset(o.name_len);
            el.colon = colon;
            el.ns = o.ns.map_or(NONE, offset);
            el.attrs = (offset(o.attrs), offset(self.doc.attrs.len()));
            el.decls = (offset(o.decls), offset(self.doc.ns_decls.len()));
            el.span = (offset(start), offset(end));
            el.content = (offset(end), offset(end));
        }
        self.open.push(Frame {
            id: offset(id),
            scope_mark: offset(o.scope_mark),
            outer_default_ns: o.outer_default_ns.map_or(NONE, offset),
            last_child: NONE,
            name_head: name_head(self.bytes, start + 1, o.name_len),
            name: offset(start + 1),
            name_len: name_offset(o.name_len),
            colon,
            ns: o.ns.map_or(NONE, offset),
            copy: o.copy,
        });
        self.pos = end;
        id
    }

    /// `[42] ETag ::= '</' Name S? '>'`.
    #[inline]
    pub(super) fn end_tag(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        // The usual case, the open element's name followed by '>', needs no scan. Names are
        // short: compared eight bytes at once, then byte by byte, not with a call to `memcmp`.
        if let Some(f) = self.open.last()
            && let len = usize::from(f.name_len)
            && self.bytes.get(start + 2 + len) == Some(&b'>')
            && f.name_head != 0
            && name_head(self.bytes, start + 2, len) == f.name_head
            && (len <= 8 || {
                let open = index(f.name) + 8;
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
    pub(super) fn any_end_tag(&mut self) -> Result<(), XmlError> {
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
    pub(super) fn has_prefix_of(&self, parent: &Frame, start: usize, colon: Option<usize>) -> bool {
        match colon {
            None => parent.colon == NO_COLON,
            Some(i) if usize::from(parent.colon) == i => {
                // A prefix of up to eight bytes is in the heads of both names.
                let mine = name_head(self.bytes, start + 1, i);
                if i <= 8 && mine != 0 && parent.name_head != 0 {
                    return mine == parent.name_head & HEAD_MASKS[i];
                }
                let theirs = index(parent.name);
                self.bytes[theirs..theirs + i] == self.bytes[start + 1..start + 1 + i]
            }
            Some(_) => false,
        }
    }

    /// Ends the innermost open element; `bare_end` when its end tag is exactly `</qname>`.
    #[inline(always)]
    pub(super) fn close(&mut self, content_end: usize, end: usize, bare_end: bool) {
        if let Some(frame) = self.open.pop() {
            self.scope.truncate(index(frame.scope_mark));
            self.default_ns = link(frame.outer_default_ns);
            let subtree_end = offset(self.doc.nodes.len());
            let node = &mut self.doc.nodes[index(frame.id)];
            node.end = subtree_end;
            node.copy = if bare_end { frame.copy } else { CopyHint::Nothing };
            if let NodeKind::Element(el) = &mut node.kind {
                el.span.1 = offset(end);
                el.content.1 = offset(content_end).max(el.content.0);
            }
            if node.copy < CopyHint::Whole
                && let Some(parent) = self.open.last_mut()
            {
                parent.copy = parent.copy.min(CopyHint::Tags);
            }
        }
    }
}
