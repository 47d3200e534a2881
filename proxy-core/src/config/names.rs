//! Every parameter and secret the proxy's configuration holds, declared once: its name under the
//! flavour's prefix, which flavours read it, whether it is required, and who reads it (the proxy,
//! or the Fargate container's start script). The code reads parameters only through these
//! declarations ([`super::Parameters::get`] takes a [`Parameter`]); a test checks them against
//! the stacks that write them (`infrastructure/stacks/keys.yaml`), the start script and
//! `docs/configuration.md`.

/// Which flavours' prefixes hold a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavours {
    /// Both: `/pix/proxy/cloudhsm/` and `/pix/proxy/kms/`.
    Both,
    /// The CloudHSM (Fargate) flavour only.
    CloudHsm,
    /// The KMS (Lambda) flavour only.
    Kms,
}

impl Flavours {
    /// Whether the flavour of `prefix` reads this parameter.
    pub fn include(self, flavour: Flavour) -> bool {
        matches!(
            (self, flavour),
            (Flavours::Both, _) | (Flavours::CloudHsm, Flavour::CloudHsm) | (Flavours::Kms, Flavour::Kms)
        )
    }
}

/// One flavour of the proxy, by its configuration's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Fargate + CloudHSM (seed 001): `/pix/proxy/cloudhsm/`.
    CloudHsm,
    /// Lambda + KMS (seed 002): `/pix/proxy/kms/`.
    Kms,
}

impl Flavour {
    /// Both flavours.
    pub const ALL: [Flavour; 2] = [Flavour::CloudHsm, Flavour::Kms];

    /// The flavour's prefix in SSM Parameter Store and Secrets Manager.
    pub fn prefix(self) -> &'static str {
        match self {
            Flavour::CloudHsm => "/pix/proxy/cloudhsm/",
            Flavour::Kms => "/pix/proxy/kms/",
        }
    }

    /// `cloudhsm` or `kms`, as the documentation's tables write it.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::CloudHsm => "cloudhsm",
            Flavour::Kms => "kms",
        }
    }
}

/// Who reads a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The proxy's binaries, through [`super::Parameters`].
    Proxy,
    /// The Fargate container's start script (`infrastructure/docker/proxy-hsm-entrypoint.sh`),
    /// before the proxy starts.
    ContainerStart,
}

/// A parameter of SSM Parameter Store, under the flavour's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    /// The name under the prefix, e.g. `BcbSpiEndpoint`.
    pub name: &'static str,
    /// Which flavours read it.
    pub flavours: Flavours,
    /// Whether start-up stops without it.
    pub required: bool,
    /// Who reads it.
    pub reader: Reader,
}

const fn required(name: &'static str, flavours: Flavours) -> Parameter {
    Parameter {
        name,
        flavours,
        required: true,
        reader: Reader::Proxy,
    }
}

const fn optional(name: &'static str) -> Parameter {
    optional_in(name, Flavours::Both)
}

const fn optional_in(name: &'static str, flavours: Flavours) -> Parameter {
    Parameter {
        name,
        flavours,
        required: false,
        reader: Reader::Proxy,
    }
}

const fn start_script(name: &'static str) -> Parameter {
    Parameter {
        name,
        flavours: Flavours::CloudHsm,
        required: true,
        reader: Reader::ContainerStart,
    }
}

