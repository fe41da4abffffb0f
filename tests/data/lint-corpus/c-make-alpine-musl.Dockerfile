# corpus-expect: none-above-info
FROM alpine:3.20@sha256:d3dfed77bb64d7d29a735783a2a90e9a1979dacbe1b8dead996d9ebc78544336 AS build
RUN apk add --no-cache build-base=0.5-r3
WORKDIR /src
COPY Makefile *.c *.h ./
RUN make LDFLAGS=-static && strip tool && mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/tmp /tmp
COPY --from=build /src/tool /usr/local/bin/tool
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/tool"]
