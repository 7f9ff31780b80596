package main

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/resolver"
)

// tokenAlg signs every token. ES256 keeps pre-minting a large pool of
// tokens quick; RS256 would take about a millisecond a token.
const tokenAlg = "ES256"

// attempt is one request's credential header and the verdict it must get.
type attempt struct {
	header string // "authorization" or "cookie"
	value  string
	allow  bool
}

// feed yields the i-th attempt of a run; safe for concurrent use.
type feed func(i uint64) attempt

// scenario prepares its credentials before the clock starts.
type scenario struct {
	name    string
	about   string
	prepare func(ctx context.Context, s *stack, pool int) (feed, error)
}

var scenarios = []scenario{
	{"token-hit", "one bearer token for every request (verification cache hit)", prepareTokenHit},
	{"token-new", "a new valid bearer token for every request, pre-minted", prepareTokenNew},
	{"token-invalid10", "one valid token, and 10% of requests an invalid one (bad signature or expired)", prepareTokenInvalid},
	{"cookie-warm", "one session cookie (session cache hit)", prepareCookieWarm},
	{"cookie-cold", "a new session cookie for every request; the resolver answers after 5 ms", prepareCookieCold},
}

func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	return names
}

func findScenario(name string) (scenario, error) {
	for _, sc := range scenarios {
		if sc.name == name {
			return sc, nil
		}
	}
	return scenario{}, fmt.Errorf("unknown scenario %q (known: %v)", name, scenarioNames())
}

func bearer(tok string) attempt {
	return attempt{header: "authorization", value: "Bearer " + tok, allow: true}
}

func cookie(v string) attempt {
	return attempt{header: "cookie", value: "_ga=GA1.2.1363734468; theme=dark; session=" + v, allow: true}
}

func mint(s *stack, sub string) (string, error) {
	return s.iss.Mint(devissuer.Token{Alg: tokenAlg, Subject: sub, Audience: []string{"shop"}})
}

func prepareTokenHit(_ context.Context, s *stack, _ int) (feed, error) {
	tok, err := mint(s, "alice")
	if err != nil {
		return nil, err
	}
	a := bearer(tok)
	return func(uint64) attempt { return a }, nil
}

func prepareTokenNew(ctx context.Context, s *stack, pool int) (feed, error) {
	toks := make([]attempt, pool)
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	const chunk = 500
	for lo := 0; lo < pool; lo += chunk {
		hi := min(lo+chunk, pool)
		g.Go(func() error {
			for i := lo; i < hi; i++ {
				tok, err := mint(s, "user-"+strconv.Itoa(i))
				if err != nil {
					return err
				}
				toks[i] = bearer(tok)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("failed to mint tokens: %w", err)
	}
	return func(i uint64) attempt { return toks[i%uint64(len(toks))] }, nil
}

func prepareTokenInvalid(_ context.Context, s *stack, _ int) (feed, error) {
	tok, err := mint(s, "alice")
	if err != nil {
		return nil, err
	}
	expired, err := s.iss.Mint(devissuer.Token{Alg: tokenAlg, Subject: "alice", Audience: []string{"shop"}, TTL: -time.Hour})
	if err != nil {
		return nil, err
	}
	// Flip a character in the middle of the signature: still well-formed.
	b := []byte(tok)
	j := len(b) - 10
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	valid := bearer(tok)
	bad := []attempt{
		{header: "authorization", value: "Bearer " + string(b)},
		{header: "authorization", value: "Bearer " + expired},
	}
	return func(i uint64) attempt {
		if i%10 == 9 {
			return bad[(i/10)%2]
		}
		return valid
	}, nil
}

func prepareCookieWarm(_ context.Context, s *stack, _ int) (feed, error) {
	s.resolver.AddSession("warm-cookie", resolver.Session{UserID: "alice", Roles: []string{"viewer"}})
	a := cookie("warm-cookie")
	return func(uint64) attempt { return a }, nil
}

// coldSerial keeps cookie-cold's cookies new across runs in one process.
var coldSerial struct {
	sync.Mutex
	n int
}

func prepareCookieCold(_ context.Context, s *stack, pool int) (feed, error) {
	coldSerial.Lock()
	base := coldSerial.n
	coldSerial.n += pool
	coldSerial.Unlock()
	cookies := make([]attempt, pool)
	for i := range cookies {
		v := "cold-" + strconv.Itoa(base+i)
		s.resolver.AddSession(v, resolver.Session{UserID: "user-" + strconv.Itoa(base+i)})
		cookies[i] = cookie(v)
	}
	return func(i uint64) attempt { return cookies[i%uint64(len(cookies))] }, nil
}

// selectScenarios returns the named scenarios in their canonical order.
func selectScenarios(names []string) ([]scenario, error) {
	if len(names) == 0 {
		return scenarios, nil
	}
	idx := map[string]int{}
	for i, sc := range scenarios {
		idx[sc.name] = i
	}
	var out []scenario
	seen := map[string]bool{}
	for _, n := range names {
		sc, err := findScenario(n)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, sc)
		}
	}
	sort.Slice(out, func(a, b int) bool { return idx[out[a].name] < idx[out[b].name] })
	return out, nil
}
