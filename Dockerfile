# syntax=docker/dockerfile:1
# The AlphaPulse image: one compiled binary on a distroless glibc base. Every mode (collect,
# broadcast, simulate, ...) is this image with ALPHAPULSE_MODE set; see docs/operations.md.

# Build stage: Bun compiles src/ into one self-contained executable (needs only glibc).
ARG BUN_IMAGE=oven/bun:1.4.5-debian
# Runtime: distroless with glibc (cc-debian12), no shell, non-root (uid 65532).
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUN_IMAGE} AS build
WORKDIR /src
# Dependencies first, so source edits reuse this layer.
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
RUN bun build --compile --minify --sourcemap src/main.ts --outfile /out/alphapulse \
    && /out/alphapulse --version

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /out/alphapulse /app/alphapulse
# The nonroot user of distroless; Kubernetes sets the same uid in the pod securityContext.
USER 65532:65532
# Rings live in memory: Docker and Kubernetes both give /dev/shm as tmpfs (an emptyDir of
# medium Memory in k8s/), so a read-only root filesystem works.
ENV SHARED_MEMORY_PATH=/dev/shm/alphapulse \
    LOG_LEVEL=info
# 8080 collector metrics, 8765 broadcaster WebSocket/REST, 8766 broadcaster metrics.
EXPOSE 8080 8765 8766
# Distroless has no curl: the binary checks its own /health on METRICS_PORT.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/app/alphapulse", "healthcheck"]
ENTRYPOINT ["/app/alphapulse"]
