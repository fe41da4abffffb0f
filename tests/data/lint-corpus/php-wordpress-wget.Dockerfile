# corpus-expect: SP211 SP100 SP101
FROM php:8.3-apache-bookworm
WORKDIR /var/www/html
RUN curl -fsSL -o /tmp/wordpress.tar.gz https://wordpress.org/wordpress-6.6.2.tar.gz
RUN tar -xzf /tmp/wordpress.tar.gz --strip-components=1 -C /var/www/html \
    && chown -R www-data:www-data /var/www/html
RUN rm /tmp/wordpress.tar.gz
