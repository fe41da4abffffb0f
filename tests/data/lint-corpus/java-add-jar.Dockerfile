# corpus-expect: SP212 SP101 SP100
FROM eclipse-temurin:17-jre
ADD target/app.jar /opt/app.jar
ADD config/ /opt/config/
WORKDIR /opt
ENTRYPOINT ["java", "-jar", "/opt/app.jar"]
