# corpus-expect: SP101 SP100
FROM redis:7.4-alpine
MAINTAINER Ops Team <ops@example.com>
LABEL org.opencontainers.image.title="cache" \
      org.opencontainers.image.description="a cache with \
a description that continues" \
      version="1.0"
COPY redis.conf /usr/local/etc/redis/redis.conf
VOLUME /data
STOPSIGNAL SIGINT
EXPOSE 6379
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
