package session

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// System views computed on the coordinator. A query that names one
// (unqualified, or in pg_catalog) is planned against a copy of its parse
// tree in which the view is replaced by a derived table of constant rows
// read when the statement is bound — every execution reads them afresh —
// so WHERE, ORDER BY, joins and aggregates work as on any table.
//
//	pg_prepared_xacts        PostgreSQL's view of prepared transactions:
//	                         transaction, gid, prepared, owner, database
//	meridian_prepared_xacts  explicit and automatic (in-doubt) two-phase
//	                         transactions: which datanodes, primary, age

// sysColumn is a column of a system view.
type sysColumn struct{ name, typ string }

type sysView struct {
	cols []sysColumn
	rows func(s *Session, ctx context.Context) ([][]*string, error)
}

var sysViews = map[string]sysView{
	"pg_prepared_xacts": {
		cols: []sysColumn{{"transaction", "bigint"}, {"gid", "text"}, {"prepared", "timestamptz"}, {"owner", "text"}, {"database", "text"}},
		rows: (*Session).preparedXactRows,
	},
	"meridian_prepared_xacts": {
		cols: []sysColumn{{"gxid", "bigint"}, {"gid", "text"}, {"kind", "text"}, {"state", "text"}, {"datanodes", "text"},
			{"primary_datanode", "integer"}, {"prepared", "timestamptz"}, {"age", "interval"}, {"owner", "text"},
			{"database", "text"}, {"coordinator", "text"}},
		rows: (*Session).meridianPreparedRows,
	},
}

// sysViewOf returns the system view a range variable names, if any.
func sysViewOf(rv *pg_query.RangeVar) (sysView, bool) {
	if rv == nil || (rv.Schemaname != "" && rv.Schemaname != "pg_catalog") || rv.Catalogname != "" {
		return sysView{}, false
	}
	v, ok := sysViews[rv.Relname]
	return v, ok
}

// visitRangeVars calls f for every table reference (a Node holding a
// RangeVar) in the tree of m.
func visitRangeVars(m protoreflect.Message, f func(n *pg_query.Node)) {
	if n, ok := m.Interface().(*pg_query.Node); ok && n.GetRangeVar() != nil {
		f(n)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visitRangeVars(l.Get(i).Message(), f)
			}
		case !fd.IsMap():
			visitRangeVars(v.Message(), f)
		}
		return true
	})
}

// usesSysView reports whether a statement reads a system view.
func usesSysView(n *pg_query.Node) bool {
	found := false
	visitRangeVars(n.ProtoReflect(), func(r *pg_query.Node) {
		if _, ok := sysViewOf(r.GetRangeVar()); ok {
			found = true
		}
	})
	return found
}

// withSysViews returns a copy of the statement in which every system view
// is a derived table of its current rows.
func (s *Session) withSysViews(ctx context.Context, n *pg_query.Node) (*pg_query.Node, error) {
	out := proto.Clone(n).(*pg_query.Node)
	cache := map[string]*pg_query.Node{}
	var err error
	visitRangeVars(out.ProtoReflect(), func(r *pg_query.Node) {
		rv := r.GetRangeVar()
		v, ok := sysViewOf(rv)
		if !ok || err != nil {
			return
		}
		sub, ok := cache[rv.Relname]
		if !ok {
			if sub, err = s.sysViewQuery(ctx, v); err != nil {
				return
			}
			cache[rv.Relname] = sub
		}
		alias := &pg_query.Alias{Aliasname: rv.Relname}
		if rv.Alias != nil {
			alias = proto.Clone(rv.Alias).(*pg_query.Alias)
		}
		r.Node = &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{
			Subquery: proto.Clone(sub).(*pg_query.Node), Alias: alias}}
	})
	return out, err
}

// sysViewQuery reads a view's rows and makes them a SELECT of constants.
func (s *Session) sysViewQuery(ctx context.Context, v sysView) (*pg_query.Node, error) {
	rows, err := v.rows(s, ctx)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	lit := func(val *string, typ string) {
		if val == nil {
			fmt.Fprintf(&b, "NULL::%s", typ)
			return
		}
		fmt.Fprintf(&b, "'%s'::%s", strings.ReplaceAll(*val, "'", "''"), typ)
	}
	if len(rows) == 0 {
		b.WriteString("SELECT ")
		for i, c := range v.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			lit(nil, c.typ)
			b.WriteString(" AS " + c.name)
		}
		b.WriteString(" WHERE false")
	} else {
		b.WriteString("SELECT * FROM (VALUES ")
		for i, r := range rows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j, c := range v.cols {
				if j > 0 {
					b.WriteString(", ")
				}
				lit(r[j], c.typ)
			}
			b.WriteString(")")
		}
		b.WriteString(") AS v(")
		for i, c := range v.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.name)
		}
		b.WriteString(")")
	}
	res, err := pg_query.Parse(b.String())
	if err != nil || len(res.Stmts) != 1 {
		return nil, pgerr.Wrap(err, pgerr.InternalError, "system view query")
	}
	return res.Stmts[0].Stmt, nil
}

