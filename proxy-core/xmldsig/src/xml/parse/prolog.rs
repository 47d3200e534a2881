//! The prolog and the markup that is not an element: the XML declaration, processing
//! instructions, comments, CDATA sections, and the DOCTYPE that is refused.

use super::names::check_name;
use super::*;

impl<'a> Builder<'a> {
    /// `[23] XMLDecl ::= '<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>'`
    ///
    /// The XML declaration: only version 1.0 and the UTF-8 encoding are accepted.
    pub(super) fn declaration(&mut self) -> Result<(), XmlError> {
        let end =
            memmem::find(self.bytes, b"?>").ok_or_else(|| self.syntax(0, "unterminated XML declaration"))?;
        let body = &self.src[5..end];
        let mut version = None;
        let mut rest = body.trim_start();
        while !rest.is_empty() {
            let (name, tail) = rest
                .split_once('=')
                .ok_or_else(|| self.syntax(0, "malformed XML declaration"))?;
            let tail = tail.trim_start();
            let quote = tail.chars().next().filter(|c| *c == '"' || *c == '\'');
            let quote = quote.ok_or_else(|| self.syntax(0, "malformed XML declaration"))?;
            let (value, after) = tail[1..]
                .split_once(quote)
                .ok_or_else(|| self.syntax(0, "malformed XML declaration"))?;
            match name.trim() {
                "version" => version = Some(value),
                "encoding" if !value.eq_ignore_ascii_case("utf-8") => {
                    return Err(XmlError::UnsupportedDeclaration(format!("encoding {value}")));
                }
                "encoding" | "standalone" => {}
                other => return Err(self.syntax(0, format!("unknown XML declaration field '{other}'"))),
            }
            rest = after.trim_start();
        }
        match version {
            Some("1.0") => {}
            Some(v) => return Err(XmlError::UnsupportedDeclaration(format!("version {v}"))),
            None => return Err(self.syntax(0, "XML declaration without version")),
        }
        self.pos = end + 2;
        Ok(())
    }

    /// `[16] PI ::= '<?' PITarget (S (Char* - (Char* '?>' Char*)))? '?>'`
    ///
    /// A processing instruction `<?target data?>`.
    pub(super) fn pi(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let end = memmem::find(&self.bytes[start + 2..], b"?>")
            .map(|i| start + 2 + i)
            .ok_or_else(|| self.syntax(start, "unterminated processing instruction"))?;
        let body = &self.src[start + 2..end];
        let split = body.find(|c: char| c.is_ascii_whitespace()).unwrap_or(body.len());
        let target = &body[..split];
        check_name(target).map_err(|m| self.syntax(start, format!("processing instruction target: {m}")))?;
        if target.eq_ignore_ascii_case("xml") {
            return Err(XmlError::Structure(format!(
                "misplaced XML declaration at byte {start}"
            )));
        }
        if split < body.len() && !body.as_bytes()[split].is_ascii_whitespace() {
            return Err(self.syntax(start, "bad processing instruction"));
        }
        let data = body[split..].trim_start_matches([' ', '\t', '\n', '\r']);
        let data = self.eol_chars(end - data.len(), end);
        self.append(NodeKind::Pi { target, data });
        self.pos = end + 2;
        Ok(())
    }

    /// `[15] Comment ::= '<!--' ((Char - '-') | ('-' (Char - '-')))* '-->'`,
    /// `[18] CDSect ::= CDStart CData CDEnd`, and `[28] doctypedecl`, refused.
    ///
    /// `<!--…-->`, `<![CDATA[…]]>` or a refused `<!DOCTYPE`.
    pub(super) fn bang(&mut self) -> Result<(), XmlError> {
        let rest = &self.bytes[self.pos..];
        if rest.starts_with(b"<!--") {
            let body = self.pos + 4;
            let end = memmem::find(&self.bytes[body..], b"--")
                .map(|i| body + i)
                .ok_or_else(|| self.syntax(self.pos, "unterminated comment"))?;
            if self.bytes.get(end + 2) != Some(&b'>') {
                return Err(self.syntax(end, "'--' is not allowed inside a comment"));
            }
            let text = self.eol_chars(body, end);
            self.append(NodeKind::Comment(text));
            self.pos = end + 3;
        } else if rest.starts_with(b"<![CDATA[") {
            if self.open.is_empty() {
                return Err(XmlError::Structure(
                    "CDATA section outside the root element".into(),
                ));
            }
            let body = self.pos + 9;
            let end = memmem::find(&self.bytes[body..], b"]]>")
                .map(|i| body + i)
                .ok_or_else(|| self.syntax(self.pos, "unterminated CDATA section"))?;
            let text = self.eol_chars(body, end);
            self.push_text(text, CopyHint::Nothing);
            self.pos = end + 3;
        } else if rest.starts_with(b"<!DOCTYPE") {
            return Err(XmlError::Doctype);
        } else {
            return Err(self.syntax(self.pos, "unknown markup declaration"));
        }
        Ok(())
    }
}
