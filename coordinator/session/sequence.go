package session

import (
	"context"
	"sync"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Sequence functions at run time. nextval takes the next value from the
// engine's cache (coordinator/sequence), which refills from the GTM;
// currval and lastval read the session's state, which nextval and setval
// keep as PostgreSQL's backends do: per session, not transactional.

// seqSession is a session's sequence state. Its mutex guards against
// expressions of one statement evaluated on several goroutines.
type seqSession struct {
	mu      sync.Mutex
	currval map[uint32]int64 // the last value nextval (or setval) returned here
	last    uint32           // lastval's sequence: the one of the last nextval
}

// compile compiles an expression the coordinator evaluates for a
// statement running under ctx (INSERT ... VALUES, defaults, COPY).
func (s *Session) compile(ctx context.Context, e *planner.Expr) (expr.Eval, error) {
	return expr.CompileWith(e, s.seqExt(ctx, nil))
}

// seqExt is an expression extension that compiles EXPR_SEQUENCE and
// passes the other coordinator-only kinds to next.
func (s *Session) seqExt(ctx context.Context, next expr.Extension) expr.Extension {
	var ext expr.Extension
	ext = func(e *meridianpb.Expr) (expr.Eval, error) {
		if e.Kind == meridianpb.ExprKind_EXPR_SEQUENCE {
			return s.compileSeq(ctx, e, ext)
		}
		if next != nil {
			return next(e)
		}
		return nil, pgerr.New(pgerr.InternalError, "unknown expression kind %v", e.Kind)
	}
	return ext
}

// compileSeq compiles a sequence function call; each evaluation calls it
// again (nextval is volatile).
func (s *Session) compileSeq(ctx context.Context, e *meridianpb.Expr, ext expr.Extension) (expr.Eval, error) {
	args := make([]expr.Eval, len(e.Args))
	for i, a := range e.Args {
		ev, err := expr.CompileWith(a, ext)
		if err != nil {
			return nil, err
		}
		args[i] = ev
	}
	id := uint32(e.Index)
	named := id == 0 && e.Name != "lastval" // args[0] names the sequence
	if named && len(args) == 0 {
		return nil, pgerr.New(pgerr.InternalError, "%s without a sequence", e.Name)
	}
	if e.Name == "setval" && len(args) < 1+b2i(named) {
		return nil, pgerr.New(pgerr.InternalError, "setval without a value")
	}
	return func(row []types.Datum) (types.Datum, error) {
		vals := make([]types.Datum, len(args))
		for i, a := range args {
			v, err := a(row)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, nil // strict functions
			}
			vals[i] = v
		}
		if e.Name == "lastval" {
			return s.lastval(ctx)
		}
		var sd *meridianpb.SequenceDesc
		var err error
		if named {
			name, ok := vals[0].(string)
			if !ok {
				return nil, pgerr.New(pgerr.InternalError, "%s: the sequence name is a %T", e.Name, vals[0])
			}
			sd, err = s.namedSequence(ctx, name)
			vals = vals[1:]
		} else {
			sd, err = s.sequenceByID(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		switch e.Name {
		case "nextval":
			return s.nextval(ctx, sd)
		case "currval":
			return s.currval(sd)
		case "setval":
			v, ok1 := vals[0].(int64)
			called, ok2 := true, true
			if len(vals) > 1 {
				called, ok2 = vals[1].(bool)
			}
			if !ok1 || !ok2 {
				return nil, pgerr.New(pgerr.InternalError, "setval: arguments of types %T", vals)
			}
			return s.setval(ctx, sd, v, called)
		}
		return nil, pgerr.New(pgerr.InternalError, "unknown sequence function %s", e.Name)
	}, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// namedSequence resolves a sequence named by text, syncing the catalog
// once when it is not found (another coordinator may just have made it).
func (s *Session) namedSequence(ctx context.Context, name string) (*meridianpb.SequenceDesc, error) {
	sd, err := s.e.plan.ResolveSequence(name)
	if pgerr.Code(err) == pgerr.UndefinedTable {
		if serr := s.e.cat.Sync(ctx); serr != nil {
			return nil, serr
		}
		sd, err = s.e.plan.ResolveSequence(name)
	}
	return sd, err
}

// sequenceByID finds a sequence resolved at analysis.
func (s *Session) sequenceByID(ctx context.Context, id uint32) (*meridianpb.SequenceDesc, error) {
	if sd, ok := s.e.cat.SequenceByID(id); ok {
		return sd, nil
	}
	if err := s.e.cat.Sync(ctx); err != nil {
		return nil, err
	}
	if sd, ok := s.e.cat.SequenceByID(id); ok {
		return sd, nil
	}
	return nil, pgerr.New(pgerr.UndefinedTable, "the sequence of this statement (id %d) no longer exists", id)
}

func (s *Session) readOnlySeq(fn string) error {
	if s.txn != nil && s.txn.readOnly {
		return pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute %s() in a read-only transaction", fn)
	}
	return nil
}

func (s *Session) nextval(ctx context.Context, sd *meridianpb.SequenceDesc) (types.Datum, error) {
	if err := s.readOnlySeq("nextval"); err != nil {
		return nil, err
	}
	v, err := s.e.seqs.Next(ctx, sd.Id, sd.Name, sd.Options.GetCache())
	if err != nil {
		return nil, seqErr(ctx, err)
	}
	s.noteCurrval(sd.Id, v, true)
	return v, nil
}

// noteCurrval records v as currval of sequence id (and id as lastval's
// sequence when last).
func (s *Session) noteCurrval(id uint32, v int64, last bool) {
	s.seq.mu.Lock()
	defer s.seq.mu.Unlock()
	if s.seq.currval == nil {
		s.seq.currval = map[uint32]int64{}
	}
	s.seq.currval[id] = v
	if last {
		s.seq.last = id
	}
}

func (s *Session) currval(sd *meridianpb.SequenceDesc) (types.Datum, error) {
	s.seq.mu.Lock()
	v, ok := s.seq.currval[sd.Id]
	s.seq.mu.Unlock()
	if ok {
		return v, nil
	}
	return nil, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "currval of sequence %q is not yet defined in this session", sd.Name)
}

func (s *Session) lastval(ctx context.Context) (types.Datum, error) {
	undefined := pgerr.New(pgerr.ObjectNotInPrerequisiteState, "lastval is not yet defined in this session")
	s.seq.mu.Lock()
	id := s.seq.last
	v := s.seq.currval[id]
	s.seq.mu.Unlock()
	if id == 0 {
		return nil, undefined
	}
	if _, err := s.sequenceByID(ctx, id); err != nil {
		return nil, undefined // dropped since
	}
	return v, nil
}

// setval sets the sequence at the GTM; this coordinator drops its cached
// values at once, the others when they see the new record.
func (s *Session) setval(ctx context.Context, sd *meridianpb.SequenceDesc, v int64, called bool) (types.Datum, error) {
	if err := s.readOnlySeq("setval"); err != nil {
		return nil, err
	}
	if s.e.gtm == nil {
		return nil, pgerr.New(pgerr.ConnectionFailure, "no GTM")
	}
	gen, err := s.e.gtm.SetValue(ctx, sd.Id, sd.Name, v, called)
	if err != nil {
		return nil, seqErr(ctx, err)
	}
	s.e.seqs.Invalidate(sd.Id, gen)
	if called {
		s.noteCurrval(sd.Id, v, false)
	}
	return v, nil
}

// seqErr is the error of a sequence call: the statement's own when its
// context ended (57014: timeout or cancel), else the GTM's.
func seqErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return pgerr.FromContext(ctx)
	}
	return err
}