func strp(s string) *string { return &s }

func timeText(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
}

func intervalText(d time.Duration) string {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	return fmt.Sprintf("%02d:%02d:%02d.%06d", us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000)
}

func groupsText(gs []uint32) string {
	gs = slices.Clone(gs)
	slices.Sort(gs)
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = strconv.FormatUint(uint64(g), 10)
	}
	return strings.Join(parts, ",")
}

func stateText(st meridianpb.PreparedXactState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(st.String(), "PREPARED_XACT_")), "_", " ")
}

// preparedXactRows are pg_prepared_xacts: the explicitly prepared
// transactions waiting for COMMIT PREPARED or ROLLBACK PREPARED.
func (s *Session) preparedXactRows(ctx context.Context) ([][]*string, error) {
	st := s.e.cfg.Xacts
	if st == nil {
		return nil, nil
	}
	recs, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]*string
	for _, r := range recs {
		if r.State != meridianpb.PreparedXactState_PREPARED_XACT_PREPARED {
			continue
		}
		out = append(out, []*string{strp(strconv.FormatUint(r.Gxid, 10)), strp(r.Gid),
			strp(timeText(time.UnixMicro(r.PreparedUnixMicros))), strp(r.Owner), strp(r.Database)})
	}
	return out, nil
}

// meridianPreparedRows are meridian_prepared_xacts: every explicit
// prepared transaction (from etcd, in any state until it is finished
// everywhere) and every automatic two-phase transaction some datanode
// holds prepared — in doubt, if it stays there more than a moment. The
// datanodes that do not answer within two seconds are left out.
func (s *Session) meridianPreparedRows(ctx context.Context) ([][]*string, error) {
	now := time.Now()
	var out [][]*string
	explicit := map[uint64]bool{}
	if st := s.e.cfg.Xacts; st != nil {
		recs, err := st.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			explicit[r.Gxid] = true
			at := time.UnixMicro(r.PreparedUnixMicros)
			out = append(out, []*string{strp(strconv.FormatUint(r.Gxid, 10)), strp(r.Gid), strp("explicit"), strp(stateText(r.State)),
				strp(groupsText(r.Datanodes)), nil, strp(timeText(at)), strp(intervalText(now.Sub(at))),
				strp(r.Owner), strp(r.Database), strp(r.Coordinator)})
		}
	}
	type auto struct {
		groups  []uint32
		primary uint32
		at      time.Time
		gid     string
	}
	autos := map[uint64]*auto{}
	var mu sync.Mutex
	snap := s.e.routes.Current()
	_ = parallel(snap.Groups(), func(g uint32) error {
		c, err := s.e.dn(snap, g)
		if err != nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		resp, err := c.ListPrepared(cctx, &meridianpb.ListPreparedRequest{})
		if err != nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range resp.Txns {
			if explicit[p.Gxid] {
				continue
			}
			a := autos[p.Gxid]
			if a == nil {
				a = &auto{at: time.UnixMicro(p.PreparedUnixMicros), gid: p.Gid}
				autos[p.Gxid] = a
			}
			a.groups = append(a.groups, g)
			if p.Primary != 0 {
				a.primary = p.Primary
			}
			if t := time.UnixMicro(p.PreparedUnixMicros); t.Before(a.at) {
				a.at = t
			}
		}
		return nil
	})
	for gxid, a := range autos {
		kind, state, gid, primary := "automatic", "in doubt", (*string)(nil), strp(strconv.FormatUint(uint64(a.primary), 10))
		if a.gid != "" {
			// Prepared by PREPARE TRANSACTION, but its record is gone.
			kind, state, gid, primary = "explicit", "no record", strp(a.gid), nil
		}
		out = append(out, []*string{strp(strconv.FormatUint(gxid, 10)), gid, strp(kind), strp(state),
			strp(groupsText(a.groups)), primary, strp(timeText(a.at)), strp(intervalText(now.Sub(a.at))),
			nil, nil, nil})
	}
	return out, nil
}
