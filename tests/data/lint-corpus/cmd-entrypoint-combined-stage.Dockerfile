# corpus-expect: SP101 SP100 SP303
FROM alpine:3.20 AS base
ENTRYPOINT echo "only in the build stage"
CMD ["a"]
CMD ["b"]

FROM alpine:3.20
COPY --from=base /etc/alpine-release /etc/alpine-release
ENTRYPOINT cat /etc/alpine-release
