# corpus-expect: SP105 SP100 SP101
FROM gcc:13 AS build
COPY . /src
RUN make -C /src CFLAGS=-static

FROM busybox:1.36
COPY --from=build /src/daemon /bin/daemon
WORKDIR /var/lib/daemon
ENTRYPOINT ["/bin/daemon"]
