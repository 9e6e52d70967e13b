package pgwire

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestCopyInSimpleProtocol(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)

	// Flush and Sync are ignored during COPY; empty CopyData is fine.
	c.send(&pgproto3.Query{String: "copy t from stdin"})
	if got, err := c.recv(); err != nil || got != "G" {
		t.Fatalf("copy in: %q %v", got, err)
	}
	c.send(&pgproto3.CopyData{Data: []byte("a\nb")}, &pgproto3.Flush{}, &pgproto3.CopyData{},
		&pgproto3.Sync{}, &pgproto3.CopyData{Data: []byte("c\n")}, &pgproto3.CopyDone{})
	wantReply(t, "copy done", c.untilReady(), "C:COPY 2 | Z:I")

	c.send(&pgproto3.Query{String: "copy t to stdout"})
	wantReply(t, "copy out", c.untilReady(), `H | d:"a\n" | d:"bc\n" | c | C:COPY 2 | Z:I`)

	c.send(&pgproto3.Query{String: "copy t from stdin"})
	c.send(&pgproto3.CopyData{Data: []byte("x\n")}, &pgproto3.CopyFail{Message: "client gave up"})
	wantReply(t, "copy fail", c.untilReady(), "G | E:ERROR:57014 | Z:I")

	// A statement after a COPY in the same string runs after CopyDone.
	c.send(&pgproto3.Query{String: "copy t from stdin; select 5"})
	c.send(&pgproto3.CopyData{Data: []byte("d\n")}, &pgproto3.CopyDone{})
	wantReply(t, "copy then select", c.untilReady(), `G | C:COPY 1 | T:?column?/23/0 | D:"5" | C:SELECT 1 | Z:I`)
}

// In the extended protocol the client's Sync may arrive during the copy
// (ignored); libpq sends another after CopyDone.
func TestCopyInExtendedProtocol(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.send(&pgproto3.Parse{Query: "copy t from stdin"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got := c.untilCopyIn(); got != "1 | 2 | G" {
		t.Fatalf("got %q", got)
	}
	c.send(&pgproto3.CopyData{Data: []byte("e\nf\n")}, &pgproto3.CopyDone{}, &pgproto3.Sync{})
	wantReply(t, "extended copy", c.untilReady(), "C:COPY 2 | Z:I")
}

// Any other message during COPY FROM STDIN is a protocol violation.
func TestUnexpectedMessageDuringCopyIn(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "copy t from stdin"})
	c.send(&pgproto3.CopyData{Data: []byte("a\n")}, &pgproto3.Query{String: "select 1"})
	wantReply(t, "query during copy", c.untilClosed(), "G | E:FATAL:08P01")

	c = ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "copy t from stdin"})
	c.send(&pgproto3.Terminate{})
	wantReply(t, "terminate during copy", c.untilClosed(), "G")
}

// untilCopyIn reads up to CopyInResponse.
func (c *rawClient) untilCopyIn() string {
	c.t.Helper()
	var out []string
	for {
		s, err := c.recv()
		if err != nil {
			c.t.Fatalf("after %q: %v", out, err)
		}
		out = append(out, s)
		if s == "G" {
			return strings.Join(out, " | ")
		}
	}
}
