# corpus-expect: SP104 SP100 SP101
FROM rust:1.82
WORKDIR /usr/src/myapp
COPY . .
RUN cargo install --path .
CMD ["myapp"]
