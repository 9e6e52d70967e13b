package etcdembed

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewZapLogger returns a zap logger (the kind etcd's server and client
// libraries take) that forwards entries at level or above to log, or
// drops everything when log is nil.
func NewZapLogger(log *slog.Logger, level zapcore.Level) *zap.Logger {
	if log == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{log: log, level: level, quiet: new(atomic.Bool)})
}

// slogCore is a zapcore.Core writing into a slog.Logger.
type slogCore struct {
	log    *slog.Logger // nil: drop everything
	level  zapcore.Level
	fields []zapcore.Field
	quiet  *atomic.Bool // drop everything while set
}

var _ zapcore.Core = (*slogCore)(nil)

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log != nil && l >= c.level && !c.quiet.Load()
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, level: c.level, quiet: c.quiet,
		fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c *slogCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// benign are etcd error-level messages that are not errors for us: etcd
// 3.7 logs this one on a fresh data dir when its first storage-version
// check runs before the first raft term is persisted, and retries later.
var benign = map[string]bool{
	"failed to update storage version": true,
}

func (c *slogCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if benign[ent.Message] {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if ent.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", ent.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.log.LogAttrs(context.Background(), slogLevel(ent.Level), ent.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l >= zapcore.WarnLevel:
		return slog.LevelWarn
	case l >= zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
