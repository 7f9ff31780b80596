# Multi-stage build: a static binary on a distroless base, run as non-root.
# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/authgate ./cmd/authgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authgate /authgate
USER 65532:65532
EXPOSE 8080 9001 9090
ENTRYPOINT ["/authgate"]
CMD ["serve", "--policies", "/etc/authgate/policies"]
