package memo_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authgate/authgate/pkg/memo"
)

type keyA struct{}
type keyB struct{}
type keyN struct{ n int }

// TestList: each key is derived once and its value returned to every
// caller after; keys do not see each other's values.
func TestList(t *testing.T) {
	tests := map[string]struct {
		keys []any // asked for in order, twice over
		want []string
	}{
		"one key":          {keys: []any{keyA{}}, want: []string{"keyA"}},
		"two keys":         {keys: []any{keyA{}, keyB{}}, want: []string{"keyA", "keyB"}},
		"same type, value": {keys: []any{keyN{1}, keyN{2}, keyN{1}}, want: []string{"1", "2", "1"}},
		"many keys":        {keys: []any{keyN{1}, keyN{2}, keyN{3}, keyA{}, keyB{}}, want: []string{"1", "2", "3", "keyA", "keyB"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var l memo.List
			derived := map[any]int{}
			derive := func(k any) func() any {
				return func() any {
					derived[k]++
					switch k := k.(type) {
					case keyA:
						return "keyA"
					case keyB:
						return "keyB"
					case keyN:
						return string(rune('0' + k.n))
					}
					return nil
				}
			}
			for round := range 2 {
				for i, k := range tc.keys {
					if got := l.Get(k, derive(k)); got != tc.want[i] {
						t.Errorf("round %d: Get(%v) = %v, want %v", round, k, got, tc.want[i])
					}
				}
			}
			for k, n := range derived {
				if n != 1 {
					t.Errorf("%v derived %d times, want once", k, n)
				}
			}
			if _, ok := l.Lookup(keyN{99}); ok {
				t.Error("Lookup found a key never added")
			}
			if got := l.Add(tc.keys[0], "late"); got != tc.want[0] {
				t.Errorf("Add over a present key returned %v, want the first value %v", got, tc.want[0])
			}
		})
	}
}

// TestListConcurrent: callers racing on the first use of a key all get the
// same value, while other keys are being added.
func TestListConcurrent(t *testing.T) {
	for range 50 {
		var l memo.List
		var calls atomic.Int32
		results := make([]any, 16)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				l.Get(keyN{i}, func() any { return i })
				results[i] = l.Get(keyA{}, func() any { calls.Add(1); return new(int) })
			})
		}
		wg.Wait()
		for i, r := range results {
			if r != results[0] {
				t.Fatalf("caller %d got another value", i)
			}
		}
		for i := range results {
			if got := l.Get(keyN{i}, func() any { return -1 }); got != i {
				t.Fatalf("keyN{%d} = %v, want %d", i, got, i)
			}
		}
		if calls.Load() == 0 {
			t.Fatal("derive never called")
		}
	}
}
