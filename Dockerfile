# Container images of the grading pipeline's two services, built from this workspace:
#
#   docker build --target client-api   -t grading-pipeline/client-api .
#   docker build --target judge-worker -t grading-pipeline/judge-worker .
#
# docker-compose.yml builds both. One stage compiles the workspace once; each service then
# gets its own runtime image. Debian bookworm everywhere: its gcc 12, g++ 12, Python 3.11 and
# OpenJDK 17 packages install at exactly the absolute paths languages.toml names.

# Rust 1.95, the toolchain CI builds with (edition 2024; sqlx 0.9 needs >= 1.94), on the same
# Debian release as the runtime images, so the binaries link against the glibc they run on.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and the target dir from one build to the next
# (BuildKit, the default builder since Docker Engine 23). A cache mount is not part of the
# image, hence the copy of the two binaries out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin client-api --bin judge-worker \
 && mkdir -p /out \
 && cp target/release/client-api target/release/judge-worker /out/

# The API: no compiler, no privilege, a fixed unprivileged uid.
FROM debian:bookworm-20260918-slim AS client-api
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app
COPY --from=build /out/client-api /usr/local/bin/client-api
USER 10001:10001
# In a container the API must listen beyond loopback; its default is 127.0.0.1:8080.
ENV LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/client-api"]

# The worker: the toolchains the language table runs, at the paths it names.
FROM debian:bookworm-20260918-slim AS judge-worker
# - libc6-dev is only a recommendation of gcc, and --no-install-recommends would drop it:
#   without it C programs do not link.
# - Slim images delete /usr/share/man; OpenJDK's post-install script needs man1 to exist.
# - languages.toml names the amd64 JDK directory; on another architecture (an arm64 laptop)
#   that name is made to point at the JDK Debian installed there.
# - The last lines fail the build if a path languages.toml names is missing.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc g++ libc6-dev python3 openjdk-17-jdk-headless \
 && rm -rf /var/lib/apt/lists/* \
 && arch="$(dpkg --print-architecture)" \
 && if [ "$arch" != amd64 ]; then \
      ln -s "java-17-openjdk-$arch" /usr/lib/jvm/java-17-openjdk-amd64; \
    fi \
 && for tool in /usr/bin/gcc /usr/bin/g++ /usr/bin/python3 \
      /usr/lib/jvm/java-17-openjdk-amd64/bin/javac /usr/lib/jvm/java-17-openjdk-amd64/bin/java; do \
      test -x "$tool" || { echo "missing toolchain: $tool" >&2; exit 1; }; \
    done
# An unprivileged account for the plain sandbox (compose's judge-worker-plain runs as it).
# The isolated sandbox, the worker's default, needs root, hence the image's default user.
# Its slot uids are 60000 and up, so no account here may use that range.
RUN groupadd --system --gid 10001 judge \
 && useradd --system --uid 10001 --gid judge --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin judge
# The entry point: the isolated sandbox creates one cgroup per slot under the worker's own,
# and Docker mounts the container's cgroup2 file system read-only. As root (with the
# privileges docker-compose.yml grants), remount it read-write first; in the container's own
# cgroup namespace that exposes only the container's subtree. Otherwise, start as is.
RUN printf '%s\n' \
      '#!/bin/sh' \
      'set -e' \
      'if [ "$(id -u)" = 0 ] && [ "${SANDBOX:-namespaces}" = namespaces ] \' \
      '   && grep -q " /sys/fs/cgroup cgroup2 ro[ ,]" /proc/self/mounts; then' \
      '  mount -o remount,rw /sys/fs/cgroup' \
      'fi' \
      'exec /usr/local/bin/judge-worker "$@"' \
      > /usr/local/bin/judge-worker-entrypoint \
 && chmod 0755 /usr/local/bin/judge-worker-entrypoint
COPY --from=build /out/judge-worker /usr/local/bin/judge-worker
# Warm compiles made once, here: the precompiled bits/stdc++.h and javac's class archive
# (judge-worker/src/judge/toolchain.rs), root's and read-only, so every container (the plain
# worker's unprivileged user too) starts with them.
RUN /usr/local/bin/judge-worker --log-format pretty prepare-toolchains
ENV LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/judge-worker-entrypoint"]
