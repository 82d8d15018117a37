# Triad node image. Multi-stage: build with the Go toolchain (cgo for the
# PKCS#11 backend), run as a non-root user on a slim Debian base that has
# the C library the PKCS#11 module loader needs.
#
#   docker build -t triad .
#   docker run --rm -v $PWD/configs:/etc/triad:ro -v triad-data:/var/lib/triad \
#     -e TRIAD_PASSPHRASE=... triad node run --config /etc/triad/custodian.yaml

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/triad ./cmd/triad

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 triad \
 && useradd --system --uid 10001 --gid triad --home-dir /var/lib/triad --create-home triad
COPY --from=build /out/triad /usr/local/bin/triad
USER triad:triad
WORKDIR /var/lib/triad
# libp2p and the HTTP API; bind addresses come from the config.
EXPOSE 7101 8101
ENTRYPOINT ["/usr/local/bin/triad"]
CMD ["--help"]
