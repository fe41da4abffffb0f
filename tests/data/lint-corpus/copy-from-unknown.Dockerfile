# corpus-expect: SP300
FROM golang:1.23@sha256:ba986a3cc02317d9fd8be478d0ca1b6ec98697a948c976436a85376e50e12a60 AS build
RUN CGO_ENABLED=0 go build -o /out/app ./...

FROM gcr.io/distroless/static-debian12:nonroot@sha256:6f68261444e524c701c4622a965f1e1dcca760b96995fd60c9ab19f160d18998
COPY --from=biuld /out/app /app
COPY --from=2 /etc/os-release /etc/os-release
ENTRYPOINT ["/app"]
