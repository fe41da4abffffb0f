# corpus-expect: SP210 SP101 SP100
FROM php:8.3-cli
COPY --from=composer:2.7 /usr/bin/composer /usr/bin/composer
WORKDIR /app
COPY composer.json composer.lock ./
RUN composer install --prefer-dist --no-progress
COPY . .
CMD ["php", "bin/console", "serve"]
