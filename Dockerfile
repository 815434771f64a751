# syntax=docker/dockerfile:1
#
# atlas-sync container image: `docker build -t atlas-sync .` or `make docker`.
# The default command runs every job once and exits, the shape a cron-started
# container (a Kubernetes CronJob) needs; `daemon` runs the schedules instead.
# Mount the configuration at /etc/atlas-sync/config.yaml and a volume at
# /var/lib/atlas-sync for the state file.

# go-sqlite3 is a cgo package, so the build needs a C compiler (the golang
# image has gcc) and the runtime image needs glibc. go.mod requires Go
# 1.26.8 and the golang image sets GOTOOLCHAIN=local, so pull a current
# golang:1.26-bookworm (1.26.8 or later).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/atlas-sync . \
 && mkdir -p /out/state

# distroless/base has glibc, CA certificates and time zone data, and no
# shell. Its nonroot user is 65532.
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/atlas-sync /usr/local/bin/atlas-sync
COPY --from=build --chown=65532:65532 /out/state /var/lib/atlas-sync
USER 65532:65532
WORKDIR /var/lib/atlas-sync
VOLUME ["/var/lib/atlas-sync"]
# daemon.listen must be 0.0.0.0:9464 in the configuration for probes and
# scrapes from outside the container; the default listens on loopback.
EXPOSE 9464
ENTRYPOINT ["atlas-sync"]
CMD ["run", "--config", "/etc/atlas-sync/config.yaml"]
