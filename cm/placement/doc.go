// Package placement decides which datanode group owns each hash bucket. It
// is the pure core of the CM's bucket placement: plain functions over bucket
// maps, no I/O, so the CM server (and later the bucket-move state machine)
// drive it and tests check it without etcd.
//
// A bucket map is a slice of NumBuckets group ids: owner[b] is the group
// that stores bucket b.
//
// # Initial layout: contiguous ranges
//
// Even gives each group one contiguous range of buckets, the groups in
// ascending id order, sizes ⌊N/n⌋ or ⌈N/n⌉ (N = 16384, n groups):
//
//	groups 1,2,3:  [0 ........ 5461][5462 ...... 10922][10923 ..... 16383]
//	owner           1 (5462)         2 (5461)           3 (5461)
//
// Contiguous rather than interleaved (b mod n) because the bucket is in the
// storage key prefix: a group's buckets then form one key range per table,
// so a datanode scans, exports and ingests a single span instead of
// thousands of small ones. Hashing already spreads rows, so interleaving
// would buy no balance.
//
// # Scale-out: Rebalance
//
// Rebalance returns the fewest moves that make a map even over a new set of
// groups. The targets are ⌊N/n⌋ for every group plus one for N mod n of
// them; the extra buckets go to the groups that hold the most today (ties:
// lower id), which is what makes the move count minimal:
//
//	moves = Σ over groups of max(0, have - target) + buckets of removed groups
//
// and no plan can do better, since every bucket above its group's target
// must leave it. Donors give their highest-numbered buckets and receivers
// take runs of them in ascending order, so ranges stay as contiguous as the
// moves allow.
package placement
