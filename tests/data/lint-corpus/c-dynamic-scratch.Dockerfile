# corpus-expect: SP502 SP101 SP106 SP107
FROM gcc:14 AS build
COPY main.c /src/main.c
RUN gcc -O2 -o /src/main /src/main.c

FROM scratch
COPY --from=build /src/main /main
USER 1000
ENTRYPOINT ["/main"]
