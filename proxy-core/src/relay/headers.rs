//! The proxy's own headers on the answers it gives (`pix-*`): nothing upstream may set them.

/// The header that tells the bank service whether BACEN's answer was verified.
pub const SIGNATURE_VALID: &str = "pix-signature-valid";
/// Response header (and multipart part header) naming the check that failed when
/// `pix-signature-valid` is `false` for a stream message.
pub const SIGNATURE_ERROR: &str = "pix-signature-error";
/// Response header carrying the exchange's `request_id`, the key of its audit record.
pub const REQUEST_ID: &str = "pix-request-id";
