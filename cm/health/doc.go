// Package health is the etcd record of node health that CM agents write and
// the CM server and `om status` read:
//
//	/meridian/<cluster>/health/<node>   "ok" | "down: <reason>"
//
// Each key lives under the lease of the agent that probes the node, so it
// disappears when the agent does: no key means "not watched", not "ok".
//
// The key builders belong with the rest of the layout in internal/meta
// (as Keys.Health(name) and Keys.Healths()); they live here until then.
package health
