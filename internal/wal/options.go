package wal

import (
	"log/slog"
	"time"
)

// Options configure a Log. The zero value of each field means its default.
type Options struct {
	// SegmentSize is the size at which the active segment is closed and a
	// new one started. Default 64 MiB. A single record larger than this
	// still fits: it gets a segment of its own.
	SegmentSize int64
	// NoSync skips fsync. Appends are then durable only against process
	// crashes, not machine crashes. For tests; never the default.
	NoSync bool
	// NoPreallocate turns off segment preallocation. By default segments
	// are filled with zeros and synced before use (the next one in the
	// background, once the active segment is half full), so that group
	// commits overwrite allocated blocks and fdatasync has no file-size
	// change to journal: about twice as fast on ext4.
	NoPreallocate bool
	// AcceptLoss makes Open accept a log that ends below its durable
	// high-water mark instead of refusing it with ErrLost: the missing
	// records are logged as a warning with their count, the mark is
	// lowered to the end of the log and Log.Lost reports the count.
	// Default false: an operator must choose to lose acknowledged data.
	AcceptLoss bool
	// IndexInterval is the byte distance between sparse index points used
	// to seek readers inside a segment. Default 64 KiB.
	IndexInterval int64
	// Logger receives repair and truncation messages. Default slog.Default().
	Logger *slog.Logger
	// OnSync, if set, is called by the flusher after every group commit
	// with the records and bytes it made durable and the fsync duration.
	OnSync func(records int, bytes int, fsync time.Duration)
	// SyncFault, if set, is called by the flusher before every group
	// commit's fsync; an error it returns fails the commit as a failed
	// fsync would, poisoning the log. Fault-injection tests only.
	SyncFault func() error
}

// DefaultOptions returns the defaults that Open fills into zero fields.
func DefaultOptions() Options {
	return Options{SegmentSize: 64 << 20, IndexInterval: 64 << 10, Logger: slog.Default()}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.SegmentSize <= 0 {
		o.SegmentSize = d.SegmentSize
	}
	if o.IndexInterval <= 0 {
		o.IndexInterval = d.IndexInterval
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}
