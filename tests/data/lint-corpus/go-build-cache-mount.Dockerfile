# syntax=docker/dockerfile:1.7
# corpus-expect: none-above-info
FROM --platform=$BUILDPLATFORM golang:1.23@sha256:ba986a3cc02317d9fd8be478d0ca1b6ec98697a948c976436a85376e50e12a60 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
RUN --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=cache,target=/go/pkg/mod \
    go mod download -x
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,target=. \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -o /bin/worker ./cmd/worker

FROM scratch AS final
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build --link /bin/worker /bin/
COPY --from=build --chmod=1777 /tmp /tmp
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/bin/worker"]
