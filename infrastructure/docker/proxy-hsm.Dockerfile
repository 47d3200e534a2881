# proxy-hsm, the CloudHSM flavour (hsm-fargate.yaml). Build from the repository root:
#   docker build -f infrastructure/docker/proxy-hsm.Dockerfile -t pix-proxy-hsm .
#
# The CloudHSM PKCS#11 library is AWS's package `cloudhsm-pkcs11` (Client SDK 5). Download the
# .deb for Debian 12 / Ubuntu 22.04 from the CloudHSM documentation ("Install the PKCS #11
# library") into infrastructure/docker/ before building; it installs
# /opt/cloudhsm/lib/libcloudhsm_pkcs11.so and /opt/cloudhsm/bin/configure-pkcs11. At start the
# task writes the cluster's customer CA (SSM /pix/proxy/cloudhsm/CloudHSMCustomerCA) to
# /opt/cloudhsm/etc/customerCA.crt and runs `configure-pkcs11 --cluster-id <CloudHSMClusterId>`
# (see the entrypoint below); the HSM credentials come from Secrets Manager, never from the image.

FROM rust:1-bookworm AS build
# The schema validator (pix-schemas) links libxml2; the `libxml` crate's build runs bindgen,
# which needs libclang and clang's headers (docs/decisions/009-schema-validator.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libxml2-dev pkg-config libclang1 libclang-common-14-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p proxy-hsm

FROM debian:bookworm-slim
COPY infrastructure/docker/cloudhsm-pkcs11_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libxml2 awscli /tmp/cloudhsm-pkcs11_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb \
 && useradd --system --uid 10001 --home /var/lib/pix pix \
 && install -d -o pix /var/lib/pix /var/lib/pix/audit
COPY --from=build /src/target/release/proxy-hsm /usr/local/bin/proxy-hsm
COPY infrastructure/docker/proxy-hsm-entrypoint.sh /usr/local/bin/proxy-hsm-entrypoint.sh
EXPOSE 8080 9090 7070
USER pix
WORKDIR /var/lib/pix
ENTRYPOINT ["/usr/local/bin/proxy-hsm-entrypoint.sh"]
CMD ["serve"]
