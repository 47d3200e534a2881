//! Random identifiers: 128 bits from the system's RNG, as 32 lowercase hex digits.

use std::fmt::Write as _;

/// A fresh random id: 32 lowercase hex digits (a signature's `KeyInfo` `Id`, `PI-ResourceId`,
/// stream and claim ids).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // The system RNG does not fail on supported platforms; an all-zero id would still be unique
    // enough for one message, and a verifier rejects duplicate `Id`s anyway.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    let mut id = String::with_capacity(32);
    for b in bytes {
        let _ = write!(id, "{b:02x}");
    }
    id
}
