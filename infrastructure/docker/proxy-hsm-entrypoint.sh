#!/bin/sh
# The proxy-hsm container's start: configure the CloudHSM client for the cluster the parameters
# name (SSM /pix/proxy/cloudhsm/*, read with the task role), then run the image's command.
set -eu
/usr/local/bin/proxy-hsm configure-cloudhsm
exec /usr/local/bin/proxy-hsm "$@"
