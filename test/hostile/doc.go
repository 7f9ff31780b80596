// Package hostile runs hostile input through authgate's real servers: one
// table of attacks (forged and malformed tokens, odd Authorization headers,
// oversized cookies, host and path tricks, spoofed forwarding and identity
// headers, policies pointing at metadata addresses) sent over the Envoy
// ext_authz gRPC API and over the HTTP auth endpoint as nginx and Traefik
// call it, each with the answer it must get. docs/threat-model.md explains
// the decisions these tests pin.
package hostile
