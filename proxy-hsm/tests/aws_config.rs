//! Configuration from SSM Parameter Store and Secrets Manager, through the real aws-sdk clients,
//! against moto's server: one paginated GetParametersByPath (SecureString decrypted) and the
//! CloudHSM secret; `serve --from-aws` reads them before it touches the HSM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use proxy_core::config::aws;
use proxy_core::config::names::{BCB_SPI_ENDPOINT, CLOUDHSM_SECRET, Flavours, Parameter, Reader};
use proxy_hsm::configured::{self, FLAVOUR, PinFormat};

/// Parameters this test writes and reads back: not the proxy's, so declared here.
const fn test_parameter(name: &'static str) -> Parameter {
    Parameter {
        name,
        flavours: Flavours::CloudHsm,
        required: true,
        reader: Reader::Proxy,
    }
}
use testkit::aws::{moto, secrets, ssm};

#[tokio::test(flavor = "multi_thread")]
async fn parameters_and_the_secret_come_from_aws() {
    let Some(moto) = moto() else { return };
    const PREFIX: &str = "/pix/proxy/cloudhsm/";
    let secret_name = CLOUDHSM_SECRET.full_name();
    let secret_name = secret_name.as_str();
    let ssm = ssm(&moto.endpoint);
    // More parameters than one page (10) holds, one of them a SecureString.
    for i in 0..14 {
        let kind = if i == 0 {
            aws_sdk_ssm::types::ParameterType::SecureString
        } else {
            aws_sdk_ssm::types::ParameterType::String
        };
        ssm.put_parameter()
            .name(format!("{PREFIX}Param{i:02}"))
            .value(format!("value {i}"))
            .r#type(kind)
            .send()
            .await
            .expect("put");
    }
    ssm.put_parameter()
        .name("/pix/proxy/kms/BcbSpiEndpoint")
        .value("other flavour")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    let params = aws::parameters(&ssm, FLAVOUR).await.expect("parameters");
    assert_eq!(
        params
            .get(&test_parameter("Param00"))
            .expect("secure string decrypted"),
        "value 0"
    );
    assert_eq!(
        params.get(&test_parameter("Param13")).expect("second page"),
        "value 13"
    );
    assert!(
        params.get(&BCB_SPI_ENDPOINT).is_err(),
        "only this flavour's prefix"
    );

    let sm = secrets(&moto.endpoint);
    let missing = aws::secret(&sm, CLOUDHSM_SECRET)
        .await
        .expect_err("no secret yet");
    assert!(missing.to_string().contains(secret_name), "{missing}");
    sm.create_secret()
        .name(secret_name)
        .secret_string(r#"{"HSM_USER":"crypto_user","HSM_PASSWORD":"hunter2"}"#)
        .send()
        .await
        .expect("create");
    let json = aws::secret(&sm, CLOUDHSM_SECRET).await.expect("secret");
    assert_eq!(
        configured::pin_from_secret(&json, PinFormat::CloudHsm).expect("pin"),
        "crypto_user:hunter2"
    );

    // `serve --from-aws` reads both (and the audit streams), then stops at the HSM module,
    // naming it (and not the PIN).
    for (name, value) in [("SpiAuditStream", "spi-audit"), ("DictAuditStream", "dict-audit")] {
        ssm.put_parameter()
            .name(format!("{PREFIX}{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("put");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_proxy-hsm"))
        .args([
            "serve",
            "--from-aws",
            "--aws-endpoint",
            &moto.endpoint,
            "--module",
            "/nonexistent/libcloudhsm_pkcs11.so",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "sa-east-1")
        .output()
        .expect("run proxy-hsm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/libcloudhsm_pkcs11.so does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the secret never reaches the output");
}
