# syntax=docker/dockerfile:1
# The longhorn-talos-guard container image: one binary on a distroless base.
#
#   docker build -t <registry>/longhorn-talos-guard:0.1.0 .
#
# Builds for the architecture of the builder (use buildx --platform
# linux/amd64,linux/arm64 for both; each platform builds natively or under
# emulation, no cross toolchain needed). Pin both images by digest for
# reproducible builds.

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: a change under src/ does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
# touch: the placeholder's build is older than the real sources. Default
# features only: `bench` (and the test fixtures it embeds) stays out of the image.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/longhorn-talos-guard /longhorn-talos-guard

# The binary is linked dynamically against glibc (the Rust default for
# x86_64/aarch64-unknown-linux-gnu; TLS is rustls with ring, so no OpenSSL).
# distroless/static has no libc and would fail to start it; distroless/cc is
# the same Debian 12 with glibc and libgcc_s, matching the bookworm builder,
# and still has no shell and no package manager. (A musl build on
# distroless/static would also work, at the cost of a cross toolchain for
# ring's C and assembly on every architecture.)
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /longhorn-talos-guard /usr/local/bin/longhorn-talos-guard
# nonroot is 65532:65532 in distroless; spelled numerically so that
# runAsNonRoot can be verified by the kubelet without reading /etc/passwd.
USER 65532:65532
# Nothing is written at run time: the config and certificates are mounted
# (or, in self-managed mode, kept in a Secret through the API). The Deployment
# passes its own args; `serve` alone is for a quick `docker run` and then
# needs --cert-dir with a mounted tls.crt and tls.key.
ENTRYPOINT ["/usr/local/bin/longhorn-talos-guard"]
CMD ["serve"]
