// Package agent is the CM agent that runs beside each node: it probes the
// node's /health every Config.Interval and publishes the result where the
// CM server and `om status` read it:
//
//	agent ──GET <node-http>/health──> node
//	  │  200 → "ok", else "down: <reason>"
//	  └──Put /meridian/<cluster>/health/<node> (under the agent's lease)──> etcd
//
// The key lives under the agent's own lease, so it disappears soon after
// the agent dies (Config.LeaseTTL): a missing key means "nobody watches
// this node", which the reader tells apart from "down". A value is written
// when it changes, and again after the lease had to be renewed.
//
// Probes use a fresh connection each time (no keep-alive), so a node that
// accepts no new connections is seen down.
//
// Example:
//
//	cfg := agent.NewConfig()
//	cfg.Name, cfg.NodeName, cfg.NodeHTTP = "agent-dn1", "dn1", "http://10.0.0.5:8080"
//	a, err := agent.Start(ctx, cfg, cli)
//	if err != nil {
//		return err
//	}
//	defer a.Close()
package agent
