# corpus-expect: none-above-info
FROM golang:1.23-alpine@sha256:df5e2259d8d36afd777400208498f2089260fda823644c300bc7293b6ea64e43 AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
RUN go build -trimpath -o /out/app .

FROM gcr.io/distroless/static-debian12:nonroot@sha256:6f68261444e524c701c4622a965f1e1dcca760b96995fd60c9ab19f160d18998
WORKDIR /home/nonroot
COPY --from=build /out/app /usr/local/bin/app
ENTRYPOINT ["/usr/local/bin/app"]
