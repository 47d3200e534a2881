//! Character data and references: text between tags, its decoding, end-of-line handling.

use super::scan::{DECODE, GT};
use super::*;

impl<'a> Builder<'a> {
    /// `[14] CharData ::= [^<&]* - ([^<&]* ']]>' [^<&]*)`, with `[67] Reference`s.
    ///
    /// Character data between markup, `start..end` of the source; `seen` are the [`TEXT_CLASS`]
    /// bits of its bytes.
    #[inline]
    pub(super) fn text_run(&mut self, start: usize, end: usize, seen: u8) -> Result<(), XmlError> {
        let raw = &self.bytes[start..end];
        if self.open.is_empty() {
            if raw.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                return Ok(());
            }
            return Err(XmlError::Structure(
                "character data outside the root element".into(),
            ));
        }
        if seen & GT != 0 && memmem::find(raw, b"]]>").is_some() {
            return Err(self.syntax(start, "']]>' is not allowed in character data"));
        }
        let text = if seen & DECODE == 0 {
            source_chars(start, end)
        } else {
            let from = self.doc.decoded.len();
            decode_into(&self.src[start..end], false, &mut self.doc.decoded)
                .map_err(|(at, e)| self.reference_error(start + at, e))?;
            self.decoded_since(from)
        };
        let copy = if seen & (DECODE | GT) == 0 {
            CopyHint::Whole
        } else {
            CopyHint::Nothing
        };
        self.push_text(text, copy);
        Ok(())
    }

    /// Appends character data; `verbatim` when c14n may copy it unescaped (see [`Node::verbatim`]).
    #[inline(always)]
    pub(super) fn push_text(&mut self, text: Chars, copy: CopyHint) {
        if let Some(f) = self.open.last_mut() {
            f.copy = f.copy.min(copy.max(CopyHint::Tags));
        }
        // Adjacent character data (text and CDATA sections) becomes one text node.
        if let Some(prev) = self.open.last().and_then(|f| link(f.last_child))
            && let NodeKind::Text(t) = self.doc.nodes[prev].kind
        {
            let merged = self.join(t, text);
            let node = &mut self.doc.nodes[prev];
            node.kind = NodeKind::Text(merged);
            node.copy = node.copy.min(copy);
            return;
        }
        // Pushed blank and set in place, for the reason given in `element`.
        self.doc.nodes.push(BLANK_TEXT);
        let id = self.attach();
        let node = &mut self.doc.nodes[id];
        node.copy = copy;
        node.kind = NodeKind::Text(text);
    }

    /// `a` followed by `b`, as decoded text (text next to a CDATA section). A merged text is
    /// the last decoded text, so it is extended where it lies: each merge costs what it adds,
    /// never the text so far (alternating text and CDATA cannot make parsing quadratic).
    #[inline]
    pub(super) fn join(&mut self, a: Chars, b: Chars) -> Chars {
        if a.decoded && b.decoded && a.end == b.start {
            return Chars { end: b.end, ..a };
        }
        let start = if a.decoded && index(a.end) == self.doc.decoded.len() {
            index(a.start)
        } else {
            let from = self.doc.decoded.len();
            self.push_chars(a);
            from
        };
        self.push_chars(b);
        self.decoded_since(start)
    }

    /// Appends the text of `c` to the decoded text.
    #[inline]
    pub(super) fn push_chars(&mut self, c: Chars) {
        let range = index(c.start)..index(c.end);
        if c.decoded {
            self.doc.decoded.extend_from_within(range);
        } else {
            self.doc.decoded.push_str(&self.src[range]);
        }
    }

    /// The decoded text appended from offset `from` on.
    #[inline]
    pub(super) fn decoded_since(&self, from: usize) -> Chars {
        Chars {
            start: offset(from),
            end: offset(self.doc.decoded.len()),
            decoded: true,
        }
    }

    /// XML 1.0 §2.11, end-of-line handling.
    ///
    /// The source's `start..end` with XML 1.0 end-of-line handling (`\r\n` and lone `\r` become
    /// `\n`): the source range itself when it has no carriage return.
    pub(super) fn eol_chars(&mut self, start: usize, end: usize) -> Chars {
        let raw = &self.src[start..end];
        if memchr(b'\r', raw.as_bytes()).is_none() {
            return source_chars(start, end);
        }
        let from = self.doc.decoded.len();
        let normalized = raw.replace("\r\n", "\n").replace('\r', "\n");
        self.doc.decoded.push_str(&normalized);
        self.decoded_since(from)
    }

    pub(super) fn reference_error(&self, at: usize, e: RefError) -> XmlError {
        match e {
            RefError::Entity(name) => XmlError::Entity(name),
            RefError::Syntax(m) => self.syntax(at, m),
        }
    }
}

/// A bad reference, with its offset in the decoded run.
pub(super) enum RefError {
    Entity(String),
    Syntax(String),
}

/// `[66] CharRef ::= '&#' [0-9]+ ';' | '&#x' [0-9a-fA-F]+ ';'`, `[68] EntityRef ::= '&' Name ';'`
/// (the five predefined entities only: a document declares none).
///
/// Decodes the reference at the start of `s` (which begins with `&`): the character and the
/// reference's length in bytes.
pub(super) fn reference(s: &str) -> Result<(char, usize), RefError> {
    let semi = s.find(';').filter(|&i| i <= 12).ok_or_else(|| {
        RefError::Syntax("'&' must start a reference ending in ';' (escape it as &amp;)".into())
    })?;
    let body = &s[1..semi];
    let c = if let Some(num) = body.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        let c = Some(digits)
            .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(radix)))
            .and_then(|d| u32::from_str_radix(d, radix).ok())
            .and_then(char::from_u32)
            .ok_or_else(|| RefError::Syntax(format!("bad character reference &{body};")))?;
        let legal =
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        if !legal {
            return Err(RefError::Syntax(format!(
                "character reference &{body}; is not an XML character"
            )));
        }
        c
    } else {
        match body {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => return Err(RefError::Entity(body.to_string())),
        }
    };
    Ok((c, semi + 1))
}

/// `[10] AttValue` normalization (§3.3.3) and `[14] CharData`'s references.
///
/// Appends `raw` to `out` with references resolved and line ends normalized (for an attribute,
/// white space becomes spaces too); on a bad reference, its offset in `raw`.
pub(super) fn decode_into(raw: &str, attribute: bool, out: &mut String) -> Result<(), (usize, RefError)> {
    out.reserve(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\r', '\n', '\t']) {
        out.push_str(&rest[..i]);
        let offset = raw.len() - rest.len() + i;
        match rest.as_bytes()[i] {
            b'&' => {
                let (c, len) = reference(&rest[i..]).map_err(|e| (offset, e))?;
                out.push(c);
                rest = &rest[i + len..];
                continue;
            }
            b'\r' => {
                out.push(if attribute { ' ' } else { '\n' });
                let skip = if rest.as_bytes().get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
                continue;
            }
            c => out.push(if attribute { ' ' } else { char::from(c) }),
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// The source's `start..end` as it is.
#[inline]
pub(super) fn source_chars(start: usize, end: usize) -> Chars {
    Chars {
        start: offset(start),
        end: offset(end),
        decoded: false,
    }
}
