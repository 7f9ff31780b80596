package soak

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/authgate/authgate/test/resolver"
)

var (
	soakDuration = flag.Duration("soak.duration", envDuration("AUTHGATE_SOAK_DURATION", 15*time.Second),
		"how long the soak sends traffic (env AUTHGATE_SOAK_DURATION)")
	soakRate = flag.Int("soak.rate", envInt("AUTHGATE_SOAK_RATE", 200),
		"requests per second, both transports together (env AUTHGATE_SOAK_RATE)")
)

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// inFlight bounds the requests the soak has open at once. The rate is fixed,
// so this is only reached when authgate (or the machine) falls behind; ticks
// that find it full are counted as skipped rather than queued, which would
// turn the fixed rate into a burst.
const inFlight = 64

// result is one request of the soak.
type result struct {
	kind       *kind
	want       answer
	transport  string
	start, end time.Time
	got        answer
	err        error
}

// outage is the window in which the session resolver refused connections.
// A request counts as inside only if it started after the fault was on and
// ended before it was lifted, as outside only if it ended before the fault
// or started after it was lifted; a request that straddles an edge may get
// either answer.
type outage struct {
	onStart, onEnd, offStart, offEnd time.Time
}

func (o outage) inside(r *result) bool  { return r.start.After(o.onEnd) && r.end.Before(o.offStart) }
func (o outage) outside(r *result) bool { return r.end.Before(o.onStart) || r.start.After(o.offEnd) }

// sample is the process's footprint at one moment.
type sample struct {
	at         time.Duration // since the traffic started
	rssKiB     int
	goroutines int
}

