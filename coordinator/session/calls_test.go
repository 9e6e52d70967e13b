package session

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/rpcconn"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// callTestServer answers Call streams (and unary ExecUnary, for the
// benchmark) over real gRPC on TCP, as a datanode does: Gxid 1 fails
// with 23505, Gxid 2 blocks until its context ends and reports it, any
// other echoes the gxid as rows_affected.
type callTestServer struct {
	meridianpb.UnimplementedDataNodeCallsServer
	meridianpb.UnimplementedDataNodeServer
	streams  atomic.Int64
	ended    chan error         // contexts of blocked calls, when they end
	deadline chan time.Duration // deadlines blocked calls saw (0: none)
}

func (t *callTestServer) exec(ctx context.Context, req *meridianpb.ExecRequest) (*meridianpb.ExecResponse, error) {
	switch req.Txn.GetGxid() {
	case 1:
		return nil, pgerr.ToStatus(pgerr.New(pgerr.UniqueViolation, "duplicate key"))
	case 2:
		var d time.Duration
		if dl, ok := ctx.Deadline(); ok {
			d = time.Until(dl)
		}
		t.deadline <- d
		<-ctx.Done()
		t.ended <- ctx.Err()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &meridianpb.ExecResponse{Done: true, RowsAffected: int64(req.Txn.GetGxid())}, nil
}

func (t *callTestServer) ExecUnary(ctx context.Context, req *meridianpb.ExecRequest) (*meridianpb.ExecResponse, error) {
	return t.exec(ctx, req)
}

func (t *callTestServer) Call(st meridianpb.DataNodeCalls_CallServer) error {
	t.streams.Add(1)
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ctx := st.Context()
		var cancel context.CancelFunc = func() {}
		if req.TimeoutNanos > 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutNanos))
		}
		r, err := t.exec(ctx, req.GetExecUnary())
		cancel()
		resp := &meridianpb.CallResponse{Result: &meridianpb.CallResponse_Exec{Exec: r}}
		if err != nil {
			b, _ := proto.Marshal(status.Convert(err).Proto())
			resp = &meridianpb.CallResponse{Status: b}
		}
		if err := st.Send(resp); err != nil {
			return err
		}
	}
}

// serveCalls serves t on addr ("127.0.0.1:0" for any port).
func serveCalls(tb testing.TB, t *callTestServer, addr string) (*grpc.Server, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer(rpcconn.ServerOptions()...)
	meridianpb.RegisterDataNodeCallsServer(s, t)
	meridianpb.RegisterDataNodeServer(s, t)
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(s.Stop)
	return s, ln.Addr().String()
}

func newCallTest(tb testing.TB) (*callTestServer, *dnPool, string) {
	t := &callTestServer{ended: make(chan error, 1), deadline: make(chan time.Duration, 1)}
	_, addr := serveCalls(tb, t, "127.0.0.1:0")
	p := &dnPool{}
	tb.Cleanup(p.close)
	return t, p, addr
}

func execGxid(ctx context.Context, c meridianpb.DataNodeClient, gxid uint64) (*meridianpb.ExecResponse, error) {
	return c.ExecUnary(ctx, &meridianpb.ExecRequest{Txn: &meridianpb.TxnContext{Gxid: gxid}})
}

