# corpus-expect: SP304 SP101
FROM alpine:3.20 AS build
RUN echo one > /one

FROM alpine:3.20 AS build
RUN echo two > /two

FROM alpine:3.20
COPY --from=build /two /two
USER 1000
ENTRYPOINT ["cat", "/two"]
