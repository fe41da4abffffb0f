# corpus-expect: SP102 SP101 SP100 SP104
FROM rust
COPY . /src
WORKDIR /src
RUN cargo build --release
ENTRYPOINT ["/src/target/release/app"]
