# syntax=docker/dockerfile:1
# corpus-expect: error
FROM debian:12-slim
RUN <<EOF
apt-get update
apt-get install -y --no-install-recommends curl
