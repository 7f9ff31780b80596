package extauthz

import (
	"errors"
	"fmt"
	"unicode/utf8"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
)

// Reading a CheckRequest with the protobuf runtime decodes all of it: the
// peers' addresses and certificates, metadata, every header into a map by
// reflection. That was the largest part of a cached allow's cost on the gRPC
// server, larger than the decision. authgate reads seven fields, so the
// server reads those from the encoding and skips the rest.
//
// It reads them as proto.Unmarshal would: fields in any order, a repeated
// singular field's last value wins, a message field that appears more than
// once is merged, map entries may lack their key or value (""), later
// entries replace earlier ones, unknown fields are skipped. Strings it reads
// must be UTF-8, as proto3 requires, or the request is refused as
// proto.Unmarshal refuses it. Unlike proto.Unmarshal it does not look inside
// the fields it skips (a malformed peer address, say, is not an error):
// authgate does not use them. FuzzCheckFields compares it with
// proto.Unmarshal and Request.

// Field numbers of the path to what authgate reads.
var (
	fCheckAttributes    = fieldNumber(&authv3.CheckRequest{}, "attributes")
	fAttrsRequest       = fieldNumber(&authv3.AttributeContext{}, "request")
	fAttrsExtensions    = fieldNumber(&authv3.AttributeContext{}, "context_extensions")
	fRequestHTTP        = fieldNumber(&authv3.AttributeContext_Request{}, "http")
	fHTTPID             = fieldNumber(&authv3.AttributeContext_HttpRequest{}, "id")
	fHTTPMethod         = fieldNumber(&authv3.AttributeContext_HttpRequest{}, "method")
	fHTTPHeaders        = fieldNumber(&authv3.AttributeContext_HttpRequest{}, "headers")
	fHTTPPath           = fieldNumber(&authv3.AttributeContext_HttpRequest{}, "path")
	fHTTPHost           = fieldNumber(&authv3.AttributeContext_HttpRequest{}, "host")
	fHTTPScheme         = fieldNumber(&authv3.AttributeContext_HttpRequest{}, "scheme")
	errInvalidUTF8      = errors.New("string field contains invalid UTF-8")
	errTruncatedMessage = errors.New("truncated or malformed message")
)

// unmarshal reads a CheckRequest's encoding into f, merging as
// proto.Unmarshal merges into a message.
func (f *checkFields) unmarshal(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == fCheckAttributes && typ == protowire.BytesType {
			return f.attributes(v)
		}
		return nil
	})
}

func (f *checkFields) attributes(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fAttrsRequest && typ == protowire.BytesType:
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fRequestHTTP && typ == protowire.BytesType {
					return f.http(v)
				}
				return nil
			})
		case num == fAttrsExtensions && typ == protowire.BytesType:
			key, value, err := mapEntry(v)
			if err != nil {
				return err
			}
			if string(key) == "host" {
				f.routeHost = string(value)
			}
		}
		return nil
	})
}

func (f *checkFields) http(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil // a field of another type: not one of these
		}
		if num == fHTTPHeaders {
			key, value, err := mapEntry(v)
			if err != nil {
				return err
			}
			if f.headers == nil {
				f.headers = make(map[string]string, 16)
			}
			f.headers[headerName(key)] = string(value)
			return nil
		}
		var dst *string
		switch num {
		case fHTTPID:
			dst = &f.id
		case fHTTPMethod:
			dst = &f.method
		case fHTTPPath:
			dst = &f.path
		case fHTTPHost:
			dst = &f.host
		case fHTTPScheme:
			dst = &f.scheme
		default:
			return nil
		}
		if !utf8.Valid(v) {
			return errInvalidUTF8
		}
		*dst = string(v)
		return nil
	})
}

// mapEntry reads a map<string, string> entry. The value is returned as
// bytes, copied by the caller only when kept; both are UTF-8.
func mapEntry(b []byte) (key, value []byte, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType || (num != fEntryKey && num != fEntryValue) {
			return nil
		}
		if !utf8.Valid(v) {
			return errInvalidUTF8
		}
		if num == fEntryKey {
			key = v
		} else {
			value = v
		}
		return nil
	})
	return key, value, err
}

// eachField calls fn with each field of a message's encoding: its number,
// wire type and, for length-delimited fields, its bytes (nil for others,
// which are checked and skipped).
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errTruncatedMessage, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %w", errTruncatedMessage, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// headerName is the header name as a string: a shared constant for the
// names Envoy sends on most requests (the map index does not allocate), a
// copy otherwise.
func headerName(b []byte) string {
	if s, ok := commonHeaders[string(b)]; ok {
		return s
	}
	return string(b)
}

var commonHeaders = func() map[string]string {
	m := map[string]string{}
	for _, h := range []string{
		":authority", ":method", ":path", ":scheme", "accept", "accept-encoding", "accept-language",
		"authorization", "cache-control", "content-length", "content-type", "cookie", "origin",
		"referer", "user-agent", "x-envoy-expected-rq-timeout-ms", "x-envoy-internal",
		"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
		"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "sec-fetch-dest", "sec-fetch-mode",
		"sec-fetch-site", "sec-fetch-user", "upgrade-insecure-requests", "traceparent", "tracestate",
		"x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "if-none-match", "if-modified-since", "pragma",
		"dnt", "priority", "te",
	} {
		m[h] = h
	}
	return m
}()
