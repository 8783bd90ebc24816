package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// ServerConfig bounds what clients can hold of a provider's HTTP server:
// time, header and body bytes, connections. Zero fields take the defaults
// given; docs/operations.md lists them.
type ServerConfig struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// header. Default 5 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client may take to send a whole request,
	// body included (a slow body is cut off). Default 30 s.
	ReadTimeout time.Duration
	// WriteTimeout is how long, from the end of the request header, the
	// response may take. Above the 60 s the paywall announces as x402
	// maxTimeoutSeconds. Default 90 s.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Default 60 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header; a larger one gets 431.
	// Default 16 KiB. (net/http allows 4 KiB of slack above it.)
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request's body; a larger declared one gets 413
	// before the handler runs, a larger chunked one fails the handler's
	// read. Default 1 MiB.
	MaxBodyBytes int64
	// MaxConns bounds the connections served at once; more wait in the
	// kernel's accept queue until one closes. Default 1,024.
	MaxConns int
}

func (c *ServerConfig) defaults() error {
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 ||
		c.MaxHeaderBytes < 0 || c.MaxBodyBytes < 0 || c.MaxConns < 0 {
		return fmt.Errorf("provider: server limits must not be negative: %+v", *c)
	}
	setDefault(&c.ReadHeaderTimeout, 5*time.Second)
	setDefault(&c.ReadTimeout, 30*time.Second)
	setDefault(&c.WriteTimeout, 90*time.Second)
	setDefault(&c.IdleTimeout, 60*time.Second)
	setDefault(&c.MaxHeaderBytes, 16<<10)
	setDefault(&c.MaxBodyBytes, 1<<20)
	setDefault(&c.MaxConns, 1024)
	if c.ReadHeaderTimeout > c.ReadTimeout {
		return fmt.Errorf("provider: ReadHeaderTimeout %s is above ReadTimeout %s, which includes it", c.ReadHeaderTimeout, c.ReadTimeout)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Server is an HTTP server for a provider's handlers (paywall, POST /pay,
// operator API, metrics) within the bounds of a ServerConfig.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen listens on addr (TCP) and returns a Server of h bounded by cfg;
// Serve starts serving.
func Listen(addr string, cfg ServerConfig, h http.Handler) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("provider: listen on %s: %w", addr, err)
	}
	return newServer(ln, cfg, h), nil
}

// NewServer returns a Server of h on ln bounded by cfg; it owns ln.
func NewServer(ln net.Listener, cfg ServerConfig, h http.Handler) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return newServer(ln, cfg, h), nil
}

func newServer(ln net.Listener, cfg ServerConfig, h http.Handler) *Server {
	return &Server{
		ln: netutil.LimitListener(ln, cfg.MaxConns),
		srv: &http.Server{
			Handler:           limitBody(cfg.MaxBodyBytes, h),
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
		},
	}
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil then.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("provider: serve on %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for the open ones to
// finish their requests, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("provider: shut down %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// Close closes the server and its listener at once, dropping open
// connections; Shutdown is the graceful stop.
func (s *Server) Close() error {
	err := s.srv.Close()
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) {
		err = errors.Join(err, lerr)
	}
	if err != nil {
		return fmt.Errorf("provider: close %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// limitBody refuses a request whose declared body is over n bytes with 413
// and cuts any body off after n bytes.
func limitBody(n int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			w.Header().Set("Connection", "close")
			httpError(w, http.StatusRequestEntityTooLarge, ReasonMalformed, fmt.Errorf("request body of %d bytes is over the limit of %d", r.ContentLength, n))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}
