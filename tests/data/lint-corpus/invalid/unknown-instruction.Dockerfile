# corpus-expect: error
FROM alpine:3.20
RUN echo ok
COPYY app /app
CMD ["/app"]
