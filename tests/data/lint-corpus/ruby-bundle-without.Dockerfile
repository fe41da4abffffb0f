# corpus-expect: none-above-info
FROM ruby:3.3-slim-bookworm@sha256:71dd8c9812eab37f98f0362b0cf33097bd34286d2c8d41abbac97a1501f2766c
ENV BUNDLE_WITHOUT="development:test" \
    BUNDLE_DEPLOYMENT=1 \
    BUNDLE_PATH=/usr/local/bundle
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential=12.9 libyaml-dev=0.2.5-1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /rails
COPY Gemfile Gemfile.lock ./
RUN bundle install && rm -rf ~/.bundle/ "${BUNDLE_PATH}"/ruby/*/cache
COPY . .
RUN useradd rails --create-home --shell /bin/bash && chown -R rails:rails db log storage tmp
USER 1000:1000
ENTRYPOINT ["/rails/bin/docker-entrypoint"]
CMD ["./bin/rails", "server"]
