# corpus-expect: SP101 SP502
ARG ALPINE=alpine:3.20
FROM --platform=$BUILDPLATFORM ${ALPINE} AS cross
ARG TARGETARCH
RUN apk add --no-cache clang lld musl-dev
COPY main.c /src/main.c
RUN clang --target=${TARGETARCH}-linux-musl -O2 -o /out/main /src/main.c

FROM --platform=$TARGETPLATFORM scratch
COPY --from=cross /out/main /main
COPY --from=cross /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=cross --chmod=1777 /tmp /tmp
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/main"]
