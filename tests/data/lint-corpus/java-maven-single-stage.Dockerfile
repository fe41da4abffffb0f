# corpus-expect: SP104 SP100 SP207 SP101
FROM maven:3-openjdk-17
WORKDIR /usr/src/app
COPY . .
RUN mvn clean package -DskipTests
EXPOSE 8080
ENTRYPOINT ["java", "-jar", "target/app.jar"]
