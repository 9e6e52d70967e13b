package planner

import (
	"google.golang.org/protobuf/proto"
)

func cloneExpr(e *Expr) *Expr {
	if e == nil {
		return nil
	}
	return proto.Clone(e).(*Expr)
}

func exprEqual(a, b *Expr) bool { return proto.Equal(a, b) }
