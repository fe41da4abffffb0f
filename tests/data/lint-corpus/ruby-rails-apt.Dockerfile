# corpus-expect: SP200 SP201 SP210 SP400 SP101 SP100
FROM ruby:3.2.4
RUN apt-get update -qq && apt-get install -y nodejs postgresql-client
ENV SECRET_KEY_BASE=dummy-but-still-a-secret
WORKDIR /myapp
COPY Gemfile /myapp/Gemfile
COPY Gemfile.lock /myapp/Gemfile.lock
RUN bundle install
COPY . /myapp
EXPOSE 3000
CMD ["rails", "server", "-b", "0.0.0.0"]
