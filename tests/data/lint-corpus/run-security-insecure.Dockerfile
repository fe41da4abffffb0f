# syntax=docker/dockerfile:1-labs
# corpus-expect: SP406 SP101 SP100
FROM ubuntu:24.04
RUN --security=insecure mount -t tmpfs none /mnt && echo ok > /mnt/probe
ENTRYPOINT ["sleep", "infinity"]
