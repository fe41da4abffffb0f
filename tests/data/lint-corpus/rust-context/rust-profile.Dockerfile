# corpus-expect: SP503
FROM rust:1.83-alpine@sha256:bb6755a99f8497739bcddfeff8cca081a6f25a7d9e30a5d1405c3a4aa669dc3b AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml ./
COPY src ./src
RUN cargo build --release --target x86_64-unknown-linux-musl

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build --chmod=1777 /tmp /tmp
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/tiny /tiny
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/tiny"]
