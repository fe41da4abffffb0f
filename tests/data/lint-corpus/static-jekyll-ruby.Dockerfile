# corpus-expect: SP101 SP210
FROM ruby:3.3 AS build
WORKDIR /srv/jekyll
COPY Gemfile Gemfile.lock ./
RUN bundle install
COPY . .
RUN JEKYLL_ENV=production bundle exec jekyll build -d /out

FROM build AS preview
EXPOSE 4000
USER 1000
CMD ["bundle", "exec", "jekyll", "serve", "--host", "0.0.0.0"]
