package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestDenyUpstreamFlags: --deny-upstream-cidrs and --deny-link-local become
// the server's deny-list; a bad CIDR stops serve before it listens.
func TestDenyUpstreamFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    []string
		wantErr string
	}{
		"default: no restriction": {args: nil, want: nil},
		"link-local only":         {args: []string{"--deny-link-local"}, want: []string{"169.254.0.0/16", "fe80::/10"}},
		"CIDRs and link-local": {
			args: []string{"--deny-upstream-cidrs", "127.0.0.0/8, 10.0.0.0/8", "--deny-link-local"},
			want: []string{"127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16", "fe80::/10"},
		},
		"bad CIDR": {args: []string{"--deny-upstream-cidrs", "10.0.0.0/8,metadata"}, wantErr: `--deny-upstream-cidrs: "metadata" is not a CIDR`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, ok := serveConfig(t, tc.args, tc.wantErr)
			if !ok {
				return
			}
			var got []string
			for _, p := range cfg.DenyUpstream {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("DenyUpstream = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServeRefusesBadDenyList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--policies", ".", "--deny-upstream-cidrs", "169.254.0.0/99",
		"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--deny-upstream-cidrs") {
		t.Fatalf("exit %d, stderr %q; want 2 naming the flag", code, &stderr)
	}
}
