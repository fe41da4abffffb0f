# escape=`
# corpus-expect: SP101 SP200
FROM golang:1.23-bookworm AS build
RUN apt-get update && `
    apt-get install -y gcc-multilib
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build `
      -o /out/tool `
      ./cmd/tool

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/tool /tool
USER nonroot
ENTRYPOINT ["/tool"]
