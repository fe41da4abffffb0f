# syntax=docker/dockerfile:1.10
# check=skip=JSONArgsRecommended;error=true
# corpus-expect: none-above-info
FROM alpine:3.20@sha256:d3dfed77bb64d7d29a735783a2a90e9a1979dacbe1b8dead996d9ebc78544336
RUN apk add --no-cache tini=0.19.0-r3 \
    && adduser -D -H -u 10001 svc
COPY --chmod=0555 bin/svc /usr/local/bin/svc
USER svc
WORKDIR /var/lib/svc
ENTRYPOINT ["/sbin/tini", "--", "/usr/local/bin/svc"]
