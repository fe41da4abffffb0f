# corpus-expect: SP301 SP101
FROM golang:1.23-alpine AS build
WORKDIR src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o app

FROM alpine:3.20
WORKDIR app
COPY --from=build /go/src/app ./app
USER nobody
ENTRYPOINT ["./app"]
