# corpus-expect: none-above-info
FROM rust:1.83-alpine@sha256:bb6755a99f8497739bcddfeff8cca081a6f25a7d9e30a5d1405c3a4aa669dc3b AS build
RUN apk add --no-cache musl-dev=1.2.5-r8
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs \
    && cargo build --release --target x86_64-unknown-linux-musl \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs && cargo build --release --target x86_64-unknown-linux-musl \
    && mkdir -p /out/tmp && cp target/x86_64-unknown-linux-musl/release/svc /out/svc

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chmod=1777 /out/tmp /tmp
COPY --from=build /out/svc /svc
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/svc"]
