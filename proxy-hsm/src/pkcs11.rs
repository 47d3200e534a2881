//! [`Pkcs11Signer`]: the private key stays in a PKCS#11 token (CloudHSM in production, SoftHSMv2 in
//! tests); signing is `CKM_SHA256_RSA_PKCS` on the token. Sessions are pooled (one per concurrent
//! signature); a session or login lost to the token is replaced by a fresh, logged-in one and the
//! operation retried once. The PIN (CloudHSM: `HSM_USER:HSM_PASSWORD`) never appears in errors.

use std::path::Path;
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use pix_xmldsig::signer::{SignFuture, Signer, SignerError};
use pix_xmldsig::trust::Certificate;

/// A logged-in view of one PKCS#11 token. Open it once per process: the module is initialized
/// once, and every signer shares its context.
#[derive(Clone)]
pub struct Token {
    pkcs11: Pkcs11,
    slot: Slot,
    pin: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("slot", &self.slot)
            .field("pin", &"****")
            .finish()
    }
}

/// A signer whose key never leaves the token.
pub struct Pkcs11Signer {
    inner: Arc<Inner>,
    certificate: Certificate,
    key_id: String,
}

struct Inner {
    token: Token,
    key_label: String,
    /// Idle sessions with the key handle found in them.
    idle: Mutex<Vec<(Session, ObjectHandle)>>,
    pool_size: usize,
}

fn fail(key_id: &str, reason: impl std::fmt::Display) -> SignerError {
    SignerError::Load {
        key_id: key_id.to_string(),
        reason: reason.to_string(),
    }
}

