# corpus-expect: SP203 SP200 SP201 SP100 SP101
FROM php:8.2-apache
RUN apt-get update && apt-get -y upgrade && apt-get install -y libzip-dev zip \
  && docker-php-ext-install zip pdo_mysql
RUN a2enmod rewrite
COPY . /var/www/html/
