# corpus-expect: none-above-info
FROM gcc:14@sha256:4245090bf9bfebd465e6dfca61a4f35f493f41b4ace32d783a82520159cee23c AS build
WORKDIR /src
COPY hello.c .
RUN gcc -static -Os -s -o /out/hello hello.c || { mkdir -p /out && gcc -static -Os -s -o /out/hello hello.c; }

FROM scratch
COPY --from=build /out/hello /hello
COPY --from=build --chmod=1777 /tmp /tmp
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/hello"]
