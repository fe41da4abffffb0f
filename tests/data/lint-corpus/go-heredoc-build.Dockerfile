# syntax=docker/dockerfile:1
# corpus-expect: SP500 SP106 SP107
FROM golang:1.23@sha256:ba986a3cc02317d9fd8be478d0ca1b6ec98697a948c976436a85376e50e12a60 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN <<EOF
set -eu
go mod download
go build -o /out/hook ./cmd/hook
EOF

FROM scratch
COPY --from=build /out/hook /hook
USER 65532
ENTRYPOINT ["/hook"]
