package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/server/extauthz"
)

// TestGRPCMetadataFlag: --grpc-metadata picks what allowed ext_authz
// answers carry in Envoy's dynamic metadata; none unless asked, and a
// misspelt mode stops serve before it listens.
func TestGRPCMetadataFlag(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    extauthz.Metadata
		wantErr string
	}{
		"default: none":    {want: extauthz.MetadataNone},
		"none":             {args: []string{"--grpc-metadata=none"}, want: extauthz.MetadataNone},
		"identity":         {args: []string{"--grpc-metadata", "identity"}, want: extauthz.MetadataIdentity},
		"claims, any case": {args: []string{"--grpc-metadata", "Claims"}, want: extauthz.MetadataClaims},
		"unknown":          {args: []string{"--grpc-metadata", "all"}, wantErr: `--grpc-metadata: "all" is not none, identity or claims`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, ok := serveConfig(t, tc.args, tc.wantErr)
			if !ok {
				return
			}
			if cfg.GRPCMetadata != tc.want {
				t.Fatalf("GRPCMetadata = %v, want %v", cfg.GRPCMetadata, tc.want)
			}
		})
	}
}

// serveConfig parses serve's flags and builds the server's config, as serve
// does before it listens. With wantErr, the error must name it, and ok is
// false.
func serveConfig(t *testing.T, args []string, wantErr string) (cfg server.Config, ok bool) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serverFlags
	f.register(fs, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config(logr.Discard())
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return cfg, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, true
}
