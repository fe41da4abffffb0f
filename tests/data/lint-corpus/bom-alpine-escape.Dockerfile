# escape=`
# corpus-expect: SP204 SP101 SP100
FROM alpine:3.20
RUN apk add `
      curl `
      git
ENTRYPOINT ["git"]