impl Token {
    /// Loads `module` (`/opt/cloudhsm/lib/libcloudhsm_pkcs11.so`, `/usr/lib/softhsm/libsofthsm2.so`)
    /// and picks the token labelled `label` (the first token when `None`). `pin` is the user PIN
    /// (CloudHSM: `HSM_USER:HSM_PASSWORD`); it is checked when the first key is used.
    pub fn open(module: &Path, label: Option<&str>, pin: &str) -> Result<Token, SignerError> {
        let what = format!("pkcs11:{}", module.display());
        if !module.exists() {
            return Err(fail(
                &what,
                format!("PKCS#11 module {} does not exist", module.display()),
            ));
        }
        let pkcs11 = Pkcs11::new(module).map_err(|e| fail(&what, format!("cannot load the module: {e}")))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(fail(&what, format!("C_Initialize: {e}"))),
        }
        let slots = pkcs11.get_slots_with_token().map_err(|e| fail(&what, e))?;
        let slot = slots
            .into_iter()
            .find(|s| {
                label.is_none_or(|want| {
                    pkcs11
                        .get_token_info(*s)
                        .map(|i| i.label().trim() == want)
                        .unwrap_or(false)
                })
            })
            .ok_or_else(|| fail(&what, format!("no token labelled {:?}", label.unwrap_or("(any)"))))?;
        Ok(Token {
            pkcs11,
            slot,
            pin: pin.to_string(),
        })
    }

    /// A signer for the private key labelled `key_label`, checked against `certificate` (a probe
    /// is signed on the token and verified with the certificate's public key), with up to
    /// `pool_size` sessions kept open.
    pub fn signer(
        &self,
        key_label: &str,
        certificate: Certificate,
        pool_size: usize,
    ) -> Result<Pkcs11Signer, SignerError> {
        let signer = Pkcs11Signer {
            inner: Arc::new(Inner {
                token: self.clone(),
                key_label: key_label.to_string(),
                idle: Mutex::new(Vec::new()),
                pool_size: pool_size.max(1),
            }),
            certificate,
            key_id: format!("pkcs11:{key_label}"),
        };
        // The probe also opens the first session: a wrong PIN or a missing key fails here.
        let probe = b"pix-proxy key check";
        let sig = signer.inner.sign(probe, &signer.key_id)?;
        if !signer.certificate.verifies(probe, &sig) {
            let reason = format!(
                "the token's key does not match the certificate {}",
                signer.certificate.subject()
            );
            return Err(fail(&signer.key_id, reason));
        }
        Ok(signer)
    }

    fn login(&self, session: &Session, key_id: &str) -> Result<(), SignerError> {
        let pin = AuthPin::from(self.pin.clone());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
                Err(fail(key_id, "login refused: wrong PIN"))
            }
            Err(e) => Err(fail(key_id, format!("login: {e}"))),
        }
    }

    /// Generates an RSA-2048 key pair labelled `label` on the token: private half sensitive and
    /// not extractable. For development set-ups and tests; production keys are made by the
    /// bank's key ceremony.
    pub fn generate_rsa_key(&self, label: &str) -> Result<(), SignerError> {
        let key_id = format!("pkcs11:{label}");
        let session = self.logged_in(&key_id, true)?;
        let label = label.as_bytes().to_vec();
        let public = [
            Attribute::Token(true),
            Attribute::Label(label.clone()),
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(label),
            Attribute::Sign(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ];
        session
            .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
            .map(|_| ())
            .map_err(|e| fail(&key_id, format!("key generation: {e}")))
    }

    /// True when the token holds a key (public or private) labelled `label`.
    pub fn has_label(&self, label: &str) -> Result<bool, SignerError> {
        let key_id = format!("pkcs11:{label}");
        let session = self.logged_in(&key_id, false)?;
        let found = session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(|e| fail(&key_id, e))?;
        Ok(!found.is_empty())
    }

    /// Whether the private key labelled `label` is sensitive (its value never leaves the token in
    /// the clear).
    pub fn is_sensitive(&self, label: &str) -> Result<bool, SignerError> {
        let (session, key, key_id) = self.private_key(label)?;
        let attrs = session
            .get_attributes(key, &[AttributeType::Sensitive])
            .map_err(|e| fail(&key_id, e))?;
        Ok(attrs.iter().any(|a| matches!(a, Attribute::Sensitive(true))))
    }

    /// Signs `message` with the private key labelled `label` (`CKM_SHA256_RSA_PKCS`), without a
    /// certificate: what a certificate request needs before there is one.
    pub fn sign_raw(&self, label: &str, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let (session, key, key_id) = self.private_key(label)?;
        session
            .sign(&Mechanism::Sha256RsaPkcs, key, message)
            .map_err(|e| fail(&key_id, format!("sign: {e}")))
    }

    fn private_key(&self, label: &str) -> Result<(Session, ObjectHandle, String), SignerError> {
        self.object(label, ObjectClass::PRIVATE_KEY)
    }

    /// A session (read-write when `rw`) with the user logged in.
    fn logged_in(&self, key_id: &str, rw: bool) -> Result<Session, SignerError> {
        let session = if rw {
            self.pkcs11.open_rw_session(self.slot)
        } else {
            self.pkcs11.open_ro_session(self.slot)
        }
        .map_err(|e| fail(key_id, e))?;
        self.login(&session, key_id)?;
        Ok(session)
    }

    /// A session (logged in for private keys) and the key of `class` labelled `label`.
    fn object(
        &self,
        label: &str,
        class: ObjectClass,
    ) -> Result<(Session, ObjectHandle, String), SignerError> {
        let key_id = format!("pkcs11:{label}");
        let session = self
            .pkcs11
            .open_ro_session(self.slot)
            .map_err(|e| fail(&key_id, e))?;
        if class == ObjectClass::PRIVATE_KEY {
            self.login(&session, &key_id)?;
        }
        let found = session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| fail(&key_id, e))?;
        let what = if class == ObjectClass::PRIVATE_KEY {
            "private"
        } else {
            "public"
        };
        let key = *found
            .first()
            .ok_or_else(|| fail(&key_id, format!("no {what} key labelled '{label}' on the token")))?;
        Ok((session, key, key_id))
    }

    /// The modulus and public exponent of the key pair labelled `label`, to issue it a certificate.
    pub fn public_key(&self, label: &str) -> Result<(Vec<u8>, Vec<u8>), SignerError> {
        let (session, key, key_id) = self.object(label, ObjectClass::PUBLIC_KEY)?;
        let attrs = session
            .get_attributes(key, &[AttributeType::Modulus, AttributeType::PublicExponent])
            .map_err(|e| fail(&key_id, e))?;
        let (mut modulus, mut exponent) = (Vec::new(), Vec::new());
        for a in attrs {
            match a {
                Attribute::Modulus(m) => modulus = m,
                Attribute::PublicExponent(e) => exponent = e,
                _ => {}
            }
        }
        Ok((modulus, exponent))
    }

    /// Ends this application's login on the token, as a token reset or an HSM fail-over does
    /// (signers recover by logging in again).
    pub fn logout(&self) -> Result<(), SignerError> {
        let session = self
            .pkcs11
            .open_ro_session(self.slot)
            .map_err(|e| fail("pkcs11", e))?;
        session
            .logout()
            .map_err(|e| fail("pkcs11", format!("C_Logout: {e}")))
    }

    /// Whether the private key labelled `label` is extractable (it must not be).
    pub fn is_extractable(&self, label: &str) -> Result<bool, SignerError> {
        let (session, key, key_id) = self.private_key(label)?;
        let attrs = session
            .get_attributes(key, &[AttributeType::Extractable])
            .map_err(|e| fail(&key_id, e))?;
        Ok(attrs.iter().any(|a| matches!(a, Attribute::Extractable(true))))
    }
}

