# syntax=docker/dockerfile:1.7
# corpus-expect: none-above-info
ARG GO_IMAGE=golang:1.23-alpine@sha256:df5e2259d8d36afd777400208498f2089260fda823644c300bc7293b6ea64e43
FROM --platform=$BUILDPLATFORM tonistiigi/xx:1.5.0@sha256:ae60296fbb6d7d68c4b241ba9fd4a33218f3d2f74e2b64ca7740a137f82f7c10 AS xx

FROM --platform=$BUILDPLATFORM golang:1.23-alpine@sha256:df5e2259d8d36afd777400208498f2089260fda823644c300bc7293b6ea64e43 AS build
COPY --from=xx / /
ARG TARGETPLATFORM
ENV CGO_ENABLED=0
WORKDIR /src
RUN --mount=target=. --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod \
    xx-go build -trimpath -o /out/cli ./cmd/cli && xx-verify --static /out/cli

FROM scratch
COPY --from=build /out/cli /cli
COPY --from=xx /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=xx --chmod=1777 /tmp /tmp
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/cli"]
