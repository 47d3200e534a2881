//! DICT's reconciliation arithmetic (DICT's OpenAPI 2.12.1, tag "Reconciliação": "Cálculo de CID",
//! "Cálculo do VSync"), for the simulator's `sync-verifications` and `cids` and for a
//! participant's side of them:
//!
//! - an entry's **CID** is `HMAC-SHA256(requestIdBytes, entryAttributes)` in lowercase hex, where
//!   `requestIdBytes` are the 16 bytes of the `RequestId` that created the entry and
//!   `entryAttributes` is `keyType&key&ownerTaxIdNumber&ownerName&ownerTradeName&participant&
//!   branch&accountNumber&accountType` (absent attributes empty);
//! - a participant's **VSync** for a key type is the XOR of the CIDs of its entries of that type
//!   (64 zeros for none).

use aws_lc_rs::hmac;
use pix_xmldsig::xml::{self, Limits};

use crate::find::text;

/// The CID of an entry created by `request_id` (a UUID) with these attributes; `None` when the
/// request id is not a UUID.
pub fn cid(request_id: &str, entry_attributes: &str) -> Option<String> {
    let hex: String = request_id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..16)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes?);
    let tag = hmac::sign(&key, entry_attributes.as_bytes());
    Some(tag.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// The VSync of a set of CIDs (lowercase hex, 64 characters each): their XOR.
pub fn vsync<'a>(cids: impl IntoIterator<Item = &'a str>) -> String {
    let mut acc = [0u8; 32];
    for cid in cids {
        for (i, a) in acc.iter_mut().enumerate() {
            let byte = cid
                .get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            *a ^= byte;
        }
    }
    acc.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `entryAttributes` of an `<Entry>` (its content as DICT's requests and answers write it).
pub fn entry_attributes(entry_content: &str) -> String {
    let wrapped = format!("<Entry>{entry_content}</Entry>");
    let Ok(doc) = xml::parse(wrapped.as_bytes(), &Limits::default()) else {
        return String::new();
    };
    let field = |local: &str| text(&doc, None, local).unwrap_or_default();
    let owner = crate::find::first(&doc, None, "Owner");
    let of_owner = |local: &str| text(&doc, owner, local).unwrap_or_default();
    [
        field("KeyType"),
        field("Key"),
        of_owner("TaxIdNumber"),
        of_owner("Name"),
        of_owner("TradeName"),
        field("Participant"),
        field("Branch"),
        field("AccountNumber"),
        field("AccountType"),
    ]
    .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapis_examples() {
        // requestIdBytes 1..=16 as a UUID.
        let request_id = "01020304-0506-0708-090a-0b0c0d0e0f10";
        let attributes = "PHONE&+5511987654321&11122233300&João Silva&&12345678&00001&0007654321&CACC";
        assert_eq!(
            cid(request_id, attributes).unwrap(),
            "28c06eb41c4dc9c3ae114831efcac7446c8747777fca8b145ecd31ff8480ae88"
        );
        let cids = [
            "28c06eb41c4dc9c3ae114831efcac7446c8747777fca8b145ecd31ff8480ae88",
            "4d4abb9168114e349672b934d16ed201a919cb49e28b7f66a240e62c92ee007f",
            "fce514f84f37934bc8aa0f861e4f7392273d71b9d18e8209d21e4192a7842058",
        ];
        assert_eq!(
            vsync(cids),
            "996fc1dd3b6b14bcf0c9fe8320eb66d7e2a3fd874ccf767b2e939641b1ea8eaf"
        );
        assert_eq!(vsync([]), "0".repeat(64));
        assert_eq!(cid("not-a-uuid", attributes), None);
    }

    #[test]
    fn attributes_come_from_the_entry_in_the_openapis_order() {
        let entry = "<Key>+5511987654321</Key><KeyType>PHONE</KeyType><Account><Participant>12345678</Participant>\
                     <Branch>00001</Branch><AccountNumber>0007654321</AccountNumber><AccountType>CACC</AccountType></Account>\
                     <Owner><Type>NATURAL_PERSON</Type><TaxIdNumber>11122233300</TaxIdNumber><Name>João Silva</Name></Owner>";
        assert_eq!(
            entry_attributes(entry),
            "PHONE&+5511987654321&11122233300&João Silva&&12345678&00001&0007654321&CACC"
        );
    }
}
