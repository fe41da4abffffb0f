# corpus-expect: none-above-info
FROM maven:3.9.9-eclipse-temurin-21@sha256:9f5ee1c481d594e6c0750a634f29cdd71979f9a5a3626aa5a559efe8e889cc9e AS build
WORKDIR /build
COPY pom.xml .
RUN --mount=type=cache,target=/root/.m2 mvn -B -q dependency:go-offline
COPY src ./src
RUN --mount=type=cache,target=/root/.m2 mvn -B -q package -DskipTests

FROM eclipse-temurin:21-jre-alpine@sha256:61b825c3fb7d04fe927e1614e178065cb7cb6267280ab00348bf8ec8a0c2e7b0
RUN addgroup -S app && adduser -S app -G app
WORKDIR /opt/app
COPY --from=build /build/target/app.jar app.jar
USER app
EXPOSE 8080
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/opt/app/app.jar"]
