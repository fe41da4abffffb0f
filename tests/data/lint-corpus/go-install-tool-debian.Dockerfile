# corpus-expect: SP100 SP200 SP202 SP206
FROM debian:bookworm-slim@sha256:12f2bc40491f9f7b029e375c38f2ecef73006e86ca71ea9321b3cf777df92ba8
RUN apt-get update
RUN apt-get install -y golang-go git
RUN go install github.com/example/tool@v1.2.3
ENTRYPOINT ["/root/go/bin/tool"]
