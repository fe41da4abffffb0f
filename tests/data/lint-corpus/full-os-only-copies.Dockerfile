# corpus-expect: SP105 SP101
FROM golang:1.23 AS build
WORKDIR /src
COPY go.mod ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app .

FROM debian:12-slim
COPY --from=build /out/app /usr/local/bin/app
USER 65534
WORKDIR /
ENTRYPOINT ["/usr/local/bin/app"]
