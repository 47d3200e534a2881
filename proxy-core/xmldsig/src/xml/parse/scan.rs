//! The byte scanners: eight bytes at a time (portable SWAR, no SIMD intrinsics), each with an
//! exhaustive test against the byte-by-byte definition.

use crate::xml::index;

/// [`TEXT_CLASS`] bit: a byte that needs decoding (`&`, `\r`).
pub(super) const DECODE: u8 = 1;

/// [`TEXT_CLASS`] bit: `>`, which may end a forbidden `]]>`.
pub(super) const GT: u8 = 2;

/// [`TEXT_CLASS`] bit: `<`, the end of character data.
pub(super) const LT: u8 = 4;

/// What character data scanning must notice about each byte.
pub(super) const TEXT_CLASS: [u8; 256] = {
    let mut t = [0; 256];
    t[b'&' as usize] = DECODE;
    t[b'\r' as usize] = DECODE;
    t[b'>' as usize] = GT;
    t[b'<' as usize] = LT;
    t
};

/// The next `<` at or after `i` (or the end of input) and the [`TEXT_CLASS`] bits of the bytes
/// before it. Runs between tags are mostly indentation and short values: eight bytes are checked
/// at a time (portable SWAR, no SIMD intrinsics), then the byte that stopped the check.
#[inline]
pub(super) fn scan_text(bytes: &[u8], mut i: usize) -> (usize, u8) {
    let mut seen = 0;
    loop {
        i = skip_unflagged(bytes, i, |word| {
            // '<' (0x3C) and '>' (0x3E) differ only in bit 1: one test finds both.
            has_byte(word | (ONES * 2), b'>') | has_byte(word, b'&') | has_byte(word, b'\r')
        });
        let Some(&b) = bytes.get(i) else {
            return (i, seen);
        };
        let class = TEXT_CLASS[usize::from(b)];
        if class == LT {
            return (i, seen);
        }
        seen |= class;
        i += 1;
    }
}

/// One in each byte of a word.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;

/// Skips from `i`, eight bytes at a time, the words in which `flags` (high bit set per byte)
/// flags no byte; stops at the lowest flagged byte, which must be a real match (higher flags may
/// be false), or where fewer than eight bytes are left. The caller reads on from there byte by
/// byte.
#[inline(always)]
pub(super) fn skip_unflagged(bytes: &[u8], mut i: usize, flags: impl Fn(u64) -> u64) -> usize {
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let hits = flags(u64::from_le_bytes(*chunk));
        if hits != 0 {
            return i + index(hits.trailing_zeros() / 8);
        }
        i += 8;
    }
    i
}

/// Flags (high bit set) the bytes of `word` equal to `b`; exact for the lowest one.
#[inline]
pub(super) fn has_byte(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// The closing `quote` of the attribute value that starts at `i`, and the [`TEXT_CLASS`] bits
/// of its bytes: `LT` for a `<` (refused), `DECODE` for a byte that normalization or a reference
/// changes (`&`, tab, line end). One pass, eight bytes at a time: values are short names or long
/// URIs, mostly with neither.
#[inline]
pub(super) fn scan_value(bytes: &[u8], mut i: usize, quote: u8) -> Option<(usize, u8)> {
    let mut seen = 0;
    loop {
        i = skip_unflagged(bytes, i, |word| {
            // Tab, line feed and carriage return are the bytes below 0x20 that matter.
            let below_space = word.wrapping_sub(ONES * 0x20) & !word & (ONES << 7);
            has_byte(word, quote) | has_byte(word, b'<') | has_byte(word, b'&') | below_space
        });
        let &b = bytes.get(i)?;
        if b == quote {
            return Some((i, seen));
        }
        seen |= match b {
            b'<' => LT,
            b'&' | b'\t' | b'\n' | b'\r' => DECODE,
            _ => 0,
        };
        i += 1;
    }
}

/// Flags (high bit set) the bytes of `word` that are not ASCII letters or digits. Each byte is
/// tested on its own low seven bits, so no carry crosses bytes and every flag is exact.
#[inline]
pub(super) fn not_alphanumeric(word: u64) -> u64 {
    const HIGH: u64 = ONES << 7;
    let low = word & !HIGH;
    // Bit 7 of `low + (0x80 - n)` is set exactly when a byte is at least n.
    let at_least = |v: u64, n: u8| v + ONES * u64::from(0x80 - n);
    let digit = at_least(low, b'0') & !at_least(low, b'9' + 1);
    let folded = low | (ONES * 0x20);
    let letter = at_least(folded, b'a') & !at_least(folded, b'z' + 1);
    !(digit | letter) & !word & HIGH | word & HIGH
}

/// `[3] S ::= (#x20 | #x9 | #xD | #xA)+`.
#[inline]
pub(super) fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{Limits, parse};

    #[test]
    fn the_attribute_value_scan_finds_its_quote_and_every_byte_that_matters() {
        // Every byte value at every offset of values of 0 to 19 bytes, with either quote,
        // against a byte-by-byte reading.
        for quote in [b'"', b'\''] {
            for len in 0..20 {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut input = vec![b'v'; len];
                        input[at] = b;
                        input.extend_from_slice(&[quote, b'>', b' ', b'x', b'x', b'x', b'x', b'x']);
                        let close = input.iter().position(|&c| c == quote).unwrap();
                        let seen = input[..close].iter().fold(0, |acc, &c| {
                            acc | match c {
                                b'<' => LT,
                                b'&' | b'\t' | b'\n' | b'\r' => DECODE,
                                _ => 0,
                            }
                        });
                        assert_eq!(
                            scan_value(&input, 0, quote),
                            Some((close, seen)),
                            "{b:#04x} at {at} of {len}"
                        );
                    }
                }
            }
            assert_eq!(scan_value(b"abc", 0, quote), None);
        }
    }

    #[test]
    fn the_eight_byte_name_scan_flags_exactly_what_is_not_a_letter_or_digit() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"aZ09mQ5x";
                word[at] = b;
                let flags = not_alphanumeric(u64::from_le_bytes(word));
                let expected = if b.is_ascii_alphanumeric() {
                    0
                } else {
                    0x80u64 << (8 * at)
                };
                assert_eq!(flags, expected, "byte {b:#04x} at {at}");
            }
        }
        // Names longer than one word, with other name bytes, a colon, non-ASCII, at any offset.
        for name in [
            "CdtTrfTxInf",
            "a",
            "Ab12-x.y_z\u{e9}t",
            "PrvtIdOthrFinInstnIdX",
            "p:LongLocalName9",
        ] {
            let xml = format!("<{name} xmlns:p=\"urn:p\"><{name}/></{name}>");
            let doc = parse(xml.as_bytes(), &Limits::default()).expect(name);
            assert_eq!(doc.qname(doc.element(doc.root()).unwrap()), name);
        }
        // A byte no name has, after a whole word of letters.
        assert!(parse(b"<Abcdefghij;k/>", &Limits::default()).is_err());
    }
}
