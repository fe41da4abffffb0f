# corpus-expect: SP106 SP107
FROM scratch
COPY bin/static-app /app
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/app"]
