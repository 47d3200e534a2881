//! [`KmsSigner`]: the signature key lives in AWS KMS and never leaves it; KMS `Sign` with
//! `RSASSA_PKCS1_V1_5_SHA_256` on the canonical `SignedInfo` (`MessageType=RAW` up to KMS's
//! 4096-byte limit, the SHA-256 digest with `MessageType=DIGEST` beyond it).
//!
//! Throttling, KMS's own internal errors and network failures are retried with jittered backoff
//! within a deadline; past it the signer reports [`SignerError::Unavailable`], which the relay
//! answers `503`.

use std::time::{Duration, Instant};

use aws_sdk_kms::Client;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use pix_xmldsig::signer::{SignFuture, Signer, SignerError};
use pix_xmldsig::trust::Certificate;
use proxy_core::retry::Backoff;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// KMS's limit for `MessageType=RAW`.
pub const RAW_LIMIT: usize = 4096;

/// Error codes worth another attempt (the operation may succeed later).
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "LimitExceededException",
];

/// Time and pacing of the attempts of one signature.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Time allowed for one signature, retries included.
    pub deadline: Duration,
    /// Time allowed for one call.
    pub call_timeout: Duration,
    /// Delays between attempts.
    pub backoff: Backoff,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            deadline: Duration::from_secs(3),
            call_timeout: Duration::from_secs(2),
            backoff: Backoff {
                base: Duration::from_millis(25),
                cap: Duration::from_millis(800),
            },
        }
    }
}

/// A [`Signer`] whose key is a KMS asymmetric key (RSA, `SIGN_VERIFY`).
#[derive(Debug)]
pub struct KmsSigner {
    client: Client,
    key_id: String,
    certificate: Certificate,
    settings: Settings,
}

/// What one `Sign` call sends: the message itself, or its SHA-256 digest past [`RAW_LIMIT`].
pub fn sign_input(message: &[u8]) -> (MessageType, Vec<u8>) {
    if message.len() <= RAW_LIMIT {
        (MessageType::Raw, message.to_vec())
    } else {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        (MessageType::Digest, digest.as_ref().to_vec())
    }
}

/// A KMS error with the whole chain of its causes.
fn sdk_error(call: &str, key_id: &str, e: &(dyn std::error::Error + 'static)) -> String {
    format!("{call} {key_id}: {}", aws_sdk_kms::error::DisplayErrorContext(e))
}

/// The DER `RSAPublicKey` of a KMS key (`GetPublicKey`).
pub async fn rsa_public_key(client: &Client, key_id: &str) -> Result<Vec<u8>, SignerError> {
    let load = |reason: String| SignerError::Load {
        key_id: key_id.to_string(),
        reason,
    };
    let out = client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| load(sdk_error("KMS GetPublicKey", key_id, &e)))?;
    let spki = out
        .public_key()
        .ok_or_else(|| load("KMS GetPublicKey returned no key".into()))?;
    let (_, spki) =
        SubjectPublicKeyInfo::from_der(spki.as_ref()).map_err(|e| load(format!("KMS public key: {e}")))?;
    Ok(spki.subject_public_key.data.to_vec())
}

