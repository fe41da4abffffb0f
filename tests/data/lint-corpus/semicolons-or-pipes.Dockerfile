# corpus-expect: SP204 SP101 SP100 SP404
FROM alpine:3.20
RUN set -e; apk update; apk add bash || apk add busybox-extras; chmod 0666 /etc/motd | true
RUN echo "a" | tr a b > /tmp/b && ls /tmp || echo missing
WORKDIR /tmp
CMD ["cat", "/tmp/b"]
