# corpus-expect: none-above-info
FROM busybox:1.36-musl@sha256:28e93c9a3c101e25299897169edc9138ef0c6c64a725a66b588fcba4fddb8e8e AS fs
RUN mkdir -p /rootfs/tmp /rootfs/etc/ssl/certs && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=fs /rootfs/ /
COPY --from=fs /rootfs/tmp /tmp
COPY certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chmod=0555 dist/agent /agent
HEALTHCHECK NONE
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/agent"]
