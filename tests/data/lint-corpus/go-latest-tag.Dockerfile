# corpus-expect: SP102 SP101 SP100
FROM golang:latest AS build
WORKDIR /src
COPY go.mod ./
RUN go mod download
COPY . ./
RUN CGO_ENABLED=0 go build -o /app

FROM alpine
COPY --from=build /app /app
ENTRYPOINT ["/app"]
