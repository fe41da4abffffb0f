# corpus-expect: SP101 SP107
FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app

FROM scratch
COPY --from=gcr.io/distroless/static-debian12:latest /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=gcr.io/distroless/static-debian12:latest /etc/passwd /etc/passwd
COPY --from=build /out/app /app
USER nonroot
ENTRYPOINT ["/app"]
