//! Where a flavour's parameters are read from — at start, and again at each reload of BACEN's
//! certificates: SSM Parameter Store in AWS, a JSON file in development.

use std::path::PathBuf;

use super::names::Flavour;
use super::{ConfigError, Parameters};

/// The source of one flavour's parameters.
#[derive(Debug, Clone)]
pub enum Source {
    /// SSM Parameter Store, every parameter under the flavour's prefix.
    #[cfg(feature = "aws")]
    Ssm(aws_sdk_ssm::Client, Flavour),
    /// A JSON object of full names to values.
    File(PathBuf, Flavour),
}

impl Source {
    /// Reads every parameter, now.
    pub async fn read(&self) -> Result<Parameters, ConfigError> {
        match self {
            #[cfg(feature = "aws")]
            Source::Ssm(ssm, flavour) => super::aws::parameters(ssm, *flavour).await,
            Source::File(path, flavour) => Parameters::from_json_file(*flavour, path),
        }
    }
}
