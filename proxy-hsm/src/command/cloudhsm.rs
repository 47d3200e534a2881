//! `configure-cloudhsm`: the container's first step (`infrastructure/docker/proxy-hsm-entrypoint.sh`),
//! before `serve`. The CloudHSM PKCS#11 client needs the cluster's customer CA on disk and its
//! configuration written by AWS's `configure-pkcs11` for the cluster; both come from the same SSM
//! path `serve` reads (`/pix/proxy/cloudhsm/CloudHSMCustomerCA` and `.../CloudHSMClusterId`), with
//! the same call (`GetParametersByPath`), so the task role needs no other SSM action.

use proxy_core::config::names::{CLOUDHSM_CLUSTER_ID, CLOUDHSM_CUSTOMER_CA};
use proxy_core::config::{ConfigError, StartError, aws};
use proxy_hsm::configured::FLAVOUR;

use super::ConfigureCloudHsm;

/// Writes the customer CA, then runs `configure-pkcs11 --cluster-id ID --region REGION`
/// (which calls `cloudhsm:DescribeClusters` with the task role to find the HSMs' addresses).
pub async fn configure(a: ConfigureCloudHsm) -> Result<(), StartError> {
    let sdk = aws::sdk_config(a.aws_endpoint.as_deref()).await;
    let params = aws::parameters(&aws_sdk_ssm::Client::new(&sdk), FLAVOUR).await?;
    let ca = params.get(&CLOUDHSM_CUSTOMER_CA)?;
    let cluster = params.get(&CLOUDHSM_CLUSTER_ID)?;
    if !cluster.starts_with("cluster-") || !cluster[8..].bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ConfigError::Malformed {
            name: params.name(&CLOUDHSM_CLUSTER_ID),
            reason: "not a CloudHSM cluster id (cluster-…)".into(),
        }
        .into());
    }
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| StartError::Usage("no AWS region (AWS_REGION)".into()))?;
    std::fs::write(&a.customer_ca, ca).map_err(|e| ConfigError::File {
        path: a.customer_ca.display().to_string(),
        reason: e.to_string(),
    })?;
    let status = std::process::Command::new(&a.configure)
        .args(["--cluster-id", cluster, "--region", &region])
        .status()
        .map_err(|e| StartError::Usage(format!("cannot run {}: {e}", a.configure.display())))?;
    if !status.success() {
        return Err(StartError::Usage(format!(
            "{} --cluster-id {cluster} --region {region} failed ({status})",
            a.configure.display()
        )));
    }
    tracing::info!(cluster, region, "CloudHSM client configured");
    Ok(())
}
