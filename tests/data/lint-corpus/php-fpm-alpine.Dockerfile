# corpus-expect: SP101 SP204
FROM php:8.3-fpm-alpine
RUN apk add --virtual .deps $PHPIZE_DEPS icu-dev \
    && docker-php-ext-install intl opcache \
    && apk del .deps
COPY --from=composer:2 /usr/bin/composer /usr/bin/composer
WORKDIR /var/www/html
COPY composer.json composer.lock ./
RUN composer install --no-dev --no-scripts --no-autoloader
COPY . .
RUN composer dump-autoload --optimize --no-dev
USER www-data
CMD ["php-fpm"]
