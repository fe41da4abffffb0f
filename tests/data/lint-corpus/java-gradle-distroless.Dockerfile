# corpus-expect: none-above-info
FROM gradle:8.10-jdk21@sha256:f3cda767b8f65487bbb12acd0f840e512ad81afcab76406e7431a70b1cb29c67 AS build
WORKDIR /home/gradle/project
COPY --chown=gradle:gradle settings.gradle.kts build.gradle.kts ./
COPY --chown=gradle:gradle gradle ./gradle
RUN gradle dependencies --no-daemon > /dev/null
COPY --chown=gradle:gradle src ./src
RUN gradle bootJar --no-daemon

FROM gcr.io/distroless/java21-debian12:nonroot@sha256:819551db720f23333d22ebced5d4003ff5d71fd0c502e85ded10407da7254990
WORKDIR /app
COPY --from=build /home/gradle/project/build/libs/service.jar /app/service.jar
ENTRYPOINT ["java", "-jar", "/app/service.jar"]
