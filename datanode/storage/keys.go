package storage

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Physical key layout (see doc.go):
//
//	data key   = escape(logical) 0x00 0x01 ^seq(8, big-endian)
//	system key = 0x00 0x00 kind ...
//
// escape maps 0x00 to 0x00 0xFF and keeps every other byte. An escaped key
// therefore never contains 0x00 followed by anything but 0xFF, so the
// terminator 0x00 0x01 ends it unambiguously: prefixes are prefix-free and
// order-preserving, and all versions of one logical key are contiguous,
// newest (largest seq, smallest ^seq) first. No data key starts with 0x00
// 0x00 (an escaped key starts with 0x00 only as 0x00 0xFF, the empty key as
// the terminator 0x00 0x01), so system keys have that space to themselves
// and sort before all data.

const (
	escByte  = 0x00
	escFF    = 0xFF // 0x00 in a logical key becomes 0x00 0xFF
	termByte = 0x01 // the terminator is 0x00 0x01
	seqLen   = 8
	// minDataKeyLen is the length of the data key of the empty logical key.
	minDataKeyLen = 2 + seqLen
)

// System key kinds, after the 0x00 0x00 system prefix.
const (
	sysMeta byte = 0x01 // counters' high-water marks
	sysXid  byte = 0x02 // durable transaction records, by xid
	sysLock byte = 0x03 // row locks of prepared transactions, by xid
)

var (
	sysPrefix     = []byte{0x00, 0x00}
	seqHWMKey     = []byte{0x00, 0x00, sysMeta, 's', 'e', 'q'}
	xidHWMKey     = []byte{0x00, 0x00, sysMeta, 'x', 'i', 'd'}
	dataFormatKey = []byte{0x00, 0x00, sysMeta, 'f', 'm', 't'}
	xidRecLo      = []byte{0x00, 0x00, sysXid}
	xidRecHi      = []byte{0x00, 0x00, sysXid + 1}
	lockRecLo     = []byte{0x00, 0x00, sysLock}
	lockRecHi     = []byte{0x00, 0x00, sysLock + 1}
	dataLowest    = []byte{0x00, termByte} // prefix of the empty logical key: the smallest data key
)

// appendEscaped appends escape(k) to dst.
func appendEscaped(dst, k []byte) []byte {
	dst = slices.Grow(dst, len(k)+8)
	for _, b := range k {
		if b == escByte {
			dst = append(dst, escByte, escFF)
		} else {
			dst = append(dst, b)
		}
	}
	return dst
}

// appendPrefix appends the version-group prefix of logical key k:
// escape(k) followed by the terminator.
func appendPrefix(dst, k []byte) []byte {
	dst = appendEscaped(dst, k)
	return append(dst, escByte, termByte)
}

// appendSeq appends the 8-byte suffix for seq: ^seq big-endian, so a newer
// version (larger seq) sorts first.
func appendSeq(dst []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, ^seq)
}

// appendVersionKey appends the physical key of version seq of logical key k.
func appendVersionKey(dst, k []byte, seq uint64) []byte {
	return appendSeq(appendPrefix(dst, k), seq)
}

// prefixEnd returns the smallest key above every key that starts with
// prefix p (a version-group prefix ending in the terminator): the same
// bytes with the terminator's last byte incremented.
func prefixEnd(dst, p []byte) []byte {
	dst = append(dst, p...)
	dst[len(dst)-1]++
	return dst
}

// splitVersionKey splits a data key into its version-group prefix and seq.
func splitVersionKey(pk []byte) (prefix []byte, seq uint64, err error) {
	n := len(pk) - seqLen
	if n < 2 || pk[n-2] != escByte || pk[n-1] != termByte {
		return nil, 0, corrupt("malformed data key %x", pk)
	}
	return pk[:n], ^binary.BigEndian.Uint64(pk[n:]), nil
}

// appendUnescaped appends the logical key of version-group prefix p.
func appendUnescaped(dst, p []byte) ([]byte, error) {
	n := len(p) - 2 // drop the terminator
	if n < 0 {
		return nil, corrupt("malformed key prefix %x", p)
	}
	p = p[:n]
	// Written by index into grown space, not byte by byte with append:
	// a scan unescapes every key it returns.
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	j := 0
	for i := 0; i < len(p); i++ {
		b := p[i]
		if b == escByte {
			if i+1 >= len(p) || p[i+1] != escFF {
				return nil, corrupt("malformed escape in key prefix %x", p)
			}
			i++
		}
		out[j] = b
		j++
	}
	return dst[:start+j], nil
}

