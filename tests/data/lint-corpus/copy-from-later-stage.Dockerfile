# corpus-expect: SP300 SP101
FROM alpine:3.20 AS app
COPY --from=assets /dist /srv/dist
USER 1000
ENTRYPOINT ["/bin/sh"]

FROM node:22-alpine AS assets
WORKDIR /dist
RUN echo built > index.html
