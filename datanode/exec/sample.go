package exec

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
)

// Sample counts a table's live rows on this datanode and picks a uniform
// sample of up to n of them (reservoir sampling over one scan of the
// latest committed state), for ANALYZE.
func (x *Executor) Sample(ctx context.Context, t *meridianpb.TableDesc, n int) (rows uint64, sample [][]byte, err error) {
	snap := storage.Snapshot{CSN: math.MaxUint64}
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	p := codec.RowKeyPrefix(t.Id)
	err = x.st.ScanValues(ctx, snap, p, codec.PrefixEnd(p), func(_, value []byte, _ uint64) error {
		rows++
		switch {
		case len(sample) < n:
			sample = append(sample, append([]byte(nil), value...))
		default:
			if j := r.Uint64N(rows); j < uint64(n) {
				sample[j] = append(sample[j][:0], value...)
			}
		}
		return nil
	})
	return rows, sample, storageErr(err)
}
