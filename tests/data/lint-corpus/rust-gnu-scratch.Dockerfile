# corpus-expect: SP501 SP101 SP106
FROM rust:1.83-slim-bookworm AS build
WORKDIR /usr/src/app
COPY Cargo.toml Cargo.lock ./
RUN cargo fetch
COPY . .
RUN cargo build --release --locked

FROM scratch
COPY --from=build /usr/src/app/target/release/app /app
COPY --from=build --chmod=1777 /tmp /tmp
USER 1000
ENTRYPOINT ["/app"]
