package exec

import (
	"context"
	"sync"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// producer runs a scan in a goroutine of its own, which hands what it
// reads to the consumer over a channel: storage reads and decoding
// overlap the consumer's work on what came before.
type producer[T any] struct {
	cancel context.CancelFunc
	ch     chan T
	errc   chan error
	wg     sync.WaitGroup
	done   bool
}

// start runs run(ctx, send) in the producer's goroutine; send blocks
// until the consumer has room or the scan is cancelled. what names the
// scan in the error a panic turns into.
func (p *producer[T]) start(ctx context.Context, depth int, what string, run func(ctx context.Context, send func(T) error) error) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.ch = make(chan T, depth)
	p.errc = make(chan error, 1)
	send := func(v T) error {
		select {
		case p.ch <- v:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.ch)
		defer func() {
			if v := recover(); v != nil {
				// A bug in a filter fails the scan, not the datanode.
				p.errc <- pgerr.New(pgerr.InternalError, "internal error in %s: %v", what, v)
			}
		}()
		p.errc <- run(ctx, send)
	}()
}

// started reports start called.
func (p *producer[T]) started() bool { return p.ch != nil }

// next returns the next item, or ok false at the end (with the scan's
// error, if it failed).
func (p *producer[T]) next(ctx context.Context) (v T, ok bool, err error) {
	if p.done || p.ch == nil {
		return v, false, nil
	}
	select {
	case v, ok := <-p.ch:
		if ok {
			return v, true, nil
		}
		p.done = true
		return v, false, <-p.errc
	case <-ctx.Done():
		return v, false, storageErr(ctx.Err())
	}
}

// stop cancels the scan and waits for its goroutine to end.
func (p *producer[T]) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	for range p.ch {
	}
	p.wg.Wait()
	p.cancel = nil
}
