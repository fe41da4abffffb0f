# corpus-expect: SP101 SP100
FROM swift:5.10-jammy AS build
WORKDIR /build
COPY ./Package.* ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib

FROM ubuntu:jammy
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -r /var/lib/apt/lists/*
COPY --from=build /build/.build/release/App /app/App
WORKDIR /app
ENTRYPOINT ["./App"]
CMD ["serve", "--hostname", "0.0.0.0", "--port", "8080"]
