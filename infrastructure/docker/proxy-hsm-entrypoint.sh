#!/bin/sh
# Configures the CloudHSM PKCS#11 client for the cluster named in SSM, then starts proxy-hsm.
set -eu
param() { aws ssm get-parameter --name "/pix/proxy/cloudhsm/$1" --query Parameter.Value --output text; }
param CloudHSMCustomerCA > /opt/cloudhsm/etc/customerCA.crt
/opt/cloudhsm/bin/configure-pkcs11 --cluster-id "$(param CloudHSMClusterId)" --region "${AWS_REGION:?}"
exec /usr/local/bin/proxy-hsm "$@"
