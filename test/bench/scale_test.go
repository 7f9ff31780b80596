package bench

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/resolver"
)

// manyPolicies parses Tenants(n): each policy for its own host, sharing
// one issuer and one resolver.
func manyPolicies(b *testing.B, n int, issuer, resolve string) []*policy.Policy {
	b.Helper()
	ps, err := source.ParseFile("many.yaml", Tenants(n, issuer, resolve), nil)
	if err != nil {
		b.Fatal(err)
	}
	return ps
}

// BenchmarkSnapshotBuild is the time to compile 10, 1,000 and 10,000
// policies into a snapshot and make it current (server.Apply): what a
// policy change costs. The goal at 10,000 is at most 1 s.
func BenchmarkSnapshotBuild(b *testing.B) {
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = iss.Close() })
	for _, n := range []int{10, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			srv := newServer(b, server.Config{})
			ps := manyPolicies(b, n, iss.URL, "http://127.0.0.1:1/resolve")
			b.ReportAllocs()
			for b.Loop() {
				if snap := srv.Apply(ps); len(snap.Problems()) > 0 {
					b.Fatal(snap.Problems()[0].Message)
				}
			}
		})
	}
}

// BenchmarkScale10k loads 10,000 policies, warms the caches with 10,000
// verified tokens and 10,000 resolved sessions, and reports authgate's live
// heap (authgate-heap-MiB: the heap in use after a collection, less what was
// in use before the server was made) and the process's resident set after
// returning free memory to the OS (process-rss-MiB, from /proc/self/status;
// it includes the issuer, the resolver double and the test binary, so it
// bounds authgate's from above). The goal is an RSS of at most 100 MiB.
// Each iteration is one decision on a warm cache at a host among the
// 10,000.
func BenchmarkScale10k(b *testing.B) {
	const n = 10000
	iss, err := devissuer.New(devissuer.Config{Algorithms: []string{"ES256"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = iss.Close() })
	res := resolver.NewAuthgear(resolver.AuthgearConfig{})
	b.Cleanup(res.Close)
	ps := manyPolicies(b, n, iss.URL, res.ResolveURL())
	heapBefore := liveHeapMiB()
	ctx := context.Background()
	srv := newServer(b, server.Config{})
	srv.Apply(ps)
	e := srv.Engine()
	for i := range n {
		tok, err := iss.Mint(devissuer.Token{Subject: "user-" + strconv.Itoa(i), Audience: []string{"shop"}})
		if err != nil {
			b.Fatal(err)
		}
		r := realistic(map[string]string{"authorization": "Bearer " + tok})
		r.Host = "h" + strconv.Itoa(i) + ".example.com"
		if d := e.Check(ctx, r); !d.Allow {
			b.Fatalf("token %d: %s %s", i, d.Reason, d.Detail)
		}
		cookie := "sess-" + strconv.Itoa(i)
		res.AddSession(cookie, resolver.Session{UserID: "user-" + strconv.Itoa(i)})
		r = realistic(map[string]string{"cookie": "session=" + cookie})
		r.Host = "a.w" + strconv.Itoa(i) + ".example.com"
		if d := e.Check(ctx, r); !d.Allow {
			b.Fatalf("session %d: %s %s", i, d.Reason, d.Detail)
		}
	}
	// authgate's share of the heap: what is live now less what was before
	// the server (the issuer, the resolver double, the parsed policies the
	// server keeps are counted). RSS after returning free memory to the OS.
	heap := liveHeapMiB() - heapBefore
	debug.FreeOSMemory()
	rss := rssMiB(b)

	// The last session resolved: the session cache keeps answers for the
	// policy's cacheTTL, and warming up the first ones took a while.
	r := realistic(map[string]string{"cookie": "session=sess-" + strconv.Itoa(n-1)})
	r.Host = "a.w" + strconv.Itoa(n-1) + ".example.com"
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Check(ctx, r); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
	b.ReportMetric(rss, "process-rss-MiB")
	b.ReportMetric(heap, "authgate-heap-MiB")
}

// liveHeapMiB is the heap in use after a full collection.
func liveHeapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

func rssMiB(b *testing.B) float64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkDecisionSpread is what the number of policies costs a whole
// decision when traffic is spread over the tenants: a cached JWT decision
// (Engine.Check) with 10 and with 10,000 policies loaded, everything else
// equal. The same 10,000 users' tokens are cached in both (user u belongs to
// tenant u mod n, so each identity keeps the headers of one policy, as a
// user of one tenant does), and requests come in the same Zipf-skewed order
// of users (s = 1.1), so the token cache does the same work in both; only
// the policies, and how many hosts the requests spread over, differ.
// BenchmarkLookup (pkg/store) is the lookup alone.
func BenchmarkDecisionSpread(b *testing.B) {
	const users = 10000 // the JWT cache's default size: every token stays cached
	iss, err := devissuer.New(devissuer.Config{Algorithms: []string{"ES256"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = iss.Close() })
	bearer := make([]string, users)
	for u := range bearer {
		tok, err := iss.Mint(devissuer.Token{Subject: "user-" + strconv.Itoa(u), Audience: []string{"shop"}})
		if err != nil {
			b.Fatal(err)
		}
		bearer[u] = "Bearer " + tok
	}
	seq := make([]uint16, 1<<16)
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, users-1)
	for i := range seq {
		seq[i] = uint16(z.Uint64())
	}
	for _, n := range []int{10, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			ctx := context.Background()
			srv := newServer(b, server.Config{})
			srv.Apply(manyPolicies(b, n, iss.URL, "http://127.0.0.1:1/resolve"))
			e := srv.Engine()
			// A server decides on a request it has just parsed, whose host
			// is in the CPU's cache: the hosts are packed into one string.
			hosts := make([]string, users)
			var packed strings.Builder
			for u := range users {
				packed.WriteString("h" + strconv.Itoa(u%n) + ".example.com")
			}
			all := packed.String()
			for u, at := 0, 0; u < users; u++ {
				size := len("h" + strconv.Itoa(u%n) + ".example.com")
				hosts[u], at = all[at:at+size], at+size
			}
			r := realistic(nil)
			for u := range users { // warm the token cache
				r.Host, r.Headers["authorization"] = hosts[u], bearer[u]
				if d := e.Check(ctx, r); !d.Allow {
					b.Fatalf("user %d: %s %s", u, d.Reason, d.Detail)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				u := seq[i&(len(seq)-1)]
				r.Host, r.Headers["authorization"] = hosts[u], bearer[u]
				if d := e.Check(ctx, r); !d.Allow {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}
