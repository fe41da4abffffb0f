# syntax=docker/dockerfile:1
# corpus-expect: none-above-info
FROM debian:12-slim@sha256:cb0e0ef94a09c725db48c38fe8a66cef34828df0889e3e04ab271b7b5f4d004a
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends ca-certificates=20230311 curl=7.88.1-10+deb12u8
rm -rf /var/lib/apt/lists/*
useradd --system --uid 10001 --no-create-home runner
EOF
USER runner
WORKDIR /srv
ENTRYPOINT ["curl", "--version"]
