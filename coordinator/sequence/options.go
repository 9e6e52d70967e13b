package sequence

import (
	"math"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Change is what the options of a CREATE SEQUENCE, an ALTER SEQUENCE or
// an identity column ask for, applied to the sequence's options.
type Change struct {
	// Options are the sequence's options after the change, complete and
	// checked.
	Options *meridianpb.SequenceOptions
	// Restart: RESTART [WITH RestartValue] (RestartWith says whether a
	// value was given; else the sequence restarts at its START).
	Restart, RestartWith bool
	RestartValue         int64
	// OwnedBy is the OWNED BY option as written (nil: absent; ["none"]:
	// OWNED BY NONE).
	OwnedBy []string
	// Name is an identity column's SEQUENCE NAME option (nil: absent).
	Name []string
}

// Kind says which statement the options come from: their checks and
// messages differ a little.
type Kind int

const (
	Create   Kind = iota // CREATE SEQUENCE
	Alter                // ALTER SEQUENCE
	Identity             // GENERATED ... AS IDENTITY (options)
)

// Apply applies option list defs (DefElem nodes) to cur, a sequence's
// options (nil for a new sequence), as PostgreSQL's init_params does: the
// same defaults, checks, SQLSTATEs and messages. It does not check the
// sequence's last value against new bounds; the GTM does (it has it).
// typ is the column type of an identity column (its AS type).
func Apply(cur *meridianpb.SequenceOptions, defs []*pg_query.Node, kind Kind, typ uint32) (*Change, error) {
	seen := map[string]*pg_query.DefElem{}
	ch := &Change{}
	for _, n := range defs {
		d := n.GetDefElem()
		if d == nil {
			return nil, pgerr.New(pgerr.SyntaxError, "invalid sequence option")
		}
		if _, dup := seen[d.Defname]; dup {
			return nil, pgerr.New(pgerr.SyntaxError, "conflicting or redundant options")
		}
		seen[d.Defname] = d
		switch d.Defname {
		case "as", "increment", "minvalue", "maxvalue", "start", "restart", "cache", "cycle":
		case "owned_by":
			ch.OwnedBy = nameList(d.Arg)
		case "sequence_name":
			if kind != Identity {
				return nil, pgerr.New(pgerr.SyntaxError, "invalid sequence option SEQUENCE NAME")
			}
			ch.Name = nameList(d.Arg)
		default:
			return nil, pgerr.New(pgerr.SyntaxError, "option %q not recognized", d.Defname)
		}
	}
	isInit := cur == nil
	o := &meridianpb.SequenceOptions{}
	if cur != nil {
		o = &meridianpb.SequenceOptions{TypeOid: cur.TypeOid, Increment: cur.Increment, MinValue: cur.MinValue,
			MaxValue: cur.MaxValue, Start: cur.Start, Cache: cur.Cache, Cycle: cur.Cycle}
	}

	// AS type.
	resetMax, resetMin := false, false
	var asType uint32
	if d := seen["as"]; d != nil {
		t, err := typeOf(d.Arg.GetTypeName())
		if err != nil {
			return nil, err
		}
		asType = t
	} else if kind == Identity {
		asType = typ
	}
	if asType != 0 {
		if asType != types.Int2 && asType != types.Int4 && asType != types.Int8 {
			if kind == Identity {
				return nil, pgerr.New(pgerr.InvalidParameterValue, "identity column type must be smallint, integer, or bigint")
			}
			return nil, pgerr.New(pgerr.InvalidParameterValue, "sequence type must be smallint, integer, or bigint")
		}
		if !isInit {
			// The old type's bounds follow the type; explicit ones stay.
			lo, hi := typeRange(o.TypeOid)
			resetMax, resetMin = o.MaxValue == hi, o.MinValue == lo
		}
		o.TypeOid = asType
	} else if isInit {
		o.TypeOid = types.Int8
	}
	lo, hi := typeRange(o.TypeOid)

	// INCREMENT BY.
	if d := seen["increment"]; d != nil {
		v, err := int64Arg(d)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			return nil, pgerr.New(pgerr.InvalidParameterValue, "INCREMENT must not be zero")
		}
		o.Increment = v
	} else if isInit {
		o.Increment = 1
	}

	// CYCLE.
	if d := seen["cycle"]; d != nil {
		o.Cycle = d.Arg.GetBoolean().GetBoolval()
	} else if isInit {
		o.Cycle = false
	}

	// MAXVALUE (no argument: NO MAXVALUE).
	if d := seen["maxvalue"]; d != nil && d.Arg != nil {
		v, err := int64Arg(d)
		if err != nil {
			return nil, err
		}
		o.MaxValue = v
	} else if isInit || d != nil || resetMax {
		if o.Increment > 0 || resetMax {
			o.MaxValue = hi
		} else {
			o.MaxValue = -1
		}
	}
	if o.MaxValue < lo || o.MaxValue > hi {
		return nil, pgerr.New(pgerr.InvalidParameterValue, "MAXVALUE (%d) is out of range for sequence data type %s", o.MaxValue, typeName(o.TypeOid))
	}

	// MINVALUE (no argument: NO MINVALUE).
	if d := seen["minvalue"]; d != nil && d.Arg != nil {
		v, err := int64Arg(d)
		if err != nil {
			return nil, err
		}
		o.MinValue = v
	} else if isInit || d != nil || resetMin {
		if o.Increment < 0 || resetMin {
			o.MinValue = lo
		} else {
			o.MinValue = 1
		}
	}
	if o.MinValue < lo || o.MinValue > hi {
		return nil, pgerr.New(pgerr.InvalidParameterValue, "MINVALUE (%d) is out of range for sequence data type %s", o.MinValue, typeName(o.TypeOid))
	}
	if o.MinValue >= o.MaxValue {
		return nil, pgerr.New(pgerr.InvalidParameterValue, "MINVALUE (%d) must be less than MAXVALUE (%d)", o.MinValue, o.MaxValue)
	}

	// START WITH.
	if d := seen["start"]; d != nil {
		v, err := int64Arg(d)
		if err != nil {
			return nil, err
		}
		o.Start = v
	} else if isInit {
		if o.Increment > 0 {
			o.Start = o.MinValue
		} else {
			o.Start = o.MaxValue
		}
	}
	if o.Start < o.MinValue {
		return nil, pgerr.New(pgerr.InvalidParameterValue, "START value (%d) cannot be less than MINVALUE (%d)", o.Start, o.MinValue)
	}
	if o.Start > o.MaxValue {
		return nil, pgerr.New(pgerr.InvalidParameterValue, "START value (%d) cannot be greater than MAXVALUE (%d)", o.Start, o.MaxValue)
	}

	// RESTART [WITH]: CREATE takes it as the first value.
	if d := seen["restart"]; d != nil {
		ch.Restart = true
		ch.RestartValue = o.Start
		if d.Arg != nil {
			v, err := int64Arg(d)
			if err != nil {
				return nil, err
			}
			ch.RestartWith, ch.RestartValue = true, v
		}
		if ch.RestartValue < o.MinValue {
			return nil, pgerr.New(pgerr.InvalidParameterValue, "RESTART value (%d) cannot be less than MINVALUE (%d)", ch.RestartValue, o.MinValue)
		}
		if ch.RestartValue > o.MaxValue {
			return nil, pgerr.New(pgerr.InvalidParameterValue, "RESTART value (%d) cannot be greater than MAXVALUE (%d)", ch.RestartValue, o.MaxValue)
		}
	}

	// CACHE.
	if d := seen["cache"]; d != nil {
		v, err := int64Arg(d)
		if err != nil {
			return nil, err
		}
		if v <= 0 {
			return nil, pgerr.New(pgerr.InvalidParameterValue, "CACHE (%d) must be greater than zero", v)
		}
		o.Cache = v
	} else if isInit {
		o.Cache = 1
	}
	ch.Options = o
	return ch, nil
}

