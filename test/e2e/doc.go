// Package e2e holds end-to-end tests that put authgate behind a real proxy
// binary and send it real HTTP requests. The proxy's configuration is part of
// what they test: the nginx tests run config/samples/nginx/authgate.conf, the
// file users copy, so a sample that would let a forged identity header
// through fails here.
package e2e
