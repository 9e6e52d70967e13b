package prepared

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// MaxGIDLen is the longest transaction identifier, in bytes (PostgreSQL's
// GIDSIZE is 200, the terminating zero included).
const MaxGIDLen = 199

var (
	// ErrNotDecided: the transaction is still being prepared, or prepared
	// and waiting for the user.
	ErrNotDecided = errors.New("prepared transaction not decided")
	// ErrUnfinished: the outcome is decided but some participant could not
	// be told yet; its resolver finishes it.
	ErrUnfinished = errors.New("prepared transaction decided but not finished on every participant")
)

// Store reads and changes the records of explicitly prepared transactions.
type Store struct {
	cli  *clientv3.Client
	keys meta.Keys
}

// NewStore returns the store of the cluster of keys; cli stays the caller's.
func NewStore(cli *clientv3.Client, keys meta.Keys) *Store {
	return &Store{cli: cli, keys: keys}
}

// CheckGID validates a transaction identifier as PostgreSQL does (22023
// when too long); an empty one is refused too.
func CheckGID(gid string) error {
	if len(gid) > MaxGIDLen {
		return pgerr.New(pgerr.InvalidParameterValue, "transaction identifier \"%s\" is too long", gid)
	}
	if gid == "" {
		return pgerr.New(pgerr.InvalidParameterValue, "transaction identifier must not be empty")
	}
	return nil
}

func etcdErr(err error, what string) error {
	if pgerr.As(err) != nil {
		return err
	}
	return pgerr.Wrap(err, pgerr.ConnectionFailure, "prepared transactions: %s", what)
}

// Create stores rec under its gid, failing with 42710 when the gid is in use.
func (s *Store) Create(ctx context.Context, rec *meridianpb.PreparedXact) error {
	if err := CheckGID(rec.Gid); err != nil {
		return err
	}
	key := s.keys.PreparedXact(rec.Gid)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(marshal(rec)))).
		Commit()
	if err != nil {
		return etcdErr(err, "create "+rec.Gid)
	}
	if !resp.Succeeded {
		return pgerr.New(pgerr.DuplicateObject, "transaction identifier \"%s\" is already in use", rec.Gid)
	}
	return nil
}

// Get returns the record of gid and its mod revision; rec is nil when
// there is none.
func (s *Store) Get(ctx context.Context, gid string) (rec *meridianpb.PreparedXact, rev int64, err error) {
	resp, err := s.cli.Get(ctx, s.keys.PreparedXact(gid))
	if err != nil {
		return nil, 0, etcdErr(err, "read "+gid)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	rec, err = unmarshal(resp.Kvs[0].Value)
	if err != nil {
		return nil, 0, err
	}
	return rec, resp.Kvs[0].ModRevision, nil
}

// Swap replaces the record of rec.Gid if it is still at revision rev; ok
// is false when it changed (or vanished) meanwhile.
func (s *Store) Swap(ctx context.Context, rev int64, rec *meridianpb.PreparedXact) (ok bool, err error) {
	key := s.keys.PreparedXact(rec.Gid)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(marshal(rec)))).
		Commit()
	if err != nil {
		return false, etcdErr(err, "update "+rec.Gid)
	}
	return resp.Succeeded, nil
}

// Delete removes the record of gid if it is still at revision rev.
func (s *Store) Delete(ctx context.Context, gid string, rev int64) (ok bool, err error) {
	key := s.keys.PreparedXact(gid)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return false, etcdErr(err, "delete "+gid)
	}
	return resp.Succeeded, nil
}

// List returns every record, ordered by gid.
func (s *Store) List(ctx context.Context) ([]*meridianpb.PreparedXact, error) {
	entries, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*meridianpb.PreparedXact, len(entries))
	for i, e := range entries {
		out[i] = e.rec
	}
	return out, nil
}

// entry is a record with its mod revision.
type entry struct {
	rec *meridianpb.PreparedXact
	rev int64
}

func (s *Store) entries(ctx context.Context) ([]entry, error) {
	resp, err := s.cli.Get(ctx, s.keys.PreparedXacts(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr(err, "list")
	}
	out := make([]entry, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec, err := unmarshal(kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, entry{rec, kv.ModRevision})
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.rec.Gid, b.rec.Gid) })
	return out, nil
}

func marshal(rec *meridianpb.PreparedXact) []byte {
	b, err := proto.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("marshal PreparedXact: %v", err)) // a message of scalars always marshals
	}
	return b
}

func unmarshal(b []byte) (*meridianpb.PreparedXact, error) {
	rec := &meridianpb.PreparedXact{}
	if err := proto.Unmarshal(b, rec); err != nil {
		return nil, pgerr.Wrap(err, pgerr.DataCorrupted, "prepared transaction record")
	}
	return rec, nil
}
