package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	stdsync "sync"
	"time"

	"go.uber.org/zap"
)

// Health is the daemon's readiness: not ready until the state store is
// open and the configuration valid, and not ready again once shutdown has
// begun. The zero value is not ready. It is safe for concurrent use.
type Health struct {
	mu     stdsync.Mutex
	ready  bool
	reason string
}

// SetReady marks the daemon ready.
func (h *Health) SetReady() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready, h.reason = true, ""
}

// SetNotReady marks the daemon not ready; reason is shown by /readyz.
func (h *Health) SetNotReady(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready, h.reason = false, reason
}

// Ready returns the readiness and, when not ready, the reason.
func (h *Health) Ready() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready && h.reason == "" {
		return false, "starting"
	}
	return h.ready, h.reason
}

// Handler serves /healthz (200 while the process serves requests), /readyz
// (200 when ready, 503 otherwise) and /metrics.
func Handler(health *Health, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ready, reason := health.Ready()
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", reason)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

// Server is the HTTP endpoint of the daemon.
type Server struct {
	server   *http.Server
	listener net.Listener
	done     chan error
}

// Listen binds addr, so that an address in use is reported before the
// daemon starts, and serves handler on it in the background.
func Listen(addr string, handler http.Handler, logger *zap.Logger) (*Server, error) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("daemon.listen %s: %w", addr, err)
	}
	s := &Server{
		server: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          zap.NewStdLog(logger.With(zap.String("component", "http"))),
		},
		listener: listener,
		done:     make(chan error, 1),
	}
	go func() {
		err := s.server.Serve(listener)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr returns the bound address, useful when addr had port 0.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Shutdown stops accepting connections and waits for requests in progress
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.server.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop the HTTP endpoint: %w", err)
	}
	if err := <-s.done; err != nil {
		return fmt.Errorf("HTTP endpoint: %w", err)
	}
	return nil
}
