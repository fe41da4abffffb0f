# corpus-expect: SP100
FROM debian:12-slim@sha256:cb0e0ef94a09c725db48c38fe8a66cef34828df0889e3e04ab271b7b5f4d004a
USER 0:0
WORKDIR /root
ENTRYPOINT ["bash"]
