//! The KMS flavour with no AWS account: moto's server plays KMS, SSM, Secrets Manager, Firehose
//! and S3, the simulator plays BACEN, and [`provision`] sets them up as seed 002 describes (an
//! RSA_2048 `SIGN_VERIFY` key certified by the development PKI, the `/pix/proxy/kms/*`
//! parameters, the mTLS secret, the audit bucket and streams). `pix-dev demo --flavour kms` then runs the
//! Lambda handler (one per family, as two functions would) and sends the sample messages.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use simulator::pki::DevPki;
use simulator::{Config, Simulator};
use testkit::aws::{self, BUCKET, DICT_STREAM, Moto, SPI_STREAM};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use pix_xmldsig::dsig::Profile;
use proxy_core::config::names::{self, MTLS_PRIVATE_KEY};
use proxy_kms::configured::{self, Clients, Deployment, FLAVOUR};
use proxy_kms::local;

/// What [`provision`] made.
pub struct Provisioned {
    /// BACEN.
    pub simulator: Simulator,
    /// The development PKI.
    pub pki: DevPki,
    /// The KMS key's id.
    pub key_id: String,
    /// The key's certificate (issued by the PSP CA).
    pub certificate: PathBuf,
}

/// Sets up the AWS side (through `clients`, pointed at moto) and starts the simulator trusting
/// the KMS key. `s3` creates the audit bucket.
pub async fn provision(
    clients: &Clients,
    s3: &aws_sdk_s3::Client,
    dir: &Path,
) -> Result<Provisioned, String> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: &dyn std::fmt::Display| format!("{what}: {err}")
    };
    let pki = DevPki::generate(&dir.join("pki")).map_err(|x| e("PKI")(&x))?;
    let key = clients
        .kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .description("pix-proxy demo signature key")
        .send()
        .await
        .map_err(|x| e("KMS CreateKey")(&aws_sdk_kms::error::DisplayErrorContext(&x)))?;
    let key_id = key
        .key_metadata()
        .map(|m| m.key_id().to_string())
        .ok_or("KMS CreateKey returned no key")?;
    let public = clients
        .kms
        .get_public_key()
        .key_id(&key_id)
        .send()
        .await
        .map_err(|x| e("KMS GetPublicKey")(&aws_sdk_kms::error::DisplayErrorContext(&x)))?;
    let der = public.public_key().ok_or("KMS GetPublicKey returned no key")?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(der.as_ref()).map_err(|x| e("KMS public key")(&x))?;
    let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
        return Err("the KMS key is not RSA".into());
    };
    let certificate = pki
        .issue(
            "psp-sig-kms",
            "PSP Exemplo (KMS)",
            false,
            rsa.modulus,
            rsa.exponent,
        )
        .map_err(|x| e("certificate")(&x))?;

    let mut config = Config::ephemeral(&pki);
    config.schemas = crate::bacen_schemas();
    config.psp_signature_certs = vec![certificate.clone()];
    config.rate_capacity = 1e9;
    config.rate_refill = 1e9;
    let simulator = Simulator::start(config).await.map_err(|x| e("simulator")(&x))?;

    let read = |p: &Path| std::fs::read_to_string(p).map_err(|x| format!("{}: {x}", p.display()));
    for (name, value) in [
        (names::SIGNATURE_KEY_ID.name, key_id.clone()),
        (names::SIGNATURE_CERTIFICATE.name, read(&certificate)?),
        (names::MTLS_CERTIFICATE.name, read(&pki.path("psp-mtls.cer"))?),
        (names::DICT_AUDIT_STREAM.name, DICT_STREAM.into()),
        (names::SPI_AUDIT_STREAM.name, SPI_STREAM.into()),
        // By address, with the dev PKI's name for TLS: no resolver needed.
        (names::BCB_DICT_ENDPOINT.name, simulator.dict.to_string()),
        (names::BCB_SPI_ENDPOINT.name, simulator.spi.to_string()),
        (
            names::BCB_DICT_KEY_CHECK_ENDPOINT.name,
            simulator.dict_key_check.to_string(),
        ),
        (
            names::BCB_TLS_SERVER_NAME.name,
            simulator::pki::TLS_NAME.to_string(),
        ),
        (
            names::BCB_SIGNATURE_CERTIFICATE.name,
            read(&pki.path("bacen-sig.cer"))?,
        ),
        (names::BCB_MTLS_CERTIFICATE.name, read(&pki.path("bacen-ca.cer"))?),
        // The bank's role that calls the function through API Gateway (AWS_IAM).
        (names::CALLERS.name, testkit::lambda::callers_policy()),
    ] {
        put_parameter(&clients.ssm, name, &value).await?;
    }
    clients
        .secrets
        .create_secret()
        .name(MTLS_PRIVATE_KEY.full_name())
        .secret_string(read(&pki.path("psp-mtls.key"))?)
        .send()
        .await
        .map_err(|x| {
            e(&MTLS_PRIVATE_KEY.full_name())(&aws_sdk_secretsmanager::error::DisplayErrorContext(&x))
        })?;
    aws::audit_pipeline(
        s3,
        &clients.firehose,
        BUCKET,
        &[(SPI_STREAM, "spi"), (DICT_STREAM, "dict")],
    )
    .await?;
    Ok(Provisioned {
        simulator,
        pki,
        key_id,
        certificate,
    })
}