/// Signs `message` with the KMS key (`Sign`, RAW, RSASSA_PKCS1_V1_5_SHA_256), without a
/// certificate: what a certificate request needs before there is one.
pub async fn sign_raw(client: &Client, key_id: &str, message: Vec<u8>) -> Result<Vec<u8>, SignerError> {
    let failed = |reason: String| SignerError::Failed {
        key_id: key_id.to_string(),
        reason,
    };
    let out = client
        .sign()
        .key_id(key_id)
        .message(Blob::new(message))
        .message_type(aws_sdk_kms::types::MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
        .send()
        .await
        .map_err(|e| failed(sdk_error("KMS Sign", key_id, &e)))?;
    out.signature()
        .map(|s| s.as_ref().to_vec())
        .ok_or_else(|| failed("KMS Sign returned no signature".into()))
}

impl KmsSigner {
    /// Checks with `GetPublicKey` that `key_id` is an RSA signing key that can make PKCS#1 v1.5
    /// SHA-256 signatures and that `certificate` holds its public key; refuses otherwise.
    pub async fn connect(
        client: Client,
        key_id: &str,
        certificate: Certificate,
        settings: Settings,
    ) -> Result<KmsSigner, SignerError> {
        let load = |reason: String| SignerError::Load {
            key_id: key_id.to_string(),
            reason,
        };
        // The signer paces its own retries within its deadline.
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
                .build(),
        );
        let out = tokio::time::timeout(
            settings.call_timeout * 3,
            client.get_public_key().key_id(key_id).send(),
        )
        .await
        .map_err(|_| load("GetPublicKey: no answer".into()))?
        .map_err(|e| {
            load(format!(
                "GetPublicKey: {}",
                aws_sdk_kms::error::DisplayErrorContext(&e)
            ))
        })?;
        let algorithms = out.signing_algorithms();
        if !algorithms.contains(&SigningAlgorithmSpec::RsassaPkcs1V15Sha256) {
            return Err(load(format!(
                "the key cannot sign with RSASSA_PKCS1_V1_5_SHA_256 (key spec {:?}, usage {:?})",
                out.key_spec(),
                out.key_usage()
            )));
        }
        let spki = out
            .public_key()
            .ok_or_else(|| load("GetPublicKey returned no key".into()))?;
        let (_, spki) = SubjectPublicKeyInfo::from_der(spki.as_ref())
            .map_err(|e| load(format!("KMS public key: {e}")))?;
        if spki.subject_public_key.data.as_ref() != certificate.rsa_public_key() {
            return Err(load(format!(
                "the certificate '{}' does not hold this KMS key's public key",
                certificate.subject()
            )));
        }
        Ok(KmsSigner {
            client,
            key_id: key_id.to_string(),
            certificate,
            settings,
        })
    }

    async fn sign_with_retries(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let (message_type, input) = sign_input(message);
        let until = Instant::now() + self.settings.deadline;
        let mut attempt = 0u32;
        loop {
            let call = self
                .client
                .sign()
                .key_id(&self.key_id)
                .message(Blob::new(input.clone()))
                .message_type(message_type.clone())
                .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
                .send();
            let reason = match tokio::time::timeout(self.settings.call_timeout, call).await {
                Ok(Ok(out)) => {
                    return out
                        .signature()
                        .map(|s| s.as_ref().to_vec())
                        .ok_or_else(|| SignerError::Failed {
                            key_id: self.key_id.clone(),
                            reason: "KMS returned no signature".into(),
                        });
                }
                Ok(Err(e)) if !transient(&e) => {
                    return Err(SignerError::Failed {
                        key_id: self.key_id.clone(),
                        reason: format!("KMS Sign: {}", aws_sdk_kms::error::DisplayErrorContext(&e)),
                    });
                }
                Ok(Err(e)) => match e.code() {
                    Some(code) => format!("KMS Sign: {code}: {}", e.message().unwrap_or("")),
                    None => format!("KMS Sign: {}", aws_sdk_kms::error::DisplayErrorContext(&e)),
                },
                Err(_) => format!("KMS Sign: no answer within {:?}", self.settings.call_timeout),
            };
            let delay = self.settings.backoff.delay(attempt);
            if Instant::now() + delay >= until {
                return Err(SignerError::Unavailable {
                    key_id: self.key_id.clone(),
                    reason: format!("{reason} (gave up after {} attempts)", attempt + 1),
                });
            }
            tracing::debug!(key_id = %self.key_id, attempt, reason = %reason, "retrying KMS Sign");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Whether a failed call may succeed if tried again.
fn transient<E: ProvideErrorMetadata>(e: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            s.err().code().is_some_and(|c| TRANSIENT.contains(&c)) || {
                // 5xx without a known code: KMS or the network path failing for a while.
                e.raw_response().is_some_and(|r| r.status().is_server_error())
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => false,
    }
}

impl Signer for KmsSigner {
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        Box::pin(self.sign_with_retries(message))
    }

    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DIGEST branch is checked for the request it builds (moto's server hashes DIGEST input
    /// again, so it cannot judge the signature).
    #[test]
    fn messages_over_the_raw_limit_are_sent_as_their_digest() {
        let small = vec![b'a'; RAW_LIMIT];
        assert_eq!(sign_input(&small), (MessageType::Raw, small.clone()));
        let big = vec![b'a'; RAW_LIMIT + 1];
        let (kind, input) = sign_input(&big);
        assert_eq!(kind, MessageType::Digest);
        let expected = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &big);
        assert_eq!(input, expected.as_ref());
        assert_eq!(input.len(), 32);
    }
}
