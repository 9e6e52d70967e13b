// Package routing is how a coordinator knows where rows live: it follows
// the bucket map, the datanode groups and the node registry in etcd and
// offers them as immutable snapshots.
//
//	etcd /meridian/<cluster>/            Watcher                 coordinator
//	  buckets        ─┐   list at rev R, watch R+1..  ┌──────────┐ Current()
//	  dngroups/<gid> ─┼──────────────────────────────>│ Snapshot │──────────> Owner(b) → group
//	  nodes/<name>   ─┘   re-list when the watch breaks└──────────┘            Addr(group) → gRPC addr
//	                                                  atomic swap on change;
//	                                                  old snapshot's Changed() closes
//
// A snapshot is consistent: it reflects etcd at one revision (Revision),
// because the Watcher lists the three ranges in one Txn and watches the
// whole cluster prefix with a single watch, so the writes of one etcd Txn
// (say a bucket move that also adds a group) land in one snapshot. Events
// on other keys of the prefix (catalog, gtm) are read and dropped.
//
// A bucket map that does not decode or has the wrong length is logged and
// ignored (the last good map stays); a deleted map makes the snapshot not
// Ready.
//
// Use:
//
//	w, err := routing.Watch(ctx, cli, meta.NewKeys(cluster), log)
//	if err != nil {
//		return err
//	}
//	defer w.Close()
//	if err := w.WaitReady(ctx); err != nil {
//		return err
//	}
//	for {
//		snap := w.Current()
//		// route with snap.Owner(bucket), snap.Addr(group) ...
//		select {
//		case <-snap.Changed():
//		case <-ctx.Done():
//			return ctx.Err()
//		}
//	}
package routing
