# syntax=docker/dockerfile:1.7
# corpus-expect: SP101 SP100
FROM debian:12-slim
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update && apt-get install -y --no-install-recommends nginx
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
