# syntax=docker/dockerfile:1.7
# corpus-expect: none-above-info
FROM alpine:3.20@sha256:d3dfed77bb64d7d29a735783a2a90e9a1979dacbe1b8dead996d9ebc78544336 AS fetch
RUN apk add --no-cache ca-certificates=20241121-r1 && install -d -m 1777 /scratch-tmp

FROM scratch
COPY --link --from=fetch /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --link --from=fetch /scratch-tmp /tmp
COPY --link --chmod=0555 --chown=0:0 bin/app /app
COPY --link --chmod=u=rwx,go=rx bin/helper /helper
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/app"]
