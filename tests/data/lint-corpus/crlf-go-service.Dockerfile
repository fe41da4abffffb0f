# corpus-expect: SP500 SP101 SP107
FROM golang:1.23-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -o /out/svc \
      ./cmd/svc

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/svc /svc
USER 65532
ENTRYPOINT ["/svc"]
