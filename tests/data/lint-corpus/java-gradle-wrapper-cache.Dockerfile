# syntax=docker/dockerfile:1.7
# corpus-expect: SP101 SP207
FROM eclipse-temurin:21-jdk AS build
WORKDIR /src
COPY --link . .
RUN --mount=type=cache,target=/root/.gradle ./gradlew --no-daemon build -x test
RUN --mount=type=cache,target=/root/.gradle gradle --no-daemon installDist

FROM eclipse-temurin:21-jre
COPY --from=build --link /src/build/install/app /opt/app
USER 65532:65532
WORKDIR /opt/app
ENTRYPOINT ["/opt/app/bin/app"]
