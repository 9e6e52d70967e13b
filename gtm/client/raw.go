package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// csnStream is a stream of CSN requests and their answers, in order:
// a gRPC StreamCSN or a raw CSN connection.
type csnStream interface {
	Send(*meridianpb.CSNRequest) error
	RecvMsg(m any) error
}

// rawMagic selects the raw CSN protocol on the leader's port; the frames
// are described in gtm/server/rawcsn.go.
const rawMagic = "MCS1"

// rawStream is a raw CSN connection. Send is called by the loop
// goroutine, RecvMsg by the receiver; the connection is closed when the
// stream's ctx ends.
type rawStream struct {
	c   net.Conn
	r   *bufio.Reader
	req [4]byte
}

// dialRaw opens a raw CSN connection to addr, bounded by ctx, and closes
// it when ctx ends.
func dialRaw(ctx context.Context, addr string) (*rawStream, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.ConnectionFailure, "GTM leader %s", addr)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if _, err := c.Write([]byte(rawMagic)); err != nil {
		_ = c.Close()
		return nil, pgerr.Wrap(err, pgerr.ConnectionFailure, "GTM leader %s", addr)
	}
	context.AfterFunc(ctx, func() { _ = c.Close() })
	return &rawStream{c: c, r: bufio.NewReaderSize(c, 4096)}, nil
}

func (s *rawStream) Send(req *meridianpb.CSNRequest) error {
	binary.BigEndian.PutUint32(s.req[:], req.GetCommitCount())
	if _, err := s.c.Write(s.req[:]); err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "sending to the GTM")
	}
	return nil
}

func (s *rawStream) RecvMsg(m any) error {
	resp := m.(*meridianpb.CSNResponse)
	var b [17]byte
	if _, err := io.ReadFull(s.r, b[:1]); err != nil {
		return s.readErr(err)
	}
	switch b[0] {
	case 0: // ok
		if _, err := io.ReadFull(s.r, b[1:17]); err != nil {
			return s.readErr(err)
		}
		resp.FirstCommitCsn = binary.BigEndian.Uint64(b[1:9])
		resp.SnapshotCsn = binary.BigEndian.Uint64(b[9:17])
		return nil
	case 1: // error: SQLSTATE, message
		if _, err := io.ReadFull(s.r, b[1:8]); err != nil {
			return s.readErr(err)
		}
		msg := make([]byte, binary.BigEndian.Uint16(b[6:8]))
		if _, err := io.ReadFull(s.r, msg); err != nil {
			return s.readErr(err)
		}
		return pgerr.New(string(b[1:6]), "%s", msg)
	}
	return pgerr.New(pgerr.ProtocolViolation, "GTM answered with status byte %d", b[0])
}

func (s *rawStream) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("connection closed by the GTM: %w", err)
	}
	return pgerr.Wrap(err, pgerr.ConnectionFailure, "reading from the GTM")
}
