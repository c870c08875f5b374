# Sesame's container image: a static-enough release binary on distroless, run as a non-root user.
#
#   docker build -t sesame .
#   docker run -p 8080:8080 -e SESAME_ISSUER=https://id.example.com \
#     -e SESAME_DATABASE_URL=mongodb://… -e SESAME_KEK=… sesame
#
# Configuration comes only from the environment (SESAME_*) and mounted files (--config FILE);
# the root filesystem can be read-only: everything Sesame writes (the embedded SQLite store, the
# generated key-encryption key, development mail) lives under the /var/lib/sesame volume.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The dependency layer: rebuilt only when Cargo.toml or Cargo.lock change. The stub sources
# only exist so that cargo can compile every dependency here.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/it/main.rs \
    && cargo build --release --locked --bin sesame \
    && rm -rf src tests
# The application itself (templates and migrations are compiled into the binary).
COPY migrations migrations
COPY templates templates
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin sesame \
    && install -d -o 65532 -g 65532 -m 0700 /out/var/lib/sesame \
    && install -m 0755 target/release/sesame /out/sesame

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sesame /usr/local/bin/sesame
COPY --from=build --chown=65532:65532 /out/var/lib/sesame /var/lib/sesame
WORKDIR /var/lib/sesame
ENV SESAME_LISTEN=0.0.0.0:8080 \
    SESAME_DATABASE_URL=sqlite:///var/lib/sesame/data/sesame.db \
    SESAME_KEK_FILE=/var/lib/sesame/keys/kek
VOLUME ["/var/lib/sesame"]
USER 65532:65532
EXPOSE 8080
# The image has no shell: the binary checks its own readiness endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/sesame", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sesame"]
CMD ["serve"]
