# corpus-expect: SP303 SP305 SP101
FROM ruby:3.3-slim
ENV BUNDLE_WITHOUT=test
WORKDIR /srv
COPY Gemfile* ./
RUN bundle install
COPY app.rb config.ru ./
USER nobody
CMD ["rackup"]
CMD rackup --host 0.0.0.0 -p 9292
