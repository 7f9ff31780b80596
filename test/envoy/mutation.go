package envoy

import (
	"net/http"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// headerAction is what one HeaderValueOption does to a header map once the
// deprecated append field and append_action have been resolved. The names
// follow the Envoy HeaderMap calls they imitate.
type headerAction int

const (
	// actionAdd is HeaderMap::addCopy: a new entry, except that a repeated
	// inline header is joined onto the existing one with ",".
	actionAdd headerAction = iota
	// actionAppend is HeaderMap::appendCopy: join onto the first existing
	// entry (with "; " for cookie, else ","), or add when absent.
	actionAppend
	// actionAppendIfExists is appendCopy guarded by "header exists", the
	// pre-append_action handling of append=true in ok_response.headers.
	actionAppendIfExists
	// actionAddIfAbsent adds only when no entry exists.
	actionAddIfAbsent
	// actionSet is HeaderMap::setCopy: drop every entry, then add one.
	actionSet
	// actionOverwriteIfExists is setCopy guarded by "header exists".
	actionOverwriteIfExists
	// actionRemove drops every entry.
	actionRemove
)

// headerMutation is one resolved header operation.
type headerMutation struct {
	key    string
	value  string
	action headerAction
}

// enumAction maps append_action as documented in
// api/envoy/config/core/v3/base.proto HeaderValueOption.HeaderAppendAction:
// APPEND_IF_EXISTS_OR_ADD (0, the default) "Comma-concatenated for predefined
// inline headers. Duplicate header added in the HeaderMap for other headers";
// ADD_IF_ABSENT adds only if absent; OVERWRITE_IF_EXISTS_OR_ADD replaces or
// adds; OVERWRITE_IF_EXISTS replaces only if present.
// Envoy: ext_authz_grpc_impl.cc getAppendAction treats a value outside the
// enum as OVERWRITE_IF_EXISTS_OR_ADD (and flags it for validate_mutations).
func enumAction(a corev3.HeaderValueOption_HeaderAppendAction) headerAction {
	switch a {
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		return actionAdd
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		return actionAddIfAbsent
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		return actionOverwriteIfExists
	default:
		return actionSet
	}
}

// requestMutations resolves ok_response.headers into the operations applied
// to the upstream request, in the order Envoy applies them.
//
// Default (legacy false): append_action as documented, the way
// ext_authz_grpc_impl.cc handles it since Envoy v1.37 (envoyproxy/envoy#42878;
// getAppendAction and moveHeaderMutations): when the deprecated append field
// is set it wins, true meaning appendCopy (join onto the existing value, or
// add) and false meaning OVERWRITE_IF_EXISTS_OR_ADD; otherwise append_action
// applies, so an option with neither set is APPEND_IF_EXISTS_OR_ADD. Entries
// are applied in order.
//
// legacy true: Envoy v1.36 and earlier, which envoyproxy/envoy#43442 returned
// to by reverting #42878 after envoyproxy/envoy#43310 reported that unset
// options started appending. copyHeaderFieldIntoResponse looks only at
// append: append=true goes to headers_to_append, which ext_authz.cc
// onComplete applies with appendCopy only `if (!header_to_modify.empty())`
// (an absent header is not added); anything else, append_action included, goes
// to headers_to_set and is applied with setCopy. All sets run before all
// appends. external_auth.proto OkHttpResponse.headers still documents this:
// "By leaving append as false, the filter will either add a new header, or
// override an existing one".
func requestMutations(opts []*corev3.HeaderValueOption, legacy bool) []headerMutation {
	var out, appends []headerMutation
	for _, o := range opts {
		m := headerMutation{key: o.GetHeader().GetKey(), value: o.GetHeader().GetValue()}
		switch {
		case legacy && o.GetAppend().GetValue():
			m.action = actionAppendIfExists
			appends = append(appends, m)
			continue
		case legacy:
			m.action = actionSet
		case o.GetAppend() != nil && o.GetAppend().GetValue():
			m.action = actionAppend
		case o.GetAppend() != nil:
			m.action = actionSet
		default:
			m.action = enumAction(o.GetAppendAction())
		}
		out = append(out, m)
	}
	return append(out, appends...)
}

// responseMutations resolves ok_response.response_headers_to_add into the
// operations applied to the upstream's response.
//
// Envoy (ext_authz_grpc_impl.cc copyOkResponseMutations, which honoured
// append_action for these before #42878 did so for request headers): a set
// append field wins, true meaning addCopy ("For response headers including
// the local replies, append=true meant adding a new header") and false
// setCopy; otherwise append_action applies. legacy true keeps the grouping of
// ext_authz.cc encodeHeaders in v1.36: all adds, then sets, then
// add-if-absent, then overwrite-if-exists; otherwise entries apply in order.
func responseMutations(opts []*corev3.HeaderValueOption, legacy bool) []headerMutation {
	out := make([]headerMutation, 0, len(opts))
	for _, o := range opts {
		m := headerMutation{key: o.GetHeader().GetKey(), value: o.GetHeader().GetValue()}
		switch {
		case o.GetAppend() != nil && o.GetAppend().GetValue():
			m.action = actionAdd
		case o.GetAppend() != nil:
			m.action = actionSet
		default:
			m.action = enumAction(o.GetAppendAction())
		}
		out = append(out, m)
	}
	if legacy {
		rank := map[headerAction]int{actionAdd: 0, actionSet: 1, actionAddIfAbsent: 2, actionOverwriteIfExists: 3}
		sort.SliceStable(out, func(i, j int) bool { return rank[out[i].action] < rank[out[j].action] })
	}
	return out
}

// localReplyMutations resolves denied_response.headers (or
// error_response.headers) into the operations applied to Envoy's local reply.
//
// Default: like responseMutations without reordering (ext_authz_grpc_impl.cc
// moves them into local_response_header_mutations, resolving append and
// append_action the same way). append=true is taken as addCopy, per the
// response-header rule quoted on responseMutations; on a fresh local reply
// that differs from appendCopy only when the same name repeats.
//
// legacy true: copyHeaderFieldIntoResponse puts append=true entries into
// headers_to_append, which the Denied branch of ext_authz.cc onComplete never
// reads, so they are dropped; the rest are headers_to_set, applied by
// "Firstly, remove all headers requested by the ext_authz filter" and then
// addCopy of each, "allowing the same header to be set multiple times, e.g.
// Set-Cookie".
func localReplyMutations(opts []*corev3.HeaderValueOption, legacy bool) []headerMutation {
	if !legacy {
		return responseMutations(opts, false)
	}
	var removes, adds []headerMutation
	for _, o := range opts {
		if o.GetAppend().GetValue() {
			continue
		}
		k := o.GetHeader().GetKey()
		removes = append(removes, headerMutation{key: k, action: actionRemove})
		adds = append(adds, headerMutation{key: k, value: o.GetHeader().GetValue(), action: actionAdd})
	}
	return append(removes, adds...)
}

// applyMutations applies ms to h. inline is the set of lower-case header
// names Envoy stores inline for this kind of map (joined with "," on add).
//
// Pseudo-headers and host are skipped: real Envoy (without
// decoder_header_mutation_rules) would rewrite :path or :authority, which this
// harness does not model; authgate has no reason to send them.
func applyMutations(h http.Header, ms []headerMutation, inline map[string]bool) {
	for _, m := range ms {
		lk := strings.ToLower(m.key)
		if lk == "" || strings.HasPrefix(lk, ":") || lk == "host" {
			continue
		}
		k := http.CanonicalHeaderKey(lk)
		exists := len(h[k]) > 0
		switch m.action {
		case actionAdd:
			addCopy(h, k, lk, m.value, inline)
		case actionAppend:
			if exists {
				h[k][0] = appendValue(h[k][0], m.value, delimiter(lk))
			} else {
				addCopy(h, k, lk, m.value, inline)
			}
		case actionAppendIfExists:
			if exists {
				h[k][0] = appendValue(h[k][0], m.value, delimiter(lk))
			}
		case actionAddIfAbsent:
			if !exists {
				addCopy(h, k, lk, m.value, inline)
			}
		case actionSet:
			h[k] = []string{m.value}
		case actionOverwriteIfExists:
			if exists {
				h[k] = []string{m.value}
			}
		case actionRemove:
			delete(h, k)
		}
	}
}

// removeRequestHeaders applies ok_response.headers_to_remove.
// Envoy: ext_authz.cc onComplete skips a name when
// !Http::HeaderUtility::isRemovableHeader(key) ("We don't allow removing any
// :-prefixed headers, nor Host, as removing them would make the request
// malformed"); isRemovableHeader (header_utility.cc) rejects a leading ':' and
// a case-insensitive "host". external_auth.proto OkHttpResponse
// headers_to_remove documents the same. Removal is by lower-cased name.
func removeRequestHeaders(h http.Header, names []string) {
	for _, n := range names {
		if strings.HasPrefix(n, ":") || strings.EqualFold(n, "host") {
			continue
		}
		h.Del(n)
	}
}

// addCopy imitates HeaderMapImpl::insertByKey: an inline header that already
// exists gets the value appended with ","; any other header gets a new entry.
func addCopy(h http.Header, k, lk, v string, inline map[string]bool) {
	if inline[lk] && len(h[k]) > 0 {
		h[k][0] = appendValue(h[k][0], v, ",")
		return
	}
	h[k] = append(h[k], v)
}

// appendValue imitates HeaderMapImpl::appendToHeader: appending "" is a
// no-op, and no delimiter follows an empty value.
func appendValue(cur, v, delim string) string {
	switch {
	case v == "":
		return cur
	case cur == "":
		return v
	default:
		return cur + delim + v
	}
}

// delimiter imitates header_map_impl.cc delimiterByHeader.
func delimiter(lk string) string {
	if lk == "cookie" {
		return "; "
	}
	return ","
}

func joinValues(vs []string, delim string) string {
	out := ""
	for _, v := range vs {
		out = appendValue(out, v, delim)
	}
	return out
}

// Envoy's default inline ("O(1)") headers, from include/envoy/http/
// header_map.h INLINE_REQ_HEADERS, INLINE_RESP_HEADERS and
// INLINE_REQ_RESP_HEADERS, with names from source/common/http/headers.h.
// Headers that extensions register as custom inline headers (which depends on
// the Envoy build) are not included.
var (
	inlineReqResp = []string{
		"connection", "content-type", "x-envoy-decorator-operation", "keep-alive",
		"proxy-connection", "proxy-status", "x-request-id", "transfer-encoding", "upgrade",
		"via", "content-length", "x-envoy-attempt-count",
	}
	inlineRequestHeaders = nameSet(inlineReqResp,
		"x-client-trace-id", "x-envoy-downstream-service-cluster",
		"x-envoy-downstream-service-node", "x-envoy-external-address", "x-envoy-force-trace",
		"x-envoy-hedge-on-per-try-timeout", "x-envoy-internal", "x-envoy-ip-tags",
		"x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-retriable-status-codes",
		"x-envoy-retriable-header-names", "x-envoy-original-path", "x-envoy-original-url",
		"x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-timeout-alt-response", "expect",
		"x-forwarded-client-cert", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
		"grpc-timeout", "te", "user-agent", "x-envoy-expected-rq-timeout-ms",
		"x-envoy-max-retries", "x-envoy-upstream-rq-timeout-ms",
		"x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-stream-duration-ms",
	)
	inlineResponseHeaders = nameSet(inlineReqResp,
		"date", "x-envoy-degraded", "x-envoy-immediate-health-check-fail",
		"x-envoy-ratelimited", "x-envoy-upstream-canary",
		"x-envoy-upstream-healthchecked-cluster", "location", "server",
		"x-envoy-upstream-service-time", "grpc-status", "grpc-message",
	)
)

func nameSet(base []string, more ...string) map[string]bool {
	out := make(map[string]bool, len(base)+len(more))
	for _, n := range append(append([]string(nil), base...), more...) {
		out[n] = true
	}
	return out
}
