package flow

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/codec"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

var recvTypes = []uint32{types.Int8, types.Text, types.Numeric, types.Date, types.Float8, types.Bool}

func recvRow(i int) sqlexec.Row {
	r := sqlexec.Row{int64(i), fmt.Sprint("row ", i), apd.New(int64(i), -2), types.DateVal(i), float64(i) / 4, i%2 == 0}
	switch i % 5 {
	case 1:
		r[1], r[2] = nil, nil
	case 3:
		big, _, _ := apd.NewFromString("123456789012345678901234567890.5")
		r[2], r[0] = big, nil
	}
	return r
}

// recvCols gives the rows of every producer's messages — encoded ones
// from peers, rows from a local producer — in batches, in the order they
// came, until each producer ended; a batch is returned without waiting
// once it holds rows.
func TestRecvCols(t *testing.T) {
	ib := newInbox(2)
	var want []sqlexec.Row
	go func() {
		ctx := context.Background()
		n := 0
		for m := 0; m < 6; m++ {
			var msg inboxMsg
			for i := 0; i < 700; i++ {
				r := recvRow(n)
				n++
				if m%2 == 0 {
					msg.enc = append(msg.enc, codec.EncodeRow(nil, r))
				} else {
					msg.rows = append(msg.rows, r)
				}
			}
			msg.eos = m >= 4 // the last message of each producer carries its end
			if _, err := ib.put(ctx, msg); err != nil {
				panic(err)
			}
		}
	}()
	for i := 0; i < 6*700; i++ {
		want = append(want, recvRow(i))
	}
	r := &recvCols{ib: ib, types: recvTypes}
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got [][]types.Datum
	for {
		b, err := r.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			break
		}
		if len(b.Sel) == 0 || len(b.Sel) > 1024 {
			t.Fatalf("batch of %d rows", len(b.Sel))
		}
		got = codec.AppendRows(got, b)
	}
	r.Close()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		for c := range want[i] {
			g, w := got[i][c], want[i][c]
			if (g == nil) != (w == nil) || (g != nil && types.Compare(g, w) != 0) {
				t.Fatalf("row %d column %d: %v, want %v", i, c, got[i][c], want[i][c])
			}
		}
	}
}

// A producer's error, a corrupt row and a cancelled context end the read
// with an error.
func TestRecvColsErrors(t *testing.T) {
	ctx := context.Background()
	ib := newInbox(1)
	boom := pgerr.New(pgerr.ConnectionFailure, "peer gone")
	if _, err := ib.put(ctx, inboxMsg{err: boom}); err != nil {
		t.Fatal(err)
	}
	r := &recvCols{ib: ib, types: recvTypes}
	_ = r.Open(ctx)
	if _, err := r.Next(ctx); !errors.Is(err, boom) {
		t.Errorf("producer error: %v", err)
	}

	ib = newInbox(1)
	if _, err := ib.put(ctx, inboxMsg{enc: [][]byte{{0x05, 0xff}}}); err != nil {
		t.Fatal(err)
	}
	r = &recvCols{ib: ib, types: recvTypes}
	_ = r.Open(ctx)
	if _, err := r.Next(ctx); pgerr.Code(err) != pgerr.ProtocolViolation {
		t.Errorf("corrupt row: %v (%s)", err, pgerr.Code(err))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r = &recvCols{ib: newInbox(1), types: recvTypes}
	_ = r.Open(ctx)
	if _, err := r.Next(cctx); pgerr.Code(err) != pgerr.QueryCanceled {
		t.Errorf("cancelled: %v (%s)", err, pgerr.Code(err))
	}
}
