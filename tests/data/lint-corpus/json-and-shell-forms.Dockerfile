# corpus-expect: SP305 SP101
FROM alpine:3.20 AS tools
RUN ["apk", "add", "--no-cache", "bash"]
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo "from bash" | tee /tmp/log
ENTRYPOINT ["/bin/bash"]
CMD ["-c", "echo hi"]

FROM tools
VOLUME ["/data", "/logs"]
EXPOSE 8080/tcp 8081/udp
USER 1000:1000
WORKDIR /data
ENTRYPOINT /bin/bash -c "sleep infinity"
ENTRYPOINT ["sleep", "infinity"]
