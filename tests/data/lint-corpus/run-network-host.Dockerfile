# syntax=docker/dockerfile:1
# corpus-expect: SP406 SP101
FROM alpine:3.20
RUN --network=host wget -qO /tmp/cfg http://127.0.0.1:8500/v1/kv/app
RUN --mount=type=bind,source=.,target=/src,rw cp -r /src/dist /srv
USER 1000
WORKDIR /srv
ENTRYPOINT ["/srv/app"]