/// Label of the XML-signature key in the HSM.
pub const SIGNATURE_KEY_LABEL: Parameter = required("SignatureKeyLabel", Flavours::CloudHsm);
/// KMS key id or alias of the XML-signature key.
pub const SIGNATURE_KEY_ID: Parameter = required("SignatureKeyId", Flavours::Kms);
/// PEM certificate of the signature key.
pub const SIGNATURE_CERTIFICATE: Parameter = required("SignatureCertificate", Flavours::Both);
/// Label of the mTLS client key in the HSM.
pub const MTLS_KEY_LABEL: Parameter = required("MtlsKeyLabel", Flavours::CloudHsm);
/// PEM certificate of the mTLS client key.
pub const MTLS_CERTIFICATE: Parameter = required("MtlsCertificate", Flavours::Both);
/// ICOM's `host:port`.
pub const BCB_SPI_ENDPOINT: Parameter = required("BcbSpiEndpoint", Flavours::Both);
/// ICOM's secondary (contingency) channel `host:port` (DESIGN §6: its own host and ports); unset,
/// the proxy knows no secondary channel.
pub const BCB_SPI_SECONDARY_ENDPOINT: Parameter = optional("BcbSpiSecondaryEndpoint");
/// Seconds of failing to reach ICOM's primary channel after which the proxy moves to the
/// secondary one (default 10).
pub const BCB_FAILOVER_SECONDS: Parameter = optional("BcbFailoverSeconds");
/// DICT's `host:port`.
pub const BCB_DICT_ENDPOINT: Parameter = required("BcbDictEndpoint", Flavours::Both);
/// PEM certificate(s) BACEN signs its answers with.
pub const BCB_SIGNATURE_CERTIFICATE: Parameter = required("BcbSignatureCertificate", Flavours::Both);
/// PEM certificate(s) or CA(s) of BACEN's TLS server.
pub const BCB_MTLS_CERTIFICATE: Parameter = required("BcbMtlsCertificate", Flavours::Both);
/// The name BACEN's TLS certificate is checked against, when the endpoint is an address.
pub const BCB_TLS_SERVER_NAME: Parameter = optional("BcbTlsServerName");
/// DICT's key-check server `host:port` (DICT's OpenAPI 2.12.1 puts `keys/check` on its own
/// server, `/api-np/v2/`); unset, the proxy answers `/api-np/v2/` paths `400`.
pub const BCB_DICT_KEY_CHECK_ENDPOINT: Parameter = optional("BcbDictKeyCheckEndpoint");
/// This proxy's share of BACEN's 6 simultaneous requests per side.
pub const BCB_MAX_IN_FLIGHT: Parameter = optional("BcbMaxInFlight");
/// A directory of BACEN's SPI schemas (its catalog package's `.xsd` files) in the proxy's
/// file system: when set, every SPI message is checked against its schema before it is signed.
pub const SPI_SCHEMAS_DIR: Parameter = optional("SpiSchemasDir");
/// Firehose delivery stream of SPI audit records.
pub const SPI_AUDIT_STREAM: Parameter = required("SpiAuditStream", Flavours::Both);
/// Firehose delivery stream of DICT audit records.
pub const DICT_AUDIT_STREAM: Parameter = required("DictAuditStream", Flavours::Both);
/// The callers policy (JSON, `proxy_core::callers::Policy`): which caller may do what, for which
/// ISPB. With callers authenticated and no policy, nothing is allowed.
pub const CALLERS: Parameter = optional("Callers");
/// PEM CA certificate(s) of the bank's internal CA that issues its services' client
/// certificates: set, the Fargate proxy requires and verifies them on the SPI and DICT ports.
pub const CALLER_CA_CERTIFICATE: Parameter = optional_in("CallerCaCertificate", Flavours::CloudHsm);
/// PEM certificate (and chain) the Fargate proxy presents to the bank's services, from the bank's
/// internal CA (its key: the secret `ProxyTlsPrivateKey`).
pub const PROXY_TLS_CERTIFICATE: Parameter = optional_in("ProxyTlsCertificate", Flavours::CloudHsm);
/// The CloudHSM cluster the container's PKCS#11 client is configured for.
pub const CLOUDHSM_CLUSTER_ID: Parameter = start_script("CloudHSMClusterId");
/// The CloudHSM cluster's customer CA certificate (the client's trust anchor for the cluster).
pub const CLOUDHSM_CUSTOMER_CA: Parameter = start_script("CloudHSMCustomerCA");

/// Every parameter, in the order of `docs/configuration.md`.
pub const PARAMETERS: &[Parameter] = &[
    SIGNATURE_KEY_LABEL,
    SIGNATURE_KEY_ID,
    SIGNATURE_CERTIFICATE,
    MTLS_KEY_LABEL,
    MTLS_CERTIFICATE,
    BCB_SPI_ENDPOINT,
    BCB_SPI_SECONDARY_ENDPOINT,
    BCB_FAILOVER_SECONDS,
    BCB_DICT_ENDPOINT,
    BCB_SIGNATURE_CERTIFICATE,
    BCB_MTLS_CERTIFICATE,
    BCB_TLS_SERVER_NAME,
    BCB_MAX_IN_FLIGHT,
    BCB_DICT_KEY_CHECK_ENDPOINT,
    SPI_SCHEMAS_DIR,
    SPI_AUDIT_STREAM,
    DICT_AUDIT_STREAM,
    CALLERS,
    CALLER_CA_CERTIFICATE,
    PROXY_TLS_CERTIFICATE,
    CLOUDHSM_CLUSTER_ID,
    CLOUDHSM_CUSTOMER_CA,
];

/// A secret of Secrets Manager, under one flavour's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    /// The name under the prefix.
    pub name: &'static str,
    /// The flavour that reads it.
    pub flavour: Flavour,
}

impl Secret {
    /// The secret's full name, e.g. `/pix/proxy/kms/MtlsPrivateKey`.
    pub fn full_name(self) -> String {
        format!("{}{}", self.flavour.prefix(), self.name)
    }
}

/// The HSM crypto user, `{"HSM_USER":…,"HSM_PASSWORD":…}`.
pub const CLOUDHSM_SECRET: Secret = Secret {
    name: "CloudHSMSecret",
    flavour: Flavour::CloudHsm,
};
/// The mTLS private key of the KMS flavour (PKCS#8 PEM).
pub const MTLS_PRIVATE_KEY: Secret = Secret {
    name: "MtlsPrivateKey",
    flavour: Flavour::Kms,
};

/// The private key (PKCS#8 PEM) of the Fargate proxy's server certificate for the bank's
/// services (`ProxyTlsCertificate`).
pub const PROXY_TLS_PRIVATE_KEY: Secret = Secret {
    name: "ProxyTlsPrivateKey",
    flavour: Flavour::CloudHsm,
};

/// Every secret.
pub const SECRETS: &[Secret] = &[CLOUDHSM_SECRET, MTLS_PRIVATE_KEY, PROXY_TLS_PRIVATE_KEY];
