// h3load: an HTTP/3 load generator that is not ours, for bench:http3. It is
// a thin driver over quic-go's own HTTP/3 client (Debian's
// golang-github-lucas-clemente-quic-go-dev, quic-go 0.29, built with Go 1.19
// by the bench into a temporary directory): C connections (one
// http3.RoundTripper each) with S requests in flight on each, N unary POSTs
// of the same body in total after a warm-up. Prints one JSON line.
//
// quic-go 0.29's client skips trailing HEADERS frames, so gRPC trailers are
// not seen here: a call counts as answered when its status is 200 and its
// body has the length -expect-bytes names (a gRPC reply message; a
// trailers-only error has none). A line "measuring" marks the end of the
// warm-up.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/http3"
	"github.com/lucas-clemente/quic-go/logging"
)

// What the client saw on the wire during the measured calls (quic-go's
// tracer): where a server spends packets per call.
type wire struct {
	PacketsIn      int64 `json:"packetsIn"`
	BytesIn        int64 `json:"bytesIn"`
	AckOnlyIn      int64 `json:"ackOnlyIn"`
	StreamFramesIn int64 `json:"streamFramesIn"`
	PacketsOut     int64 `json:"packetsOut"`
	BytesOut       int64 `json:"bytesOut"`
	AckOnlyOut     int64 `json:"ackOnlyOut"`
	Lost           int64 `json:"lost"`
	Dropped        int64 `json:"dropped"`
}

var counting int32
var seen wire

type tracer struct{ logging.NullTracer }

func (tracer) TracerForConnection(context.Context, logging.Perspective, logging.ConnectionID) logging.ConnectionTracer {
	return connTracer{}
}

type connTracer struct{ logging.NullConnectionTracer }

func ackOnly(ack *logging.AckFrame, frames []logging.Frame) bool {
	if ack == nil && len(frames) == 0 {
		return false
	}
	for _, f := range frames {
		if _, ok := f.(*logging.AckFrame); !ok {
			return false
		}
	}
	return true
}

func (connTracer) SentPacket(hdr *logging.ExtendedHeader, size logging.ByteCount, ack *logging.AckFrame, frames []logging.Frame) {
	if atomic.LoadInt32(&counting) == 0 {
		return
	}
	atomic.AddInt64(&seen.PacketsOut, 1)
	atomic.AddInt64(&seen.BytesOut, int64(size))
	if ackOnly(ack, frames) {
		atomic.AddInt64(&seen.AckOnlyOut, 1)
	}
}

func (connTracer) ReceivedPacket(hdr *logging.ExtendedHeader, size logging.ByteCount, frames []logging.Frame) {
	if atomic.LoadInt32(&counting) == 0 {
		return
	}
	atomic.AddInt64(&seen.PacketsIn, 1)
	atomic.AddInt64(&seen.BytesIn, int64(size))
	n := int64(0)
	for _, f := range frames {
		if _, ok := f.(*logging.StreamFrame); ok {
			n++
		}
	}
	atomic.AddInt64(&seen.StreamFramesIn, n)
	if ackOnly(nil, frames) {
		atomic.AddInt64(&seen.AckOnlyIn, 1)
	}
}

func (connTracer) LostPacket(logging.EncryptionLevel, logging.PacketNumber, logging.PacketLossReason) {
	if atomic.LoadInt32(&counting) != 0 {
		atomic.AddInt64(&seen.Lost, 1)
	}
}

func (connTracer) DroppedPacket(logging.PacketType, logging.ByteCount, logging.PacketDropReason) {
	if atomic.LoadInt32(&counting) != 0 {
		atomic.AddInt64(&seen.Dropped, 1)
	}
}

