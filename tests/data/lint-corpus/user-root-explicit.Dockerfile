# corpus-expect: SP100 SP101
FROM alpine:3.20 AS build
USER 1000
RUN echo hi

FROM alpine:3.20
RUN adduser -D app
USER app
COPY --from=build /etc/hostname /tmp/h
USER root
WORKDIR /
ENTRYPOINT ["id"]
