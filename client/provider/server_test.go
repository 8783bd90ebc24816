package provider_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
)

// eventWait bounds how long a server test waits for the event it expects
// (the server closing a connection, answering a request). It is a failsafe,
// never the time a test means to pass.
const eventWait = 10 * time.Second

// bodyEcho reads the whole body and answers its length; a failed read is
// answered 400. It counts the requests that reached it.
type bodyEcho struct{ served atomic.Int64 }

func (b *bodyEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.served.Add(1)
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d", n)
}

// serveLimited runs h on a loopback provider.Server bounded by cfg.
func serveLimited(t *testing.T, cfg provider.ServerConfig, h http.Handler) *provider.Server {
	t.Helper()
	s, err := provider.Listen("127.0.0.1:0", cfg, h)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventWait)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.NoError(t, <-done)
	})
	return s
}

func dial(t *testing.T, s *provider.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// requireClosedByServer reads r (from c) to the end: the server must close
// the connection before eventWait.
func requireClosedByServer(t *testing.T, c net.Conn, r io.Reader) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(eventWait)))
	b, err := io.ReadAll(r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept the connection open for %s", eventWait)
	}
	require.NoError(t, err)
	return string(b)
}

// TestServerCutsOffSlowBody: a POST whose body stops coming is answered
// 400 and its connection closed once ReadTimeout has passed.
func TestServerCutsOffSlowBody(t *testing.T) {
	h := &bodyEcho{}
	s := serveLimited(t, provider.ServerConfig{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}, h)
	c := dial(t, s)
	_, err := io.WriteString(c, "POST /pay HTTP/1.1\r\nHost: provider\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"payer\":")
	require.NoError(t, err)
	out := requireClosedByServer(t, c, c)
	require.True(t, strings.HasPrefix(out, "HTTP/1.1 400 "), "%q", out)
	require.EqualValues(t, 1, h.served.Load())
}

// TestServerClosesIdleConnections: a keep-alive connection that sends no
// next request is closed once IdleTimeout has passed.
func TestServerClosesIdleConnections(t *testing.T) {
	s := serveLimited(t, provider.ServerConfig{IdleTimeout: 200 * time.Millisecond}, &bodyEcho{})
	c := dial(t, s)
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: provider\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "kept alive")
	require.Empty(t, requireClosedByServer(t, c, br))
}

// TestServerLimitsConnections: with MaxConns open, another connection is
// not served until one of them closes.
func TestServerLimitsConnections(t *testing.T) {
	h := &bodyEcho{}
	s := serveLimited(t, provider.ServerConfig{MaxConns: 2, IdleTimeout: time.Minute}, h)
	request := func(c net.Conn) *bufio.Reader {
		_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: provider\r\n\r\n")
		require.NoError(t, err)
		return bufio.NewReader(c)
	}
	answered := func(c net.Conn, br *bufio.Reader, within time.Duration) bool {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
		resp, err := http.ReadResponse(br, nil)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	held := []net.Conn{dial(t, s), dial(t, s)}
	for _, c := range held {
		require.True(t, answered(c, request(c), eventWait), "served, then kept alive")
	}
	third := dial(t, s)
	br := request(third)
	require.False(t, answered(third, br, 300*time.Millisecond), "a third connection is not served while two are open")
	require.EqualValues(t, 2, h.served.Load())
	require.NoError(t, held[0].Close())
	require.True(t, answered(third, br, eventWait), "served once one closed")
}

// TestServerRefusesOversizeRequests: a header over MaxHeaderBytes gets 431,
// a declared body over MaxBodyBytes 413, and neither reaches the handler.
func TestServerRefusesOversizeRequests(t *testing.T) {
	h := &bodyEcho{}
	s := serveLimited(t, provider.ServerConfig{MaxHeaderBytes: 1 << 10, MaxBodyBytes: 1 << 10}, h)
	url := "http://" + s.Addr().String() + "/"

	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 8<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	resp, err = http.Post(url, "application/json", strings.NewReader(strings.Repeat("a", 2<<10)))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Contains(t, string(body), "over the limit of 1024")
	require.Zero(t, h.served.Load())

	resp, err = http.Post(url, "application/json", io.MultiReader(strings.NewReader(strings.Repeat("a", 2<<10))))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a chunked body is cut off at the limit")

	resp, err = http.Post(url, "application/json", strings.NewReader(strings.Repeat("a", 1<<10)))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "1024", string(body), "a body at the limit is read whole")
}

func TestServerConfigRefusesNegativeLimits(t *testing.T) {
	_, err := provider.Listen("127.0.0.1:0", provider.ServerConfig{MaxConns: -1}, &bodyEcho{})
	require.ErrorContains(t, err, "must not be negative")
	_, err = provider.Listen("127.0.0.1:0", provider.ServerConfig{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Second}, &bodyEcho{})
	require.ErrorContains(t, err, "ReadHeaderTimeout")
}