// typeRange is the range of a sequence data type.
func typeRange(oid uint32) (lo, hi int64) {
	switch oid {
	case types.Int2:
		return math.MinInt16, math.MaxInt16
	case types.Int4:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

func typeName(oid uint32) string {
	switch oid {
	case types.Int2:
		return "smallint"
	case types.Int4:
		return "integer"
	}
	return "bigint"
}

// typeOf resolves the type of an AS clause.
func typeOf(tn *pg_query.TypeName) (uint32, error) {
	if tn == nil || len(tn.Names) == 0 {
		return 0, pgerr.New(pgerr.SyntaxError, "missing type")
	}
	name := tn.Names[len(tn.Names)-1].GetString_().GetSval()
	oid, ok := types.ParseTypeName(name)
	if !ok || strings.Contains(name, "serial") || len(tn.ArrayBounds) > 0 {
		return 0, pgerr.New(pgerr.UndefinedObject, "type %q does not exist", name)
	}
	return oid, nil
}

// int64Arg is PostgreSQL's defGetInt64: an integer, or a numeric token
// that must be a valid bigint.
func int64Arg(d *pg_query.DefElem) (int64, error) {
	switch a := d.Arg.GetNode().(type) {
	case *pg_query.Node_Integer:
		return int64(a.Integer.Ival), nil
	case *pg_query.Node_Float:
		s := a.Float.Fval
		v, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return v, nil
		}
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, pgerr.New(pgerr.NumericValueOutOfRange, "value %q is out of range for type bigint", s)
		}
		return 0, pgerr.New(pgerr.InvalidTextRepresentation, "invalid input syntax for type bigint: %q", s)
	}
	return 0, pgerr.New(pgerr.SyntaxError, "%s requires a numeric value", d.Defname)
}

// nameList reads a list of String nodes (OWNED BY t.c, SEQUENCE NAME s).
func nameList(n *pg_query.Node) []string {
	var out []string
	for _, x := range n.GetList().GetItems() {
		out = append(out, x.GetString_().GetSval())
	}
	return out
}