impl Inner {
    fn session(&self, key_id: &str) -> Result<(Session, ObjectHandle), SignerError> {
        if let Some(s) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(s);
        }
        let token = &self.token;
        let session = token
            .pkcs11
            .open_ro_session(token.slot)
            .map_err(|e| fail(key_id, format!("open session: {e}")))?;
        token.login(&session, key_id)?;
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(self.key_label.clone().into_bytes()),
            ])
            .map_err(|e| fail(key_id, format!("find key: {e}")))?;
        match found.as_slice() {
            [key] => Ok((session, *key)),
            [] => Err(fail(
                key_id,
                format!("no private key labelled '{}' on the token", self.key_label),
            )),
            _ => Err(fail(
                key_id,
                format!("{} private keys labelled '{}'", found.len(), self.key_label),
            )),
        }
    }

    fn release(&self, s: (Session, ObjectHandle)) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.pool_size {
            idle.push(s);
        }
    }

    /// Signs, replacing a lost session (or login) once.
    fn sign(&self, message: &[u8], key_id: &str) -> Result<Vec<u8>, SignerError> {
        for attempt in 0..2 {
            let (session, key) = self.session(key_id)?;
            match session.sign(&Mechanism::Sha256RsaPkcs, key, message) {
                Ok(sig) => {
                    self.release((session, key));
                    return Ok(sig);
                }
                Err(CkError::Pkcs11(rv, _)) if attempt == 0 && lost(rv) => {
                    tracing::warn!(key = key_id, error = %rv, "PKCS#11 session lost; opening a new one");
                    // Dropping the session closes it; stale idle sessions go too.
                    self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
                }
                Err(e) => {
                    return Err(SignerError::Unavailable {
                        key_id: key_id.to_string(),
                        reason: format!("C_Sign: {e}"),
                    });
                }
            }
        }
        Err(SignerError::Unavailable {
            key_id: key_id.to_string(),
            reason: "the token keeps losing sessions".into(),
        })
    }
}

fn lost(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::UserNotLoggedIn
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::ObjectHandleInvalid
            | RvError::KeyHandleInvalid
    )
}

impl Signer for Pkcs11Signer {
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        let inner = Arc::clone(&self.inner);
        let message = message.to_vec();
        let key_id = self.key_id.clone();
        Box::pin(async move {
            // C_Sign blocks: keep it off the async workers when there is a runtime.
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => handle
                    .spawn_blocking(move || inner.sign(&message, &key_id))
                    .await
                    .map_err(|e| SignerError::Failed {
                        key_id: String::new(),
                        reason: e.to_string(),
                    })?,
                Err(_) => inner.sign(&message, &key_id),
            }
        })
    }

    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}