// rangeBounds returns the physical bounds [lo, hi) of the logical range
// [start, end). A nil end means no upper bound (hi == nil).
func rangeBounds(start, end []byte) (lo, hi []byte) {
	lo = appendPrefix(nil, start)
	if end != nil {
		hi = appendPrefix(nil, end)
	}
	return lo, hi
}

// xidRecordKey is the key of the durable record of xid.
func xidRecordKey(xid uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), xidRecLo...), xid)
}

// Version value layout: xid(8) commandID(4) flags(1) payload.
const (
	valueHeaderLen = 13
	flagTombstone  = 1 << 0
	// flagNoKeyUpdate marks an update that changed no unique key: while
	// its writer is live it holds the row as LockNoKeyUpdate, which FOR
	// KEY SHARE does not conflict with. Versions without it hold the row
	// as LockUpdate.
	flagNoKeyUpdate = 1 << 1
)

type versionHeader struct {
	xid       uint64
	commandID uint32
	tombstone bool
	noKey     bool // flagNoKeyUpdate
}

// lockMode is the row lock a version's live writer holds.
func (h versionHeader) lockMode() LockMode {
	if h.noKey && !h.tombstone {
		return LockNoKeyUpdate
	}
	return LockUpdate
}

func appendValue(dst []byte, h versionHeader, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, h.xid)
	dst = binary.BigEndian.AppendUint32(dst, h.commandID)
	var flags byte
	if h.tombstone {
		flags |= flagTombstone
	}
	if h.noKey {
		flags |= flagNoKeyUpdate
	}
	dst = append(dst, flags)
	return append(dst, payload...)
}

func decodeValue(v []byte) (versionHeader, []byte, error) {
	if len(v) < valueHeaderLen {
		return versionHeader{}, nil, corrupt("version value of %d bytes", len(v))
	}
	h := versionHeader{
		xid:       binary.BigEndian.Uint64(v),
		commandID: binary.BigEndian.Uint32(v[8:]),
		tombstone: v[12]&flagTombstone != 0,
		noKey:     v[12]&flagNoKeyUpdate != 0,
	}
	return h, v[valueHeaderLen:], nil
}

// txnOutcomeOnly is the state of the record of a committed transaction
// whose versions the cleaner froze but whose outcome must be kept (this
// datanode was its two-phase commit primary): it is loaded into the
// outcomes only, not into the committed-xid table.
const txnOutcomeOnly TxnState = 6

// Transaction record layout:
//
//	state(1) gxid(8) csn(8) primary(4)                              21 bytes
//	... flags(1) prepared-at(8, µs since the epoch) len(2) gid      prepared records
//
// Records of 21 bytes (those written before the extension, and commit
// records) have no flags, time or gid. A committed record's primary is
// set when this datanode was the primary.
type xidRecord struct {
	state   TxnState
	gxid    uint64
	csn     uint64
	primary uint32 // prepared: the datanode group whose outcome decides
	// Prepared records only.
	flags      byte   // recExplicit, recCommitIntent
	preparedAt int64  // wall clock, µs since the Unix epoch
	gid        string // explicit PREPARE TRANSACTION's identifier
}

const (
	xidRecordBaseLen = 21
	xidRecordExtLen  = xidRecordBaseLen + 1 + 8 + 2
	// recExplicit: PREPARE TRANSACTION 'gid'; the user decides it.
	recExplicit = 1 << 0
	// recCommitIntent: COMMIT PREPARED marked it committing; readers wait.
	recCommitIntent = 1 << 1
	// maxGIDLen bounds the identifier (PostgreSQL's is below 200 bytes).
	maxGIDLen = 1 << 10
)