func TestCallStreamsReused(t *testing.T) {
	srv, p, addr := newCallTest(t)
	c, err := p.client(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := execGxid(ctx, c, 9); err != nil {
		t.Fatal(err)
	}
	// The first call opened the connection; the pool may count that
	// change after the call, and drop its stream once.
	first := srv.streams.Load()
	for i := uint64(10); i < 20; i++ {
		resp, err := execGxid(ctx, c, i)
		if err != nil || resp.RowsAffected != int64(i) {
			t.Fatalf("call %d: %v %v", i, resp, err)
		}
	}
	if n := srv.streams.Load() - first; n > 1 {
		t.Fatalf("10 calls in a row opened %d streams, want at most 1", n)
	}
	first = srv.streams.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				g := uint64(100 + w*1000 + i)
				resp, err := execGxid(ctx, c, g)
				if err == nil && resp.RowsAffected != int64(g) {
					err = errors.New("a response answered another call")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := srv.streams.Load() - first; n > 3 {
		t.Fatalf("4 concurrent callers opened %d more streams, want at most 3", n)
	}
}

func TestCallStreamsError(t *testing.T) {
	_, p, addr := newCallTest(t)
	c, _ := p.client(addr)
	_, err := execGxid(context.Background(), c, 1)
	if got := pgerr.Code(pgerr.FromStatus(err)); got != pgerr.UniqueViolation {
		t.Fatalf("error %v: SQLSTATE %s, want %s", err, got, pgerr.UniqueViolation)
	}
	// The stream stays usable after an error answer.
	if resp, err := execGxid(context.Background(), c, 7); err != nil || resp.RowsAffected != 7 {
		t.Fatalf("call after an error: %v %v", resp, err)
	}
}

func TestCallStreamsCancel(t *testing.T) {
	srv, p, addr := newCallTest(t)
	c, _ := p.client(addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := execGxid(ctx, c, 2)
		done <- err
	}()
	if d := <-srv.deadline; d != 0 {
		t.Fatalf("a call without a deadline ran with one of %v", d)
	}
	cancel()
	select {
	case err := <-done:
		if status.Code(err) != codes.Canceled {
			t.Fatalf("cancelled call returned %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call did not return")
	}
	select {
	case err := <-srv.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the datanode's call ended with %v, want canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the datanode's call was not cancelled")
	}
	if resp, err := execGxid(context.Background(), c, 8); err != nil || resp.RowsAffected != 8 {
		t.Fatalf("call after a cancelled one: %v %v", resp, err)
	}
	// An already cancelled context sends nothing.
	if _, err := execGxid(ctx, c, 9); status.Code(err) != codes.Canceled {
		t.Fatalf("call with a cancelled context: %v", err)
	}
}

func TestCallStreamsDeadline(t *testing.T) {
	srv, p, addr := newCallTest(t)
	c, _ := p.client(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := execGxid(ctx, c, 2)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call past its deadline returned %v, want DeadlineExceeded", err)
	}
	if pgerr.Code(pgerr.FromStatus(err)) != pgerr.QueryCanceled {
		t.Fatalf("deadline error %v does not read as 57014", pgerr.FromStatus(err))
	}
	if d := <-srv.deadline; d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("the datanode saw a deadline %v away, want within 300ms", d)
	}
	if err := <-srv.ended; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Fatalf("the datanode's call ended with %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("call with a 300ms deadline took %v", el)
	}
}

// A datanode that restarts while streams to it are idle: the next call
// finds its stream broken before the request left, and goes on a new one.
func TestCallStreamsDatanodeRestart(t *testing.T) {
	srv := &callTestServer{ended: make(chan error, 1), deadline: make(chan time.Duration, 1)}
	s1, addr := serveCalls(t, srv, "127.0.0.1:0")
	p := &dnPool{}
	t.Cleanup(p.close)
	c, _ := p.client(addr)
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := execGxid(context.Background(), c, 11); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	conn, _ := p.conn(addr)
	if n := len(conn.calls.idle); n == 0 {
		t.Fatal("no idle streams after the calls")
	}
	gen := conn.calls.gen.Load()
	s1.Stop()
	serveCalls(t, srv, addr)
	// Wait until the connection is back; the idle streams are on the old one.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for st := conn.cc.GetState(); st != connectivity.Ready; st = conn.cc.GetState() {
		conn.cc.Connect()
		if !conn.cc.WaitForStateChange(ctx, st) {
			t.Fatalf("connection not back: %v", st)
		}
	}
	for conn.calls.gen.Load() == gen {
		if ctx.Err() != nil {
			t.Fatal("the pool did not see the connection change")
		}
		time.Sleep(time.Millisecond)
	}
	before := srv.streams.Load()
	if resp, err := execGxid(context.Background(), c, 12); err != nil || resp.RowsAffected != 12 {
		t.Fatalf("first call after the restart: %v %v", resp, err)
	}
	if n := srv.streams.Load() - before; n != 1 {
		t.Fatalf("the call opened %d streams, want 1", n)
	}
	if n := len(conn.calls.idle); n != 1 {
		t.Fatalf("%d idle streams after the restart's first call, want the new one only", n)
	}
}

// BenchmarkCall compares a unary ExecUnary with the same call over the
// pooled streams, 4 callers, on loopback TCP; cpu-ns/op is the process's
// CPU time (client and server) per call.
func BenchmarkCall(b *testing.B) {
	for _, mode := range []string{"unary", "stream"} {
		b.Run(mode, func(b *testing.B) {
			_, p, addr := newCallTest(b)
			conn, err := p.conn(addr)
			if err != nil {
				b.Fatal(err)
			}
			var c meridianpb.DataNodeClient = meridianpb.NewDataNodeClient(conn.cc)
			if mode == "stream" {
				c, _ = p.client(addr)
			}
			cpu0 := processCPU()
			b.ResetTimer()
			b.SetParallelism(2) // 4 callers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := execGxid(context.Background(), c, 5); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
