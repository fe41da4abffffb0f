# syntax=docker/dockerfile:1
# corpus-expect: SP204 SP101 SP100
FROM alpine:3.20
RUN <<-EOF
	set -e
	apk add curl jq
	curl --version
	EOF
COPY <<-"EOT" /usr/local/bin/health
	#!/bin/sh
	exec wget -qO- http://127.0.0.1:8080/healthz
	EOT
CMD ["/usr/local/bin/health"]
