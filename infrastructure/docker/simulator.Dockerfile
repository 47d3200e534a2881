# The BACEN simulator for test environments (simulator.yaml). Build from the repository root:
#   docker build -f infrastructure/docker/simulator.Dockerfile -t pix-simulator .
# It serves DICT on 8181 (its key-check server, /api-np/v2/keys/check, on 8282), SPI on 9191 and /check on 7171; its PKI comes from SSM /pix/simulator/*
# or is generated at start (`simulator pki`), test material only.

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
RUN cargo build --release --locked -p simulator

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libxml2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 pix
COPY --from=build /src/target/release/simulator /usr/local/bin/simulator
EXPOSE 8181 8282 9191 7171
USER pix
ENTRYPOINT ["/usr/local/bin/simulator"]
CMD ["serve", "--bind", "0.0.0.0"]
