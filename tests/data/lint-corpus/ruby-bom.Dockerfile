# corpus-expect: SP101 SP100 SP210
FROM ruby:3.3-slim-bookworm
WORKDIR /app
COPY Gemfile Gemfile.lock ./
RUN bundle install
COPY . .
CMD ["ruby", "main.rb"]
