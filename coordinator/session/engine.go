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
	"github.com/meridian-db/meridian/internal/meta"
)

// TxnMode is the cluster's transaction-management mode.
type TxnMode string

const (
	ModeGTM     TxnMode = "gtm"      // a GTM snapshot for every statement
	ModeGTMLite TxnMode = "gtm-lite" // single-datanode reads use the datanode's latest state
	ModeGTMFree TxnMode = "gtm-free" // multi-datanode reads without a global snapshot
)

// Config configures the engine.
type Config struct {
	Name          string
	Num           uint32 // coordinator number, 1..65535: the top bits of its transaction ids
	TxnMode       TxnMode
	ServerVersion string
	Log           *slog.Logger
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
	e := &Engine{cfg: cfg, log: log, cat: cat, plan: &planner.Planner{Cat: cat}, routes: routes, gtm: gtm, started: time.Now()}
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
