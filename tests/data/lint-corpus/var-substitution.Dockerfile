# corpus-expect: SP101
ARG REGISTRY=docker.io
ARG DEBIAN_TAG
ARG VARIANT=
FROM ${REGISTRY}/library/debian:${DEBIAN_TAG:-12}-slim${VARIANT:+-$VARIANT} AS base
ARG APP_HOME=/opt/app
ENV APP_HOME=${APP_HOME} \
    LOG_LEVEL=${LOG_LEVEL:-info} \
    EXTRA_FLAGS=${DEBUG:+--verbose}
WORKDIR ${APP_HOME}
COPY --chown=${UID:-1000}:${GID:-1000} app/ ${APP_HOME}/
USER ${UID:-1000}
ENTRYPOINT ["/opt/app/run"]
