# corpus-expect: SP101 SP500
ARG GO_VERSION=1.23
ARG RUNTIME_BASE=scratch
FROM golang:${GO_VERSION}-alpine AS build
ARG VERSION=dev
WORKDIR /src
COPY . .
RUN go build -ldflags "-X main.version=${VERSION}" -o /out/cli .

FROM ${RUNTIME_BASE}
COPY --from=build /out/cli /cli
USER 1000:1000
ENTRYPOINT ["/cli"]
