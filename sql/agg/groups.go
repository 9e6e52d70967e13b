package agg

import (
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// Groups collects per-group state keyed by group values (compared by
// their key encoding, so 1.0 and 1.00 are one group), in first-seen order.
type Groups[T any] struct {
	m        map[string]*Group[T]
	order    []*Group[T]
	buf      []byte
	newState func() T
}

// Group is one group's values and state.
type Group[T any] struct {
	Keys  []types.Datum
	State T
}

// NewGroups returns an empty set of groups. With global, the one group of
// an aggregate without GROUP BY exists from the start (it yields a row
// even when no input row came).
func NewGroups[T any](global bool, newState func() T) *Groups[T] {
	g := &Groups[T]{m: map[string]*Group[T]{}, newState: newState}
	if global {
		g.Get(nil)
	}
	return g
}

// Get returns the group of keys, creating it (with a copy of keys).
func (g *Groups[T]) Get(keys []types.Datum) *Group[T] {
	g.buf = g.buf[:0]
	for _, k := range keys {
		g.buf = codec.AppendKey(g.buf, k)
	}
	if grp, ok := g.m[string(g.buf)]; ok {
		return grp
	}
	grp := &Group[T]{Keys: append([]types.Datum(nil), keys...), State: g.newState()}
	g.m[string(g.buf)] = grp
	g.order = append(g.order, grp)
	return grp
}

// All lists the groups in first-seen order.
func (g *Groups[T]) All() []*Group[T] { return g.order }
