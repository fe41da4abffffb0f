# corpus-expect: SP502
FROM gcc:14@sha256:4245090bf9bfebd465e6dfca61a4f35f493f41b4ace32d783a82520159cee23c AS build
WORKDIR /src
COPY . .
RUN gcc -c -O2 util.c -o util.o \
    && gcc -c -O2 main.c -o main.o \
    && gcc util.o main.o -o /out/prog

FROM scratch
COPY --from=build /out/prog /prog
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build --chmod=1777 /tmp /tmp
USER 65532
WORKDIR /
ENTRYPOINT ["/prog"]
