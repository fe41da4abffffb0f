# corpus-expect: none-above-info
FROM composer:2.7@sha256:1d02f81047f2c29571dad943b805dc59e65ca08ef60017cd41e7c670f3a77637 AS vendor
WORKDIR /app
COPY composer.json composer.lock ./
RUN composer install --no-dev --no-interaction --prefer-dist --optimize-autoloader --ignore-platform-reqs

FROM php:8.3-fpm-bookworm@sha256:51a8f40b069e92a637bba612bd0513bb4f797850880eb059e3d83ab094ecad12
RUN apt-get update \
    && apt-get install -y --no-install-recommends libicu-dev=72.1-3+deb12u1 \
    && docker-php-ext-install intl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /var/www
COPY --from=vendor /app/vendor ./vendor
COPY --chown=www-data:www-data . .
USER www-data
CMD ["php-fpm", "--nodaemonize"]
