// Command cm runs Meridian's cluster manager: `cm server` (membership,
// leader election, cluster init; several may run, one leads) and
// `cm agent` (probes one node's /health and publishes it in etcd).
//
//	cm server --name cm1 --http 127.0.0.1:7400 --etcd 127.0.0.1:2379 --cluster meridian --datanodes 3
//	cm agent --name agent-dn1 --node dn1 --node-http http://127.0.0.1:8081 --etcd 127.0.0.1:2379 --interval 1s
//
// Each subcommand also takes --config file.json with the same settings
// (flags given on the command line win).
package main
