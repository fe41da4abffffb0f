# syntax=docker/dockerfile:1.7
# corpus-expect: SP212 SP101 SP100
FROM alpine:3.20
ADD https://github.com/example/project.git#v1.2.0 /src
ADD rootfs.tar.xz /
ADD vendor.tar.gz /opt/vendor.tar.gz
ADD --chown=1:1 README.md /opt/
