// Package recipes proves the proxy integration files shipped under config/
// (Envoy, Istio, Envoy Gateway, ingress-nginx, Traefik) and the pages in
// docs/proxies that tell people to use them. Each test reads the shipped
// file itself, not a copy: it checks the file against the proxy's schema as
// documented (Envoy's own protobuf types where the module has them, strict
// structs mirroring the documented fields otherwise), and where a proxy can
// be stood in for on loopback, runs authgate behind it with the file's
// settings. The real-nginx test of the ingress-nginx recipe is in test/e2e.
package recipes
