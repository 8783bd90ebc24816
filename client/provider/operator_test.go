package provider_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
)

// testToken is the operator token of the tests' operator API.
const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// operatorAuth are the headers that authorize a test's operator request.
var operatorAuth = map[string]string{"Authorization": "Bearer " + testToken}

// operatorAPI is p's operator API as the tests mount it: testToken, and
// the loopback address httptest listens on.
func operatorAPI(t *testing.T, p *provider.Provider) http.Handler {
	t.Helper()
	h, err := p.OperatorAPI(provider.OperatorAccess{Token: testToken, Hosts: []string{"127.0.0.1"}})
	require.NoError(t, err)
	return h
}

// operatorDo sends an operator request to srv with headers; host, if set,
// replaces the Host header.
func operatorDo(t *testing.T, method, u, host string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestOperatorAPIRefusesStrangers: over real HTTP on loopback, a settle
// request without the token, with a wrong one, under a foreign Host (DNS
// rebinding) or from a browser on another origin (CSRF) is refused with
// 401, 421 or 403 and settles nothing; the operator's own request settles.
func TestOperatorAPIRefusesStrangers(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	_, err := h.accept(h.next(5_000), 5_000)
	require.NoError(t, err)
	settle := srv.URL + "/operator/settle"
	self := strings.TrimPrefix(srv.URL, "http://")
	_, port, err := net.SplitHostPort(self)
	require.NoError(t, err)
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range operatorAuth {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name    string
		host    string
		headers map[string]string
		status  int
		reason  string
	}{
		{"no token", "", nil, http.StatusUnauthorized, "unauthorized"},
		{"wrong token", "", map[string]string{"Authorization": "Bearer " + strings.Repeat("f", 64)}, http.StatusUnauthorized, "unauthorized"},
		{"token as basic auth", "", map[string]string{"Authorization": "Basic " + testToken}, http.StatusUnauthorized, "unauthorized"},
		{"rebound host name", "attacker.example:" + port, with(), http.StatusMisdirectedRequest, "host_not_allowed"},
		{"foreign origin", "", with("Origin", "http://attacker.example"), http.StatusForbidden, "cross_origin"},
		{"another port of this host", "", with("Origin", "http://127.0.0.1:1"), http.StatusForbidden, "cross_origin"},
		{"null origin", "", with("Origin", "null"), http.StatusForbidden, "cross_origin"},
		{"cross-site fetch", "", with("Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "cross_origin"},
	}
	for _, c := range cases {
		status, body := operatorDo(t, http.MethodPost, settle, c.host, c.headers)
		require.Equal(t, c.status, status, "%s: %s", c.name, body)
		var e struct{ Reason, Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e), "%s: %s", c.name, body)
		require.Equal(t, c.reason, e.Reason, c.name)
		require.NotEmpty(t, e.Error, "%s: the answer says why", c.name)
		require.Zero(t, h.info().Paid, "%s: a refused request settled", c.name)
	}

	status, body := operatorDo(t, http.MethodGet, srv.URL+"/operator/warrants", "", map[string]string{"Authorization": "bearer " + testToken})
	require.Equal(t, http.StatusOK, status, "the scheme is case-insensitive: %s", body)
	status, body = operatorDo(t, http.MethodPost, settle, "", with("Origin", "http://"+self))
	require.Equal(t, http.StatusOK, status, "same origin: %s", body)
	require.EqualValues(t, 5_000, h.info().Paid)
	status, body = operatorDo(t, http.MethodGet, srv.URL+"/operator/warrants", "localhost", operatorAuth)
	require.Equal(t, http.StatusMisdirectedRequest, status, "localhost is not in this API's list: %s", body)
}

// TestOperatorAccessHosts: which Host headers an allowlist admits.
func TestOperatorAccessHosts(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	g, err := provider.OperatorAccess{Token: testToken, Hosts: []string{"LocalHost", "[::1]", "billing.example:8443"}}.Guard(ok)
	require.NoError(t, err)
	for host, want := range map[string]int{
		"localhost:8403":             http.StatusOK,
		"LOCALHOST":                  http.StatusOK,
		"[::1]:8403":                 http.StatusOK,
		"billing.example:8443":       http.StatusOK,
		"billing.example:8444":       http.StatusMisdirectedRequest,
		"billing.example":            http.StatusMisdirectedRequest,
		"localhost.attacker.example": http.StatusMisdirectedRequest,
		"127.0.0.1:8403":             http.StatusMisdirectedRequest,
		"":                           http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest(http.MethodGet, "/warrants", nil)
		r.Host = host
		r.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		require.Equal(t, want, w.Code, "Host %q", host)
	}

	_, err = provider.OperatorAccess{Token: testToken[:63], Hosts: []string{"localhost"}}.Guard(ok)
	require.ErrorContains(t, err, "operator token")
	_, err = provider.OperatorAccess{Token: testToken}.Guard(ok)
	require.ErrorContains(t, err, "allowed host")
}

// operatorPost is an authorized POST to the operator API.
func operatorPost(t *testing.T, u string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
