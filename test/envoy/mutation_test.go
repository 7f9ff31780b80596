package envoy

import (
	"net/http"
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

const (
	appendOrAdd      = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	addIfAbsent      = corev3.HeaderValueOption_ADD_IF_ABSENT
	overwriteOrAdd   = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	overwriteIfExist = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS
)

func TestRequestMutations(t *testing.T) {
	tests := map[string]struct {
		legacy bool
		start  http.Header
		opts   []*corev3.HeaderValueOption
		want   http.Header
	}{
		"APPEND_IF_EXISTS_OR_ADD adds a duplicate entry to a non-inline header": {
			start: http.Header{"X-User": {"mallory"}},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", appendOrAdd)},
			want:  http.Header{"X-User": {"mallory", "alice"}},
		},
		"APPEND_IF_EXISTS_OR_ADD adds when absent": {
			start: http.Header{},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", appendOrAdd)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"APPEND_IF_EXISTS_OR_ADD comma-joins an inline header": {
			start: http.Header{"X-Forwarded-For": {"10.0.0.1"}},
			opts:  []*corev3.HeaderValueOption{hvo("x-forwarded-for", "10.0.0.2", appendOrAdd)},
			want:  http.Header{"X-Forwarded-For": {"10.0.0.1,10.0.0.2"}},
		},
		"ADD_IF_ABSENT leaves an existing header": {
			start: http.Header{"X-User": {"mallory"}},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", addIfAbsent)},
			want:  http.Header{"X-User": {"mallory"}},
		},
		"ADD_IF_ABSENT adds when absent": {
			start: http.Header{},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", addIfAbsent)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"OVERWRITE_IF_EXISTS_OR_ADD replaces every entry": {
			start: http.Header{"X-User": {"mallory", "eve"}},
			opts:  []*corev3.HeaderValueOption{hvo("X-User", "alice", overwriteOrAdd)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"OVERWRITE_IF_EXISTS_OR_ADD adds when absent": {
			start: http.Header{},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", overwriteOrAdd)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"OVERWRITE_IF_EXISTS replaces an existing header": {
			start: http.Header{"X-User": {"mallory"}},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", overwriteIfExist)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"OVERWRITE_IF_EXISTS does nothing when absent": {
			start: http.Header{},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", overwriteIfExist)},
			want:  http.Header{},
		},
		"unknown append_action overwrites": {
			start: http.Header{"X-User": {"mallory"}},
			opts:  []*corev3.HeaderValueOption{hvo("x-user", "alice", 42)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"deprecated append=true wins and joins onto the existing value": {
			start: http.Header{"X-Groups": {"a"}},
			opts:  []*corev3.HeaderValueOption{hvoAppend("x-groups", "b", true, overwriteOrAdd)},
			want:  http.Header{"X-Groups": {"a,b"}},
		},
		"deprecated append=true adds when absent": {
			start: http.Header{},
			opts:  []*corev3.HeaderValueOption{hvoAppend("x-groups", "b", true, overwriteIfExist)},
			want:  http.Header{"X-Groups": {"b"}},
		},
		"deprecated append=true joins cookie with semicolon": {
			start: http.Header{"Cookie": {"a=1"}},
			opts:  []*corev3.HeaderValueOption{hvoAppend("cookie", "b=2", true, appendOrAdd)},
			want:  http.Header{"Cookie": {"a=1; b=2"}},
		},
		"deprecated append=false wins and overwrites": {
			start: http.Header{"X-User": {"mallory"}},
			opts:  []*corev3.HeaderValueOption{hvoAppend("x-user", "alice", false, appendOrAdd)},
			want:  http.Header{"X-User": {"alice"}},
		},
		"appending an empty value is a no-op": {
			start: http.Header{"X-Groups": {"a"}},
			opts:  []*corev3.HeaderValueOption{hvoAppend("x-groups", "", true, appendOrAdd)},
			want:  http.Header{"X-Groups": {"a"}},
		},
		"entries apply in order": {
			start: http.Header{},
			opts: []*corev3.HeaderValueOption{
				hvoAppend("x-a", "2", true, appendOrAdd),
				hvo("x-a", "1", overwriteOrAdd),
			},
			want: http.Header{"X-A": {"1"}},
		},
		"pseudo-headers and host are not touched": {
			start: http.Header{},
			opts: []*corev3.HeaderValueOption{
				hvo(":path", "/admin", overwriteOrAdd), hvo("host", "evil", overwriteOrAdd),
			},
			want: http.Header{},
		},
		"legacy: unset append overwrites whatever append_action says": {
			legacy: true,
			start:  http.Header{"X-User": {"mallory"}, "X-Role": {"admin"}},
			opts: []*corev3.HeaderValueOption{
				hvo("x-user", "alice", appendOrAdd), hvo("x-role", "viewer", addIfAbsent),
				hvo("x-new", "1", overwriteIfExist),
			},
			want: http.Header{"X-User": {"alice"}, "X-Role": {"viewer"}, "X-New": {"1"}},
		},
		"legacy: append=true joins onto an existing value": {
			legacy: true,
			start:  http.Header{"X-Groups": {"a"}},
			opts:   []*corev3.HeaderValueOption{hvoAppend("x-groups", "b", true, appendOrAdd)},
			want:   http.Header{"X-Groups": {"a,b"}},
		},
		"legacy: append=true does not add an absent header": {
			legacy: true,
			start:  http.Header{},
			opts:   []*corev3.HeaderValueOption{hvoAppend("x-groups", "b", true, appendOrAdd)},
			want:   http.Header{},
		},
		"legacy: all sets run before all appends": {
			legacy: true,
			start:  http.Header{},
			opts: []*corev3.HeaderValueOption{
				hvoAppend("x-a", "2", true, appendOrAdd),
				hvo("x-a", "1", overwriteOrAdd),
			},
			want: http.Header{"X-A": {"1,2"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := tc.start.Clone()
			applyMutations(h, requestMutations(tc.opts, tc.legacy), inlineRequestHeaders)
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("got %v, want %v", h, tc.want)
			}
		})
	}
}

func TestRemoveRequestHeaders(t *testing.T) {
	tests := map[string]struct {
		remove []string
		want   http.Header
	}{
		"removes named headers case-insensitively": {
			remove: []string{"authorization", "X-API-KEY", "x-missing"},
			want:   http.Header{"Host": {"kept"}, "X-Other": {"1"}},
		},
		"refuses pseudo-headers and host": {
			remove: []string{":path", ":authority", ":method", "host", "Host"},
			want:   http.Header{"Host": {"kept"}, "X-Other": {"1"}, "Authorization": {"Bearer t"}, "X-Api-Key": {"k"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{"Host": {"kept"}, "X-Other": {"1"}, "Authorization": {"Bearer t"}, "X-Api-Key": {"k"}}
			removeRequestHeaders(h, tc.remove)
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("got %v, want %v", h, tc.want)
			}
		})
	}
}

func TestLocalReplyAndResponseMutations(t *testing.T) {
	tests := map[string]struct {
		legacy   bool
		response bool // response_headers_to_add rather than a local reply
		start    http.Header
		opts     []*corev3.HeaderValueOption
		want     http.Header
	}{
		"local reply: defaults add, append=true adds too": {
			start: http.Header{},
			opts: []*corev3.HeaderValueOption{
				hvo("set-cookie", "a=1", appendOrAdd), hvo("set-cookie", "b=2", appendOrAdd),
				hvoAppend("x-app", "1", true, overwriteOrAdd), hvoAppend("x-app", "2", true, overwriteOrAdd),
			},
			want: http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-App": {"1", "2"}},
		},
		"local reply legacy: set-cookie repeats kept, append=true dropped": {
			legacy: true,
			start:  http.Header{},
			opts: []*corev3.HeaderValueOption{
				hvo("set-cookie", "a=1", addIfAbsent), hvo("set-cookie", "b=2", overwriteIfExist),
				hvoAppend("x-app", "1", true, overwriteOrAdd),
			},
			want: http.Header{"Set-Cookie": {"a=1", "b=2"}},
		},
		"response: OVERWRITE_IF_EXISTS_OR_ADD replaces upstream value": {
			response: true,
			start:    http.Header{"Cache-Control": {"public"}},
			opts:     []*corev3.HeaderValueOption{hvo("cache-control", "no-store", overwriteOrAdd)},
			want:     http.Header{"Cache-Control": {"no-store"}},
		},
		"response: ADD_IF_ABSENT keeps upstream value": {
			response: true,
			start:    http.Header{"Cache-Control": {"public"}},
			opts:     []*corev3.HeaderValueOption{hvo("cache-control", "no-store", addIfAbsent)},
			want:     http.Header{"Cache-Control": {"public"}},
		},
		"response legacy: adds run before sets": {
			legacy:   true,
			response: true,
			start:    http.Header{},
			opts: []*corev3.HeaderValueOption{
				hvo("x-a", "set", overwriteOrAdd), hvo("x-a", "added", appendOrAdd),
			},
			want: http.Header{"X-A": {"set"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := tc.start.Clone()
			if tc.response {
				applyMutations(h, responseMutations(tc.opts, tc.legacy), inlineResponseHeaders)
			} else {
				applyMutations(h, localReplyMutations(tc.opts, tc.legacy), inlineResponseHeaders)
			}
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("got %v, want %v", h, tc.want)
			}
		})
	}
}
