# syntax=docker/dockerfile:1.4
# corpus-expect: SP200 SP201 SP101 SP100
FROM debian:12-slim
RUN <<INSTALL bash && <<CONFIGURE sh
set -euo pipefail
apt-get update
apt-get install -y nginx
INSTALL
echo "daemon off;" >> /etc/nginx/nginx.conf
CONFIGURE
COPY <<EOF1 /etc/motd <<EOF2 /etc/issue.net
welcome
EOF1
authorised use only
EOF2
CMD ["nginx"]
