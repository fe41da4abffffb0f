# corpus-expect: SP200 SP201 SP101 SP100
FROM rust:1.83-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y libssl3 ca-certificates
COPY --from=build /src/target/release/server /usr/local/bin/server
CMD ["server"]
