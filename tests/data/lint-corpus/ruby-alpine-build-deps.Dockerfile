# corpus-expect: SP101 SP211
FROM ruby:3.3-alpine
ENV BUNDLE_WITHOUT=development
WORKDIR /app
COPY Gemfile Gemfile.lock ./
RUN apk add --no-cache --virtual .build-deps build-base \
 && bundle install --jobs 2 \
 && apk del .build-deps
COPY vendor/assets.tar.gz /tmp/assets.tar.gz
RUN tar -xzf /tmp/assets.tar.gz -C /app/public
RUN rm -f /tmp/assets.tar.gz
COPY . .
USER 1000
CMD ["bundle", "exec", "puma", "-C", "config/puma.rb"]
