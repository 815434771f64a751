package emulator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

type delivery int

const (
	deliverNormal delivery = iota
	// deliverTruncate sends the first half of the body as if it were all.
	deliverTruncate
	// deliverReset sends half of the body and then resets the connection.
	deliverReset
)

// responder writes the single response of one request and records it in the
// statistics.
type responder struct {
	server    *Server
	w         http.ResponseWriter
	r         *http.Request
	requestID string
	// delivery applies to the route's response. Responses sent before
	// routing (401, 429, injected 5xx) always use deliverNormal.
	delivery   delivery
	externalID string
	// body and bodyErr are the request body, read up to maxBodyBytes.
	body    []byte
	bodyErr error
}

// send encodes payload as JSON and writes it with the given status, whole,
// truncated or cut by a reset as rw.delivery selects.
func (rw *responder) send(status int, payload any) {
	mode := rw.delivery
	body, err := json.Marshal(payload)
	if err != nil {
		// Payloads are built from JSON-decoded values, so this is a bug.
		status = http.StatusInternalServerError
		body = []byte(`{"message":"encode response failed"}`)
	}
	body = append(body, '\n')

	switch mode {
	case deliverTruncate:
		rw.server.count(func(st *Stats) { st.Truncated++; st.ByStatus[status]++ })
		rw.write(status, body[:len(body)/2])
	case deliverReset:
		rw.server.count(func(st *Stats) { st.Resets++ })
		rw.reset(status, body)
	default:
		rw.server.count(func(st *Stats) { st.ByStatus[status]++ })
		rw.write(status, body)
	}
	rw.log(status, mode)
}

func (rw *responder) write(status int, body []byte) {
	h := rw.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rw.w.WriteHeader(status)
	_, _ = rw.w.Write(body) // The client may be gone; nothing to do then.
}

// reset announces the full body length, writes half of the body and resets
// the connection. Over HTTP/1 it hijacks the connection and closes it with
// SO_LINGER 0, which sends a TCP RST. Where hijacking is impossible (HTTP/2)
// it aborts the stream.
func (rw *responder) reset(status int, body []byte) {
	hijacker, ok := rw.w.(http.Hijacker)
	if !ok {
		rw.abortPartial(status, body)
		return
	}
	conn, buf, err := hijacker.Hijack()
	if err != nil {
		rw.abortPartial(status, body)
		return
	}
	defer conn.Close()
	writeRawResponse(buf, rw.w.Header(), status, body)
	_ = buf.Flush()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
}

func (rw *responder) abortPartial(status int, body []byte) {
	rw.w.Header().Set("Content-Type", "application/json")
	rw.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.w.WriteHeader(status)
	_, _ = rw.w.Write(body[:len(body)/2])
	if flusher, ok := rw.w.(http.Flusher); ok {
		flusher.Flush()
	}
	panic(http.ErrAbortHandler)
}

// writeRawResponse writes an HTTP/1.1 response head that promises the whole
// body, followed by half of it.
func writeRawResponse(buf *bufio.ReadWriter, header http.Header, status int, body []byte) {
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(body)))
	_ = header.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_, _ = buf.Write(body[:len(body)/2])
}

func (rw *responder) log(status int, mode delivery) {
	fields := []zap.Field{
		zap.String("request_id", rw.requestID),
		zap.String("method", rw.r.Method),
		zap.String("path", rw.r.URL.Path),
		zap.Int("status", status),
	}
	if rw.externalID != "" {
		fields = append(fields, zap.String("external_id", rw.externalID))
	}
	switch mode {
	case deliverTruncate:
		fields = append(fields, zap.String("fault", "truncated body"))
	case deliverReset:
		fields = append(fields, zap.String("fault", "connection reset"))
	}
	rw.server.log.Debug("request", fields...)
}

// count updates the statistics under the lock.
func (s *Server) count(update func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	update(&s.stats)
}
