# corpus-expect: SP302 SP101 SP100
FROM alpine:3.20
WORKDIR /srv
WORKDIR app
WORKDIR ./data
RUN cd .. && pwd
ENTRYPOINT ["pwd"]
