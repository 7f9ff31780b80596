package hostile

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwe"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
)

var b64 = base64.RawURLEncoding

// row is one hostile request and the status every transport must answer;
// byTransport overrides it where a transport must answer differently.
type row struct {
	r           req
	want        int
	byTransport map[string]int
	// noKeyFetch says the request must be refused without fetching keys:
	// bounded work.
	noKeyFetch bool
}

// run sends every row through gRPC, nginx auth_request and Traefik
// ForwardAuth.
func (s *stack) run(t *testing.T, rows map[string]row) {
	t.Helper()
	transports := []struct {
		name string
		do   func(*testing.T, req) answer
	}{{"grpc", s.viaGRPC}, {"nginx", s.viaNginx}, {"traefik", s.viaTraefik}}
	for name, tc := range rows {
		t.Run(name, func(t *testing.T) {
			for _, tr := range transports {
				before := s.iss.JWKSFetches()
				got := tr.do(t, tc.r)
				want := tc.want
				if w, ok := tc.byTransport[tr.name]; ok {
					want = w
				}
				if got.status != want {
					t.Errorf("%s: status %d, want %d", tr.name, got.status, want)
				}
				if n := s.iss.JWKSFetches() - before; tc.noKeyFetch && n != 0 {
					t.Errorf("%s: refusing it fetched the JWKS %d times", tr.name, n)
				}
			}
		})
	}
}

// claimsJSON is a valid claim set for the shop policy, with extra members
// spliced in verbatim (so they may repeat a name or carry any JSON type).
func (s *stack) claimsJSON(extra string, exp string) string {
	if exp == "" {
		exp = fmt.Sprint(time.Now().Add(time.Hour).Unix())
	}
	c := fmt.Sprintf(`{"iss":%q,"aud":["shop"],"sub":"alice","exp":%s`, s.iss.URL, exp)
	if extra != "" {
		c += "," + extra
	}
	return c + "}"
}

func (s *stack) kid(t *testing.T, alg string) string {
	t.Helper()
	k, err := s.iss.PublicKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyID()
}

// hs256WithPublicKey is the key-confusion attack: HS256 keyed with the
// issuer's RSA public key as a naive verifier would read it (PEM or DER).
func (s *stack) hs256WithPublicKey(t *testing.T, usePEM bool) string {
	t.Helper()
	k, err := s.iss.PublicKey("RS256")
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	secret, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if usePEM {
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: secret})
	}
	input := b64.EncodeToString(fmt.Appendf(nil, `{"alg":"HS256","typ":"JWT","kid":%q}`, k.KeyID())) + "." +
		b64.EncodeToString([]byte(s.claimsJSON("", "")))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

