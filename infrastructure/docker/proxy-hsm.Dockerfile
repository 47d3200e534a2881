# proxy-hsm, the CloudHSM flavour (hsm-fargate.yaml). Build from the repository root:
#   docker build -f infrastructure/docker/proxy-hsm.Dockerfile -t pix-proxy-hsm .
#
# The CloudHSM PKCS#11 library is AWS's package `cloudhsm-pkcs11` (Client SDK 5). Download the
# .deb for Debian 12 / Ubuntu 22.04 from the CloudHSM documentation ("Install the PKCS #11
# library") into infrastructure/docker/ before building; it installs
# /opt/cloudhsm/lib/libcloudhsm_pkcs11.so and /opt/cloudhsm/bin/configure-pkcs11. At start the
# entrypoint runs `proxy-hsm configure-cloudhsm` (the customer CA from SSM to
# /opt/cloudhsm/etc/customerCA.crt, then `configure-pkcs11 --cluster-id`), then the command
# below; the HSM credentials come from Secrets Manager, never from the image.
#
# This file is what the deployment rehearsal starts (scripts/deployment-rehearsal.sh,
# docs/deployment.md): its final stage's user, working directory, entrypoint, command and files.
# Base images are pinned by digest (update: docs/deployment.md "Images").

ARG RUST_IMAGE=rust:1-bookworm@sha256:93ce27a88655056a51dbdd8f5f2d7ddc071c7b0070fb288a37b5a285fc83971e
ARG RUNTIME_IMAGE=debian:bookworm-slim@sha256:4b50eb66f977b4062683ff434ef18ac191da862dbe966961bc11990cf5791a8d

FROM ${RUST_IMAGE} AS build
# What the build needs besides the toolchain (libxml2 and bindgen's libclang for the schema
# validator, docs/decisions/009-schema-validator.md): the one list, scripts/build-deps.txt, installed
# by the script the README's first command and .ci/run run too.
COPY scripts/setup.sh scripts/build-deps.txt /tmp/setup/
RUN bash /tmp/setup/setup.sh && rm -rf /var/lib/apt/lists/* /tmp/setup
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p proxy-hsm

FROM ${RUNTIME_IMAGE}
COPY infrastructure/docker/cloudhsm-pkcs11_*.deb /tmp/
# /opt/cloudhsm/etc belongs to the service's user: configure-cloudhsm writes the customer CA and
# configure-pkcs11 its configuration there at each start. /var/lib/pix/spool is where the task
# definition mounts the EFS access point of the audit spool.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libxml2 /tmp/cloudhsm-pkcs11_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb \
 && useradd --system --uid 10001 --user-group --home /var/lib/pix pix \
 && install -d -o pix -g pix /var/lib/pix /var/lib/pix/spool /opt/cloudhsm/etc
COPY --from=build /src/target/release/proxy-hsm /usr/local/bin/proxy-hsm
COPY infrastructure/docker/proxy-hsm-entrypoint.sh /usr/local/bin/proxy-hsm-entrypoint.sh
EXPOSE 8080 9090 7070
USER pix
WORKDIR /var/lib/pix
ENTRYPOINT ["/usr/local/bin/proxy-hsm-entrypoint.sh"]
CMD ["serve", "--from-aws", "--bind", "0.0.0.0", "--spool-dir", "/var/lib/pix/spool", "--require-client-ca"]
