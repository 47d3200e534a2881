# The BACEN simulator for test environments (simulator.yaml). Build from the repository root:
#   docker build -f infrastructure/docker/simulator.Dockerfile -t pix-simulator .
# It serves DICT on 8181 (its key-check server, /api-np/v2/keys/check, on 8282), SPI on 9191 and /check on 7171; its PKI comes from SSM /pix/simulator/*
# or is generated at start (`simulator pki`), test material only.

FROM rust:1-bookworm AS build
# The schema validator (pix-schemas) links libxml2; the `libxml` crate's build runs bindgen,
# which needs libclang and clang's headers (docs/decisions/009-schema-validator.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libxml2-dev pkg-config libclang1 libclang-common-14-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p simulator

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libxml2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 pix
COPY --from=build /src/target/release/simulator /usr/local/bin/simulator
EXPOSE 8181 8282 9191 7171
USER pix
ENTRYPOINT ["/usr/local/bin/simulator"]
CMD ["serve", "--bind", "0.0.0.0"]