// jsonSerialisation turns compact tokens over the same payload into one JWS
// in the general JSON serialisation (RFC 7515 section 7.2.1), one signature
// each; with flattened and one token, the flattened form.
func jsonSerialisation(t *testing.T, flattened bool, tokens ...string) string {
	t.Helper()
	type sig struct {
		Protected string `json:"protected"`
		Signature string `json:"signature"`
	}
	var payload string
	var sigs []sig
	for _, tok := range tokens {
		p := strings.Split(tok, ".")
		payload = p[1]
		sigs = append(sigs, sig{Protected: p[0], Signature: p[2]})
	}
	var v any = map[string]any{"payload": payload, "signatures": sigs}
	if flattened {
		v = map[string]any{"payload": payload, "protected": sigs[0].Protected, "signature": sigs[0].Signature}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// encrypted is a real JWE (RSA-OAEP, A256GCM) to the issuer's RSA key,
// carrying valid claims: encrypted is not signed.
func (s *stack) encrypted(t *testing.T) string {
	t.Helper()
	k, err := s.iss.PublicKey("RS256")
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwe.Encrypt([]byte(s.claimsJSON("", "")), jwe.WithKey(jwa.RSA_OAEP, k), jwe.WithContentEncryption(jwa.A256GCM))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestHostileTokens(t *testing.T) {
	s := newStack(t)
	valid := s.mint(t, devissuer.Token{Audience: []string{"shop"}})
	validES := s.mint(t, devissuer.Token{Alg: "ES256", Audience: []string{"shop"}})
	parts := strings.Split(valid, ".")
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	rsaKid, ecKid := s.kid(t, "RS256"), s.kid(t, "ES256")
	rsHeader := fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":%q}`, rsaKid)
	esHeader := fmt.Sprintf(`{"alg":"ES256","kid":%q}`, ecKid)
	secondSig := s.signRaw(t, "ES256", esHeader, string(payload))
	past := fmt.Sprint(time.Now().Add(-time.Minute).Unix())
	signed := func(claims string) string { return s.signRaw(t, "RS256", rsHeader, claims) }
	big := strings.Repeat("A", 1<<20)
	// The first request fetches the keys; every row then starts warm.
	s.run(t, map[string]row{"warm-up": {r: req{header: bearer(valid)}, want: http.StatusOK}})

	rows := map[string]row{
		"valid RS256 token (control)": {r: req{header: bearer(valid)}, want: http.StatusOK},
		"valid ES256 token (control)": {r: req{header: bearer(validES)}, want: http.StatusOK},
		"alg none": {
			r:    req{header: bearer(b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(s.claimsJSON("", ""))) + ".")},
			want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"alg None, signed parts kept": {
			r:    req{header: bearer(b64.EncodeToString([]byte(`{"alg":"None"}`)) + "." + parts[1] + "." + parts[2])},
			want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"HS256 keyed with the RSA public key (PEM)": {r: req{header: bearer(s.hs256WithPublicKey(t, true))}, want: http.StatusUnauthorized, noKeyFetch: true},
		"HS256 keyed with the RSA public key (DER)": {r: req{header: bearer(s.hs256WithPublicKey(t, false))}, want: http.StatusUnauthorized, noKeyFetch: true},
		"kid names the EC key, alg RS256": {
			r:    req{header: bearer(s.signRaw(t, "RS256", fmt.Sprintf(`{"alg":"RS256","kid":%q}`, ecKid), s.claimsJSON("", "")))},
			want: http.StatusUnauthorized,
		},
		"kid names the RSA key, alg ES256": {
			r:    req{header: bearer(s.signRaw(t, "ES256", fmt.Sprintf(`{"alg":"ES256","kid":%q}`, rsaKid), s.claimsJSON("", "")))},
			want: http.StatusUnauthorized,
		},
		"JWS JSON serialisation, two valid signatures": {
			r: req{header: bearer(jsonSerialisation(t, false, valid, secondSig))}, want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"JWS flattened JSON serialisation": {
			r: req{header: bearer(jsonSerialisation(t, true, valid))}, want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"compact JWS with a second signature appended": {
			r: req{header: bearer(valid + "." + strings.Split(secondSig, ".")[2])}, want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"JWE": {r: req{header: bearer(s.encrypted(t))}, want: http.StatusUnauthorized, noKeyFetch: true},
		"crit header the verifier does not understand": {
			r:    req{header: bearer(s.signRaw(t, "RS256", fmt.Sprintf(`{"alg":"RS256","kid":%q,"crit":["x-ext"],"x-ext":1}`, rsaKid), s.claimsJSON("", "")))},
			want: http.StatusUnauthorized, noKeyFetch: true,
		},
		// Over 256 KiB of headers the HTTP server refuses the request
		// before authgate reads it (nginx: 500 to the client); over gRPC
		// the verifier refuses it by length before decoding.
		"1 MB token": {
			r: req{header: bearer(big)}, want: http.StatusUnauthorized, noKeyFetch: true,
			byTransport: map[string]int{"nginx": http.StatusRequestHeaderFieldsTooLarge, "traefik": http.StatusRequestHeaderFieldsTooLarge},
		},
		"100 KB token made of a valid one": {
			r: req{header: bearer(valid + big[:100<<10])}, want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"just over the verifier's length limit": {
			r: req{header: bearer(parts[0] + "." + big[:jwt.MaxTokenLength] + "." + parts[2])}, want: http.StatusUnauthorized, noKeyFetch: true,
		},
		"padded base64 in the header":    {r: req{header: bearer(parts[0] + "==." + parts[1] + "." + parts[2])}, want: http.StatusUnauthorized, noKeyFetch: true},
		"padded base64 in the payload":   {r: req{header: bearer(parts[0] + "." + parts[1] + "==." + parts[2])}, want: http.StatusUnauthorized},
		"padded base64 in the signature": {r: req{header: bearer(parts[0] + "." + parts[1] + "." + parts[2] + "==")}, want: http.StatusUnauthorized},
		"standard base64 alphabet":       {r: req{header: bearer(strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/")}, want: http.StatusUnauthorized},
		"invalid base64 characters":      {r: req{header: bearer(parts[0] + "." + parts[1] + "!." + parts[2])}, want: http.StatusUnauthorized},
		"signature with a space inside":  {r: req{header: bearer(parts[0] + "." + parts[1] + "." + parts[2][:10] + " " + parts[2][10:])}, want: http.StatusUnauthorized},
		// RFC 7519 section 2: a NumericDate is a JSON number, which may
		// have a fraction; a string is not one, whatever it spells.
		"exp as a fraction":             {r: req{header: bearer(signed(s.claimsJSON("", fmt.Sprint(time.Now().Add(time.Hour).Unix())+".5")))}, want: http.StatusOK},
		"exp as a numeric string":       {r: req{header: bearer(signed(s.claimsJSON("", fmt.Sprintf("%q", fmt.Sprint(time.Now().Add(time.Hour).Unix())))))}, want: http.StatusUnauthorized},
		"exp as an RFC 3339 string":     {r: req{header: bearer(signed(s.claimsJSON("", fmt.Sprintf("%q", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))))}, want: http.StatusUnauthorized},
		"nbf as a fraction in the past": {r: req{header: bearer(signed(s.claimsJSON(`"nbf":`+past+".25", "")))}, want: http.StatusOK},
		"nbf as a string in the past":   {r: req{header: bearer(signed(s.claimsJSON(`"nbf":"`+past+`"`, "")))}, want: http.StatusUnauthorized},
		"iat as a string":               {r: req{header: bearer(signed(s.claimsJSON(`"iat":"`+past+`"`, "")))}, want: http.StatusUnauthorized},
		"aud as a string":               {r: req{header: bearer(signed(strings.Replace(s.claimsJSON("", ""), `["shop"]`, `"shop"`, 1)))}, want: http.StatusOK},
		"aud as an array":               {r: req{header: bearer(signed(strings.Replace(s.claimsJSON("", ""), `["shop"]`, `["other","shop"]`, 1)))}, want: http.StatusOK},
		"aud as a longer string":        {r: req{header: bearer(signed(strings.Replace(s.claimsJSON("", ""), `["shop"]`, `"shopping"`, 1)))}, want: http.StatusUnauthorized},
		"aud as a number":               {r: req{header: bearer(signed(strings.Replace(s.claimsJSON("", ""), `["shop"]`, `7`, 1)))}, want: http.StatusUnauthorized},
		"duplicate sub":                 {r: req{header: bearer(signed(s.claimsJSON(`"sub":"admin"`, "")))}, want: http.StatusUnauthorized},
		"duplicate exp":                 {r: req{header: bearer(signed(s.claimsJSON(`"exp":`+past, "")))}, want: http.StatusUnauthorized},
		"duplicate nested claim":        {r: req{header: bearer(signed(s.claimsJSON(`"roles":{"list":["user"],"list":["admin"]}`, "")))}, want: http.StatusUnauthorized},
		"duplicate alg in the header": {
			r:    req{header: bearer(s.signRaw(t, "RS256", fmt.Sprintf(`{"alg":"none","kid":%q,"alg":"RS256"}`, rsaKid), s.claimsJSON("", "")))},
			want: http.StatusUnauthorized, noKeyFetch: true,
		},
		// Header parameter names are case-sensitive (RFC 7515 section 4):
		// "ALG" is an unknown parameter, not a second alg, for authgate as
		// for every JOSE library, so this issuer-signed token is valid.
		"alg and ALG in the header": {
			r:    req{header: bearer(s.signRaw(t, "RS256", fmt.Sprintf(`{"ALG":"none","kid":%q,"alg":"RS256"}`, rsaKid), s.claimsJSON("", "")))},
			want: http.StatusOK,
		},
	}
	s.run(t, rows)
}