type result struct {
	Calls        int64   `json:"calls"`
	Errors       int64   `json:"errors"`
	FirstError   string  `json:"firstError,omitempty"`
	Seconds      float64 `json:"seconds"`
	CallsPerSec  float64 `json:"callsPerSec"`
	ClientCPUSec float64 `json:"clientCpuSec"`
	BodyBytes    int     `json:"bodyBytes"`
	GoMaxProcs   int     `json:"gomaxprocs"`
	Wire         *wire   `json:"wire,omitempty"`
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	url := flag.String("url", "", "https://127.0.0.1:PORT/foo.Bar/Echo")
	authority := flag.String("authority", "", ":authority of every request (default: the URL's host)")
	serverName := flag.String("servername", "localhost", "TLS server name (the certificate is not verified)")
	conns := flag.Int("c", 4, "connections")
	streams := flag.Int("s", 16, "requests in flight per connection")
	calls := flag.Int64("n", 20000, "calls measured")
	warmup := flag.Int64("warmup", 2000, "calls before measuring")
	bodyHex := flag.String("body-hex", "", "request body, hex (a gRPC length-prefixed message)")
	expect := flag.Int("expect-bytes", -1, "response body length every answer must have (-1: any, as long as it is the same for all)")
	trace := flag.Bool("trace", false, "count packets and frames during the measured calls (quic-go's tracer; costs client CPU)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "h3load: -url is required")
		os.Exit(2)
	}
	body, err := hex.DecodeString(*bodyHex)
	if err != nil {
		fmt.Fprintln(os.Stderr, "h3load: -body-hex:", err)
		os.Exit(2)
	}

	rts := make([]*http3.RoundTripper, *conns)
	for i := range rts {
		rts[i] = &http3.RoundTripper{
			DisableCompression: true,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true, ServerName: *serverName},
			QuicConfig:         &quic.Config{HandshakeIdleTimeout: 10 * time.Second, MaxIdleTimeout: 30 * time.Second},
		}
		if *trace {
			rts[i].QuicConfig.Tracer = tracer{}
		}
	}

	var bodyLen int64 = int64(*expect)
	var errs int64
	var firstErr atomic.Value
	fail := func(e string) {
		if atomic.AddInt64(&errs, 1) == 1 {
			firstErr.Store(e)
		}
	}
	one := func(rt *http3.RoundTripper) {
		req, err := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
		if err != nil {
			fail(err.Error())
			return
		}
		if *authority != "" {
			req.Host = *authority
		}
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		res, err := rt.RoundTrip(req)
		if err != nil {
			fail(err.Error())
			return
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil {
			fail("reading the body: " + err.Error())
			return
		}
		if res.StatusCode != 200 {
			fail(fmt.Sprintf("status %d", res.StatusCode))
			return
		}
		if !atomic.CompareAndSwapInt64(&bodyLen, -1, n) && atomic.LoadInt64(&bodyLen) != n {
			fail(fmt.Sprintf("body of %d bytes, expected %d", n, atomic.LoadInt64(&bodyLen)))
		}
	}
	run := func(total int64) time.Duration {
		var next int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for _, rt := range rts {
			for s := 0; s < *streams; s++ {
				wg.Add(1)
				go func(rt *http3.RoundTripper) {
					defer wg.Done()
					for atomic.AddInt64(&next, 1) <= total {
						one(rt)
					}
				}(rt)
			}
		}
		wg.Wait()
		return time.Since(t0)
	}

	run(*warmup)
	warmErrs := atomic.SwapInt64(&errs, 0)
	if warmErrs > 0 {
		fmt.Fprintf(os.Stderr, "h3load: %d errors in the warm-up, first: %v\n", warmErrs, firstErr.Load())
	}
	// The bench reads the server's CPU time from here to the result line.
	fmt.Println("measuring")
	cpu0 := cpuSeconds()
	atomic.StoreInt32(&counting, 1)
	d := run(*calls)
	atomic.StoreInt32(&counting, 0)
	r := result{
		Calls:        *calls,
		Errors:       atomic.LoadInt64(&errs),
		Seconds:      d.Seconds(),
		CallsPerSec:  float64(*calls) / d.Seconds(),
		ClientCPUSec: cpuSeconds() - cpu0,
		BodyBytes:    int(atomic.LoadInt64(&bodyLen)),
		GoMaxProcs:   runtime.GOMAXPROCS(0),
	}
	if *trace {
		w := seen
		r.Wire = &w
	}
	if r.Errors > 0 {
		r.FirstError, _ = firstErr.Load().(string)
	}
	for _, rt := range rts {
		rt.Close()
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}
