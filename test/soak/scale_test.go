package soak

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/bench"
	"github.com/authgate/authgate/test/resolver"
	"github.com/authgate/authgate/test/testproc"
)

// BenchmarkBinaryRSS10k runs the built binary (authgate serve on a folder)
// with 10,000 policies, warms its caches with 10,000 verified tokens and
// 10,000 resolved sessions over the HTTP endpoint, and reports the
// process's resident set (rss-MiB, VmRSS of /proc/<pid>/status) and its
// peak (hwm-MiB, VmHWM), the resident set's two parts (rss-anon-MiB and
// rss-file-MiB: RssAnon and RssFile), and the time to load the policies
// (load-s).
// docs/performance.md's goal is an RSS of at most 100 MiB. Each iteration
// is one allowed request on a warm cache.
//
//	go test -run '^$' -bench BinaryRSS10k -benchtime 1000x ./test/soak/
func BenchmarkBinaryRSS10k(b *testing.B) {
	const n = 10000
	bin, err := testproc.BuildAuthgate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	iss, err := devissuer.New(devissuer.Config{Algorithms: []string{"ES256"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = iss.Close() })
	ag := resolver.NewAuthgear(resolver.AuthgearConfig{})
	b.Cleanup(ag.Close)

	dir := b.TempDir()
	docs := bench.Tenants(n, iss.URL, ag.ResolveURL())
	if err := os.WriteFile(filepath.Join(dir, "tenants.yaml"), docs, 0o644); err != nil {
		b.Fatal(err)
	}
	httpAddr, opsAddr := testproc.FreeAddr(b), testproc.FreeAddr(b)
	args := []string{"serve", "--policies", dir,
		"--http-addr", httpAddr, "--grpc-addr", testproc.FreeAddr(b), "--metrics-addr", opsAddr, "--log-level", "error"}
	// With AUTHGATE_HEAP_PROFILE=<file> the benchmark saves the binary's
	// heap profile after the warm-up: the retained costs to look at with
	// go tool pprof -sample_index=inuse_space.
	heapProfile := os.Getenv("AUTHGATE_HEAP_PROFILE")
	if heapProfile != "" {
		args = append(args, "--enable-pprof")
	}
	start := time.Now()
	proc := testproc.Start(b, 2*time.Minute, "authgate", nil, bin, args...)
	testproc.WaitUntil(b, proc, "authgate ready with 10,000 policies", func() error {
		res, err := opsClient.Get("http://" + opsAddr + "/readyz")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
	loaded := time.Since(start)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	ask := func(host, header, value string) error {
		req, err := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/auth", nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Original-URL", "https://"+host+"/api/cart")
		req.Header.Set("X-Original-Method", http.MethodGet)
		req.Header.Set(header, value)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", host, res.StatusCode)
		}
		return nil
	}
	// Warm up: every tenant gets a token and a session, 16 at a time.
	work := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				id := "user-" + strconv.Itoa(i)
				tok, err := iss.Mint(devissuer.Token{Subject: id, Audience: []string{"shop"}})
				if err == nil {
					err = ask("h"+strconv.Itoa(i)+".example.com", "Authorization", "Bearer "+tok)
				}
				if err == nil {
					ag.AddSession("sess-"+strconv.Itoa(i), resolver.Session{UserID: id})
					err = ask("a.w"+strconv.Itoa(i)+".example.com", "Cookie", "session=sess-"+strconv.Itoa(i))
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatalf("warming up: %v", err)
	default:
	}
	rss, err := rssKiB(proc.Pid())
	if err != nil {
		b.Fatal(err)
	}
	hwm, err := statusKiB(proc.Pid(), "VmHWM:")
	if err != nil {
		b.Fatal(err)
	}
	// The resident set is the process's own memory (RssAnon: the heap,
	// stacks, the runtime) and the pages of the executable it touched
	// (RssFile: code and read-only data, shared and reclaimable).
	anon, err := statusKiB(proc.Pid(), "RssAnon:")
	if err != nil {
		b.Fatal(err)
	}
	file, err := statusKiB(proc.Pid(), "RssFile:")
	if err != nil {
		b.Fatal(err)
	}
	if heapProfile != "" {
		saveHeapProfile(b, "http://"+opsAddr+"/debug/pprof/heap", heapProfile)
		// The text form ends with the runtime's MemStats: where the RSS
		// beyond the live heap goes.
		saveHeapProfile(b, "http://"+opsAddr+"/debug/pprof/heap?debug=1", heapProfile+".txt")
	}

	last := "sess-" + strconv.Itoa(n-1)
	for b.Loop() {
		if err := ask("a.w"+strconv.Itoa(n-1)+".example.com", "Cookie", "session="+last); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rss)/1024, "rss-MiB")
	b.ReportMetric(float64(hwm)/1024, "hwm-MiB")
	b.ReportMetric(float64(anon)/1024, "rss-anon-MiB")
	b.ReportMetric(float64(file)/1024, "rss-file-MiB")
	b.ReportMetric(loaded.Seconds(), "load-s")
}

// saveHeapProfile writes the heap profile served at url to file.
func saveHeapProfile(b *testing.B, url, file string) {
	b.Helper()
	res, err := opsClient.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	data, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("heap profile: %d %v", res.StatusCode, err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// statusKiB reads one kB field of /proc/<pid>/status.
func statusKiB(pid int, field string) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte(field)); ok {
			var kb int
			if _, err := fmt.Sscanf(string(v), "%d", &kb); err != nil {
				return 0, err
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
