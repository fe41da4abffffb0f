# corpus-expect: SP500 SP101
FROM golang:1.22 AS builder
WORKDIR /app
COPY go.* ./
RUN go mod download
COPY . .
RUN go build -o /bin/api ./cmd/api

FROM scratch
COPY --from=builder /bin/api /api
COPY --from=builder /etc/ssl/certs /etc/ssl/certs
USER 10001
ENTRYPOINT ["/api"]
