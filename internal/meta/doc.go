// Package meta is the etcd layout of a Meridian cluster: every key any
// component reads or writes is built here, under /meridian/<cluster>/.
//
//	nodes/<name>          NodeInfo, under the node's lease
//	dngroups/<gid>        DNGroup
//	buckets               BucketMap (16384 owners, versioned)
//	catalog/version       catalog version counter (decimal)
//	catalog/next_id       next table/index id (decimal)
//	catalog/schemas/<s>   SchemaDesc
//	catalog/tables/<id>   TableDesc
//	catalog/names/<s>/<r> "t:<id>" or "i:<table id>" (one namespace per schema)
//	gtm/leader            address of the GTM leader (election key prefix)
//	gtm/hwm               CSN high-water mark (decimal)
//	settings/<name>       cluster settings (txn_mode, written once at init)
//	horizon/<node>        oldest snapshot CSN a coordinator's sessions may
//	                      use (decimal), under its lease (internal/horizon)
//	cm/leader             CM server election prefix
//	cm/initialized        set once the bucket map is written
//	prepared/<gid>        PreparedXact: an explicit PREPARE TRANSACTION until it ends
package meta
