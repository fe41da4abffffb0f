# corpus-expect: SP204 SP100 SP101
FROM golang:1.22-alpine AS build
RUN apk add git make
WORKDIR /src
COPY . .
RUN make build

FROM alpine:3.20
RUN apk add ca-certificates tzdata
COPY --from=build /src/bin/svc /usr/bin/svc
ENTRYPOINT ["/usr/bin/svc"]
