# corpus-expect: error
FROM alpine:3.20
LABEL author="José"
