# corpus-expect: error
ARG BASE=alpine:3.20
RUN echo too early
FROM ${BASE}
