//! An attribute's value in a start tag: `Eq AttValue`, its references decoded.

use super::scan::{DECODE, LT, scan_value, skip_ws};
use super::text::decode_into;
use super::*;

impl<'a> Builder<'a> {
    /// `Eq AttValue` after attribute `name` (whose name ends at `name_end`): where the `=`, the
    /// opening quote and the closing quote are, which quote, and the value with its references
    /// decoded (borrowed when it has none).
    #[inline]
    pub(super) fn att_value(&self, name: &str, name_end: usize) -> Result<AttValue<'a>, XmlError> {
        let eq = skip_ws(self.bytes, name_end);
        if self.bytes.get(eq) != Some(&b'=') {
            return Err(self.syntax(eq, format!("attribute '{name}' has no value")));
        }
        let q = skip_ws(self.bytes, eq + 1);
        let quote = match self.bytes.get(q) {
            Some(&c @ (b'"' | b'\'')) => c,
            _ => return Err(self.syntax(q, format!("value of attribute '{name}' is not quoted"))),
        };
        let (close, seen) = scan_value(self.bytes, q + 1, quote)
            .ok_or_else(|| self.syntax(q, format!("unterminated value of attribute '{name}'")))?;
        let raw = &self.src[q + 1..close];
        if seen & LT != 0 {
            return Err(self.syntax(q, format!("'<' in the value of attribute '{name}'")));
        }
        let value = if seen & DECODE == 0 {
            Cow::Borrowed(raw)
        } else {
            let mut decoded = String::with_capacity(raw.len());
            decode_into(raw, true, &mut decoded).map_err(|(at, e)| self.reference_error(q + 1 + at, e))?;
            Cow::Owned(decoded)
        };
        Ok(AttValue {
            eq,
            q,
            quote,
            close,
            value,
        })
    }
}

/// An attribute's `Eq AttValue`, as [`Builder::att_value`] reads it.
pub(super) struct AttValue<'a> {
    /// Where the `=` is.
    pub(super) eq: usize,
    /// Where the opening quote is.
    pub(super) q: usize,
    /// The quote character.
    pub(super) quote: u8,
    /// Where the closing quote is.
    pub(super) close: usize,
    /// The value, references decoded.
    pub(super) value: Cow<'a, str>,
}
