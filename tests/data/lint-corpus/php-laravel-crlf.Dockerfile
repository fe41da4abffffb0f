# corpus-expect: SP100 SP101 SP200 SP201 SP210 SP302
FROM php:8.2-fpm
RUN apt-get update && apt-get install -y \
    git \
    curl \
    libpng-dev \
    libonig-dev \
    unzip
RUN docker-php-ext-install pdo_mysql mbstring exif pcntl bcmath gd
COPY --from=composer:latest /usr/bin/composer /usr/bin/composer
WORKDIR /var/www
COPY . /var/www
RUN cd /var/www && composer install
EXPOSE 9000
CMD ["php-fpm"]
