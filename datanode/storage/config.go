package storage

import (
	"errors"
	"log/slog"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Engine. Build it with NewConfig and adjust fields;
// Open validates it.
type Config struct {
	// Dir is the Pebble directory (on FS).
	Dir string
	// NodeNum identifies the datanode in logs and metric labels.
	NodeNum uint32
	// CacheBytes is the size of Pebble's block cache; 0 keeps Pebble's
	// default.
	CacheBytes int64
	// BlockBytes is the target size of an sstable data block (before
	// compression); 0 means DefaultBlockBytes.
	BlockBytes int
	// Log receives the engine's and Pebble's messages; nil discards them.
	Log *slog.Logger
	// FS is the file system; nil means the disk. Tests use vfs.NewMem().
	FS vfs.FS
	// Registry, if not nil, receives the engine's metrics (labelled with
	// the node number); Close unregisters them.
	Registry *prometheus.Registry
	// FreezeMinAge: a background clean freezes the versions of xids older
	// than this many xids only (VACUUM freezes all it may).
	FreezeMinAge uint64
	// Format is the version of the encoding of the values the caller
	// stores (the datanode: codec.RowFormat). Open records it in a new
	// store and refuses a store holding data in another one (a store
	// with data and no record is format 1). 0: not checked.
	Format uint64
	// Knobs are testing hooks; nil in production.
	Knobs *TestingKnobs
}

// TestingKnobs are hooks a test fills to observe the engine.
type TestingKnobs struct {
	// OnWait, if set, is called when an operation starts to block on the
	// end of transaction holderXID (a reader on a prepared or committing
	// transaction, a writer on a row's in-flight writer).
	OnWait func(holderXID uint64)
}

// DefaultBlockBytes is the data block size of sstables: 32 KiB, as
// CockroachDB's, not Pebble's 4 KiB. A scan pays per block (a block
// cache lookup, the block iterator's set-up, an index step), so larger
// blocks make scans cheaper (BenchmarkScanSelective/sstables); a point
// read searches one block's restart points either way.
const DefaultBlockBytes = 32 << 10

// NewConfig returns the default configuration; the caller sets Dir.
func NewConfig() Config {
	return Config{CacheBytes: 128 << 20, FreezeMinAge: 1 << 16}
}

// Validate checks the configuration without side effects.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("storage: Config.Dir is empty"))
	}
	if c.CacheBytes < 0 {
		errs = append(errs, errors.New("storage: Config.CacheBytes is negative"))
	}
	if c.BlockBytes < 0 {
		errs = append(errs, errors.New("storage: Config.BlockBytes is negative"))
	}
	return errors.Join(errs...)
}
