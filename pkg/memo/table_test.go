package memo_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authgate/authgate/pkg/memo"
)

// TestTable: each key gets the value its first derive made, later calls
// return it without deriving, keys equal as values are one key, and a
// lookup of a key made of strings allocates nothing.
func TestTable(t *testing.T) {
	type key struct {
		transport, reason string
		allow             bool
	}
	tests := map[string][]key{
		"one":       {{"grpc", "allowed", true}},
		"per field": {{"grpc", "allowed", true}, {"http", "allowed", true}, {"http", "expired", true}, {"http", "expired", false}},
		"many": func() []key {
			var ks []key
			for i := range 40 {
				ks = append(ks, key{"t" + strconv.Itoa(i%3), "r" + strconv.Itoa(i), i%2 == 0})
			}
			return ks
		}(),
	}
	for name, keys := range tests {
		t.Run(name, func(t *testing.T) {
			var table memo.Table[key]
			derived := 0
			for round := range 2 {
				for i, k := range keys {
					// A copy of the key's strings: keys compare by value.
					k.transport = strings.Clone(k.transport)
					if got := table.Get(k, func() any { derived++; return i }); got != i {
						t.Fatalf("round %d: %+v = %v, want %d", round, k, got, i)
					}
				}
			}
			if derived != len(keys) {
				t.Fatalf("derived %d times for %d keys", derived, len(keys))
			}
			k := keys[len(keys)-1]
			if n := testing.AllocsPerRun(100, func() { table.Get(k, func() any { return nil }) }); n != 0 {
				t.Fatalf("a lookup allocates %v times", n)
			}
		})
	}
}

// TestTableConcurrent: callers racing on first use, over several
// outcomes at once, all end with one value per outcome.
func TestTableConcurrent(t *testing.T) {
	type key struct {
		owner  *int
		reason string
	}
	owner := new(int)
	for range 50 {
		var c memo.Table[key]
		const outcomes, callers = 6, 4
		got := make([][]any, outcomes)
		for o := range got {
			got[o] = make([]any, callers)
		}
		var wg sync.WaitGroup
		for o := range outcomes {
			for k := range callers {
				wg.Go(func() {
					got[o][k] = c.Get(key{owner, strconv.Itoa(o)}, func() any { return new(int) })
				})
			}
		}
		wg.Wait()
		for o := range outcomes {
			for k := range callers {
				if got[o][k] != got[o][0] {
					t.Fatalf("outcome %d: caller %d got another value", o, k)
				}
			}
			if again := c.Get(key{owner, strconv.Itoa(o)}, func() any { return nil }); again != got[o][0] {
				t.Fatalf("outcome %d: a later call got another value", o)
			}
		}
	}
}