/// Puts (or overwrites) the parameter `/pix/proxy/kms/<name>`.
pub async fn put_parameter(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> Result<(), String> {
    ssm.put_parameter()
        .name(format!("{}{name}", FLAVOUR.prefix()))
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|x| {
            format!(
                "SSM {}{name}: {}",
                FLAVOUR.prefix(),
                aws_sdk_ssm::error::DisplayErrorContext(&x)
            )
        })
}

/// moto's server with the KMS flavour provisioned on it (see [`provision`]), or `None` where
/// moto cannot run (SKIPPED, or a failure under `PIX_REQUIRE_TOOLS=1`).
pub struct Deployed {
    /// moto's server (stopped on drop).
    pub moto: Moto,
    /// Its clients.
    pub clients: Clients,
    /// Its S3.
    pub s3: aws_sdk_s3::Client,
    /// What was provisioned.
    pub bank: Provisioned,
    /// The working directory (deleted on drop).
    pub dir: tempfile::TempDir,
}

/// [`Deployed`]: moto, clients, the provisioned flavour.
pub async fn deployed() -> Option<Deployed> {
    let moto = testkit::aws::moto()?;
    let dir = tempfile::tempdir().expect("dir");
    let (clients, s3) = moto_clients(&moto.endpoint);
    let bank = provision(&clients, &s3, dir.path()).await.expect("provision");
    Some(Deployed {
        moto,
        clients,
        s3,
        bank,
        dir,
    })
}

/// Clients of moto's server at `endpoint` (moto takes any credentials), and its S3.
pub fn moto_clients(endpoint: &str) -> (Clients, aws_sdk_s3::Client) {
    let clients = Clients {
        ssm: aws::ssm(endpoint),
        secrets: aws::secrets(endpoint),
        kms: aws::kms(endpoint),
        firehose: aws::firehose(endpoint),
    };
    (clients, aws::s3(endpoint))
}

/// `proxy-kms demo`: moto, the simulator, the handler of each family on loopback, the samples.
pub async fn run(dir: &Path) -> Result<(), String> {
    let moto = Moto::start().map_err(|why| format!("the KMS demo needs moto's server: {why}"))?;
    println!("working files (dev PKI): {}", crate::hsm::display_dir(dir));
    let (clients, s3) = moto_clients(&moto.endpoint);
    let bank = provision(&clients, &s3, dir).await?;
    println!(
        "moto's server (KMS, SSM, Secrets Manager, Firehose, S3) at {}; BACEN simulator SPI {} DICT {}",
        moto.endpoint, bank.simulator.spi, bank.simulator.dict
    );
    println!(
        "signature key: KMS key {} (RSA_2048, SIGN_VERIFY), certified by the dev PKI",
        bank.key_id
    );
    let mut addrs = Vec::new();
    let mut stops = Vec::new();
    for family in [Profile::Spi, Profile::Dict] {
        let relay = configured::relay(&clients, family, &Deployment::default())
            .await
            .map_err(|e| e.to_string())?;
        let listener = local::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|e| e.to_string())?;
        addrs.push(listener.local_addr().map_err(|x| x.to_string())?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        tokio::spawn(local::serve(listener, Arc::clone(&relay), None, async {
            let _ = stopped.await;
        }));
    }
    println!(
        "handlers (the Lambda code behind plain HTTP): SPI {} DICT {}",
        addrs[0], addrs[1]
    );
    let steps = crate::demo::conversation(addrs[0], addrs[1]).await?;
    let mut failures = steps.failures;
    let (spi, dict) = (
        aws::s3_records(&moto.endpoint, "spi").await.len(),
        aws::s3_records(&moto.endpoint, "dict").await.len(),
    );
    println!("\naudit: {spi} SPI and {dict} DICT records delivered to Firehose, in S3 s3://{BUCKET}/log/");
    if spi + dict < steps.requests {
        failures += 1;
        println!("audit: {} records for {} requests", spi + dict, steps.requests);
    }
    drop(stops);
    bank.simulator.shutdown().await;
    if failures > 0 {
        return Err(format!("{failures} steps failed"));
    }
    println!("\nall steps passed");
    Ok(())
}
