# syntax=docker/dockerfile:1.7
# corpus-expect: none-above-info
FROM lukemathwalker/cargo-chef:0.1.68-rust-1.83@sha256:aa61a79914c60d557f55b24fadff7b0b18b6a461aa6e1b004d82fbf42585cf08 AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo chef cook --release --recipe-path recipe.json
# cargo chef cook built the dependencies above; SP207 does not know the tool
# scratchpack ignore=SP207
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo build --release --bin api

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:2eff3361cb97f3f2b83e3d1cfbdaef91c235311b354507d2a6a495dd36a75d13 AS runtime
WORKDIR /app
COPY --from=builder /app/target/release/api /usr/local/bin/api
ENTRYPOINT ["/usr/local/bin/api"]
