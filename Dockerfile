# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Images of Sutra's two programs, each a static Go binary on an empty (scratch)
# base, running as the unprivileged user 65532:
#
#   target                       entrypoint        also contains
#   storage-server               /storage-server   /sutractl, /var/lib/sutra (owned by 65532)
#   operator                     /manager
#
# Two ways to build them:
#
# 1. From prebuilt binaries (default; pulls no image, works without a registry).
#    Build the static binaries on the host first, then build the images:
#
#      CGO_ENABLED=0 go build -o bin/ ./cmd/storage-server ./cmd/sutractl
#      CGO_ENABLED=0 go build -o bin/manager ./cmd
#      docker build --target storage-server -t sutra-storage-server:dev .
#      docker build --target operator       -t sutra-operator:dev .
#
#    CGO_ENABLED=0 matters: with a C compiler installed, go build links
#    dynamically and the binary cannot start in a scratch image.
#
# 2. From source inside Docker (needs GO_IMAGE from a registry, and the Go
#    module proxy):
#
#      docker build --target storage-server-from-source -t sutra-storage-server:dev .
#      docker build --target operator-from-source       -t sutra-operator:dev .
#      docker build --build-arg GO_IMAGE=registry.example/golang:1.26 ...   # a mirror
#
#    GO_IMAGE can be any image with Go 1.26 on PATH and /bin/sh. Use
#    BuildKit (the default builder since Docker 23; DOCKER_BUILDKIT=1 on
#    Docker 20.10), which builds only the stages a target needs.
#
# The classic builder (DOCKER_BUILDKIT=0, and docker-compose v1) runs every
# stage above the target. Hence the order: the prebuilt targets come first,
# so the classic builder reaches them without touching GO_IMAGE. With it,
# --target storage-server needs bin/storage-server and bin/sutractl, and
# every later target needs all three binaries.

ARG GO_IMAGE=golang:1.26

# An empty directory, copied below with the right owner so that a fresh
# Docker volume mounted on /var/lib/sutra is writable by user 65532.
FROM scratch AS data-dir
WORKDIR /var/lib/sutra

# ---- path 1: prebuilt binaries from bin/ -----------------------------------

FROM scratch AS storage-server
COPY --from=data-dir --chown=65532:65532 /var/lib/sutra /var/lib/sutra
COPY bin/storage-server bin/sutractl /
USER 65532:65532
ENV SUTRA_DATA_DIR=/var/lib/sutra
EXPOSE 50051 9090
ENTRYPOINT ["/storage-server"]

FROM scratch AS operator
COPY bin/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

# ---- path 2: build inside Docker from GO_IMAGE -----------------------------

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN go build -ldflags=-s -o /out/storage-server ./cmd/storage-server && \
	go build -ldflags=-s -o /out/sutractl ./cmd/sutractl && \
	go build -ldflags=-s -o /out/manager ./cmd

FROM scratch AS storage-server-from-source
COPY --from=data-dir --chown=65532:65532 /var/lib/sutra /var/lib/sutra
COPY --from=build /out/storage-server /out/sutractl /
USER 65532:65532
ENV SUTRA_DATA_DIR=/var/lib/sutra
EXPOSE 50051 9090
ENTRYPOINT ["/storage-server"]

FROM scratch AS operator-from-source
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
