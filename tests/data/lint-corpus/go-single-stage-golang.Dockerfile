# corpus-expect: SP104 SP100 SP207 SP303 SP101
FROM golang:1.21
WORKDIR /go/src/app
COPY . .
RUN go get -d -v ./... && go build -v -o /usr/local/bin/app ./...
EXPOSE 3000
CMD app --port 3000
