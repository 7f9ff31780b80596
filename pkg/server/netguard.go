package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/netguard"
)

// defaultFetchTimeout bounds a JWKS or discovery fetch made by a guarded
// client, as jwt's own default client does.
const defaultFetchTimeout = 5 * time.Second

// guardUpstream applies cfg.DenyUpstream to every HTTP client that calls a
// URL a policy names: the JWT provider's (discovery, JWKS) and the resolver
// client (sessions, introspection). Clients the caller did not set are built
// here with the packages' defaults, then guarded at dial time.
func guardUpstream(cfg *Config) error {
	if len(cfg.DenyUpstream) == 0 {
		return nil
	}
	g := netguard.New(cfg.DenyUpstream)
	jwtClient := cfg.JWT.HTTPClient
	if jwtClient == nil {
		timeout := cfg.JWT.FetchTimeout
		if timeout <= 0 {
			timeout = defaultFetchTimeout
		}
		jwtClient = &http.Client{Timeout: timeout}
	}
	var err error
	if cfg.JWT.HTTPClient, err = g.Client(jwtClient); err != nil {
		return fmt.Errorf("JWKS client: %w", err)
	}
	resolverClient := cfg.HTTPClient
	if resolverClient == nil {
		resolverClient = remote.NoRedirectClient()
	}
	if cfg.HTTPClient, err = g.Client(resolverClient); err != nil {
		return fmt.Errorf("resolver client: %w", err)
	}
	return nil
}
