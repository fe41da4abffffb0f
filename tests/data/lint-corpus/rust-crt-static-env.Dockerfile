# corpus-expect: none-above-info
FROM rust:1.83-bookworm@sha256:d6b597c5e882d64ab0f8dc0b9435f3de122a3f926caff979d4466d55df8ec222 AS build
ENV RUSTFLAGS="-C target-feature=+crt-static"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src/ src/
RUN cargo build --release --target x86_64-unknown-linux-gnu \
 && install -D -m 0555 target/x86_64-unknown-linux-gnu/release/agent /out/agent \
 && install -d -m 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/tmp /tmp
COPY --from=build /out/agent /agent
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/agent", "--listen", "0.0.0.0:9000"]
