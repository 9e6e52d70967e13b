package session

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/catalog"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/coordinator/sequence"
	gtmclient "github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/internal/horizon"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/prepared"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// TxnMode is the cluster's transaction-management mode, chosen at
// cluster init (etcd settings/txn_mode); see stmtTxn.
type TxnMode string

const (
	ModeGTM     TxnMode = "gtm"      // a GTM snapshot for every statement
	ModeGTMLite TxnMode = "gtm-lite" // single-datanode statements use the datanode's local snapshot
	ModeGTMFree TxnMode = "gtm-free" // reads use local snapshots on each datanode: no global consistency
)

// ParseTxnMode checks a mode name.
func ParseTxnMode(s string) (TxnMode, error) {
	switch m := TxnMode(s); m {
	case ModeGTM, ModeGTMLite, ModeGTMFree:
		return m, nil
	}
	return "", pgerr.New(pgerr.InvalidParameterValue, "transaction mode %q is not gtm, gtm-lite or gtm-free", s)
}

// Config configures the engine.
type Config struct {
	Name          string
	Num           uint32 // coordinator number, 1..65535: the top bits of its transaction ids
	TxnMode       TxnMode
	ServerVersion string
	Log           *slog.Logger
	// Xacts keeps explicitly prepared transactions (PREPARE TRANSACTION);
	// nil refuses them with 0A000.
	Xacts *prepared.Store
	// Knobs are testing hooks; nil in production.
	Knobs *TestingKnobs
	// RowEngine runs the coordinator's operators on rows only (the
	// vectorized operators off).
	RowEngine bool
}

// Engine is shared by a coordinator's sessions.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	cat     *catalog.Catalog
	plan    *planner.Planner
	routes  *routing.Watcher
	gtm     *gtmclient.Client
	seqs    *sequence.Cache
	horizon *horizon.Tracker // snapshots the sessions hold, for the cleaners
	// publish publishes the tracker's oldest snapshot now (VACUUM); nil
	// when nothing publishes it (tests).
	publish func(context.Context) error
	pool    dnPool
	gxid    atomic.Uint64
	first   uint64 // the transaction-id counter this incarnation started at
	pid     atomic.Int64
	started time.Time
	qid     atomic.Uint64 // query ids of distributed plans

	runsMu   sync.Mutex
	runsSnap *routing.Snapshot
	runs     []uint32 // runsSnap's bucket map, run-length encoded
}

var _ pgwire.Engine = (*Engine)(nil)

// gxidEpoch: transaction ids count microseconds from here, so a restarted
// coordinator starts above every id it handed out before.
var gxidEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewEngine wires an engine.
func NewEngine(cfg Config, cat *catalog.Catalog, routes *routing.Watcher, gtm *gtmclient.Client) *Engine {
	if cfg.TxnMode == "" {
		cfg.TxnMode = ModeGTMLite
	}
	if cfg.ServerVersion == "" {
		cfg.ServerVersion = "15.0"
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{cfg: cfg, log: log, cat: cat, plan: &planner.Planner{Cat: cat}, routes: routes, gtm: gtm, started: time.Now(),
		horizon: horizon.NewTracker()}
	var src sequence.Source
	if gtm != nil {
		src = gtm
	}
	e.seqs = sequence.NewCache(src)
	e.first = uint64(time.Since(gxidEpoch).Microseconds())
	e.gxid.Store(e.first)
	e.pid.Store(int64(cfg.Num) * 100000)
	return e
}

// Horizon is the tracker of the snapshots the sessions hold; the server
// publishes its oldest (internal/horizon).
func (e *Engine) Horizon() *horizon.Tracker { return e.horizon }

// SetPublisher sets the function that publishes the oldest snapshot of
// the sessions at once (internal/horizon.Publisher.Now).
func (e *Engine) SetPublisher(f func(context.Context) error) { e.publish = f }

func (e *Engine) mode() TxnMode { return e.cfg.TxnMode }

// FirstGxidCounter is where this incarnation's transaction ids start
// (published in etcd so datanodes can tell orphans of an earlier one).
func (e *Engine) FirstGxidCounter() uint64 { return e.first }

// Close releases datanode connections and stops the sequence watch.
func (e *Engine) Close() {
	e.seqs.Close()
	e.pool.close()
}

// WatchSequences makes the engine follow the GTM's sequence records in
// etcd (a setval or ALTER SEQUENCE through another coordinator drops the
// values cached here), until Close.
func (e *Engine) WatchSequences(cli *clientv3.Client, keys meta.Keys) {
	e.seqs.Watch(cli, keys, e.log)
}

// newGxid returns a cluster-unique global transaction id.
func (e *Engine) newGxid() uint64 {
	for {
		cur := e.gxid.Load()
		next := cur + 1
		if now := uint64(time.Since(gxidEpoch).Microseconds()); now > next {
			next = now
		}
		if e.gxid.CompareAndSwap(cur, next) {
			return uint64(e.cfg.Num)<<48 | (next & (1<<48 - 1))
		}
	}
}

// NewSession starts a session.
func (e *Engine) NewSession(ctx context.Context, params map[string]string) (pgwire.Session, error) {
	s := &Session{e: e, startup: params, settings: defaultSettings(e)}
	s.pid = e.pid.Add(1)
	s.user = params["user"]
	s.db = params["database"]
	if s.db == "" {
		s.db = s.user
	}
	for k, v := range params {
		if _, ok := s.settings[k]; ok {
			s.settings[k] = v
		}
	}
	return s, nil
}
