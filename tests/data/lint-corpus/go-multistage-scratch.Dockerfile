# corpus-expect: none-above-info
# A static Go service: modules first for the cache, CGO off, scratch with certs and /tmp.
FROM golang:1.23-bookworm@sha256:139811a4bd1306440b306daeb70092ee8386da2df804e9dce00c58637af8d0ce AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/server ./cmd/server \
    && mkdir -p /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build --chmod=1777 /out/tmp /tmp
COPY --from=build /out/server /server
USER 65532:65532
WORKDIR /
EXPOSE 8080
ENTRYPOINT ["/server"]
