# corpus-expect: SP100 SP200 SP201 SP203 SP401 SP101
FROM ubuntu:24.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get upgrade -y && apt-get install -y \
      zsh git vim tmux curl wget ca-certificates build-essential
RUN sh -c "$(curl -fsSL https://raw.githubusercontent.com/ohmyzsh/ohmyzsh/master/tools/install.sh)" "" --unattended
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y
WORKDIR /workspace
CMD ["zsh"]
