# corpus-expect: SP403 SP200 SP201 SP100 SP101
FROM tomcat:10.1-jdk17
RUN apt-get update && apt-get install -y openssh-server && mkdir /var/run/sshd
COPY target/ROOT.war /usr/local/tomcat/webapps/ROOT.war
EXPOSE 8080 22/tcp
CMD ["/bin/sh", "-c", "service ssh start && catalina.sh run"]
