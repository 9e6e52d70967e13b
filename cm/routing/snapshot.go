package routing

import "slices"

// NoGroup is what Owner returns for a bucket it cannot place.
const NoGroup = ^uint32(0)

// Snapshot is the routing state at one etcd revision. It never changes;
// the Watcher replaces it.
type Snapshot struct {
	rev     int64
	version uint64
	owner   []uint32          // NumBuckets entries; nil while not Ready
	groups  []uint32          // ids of dngroups/, ascending
	leader  map[uint32]string // group → leader node name
	addr    map[uint32]string // group → leader's gRPC address, when registered
	changed chan struct{}     // closed when a newer snapshot replaces this one
}

// Ready says whether the bucket map exists.
func (s *Snapshot) Ready() bool { return s.owner != nil }

// Version is the bucket map's version, 0 while not Ready.
func (s *Snapshot) Version() uint64 { return s.version }

// Revision is the etcd revision the snapshot reflects.
func (s *Snapshot) Revision() int64 { return s.rev }

// Owner is the group that owns bucket. It returns NoGroup if the snapshot
// is not Ready or bucket ≥ meta.NumBuckets.
func (s *Snapshot) Owner(bucket uint32) uint32 {
	if bucket >= uint32(len(s.owner)) {
		return NoGroup
	}
	return s.owner[bucket]
}

// Groups returns the ids of the datanode groups (dngroups/), ascending.
func (s *Snapshot) Groups() []uint32 { return slices.Clone(s.groups) }

// Leader is the name of group's leader datanode.
func (s *Snapshot) Leader(group uint32) (string, bool) {
	name, ok := s.leader[group]
	return name, ok && name != ""
}

// Addr is the gRPC address of group's leader datanode. It is false when
// the group is unknown, has no leader, or its leader is not registered
// under nodes/ (down).
func (s *Snapshot) Addr(group uint32) (string, bool) {
	a, ok := s.addr[group]
	return a, ok
}

// Changed is closed when a newer snapshot replaces this one.
func (s *Snapshot) Changed() <-chan struct{} { return s.changed }
