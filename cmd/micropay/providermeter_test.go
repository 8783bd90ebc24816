package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireMeterTokenNeeded checks serve's POST /pay on svc: 401 without the
// meter token serve keeps (0600) in home, past the check with it (a body
// that is no payment is then 400).
func requireMeterTokenNeeded(t *testing.T, home, svc string) {
	t.Helper()
	path := filepath.Join(home, meterTokenFile)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	tok, err := os.ReadFile(path)
	require.NoError(t, err)
	status := func(token string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+svc+"/pay", strings.NewReader(`{"payer":"nobody"}`))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, status(""))
	require.Equal(t, http.StatusBadRequest, status(strings.TrimSpace(string(tok))))
}
