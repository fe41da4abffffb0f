# corpus-expect: SP405 SP101 SP100
FROM nginx:1.27
ADD http://example.com/site.tar.gz /tmp/
RUN tar -xzf /tmp/site.tar.gz -C /usr/share/nginx/html && rm /tmp/site.tar.gz
