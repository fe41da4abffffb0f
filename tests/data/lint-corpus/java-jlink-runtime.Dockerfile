# corpus-expect: SP101
FROM eclipse-temurin:21-jdk-alpine AS jre
RUN $JAVA_HOME/bin/jlink \
        --add-modules java.base,java.logging,java.net.http,jdk.crypto.ec \
        --strip-debug --no-man-pages --no-header-files --compress=zip-6 \
        --output /javaruntime

FROM eclipse-temurin:21-jdk-alpine AS build
WORKDIR /src
COPY . .
RUN ./gradlew --no-daemon shadowJar

FROM alpine:3.20
ENV JAVA_HOME=/opt/java/openjdk PATH="/opt/java/openjdk/bin:${PATH}"
COPY --from=jre /javaruntime $JAVA_HOME
COPY --from=build /src/build/libs/*-all.jar /app/app.jar
RUN adduser -D -u 10001 app
USER app
WORKDIR /app
CMD ["java", "-jar", "/app/app.jar"]