// TestSoak sends a fixed rate of mixed traffic over gRPC and HTTP to the
// built binary for -soak.duration, with the session resolver down for the
// middle fifth, and checks every answer, then that memory and goroutines
// stayed flat.
func TestSoak(t *testing.T) {
	duration, rate := *soakDuration, *soakRate
	s := startStack(t, stackConfig{resolverTimeout: 2 * time.Second, shutdownGrace: 10 * time.Second})
	kinds := newKinds(t, s, 32)
	c := newClient(t, s, inFlight)
	ctx := t.Context()

	// Every kind once over each transport first: a wrong policy or contract
	// fails here with a readable message instead of thousands of errors.
	for _, k := range kinds {
		for _, tr := range transports {
			p := probe{kind: k, v: k.variants[0]}
			got, err := c.send(ctx, tr, p)
			if err != nil || got != p.v.want {
				t.Fatalf("%s over %s: got %v (%v), want %v", k.name, tr, got, err, p.v.want)
			}
		}
	}
	idleGoroutines, err := s.goroutines()
	if err != nil {
		t.Fatal(err)
	}

	// Sample footprint every second while the traffic runs.
	begin := time.Now()
	var samples []sample
	var sampleErr error
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			rss, err := rssKiB(s.pid)
			g, gerr := s.goroutines()
			if err == nil {
				err = gerr
			}
			if err != nil {
				sampleErr = err
				return
			}
			samples = append(samples, sample{at: time.Since(begin), rssKiB: rss, goroutines: g})
		}
	}()

	// The resolver is down from 40% to 60% of the run.
	var out outage
	var outageMu sync.Mutex
	faults := make(chan struct{})
	go func() {
		defer close(faults)
		time.Sleep(duration * 2 / 5)
		outageMu.Lock()
		out.onStart = time.Now()
		s.resolver.SetFault(resolver.Refuse)
		out.onEnd = time.Now()
		outageMu.Unlock()
		time.Sleep(duration / 5)
		outageMu.Lock()
		out.offStart = time.Now()
		restoreErr := s.resolver.Restore()
		out.offEnd = time.Now()
		outageMu.Unlock()
		if restoreErr != nil {
			t.Errorf("failed to restore the resolver: %v", restoreErr)
		}
	}()

	// Open loop at a fixed rate.
	var (
		mu      sync.Mutex
		results []*result
		skipped atomic.Int64
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, inFlight)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	deadline := time.After(duration)
	var i uint64
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-tick.C:
		}
		p := pick(kinds, i/2)
		tr := transports[i%2]
		i++
		select {
		case sem <- struct{}{}:
		default:
			skipped.Add(1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := &result{kind: p.kind, want: p.v.want, transport: tr, start: time.Now()}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			r.got, r.err = c.send(rctx, tr, p)
			cancel()
			r.end = time.Now()
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(begin)
	<-faults
	close(stopSampling)
	<-sampled
	if sampleErr != nil {
		t.Fatalf("sampling the process: %v", sampleErr)
	}

	// After the traffic, with the client's connections closed, the
	// goroutines go back to what the first seconds of load needed.
	c.close()
	var settled int
	settleDeadline := time.Now().Add(15 * time.Second)
	for {
		if settled, err = s.goroutines(); err != nil {
			t.Fatal(err)
		}
		if settled <= idleGoroutines+goroutineSlack || time.Now().After(settleDeadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	rep := judge(results, out, kinds)
	rep.scheduled, rep.skipped, rep.elapsed, rep.rate = int(i), int(skipped.Load()), elapsed, rate
	rep.samples, rep.idleGoroutines, rep.settledGoroutines = samples, idleGoroutines, settled
	var b strings.Builder
	rep.write(&b)
	t.Log("\n" + b.String())

	for _, f := range rep.failures {
		t.Error(f)
	}
	rep.checkFootprint(t, duration)
	if settled > idleGoroutines+goroutineSlack {
		t.Errorf("goroutines after the traffic: %d, before it %d: leaked per request", settled, idleGoroutines)
	}

	// The run ends as a rollout would end it.
	if took, err := s.terminate(t, 20*time.Second); err != nil {
		t.Errorf("authgate after SIGTERM (%s): %v", took, err)
	}
}

// goroutineSlack is how many goroutines above the idle count still count as
// settled: the resolver and issuer connections authgate keeps idle (two
// goroutines each) and the runtime's own.
const goroutineSlack = 2*inFlight + 20

// tally counts one kind's answers over one transport.
type tally struct {
	ok, injected, edge, wrong, errors int
}

// report is the soak's outcome.
type report struct {
	rate, scheduled, skipped          int
	elapsed                           time.Duration
	tallies                           map[string]*tally // kind/transport
	order                             []string
	latencies                         []time.Duration
	samples                           []sample
	idleGoroutines, settledGoroutines int
	failures                          []string
	out                               outage
}

// judge checks every answer against its verdict. Outside the outage every
// request must get its kind's answer; inside it a request that goes to the
// resolver must get 503 and every other request its usual answer.
func judge(results []*result, out outage, kinds []*kind) *report {
	rep := &report{tallies: map[string]*tally{}, out: out}
	for _, k := range kinds {
		for _, tr := range transports {
			key := k.name + "/" + tr
			rep.tallies[key] = &tally{}
			rep.order = append(rep.order, key)
		}
	}
	unavailable := answer{status: http.StatusServiceUnavailable}
	for _, r := range results {
		t := rep.tallies[r.kind.name+"/"+r.transport]
		rep.latencies = append(rep.latencies, r.end.Sub(r.start))
		switch {
		case r.err != nil:
			t.errors++
			if len(rep.failures) < 20 {
				rep.failures = append(rep.failures, fmt.Sprintf("%s over %s: no answer: %v", r.kind.name, r.transport, r.err))
			}
		case !r.kind.resolved || out.outside(r):
			if r.got == r.want {
				t.ok++
				continue
			}
			t.wrong++
			rep.fail(r, r.want.String())
		case out.inside(r):
			if r.got == unavailable {
				t.injected++
				continue
			}
			t.wrong++
			rep.fail(r, "503 (resolver down)")
		default:
			if r.got == r.want || r.got == unavailable {
				t.edge++
				continue
			}
			t.wrong++
			rep.fail(r, r.want.String()+" or 503 (at the outage's edge)")
		}
	}
	return rep
}

func (rep *report) fail(r *result, want string) {
	if len(rep.failures) < 20 {
		rep.failures = append(rep.failures, fmt.Sprintf("%s over %s at %s: got %v, want %s",
			r.kind.name, r.transport, r.start.Format("15:04:05.000"), r.got, want))
	}
}

// window averages the samples in [from, to) since the traffic started.
func window(samples []sample, from, to time.Duration) (rssKiB, goroutines float64, maxRSS, maxG, n int) {
	for _, s := range samples {
		if s.at < from || s.at >= to {
			continue
		}
		rssKiB += float64(s.rssKiB)
		goroutines += float64(s.goroutines)
		maxRSS, maxG = max(maxRSS, s.rssKiB), max(maxG, s.goroutines)
		n++
	}
	if n > 0 {
		rssKiB /= float64(n)
		goroutines /= float64(n)
	}
	return rssKiB, goroutines, maxRSS, maxG, n
}

// windowLen is the length of the first and last windows compared: 10s, or
// a third of a shorter run.
func windowLen(d time.Duration) time.Duration { return min(10*time.Second, d/3) }

// checkFootprint fails on clear growth between the first and the last
// window. The thresholds are generous on purpose: the first seconds include
// the heap growing to its working size, and a loaded machine delays GC; a
// leak per request at this rate still crosses them within a minute.
func (rep *report) checkFootprint(t *testing.T, d time.Duration) {
	t.Helper()
	w := windowLen(d)
	_, _, firstMaxRSS, firstMaxG, n1 := window(rep.samples, 0, w)
	lastRSS, lastG, _, _, n2 := window(rep.samples, d-w, d+time.Second)
	if n1 == 0 || n2 == 0 {
		t.Errorf("too few samples to compare (%d first, %d last)", n1, n2)
		return
	}
	if limit := 1.5*float64(firstMaxRSS) + 32*1024; lastRSS > limit {
		t.Errorf("RSS grew: last %s mean %.0f KiB > %.0f KiB (1.5 x first window's max %d KiB + 32 MiB)", w, lastRSS, limit, firstMaxRSS)
	}
	if limit := 2*float64(firstMaxG) + 50; lastG > limit {
		t.Errorf("goroutines grew: last %s mean %.0f > %.0f (2 x first window's max %d + 50)", w, lastG, limit, firstMaxG)
	}
}

func (rep *report) write(b *strings.Builder) {
	d := time.Duration(0)
	if len(rep.samples) > 0 {
		d = rep.samples[len(rep.samples)-1].at.Round(time.Second)
	}
	total := len(rep.latencies)
	fmt.Fprintf(b, "soak: %d req/s target over gRPC and HTTP for %s: %d scheduled, %d answered (%.0f/s), %d skipped (%d in flight)\n",
		rep.rate, rep.elapsed.Round(time.Millisecond), rep.scheduled, total, float64(total)/rep.elapsed.Seconds(), rep.skipped, inFlight)
	if !rep.out.onEnd.IsZero() {
		fmt.Fprintf(b, "resolver refused connections for %s\n", rep.out.offStart.Sub(rep.out.onEnd).Round(time.Millisecond))
	}
	slices.Sort(rep.latencies)
	if total > 0 {
		fmt.Fprintf(b, "latency p50 %s, p99 %s, max %s\n", rep.latencies[total/2].Round(10*time.Microsecond),
			rep.latencies[total*99/100].Round(10*time.Microsecond), rep.latencies[total-1].Round(10*time.Microsecond))
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind/transport\tright\t503 injected\tat outage edge\twrong\tno answer\t")
	var sum tally
	for _, key := range rep.order {
		t := rep.tallies[key]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", key, t.ok, t.injected, t.edge, t.wrong, t.errors)
		sum.ok, sum.injected, sum.edge, sum.wrong, sum.errors = sum.ok+t.ok, sum.injected+t.injected, sum.edge+t.edge, sum.wrong+t.wrong, sum.errors+t.errors
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t\n", sum.ok, sum.injected, sum.edge, sum.wrong, sum.errors)
	_ = tw.Flush()

	w := windowLen(d)
	r1, g1, _, _, _ := window(rep.samples, 0, w)
	r2, g2, _, _, _ := window(rep.samples, d-w, d+time.Second)
	fmt.Fprintf(b, "footprint (mean of 1 s samples)  first %s: RSS %.1f MiB, %.0f goroutines   last %s: RSS %.1f MiB, %.0f goroutines\n",
		w, r1/1024, g1, w, r2/1024, g2)
	fmt.Fprintf(b, "goroutines idle before the traffic %d, after it %d\n", rep.idleGoroutines, rep.settledGoroutines)
}
