// Package stats computes table statistics (ANALYZE) from the row counts
// and row samples the datanodes return, as PostgreSQL's analyze.c does
// from its own sample: the fraction of NULLs, the average width, the
// number of distinct values (Haas and Stokes' Duj1 estimator), the most
// common values and an equal-count histogram of the rest.
//
//	datanode 1: rows, sample ─┐
//	datanode 2: rows, sample ─┼─> proportional subsample ─> per-column stats ─> etcd
//	datanode 3: rows, sample ─┘
package stats

import (
	"slices"
	"sort"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// Part is one datanode's answer: its live rows and a uniform sample of
// them (row codec).
type Part struct {
	Rows   uint64
	Sample [][]byte
}

// Targets of the statistics (PostgreSQL's default_statistics_target is
// 100: 100 MCVs and 100 histogram buckets from 30,000 sampled rows).
const (
	SampleRows = 30000
	maxMCV     = 100
	buckets    = 100
)

// Compute builds a table's statistics from its datanodes' parts.
func Compute(t *meridianpb.TableDesc, parts []Part) (*meridianpb.TableStatistics, error) {
	var total float64
	for _, p := range parts {
		total += float64(p.Rows)
	}
	st := &meridianpb.TableStatistics{TableId: t.Id, Rows: total, TableVersion: t.Version}
	rows, err := subsample(t, parts, total)
	if err != nil {
		return nil, err
	}
	for c := range t.Columns {
		st.Columns = append(st.Columns, column(rows, c, total))
	}
	return st, nil
}

// subsample takes from each part a share of rows proportional to its row
// count, so that the union is a uniform sample of the table.
func subsample(t *meridianpb.TableDesc, parts []Part, total float64) ([][]types.Datum, error) {
	if total == 0 {
		return nil, nil
	}
	// The largest uniform sample the parts allow.
	size := float64(0)
	first := true
	for _, p := range parts {
		if p.Rows == 0 {
			continue
		}
		s := float64(len(p.Sample)) * total / float64(p.Rows)
		if first || s < size {
			size, first = s, false
		}
	}
	oids := make([]uint32, len(t.Columns))
	missing := make([]types.Datum, len(t.Columns))
	for i, c := range t.Columns {
		oids[i] = c.TypeOid
		if c.HasMissingValue {
			v, _, err := codec.DecodeDatum(c.TypeOid, c.MissingValue)
			if err != nil {
				return nil, err
			}
			missing[i] = v
		}
	}
	var out [][]types.Datum
	for _, p := range parts {
		k := int(size*float64(p.Rows)/total + 0.5)
		k = min(k, len(p.Sample))
		for _, b := range p.Sample[:k] {
			row, err := codec.DecodeRow(oids, missing, b)
			if err != nil {
				return nil, err
			}
			out = append(out, row)
		}
	}
	return out, nil
}

type valueCount struct {
	v     types.Datum
	key   string
	count int
}

// column computes one column's statistics from the sample rows.
func column(rows [][]types.Datum, c int, total float64) *meridianpb.ColumnStatistics {
	cs := &meridianpb.ColumnStatistics{}
	n := len(rows)
	if n == 0 {
		return cs
	}
	counts := map[string]*valueCount{}
	nulls := 0
	width := 0
	for _, r := range rows {
		v := r[c]
		if v == nil {
			nulls++
			continue
		}
		width += len(codec.AppendDatum(nil, v)) - 1
		k := string(codec.AppendKey(nil, v))
		if vc, ok := counts[k]; ok {
			vc.count++
		} else {
			counts[k] = &valueCount{v: v, key: k, count: 1}
		}
	}
	nonNull := n - nulls
	cs.NullFrac = float64(nulls) / float64(n)
	if nonNull == 0 {
		return cs
	}
	cs.AvgWidth = float64(width) / float64(nonNull)
	d := len(counts)
	f1 := 0
	for _, vc := range counts {
		if vc.count == 1 {
			f1++
		}
	}
	totalNonNull := total * (1 - cs.NullFrac)
	switch {
	case float64(nonNull) >= totalNonNull:
		cs.Distinct = float64(d) // the sample is the whole table
	case f1 == d:
		cs.Distinct = totalNonNull // every value seen once: unique
	default:
		// Duj1: n*d / (n - f1 + f1*n/N).
		nn, bigN := float64(nonNull), totalNonNull
		cs.Distinct = nn * float64(d) / (nn - float64(f1) + float64(f1)*nn/bigN)
		cs.Distinct = min(max(cs.Distinct, float64(d)), totalNonNull)
	}
	// Most common values: those clearly more frequent than average.
	vals := make([]*valueCount, 0, d)
	for _, vc := range counts {
		vals = append(vals, vc)
	}
	sort.Slice(vals, func(i, j int) bool {
		if vals[i].count != vals[j].count {
			return vals[i].count > vals[j].count
		}
		return vals[i].key < vals[j].key
	})
	avg := float64(nonNull) / float64(d)
	mcv := map[string]bool{}
	for _, vc := range vals {
		if len(cs.Mcv) == maxMCV || vc.count < 2 || (float64(vc.count) < 1.25*avg && d > maxMCV) {
			break
		}
		cs.Mcv = append(cs.Mcv, codec.AppendDatum(nil, vc.v))
		cs.McvFreq = append(cs.McvFreq, float64(vc.count)/float64(n))
		mcv[vc.key] = true
	}
	// A histogram of the other values, each sampled row counted.
	var rest []types.Datum
	for _, r := range rows {
		if v := r[c]; v != nil && !mcv[string(codec.AppendKey(nil, v))] {
			rest = append(rest, v)
		}
	}
	if len(rest) >= 2 {
		slices.SortFunc(rest, types.Compare)
		nb := min(buckets, len(rest)-1)
		for i := 0; i <= nb; i++ {
			cs.Histogram = append(cs.Histogram, codec.AppendDatum(nil, rest[i*(len(rest)-1)/nb]))
		}
	}
	return cs
}
