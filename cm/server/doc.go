// Package server is the CM server: it keeps the cluster's membership view,
// elects one leader among the CM servers of a cluster, and has that leader
// lay the cluster out once the first datanodes have registered.
//
//	          etcd /meridian/<cluster>/
//	┌────────────────────────────────────────────────┐
//	│ nodes/<name>   cm/leader/<lease>  cm/initialized│
//	│ dngroups/<gid> buckets                         │
//	└──────▲──────────────▲────────────────▲─────────┘
//	 watch │     campaign │        one Txn │ (leader only)
//	┌──────┴──────┐ ┌─────┴──────┐  ┌──────┴───────┐
//	│ membership  │ │  election  │─>│ cluster init │
//	│ view, gauges│ └────────────┘  └──────────────┘
//	└─────────────┘
//
// Every CM server watches nodes/ (list, then watch, re-list when the watch
// breaks), logs joins and leaves, and exports live nodes per role as
// Prometheus gauges on its own /metrics; /health fails while the view is
// not current. Every CM server also registers itself at nodes/<name>.
//
// Leadership is a concurrency.Election on cm/leader under a session lease
// of Config.LeaseTTL seconds. Only the leader acts. Its first act is
// cluster init: wait until Config.Datanodes datanodes are registered, then
// write, in one Txn,
//
//	dngroups/<num>  DNGroup{id: num, members: [name], leader: name}  per datanode
//	buckets         BucketMap{version: 1, owner: placement.Even(nums)}
//	cm/initialized  the name of the CM server that wrote it
//
// guarded by cm/initialized not existing and by the leader's election key
// still being its own. So the layout is written once even if leadership
// changes mid-way, and a deposed leader cannot write at all. (A deposed
// leader may go on believing it leads, and IsLeader say so, until its
// next lease keep-alive fails, up to a third of LeaseTTL: leadership is
// advisory, the fence is what makes leader writes safe. Every future leader
// write must carry it.) If more
// datanodes than Config.Datanodes are registered, the ones with the lowest
// numbers form the cluster; two datanodes with the same number stop init
// until one leaves.
//
// Shutdown (Close): resign leadership and revoke the session, so a standby
// takes over at once; stop the membership watch; revoke the registration;
// stop HTTP.
//
// Example:
//
//	cfg := server.NewConfig()
//	cfg.Name, cfg.Datanodes = "cm1", 3
//	s, err := server.Start(ctx, cfg, cli)
//	if err != nil {
//		return err
//	}
//	defer s.Close()
package server
