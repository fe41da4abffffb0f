# corpus-expect: SP101 SP100
FROM centos:7
ENV LANG en_US.UTF-8
ENV APP_HOME /opt/my app
RUN yum install -y epel-release && yum clean all
WORKDIR /opt
CMD ["/bin/bash"]
