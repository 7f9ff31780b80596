package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/go-logr/logr"

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
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			var f serverFlags
			f.register(fs, "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config(logr.Discard())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GRPCMetadata != tc.want {
				t.Fatalf("GRPCMetadata = %v, want %v", cfg.GRPCMetadata, tc.want)
			}
		})
	}
}