func (r xidRecord) encode() []byte {
	b := make([]byte, 0, xidRecordExtLen+len(r.gid))
	b = append(b, byte(r.state))
	b = binary.BigEndian.AppendUint64(b, r.gxid)
	b = binary.BigEndian.AppendUint64(b, r.csn)
	b = binary.BigEndian.AppendUint32(b, r.primary)
	if r.state != TxnPrepared {
		return b
	}
	b = append(b, r.flags)
	b = binary.BigEndian.AppendUint64(b, uint64(r.preparedAt))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.gid)))
	return append(b, r.gid...)
}

func decodeXidRecord(key, v []byte) (xid uint64, r xidRecord, err error) {
	if len(key) != len(xidRecLo)+8 || (len(v) != xidRecordBaseLen && len(v) < xidRecordExtLen) {
		return 0, r, corrupt("transaction record %x = %x", key, v)
	}
	xid = binary.BigEndian.Uint64(key[len(xidRecLo):])
	r = xidRecord{
		state:   TxnState(v[0]),
		gxid:    binary.BigEndian.Uint64(v[1:]),
		csn:     binary.BigEndian.Uint64(v[9:]),
		primary: binary.BigEndian.Uint32(v[17:]),
	}
	if len(v) > xidRecordBaseLen {
		r.flags = v[21]
		r.preparedAt = int64(binary.BigEndian.Uint64(v[22:]))
		n := int(binary.BigEndian.Uint16(v[30:]))
		if len(v) != xidRecordExtLen+n || r.state != TxnPrepared {
			return 0, r, corrupt("transaction record %x = %x", key, v)
		}
		r.gid = string(v[xidRecordExtLen:])
	}
	switch r.state {
	case TxnPrepared, TxnCommitted, txnOutcomeOnly:
	default:
		return 0, r, corrupt("transaction record of xid %d has state %d", xid, v[0])
	}
	return xid, r, nil
}

// lockRecordKey is the key of the durable row lock of prepared
// transaction xid on logical key k: 00 00 03 | xid (8) | k.
func lockRecordKey(xid uint64, k []byte) []byte {
	b := make([]byte, 0, len(lockRecLo)+8+len(k))
	b = binary.BigEndian.AppendUint64(append(b, lockRecLo...), xid)
	return append(b, k...)
}

// decodeLockRecord splits a row lock record.
func decodeLockRecord(key, v []byte) (xid uint64, k []byte, mode LockMode, err error) {
	if len(key) < len(lockRecLo)+8 || len(v) != 1 || LockMode(v[0]) < LockKeyShare || LockMode(v[0]) > LockUpdate {
		return 0, nil, 0, corrupt("row lock record %x = %x", key, v)
	}
	return binary.BigEndian.Uint64(key[len(lockRecLo):]), key[len(lockRecLo)+8:], LockMode(v[0]), nil
}

// formatKey renders a physical key for logs and errors.
func formatKey(pk []byte) string {
	p, seq, err := splitVersionKey(pk)
	if err != nil {
		return fmt.Sprintf("%x", pk)
	}
	lk, err := appendUnescaped(nil, p)
	if err != nil {
		return fmt.Sprintf("%x", pk)
	}
	return fmt.Sprintf("%q@%d", lk, seq)
}

// mvccComparer orders keys bytewise, as Pebble's default comparer, and
// splits a data key into its version-group prefix and its 8-byte version
// suffix, so that Pebble keeps bloom filters of prefixes and a point read
// (SeekPrefixGE) skips sstables without the key. Other keys (system
// records) are all prefix. Prefixes are prefix-free and end in the
// terminator, so ordering by prefix first is the bytewise order.
var mvccComparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Name = "meridian.mvcc.v1"
	c.Split = func(k []byte) int {
		n := len(k) - seqLen
		if n >= 2 && k[n-2] == escByte && k[n-1] == termByte {
			return n
		}
		return len(k)
	}
	// The smallest prefix above a data key's prefix (…0x00 0x01) is its
	// end (…0x00 0x02): every key between them is one of its versions.
	// Iterator.NextPrefix seeks there to step over a key's versions.
	c.ImmediateSuccessor = func(dst, a []byte) []byte {
		if n := len(a); n >= 2 && a[n-2] == escByte && a[n-1] == termByte {
			return prefixEnd(dst, a)
		}
		return append(append(dst, a...), 0x00)
	}
	return &c
}()
