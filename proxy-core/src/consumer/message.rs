//! One message of the participant's stream, as the consumer hands it to the bank.

use std::time::SystemTime;

use bytes::Bytes;

/// A message BACEN delivered on the stream, verified, with what the bank's side needs to route
/// it without parsing it again.
#[derive(Debug, Clone)]
pub struct Message {
    /// BACEN's `PI-ResourceId` of the message (of its part, in a multipart page).
    pub resource_id: String,
    /// `pacs.008`, `pacs.002`, `pibr.001`, … (from the namespace); empty when not XML.
    pub message_type: String,
    /// `AppHdr/BizMsgIdr`, when present.
    pub msg_id: Option<String>,
    /// The first `EndToEndId` (or `OrgnlEndToEndId`), when present.
    pub end_to_end_id: Option<String>,
    /// Whether BACEN's signature verified. A message that fails is handed off all the same,
    /// flagged: the bank rejects it to BACEN with an admi.002 (Q&A #104); it never stops the stream.
    pub signature_valid: bool,
    /// The check that failed, when one did.
    pub signature_error: Option<String>,
    /// Whether it was seen before (same `PI-ResourceId` or message id) within the window.
    pub duplicate: bool,
    /// When the page holding it arrived from BACEN.
    pub delivered_at: SystemTime,
    /// BACEN's bytes, as delivered.
    pub body: Bytes,
}

impl Message {
    /// The message's description as JSON (everything but the body), for a destination's metadata.
    pub fn attributes(&self) -> serde_json::Value {
        serde_json::json!({
            "resource_id": self.resource_id,
            "message_type": self.message_type,
            "msg_id": self.msg_id,
            "end_to_end_id": self.end_to_end_id,
            "signature_valid": self.signature_valid,
            "signature_error": self.signature_error,
            "duplicate": self.duplicate,
            "delivered_at": crate::wire::timestamp(
                self.delivered_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            ),
        })
    }
}
