package meta

import (
	"fmt"
	"strconv"
)

// NumBuckets is the number of hash buckets rows are spread over.
const NumBuckets = 16384

// Keys builds the etcd keys of one cluster.
type Keys struct {
	prefix string
}

// NewKeys returns the key builder of cluster name.
func NewKeys(cluster string) Keys {
	return Keys{prefix: "/meridian/" + cluster + "/"}
}

// Prefix is /meridian/<cluster>/.
func (k Keys) Prefix() string { return k.prefix }

func (k Keys) Nodes() string                  { return k.prefix + "nodes/" }
func (k Keys) Node(name string) string        { return k.Nodes() + name }
func (k Keys) DNGroups() string               { return k.prefix + "dngroups/" }
func (k Keys) DNGroup(gid uint32) string      { return k.DNGroups() + strconv.FormatUint(uint64(gid), 10) }
func (k Keys) Buckets() string                { return k.prefix + "buckets" }
func (k Keys) Catalog() string                { return k.prefix + "catalog/" }
func (k Keys) CatalogVersion() string         { return k.prefix + "catalog/version" }
func (k Keys) CatalogNextID() string          { return k.prefix + "catalog/next_id" }
func (k Keys) Schemas() string                { return k.prefix + "catalog/schemas/" }
func (k Keys) Schema(name string) string      { return k.Schemas() + name }
func (k Keys) Tables() string                 { return k.prefix + "catalog/tables/" }
func (k Keys) Table(id uint32) string         { return fmt.Sprintf("%s%010d", k.Tables(), id) }
func (k Keys) TableStats() string             { return k.prefix + "catalog/stats/" }
func (k Keys) TableStat(id uint32) string     { return fmt.Sprintf("%s%010d", k.TableStats(), id) }
func (k Keys) GTMLeader() string              { return k.prefix + "gtm/leader" }
func (k Keys) GTMHWM() string                 { return k.prefix + "gtm/hwm" }
func (k Keys) Settings() string               { return k.prefix + "settings/" }
func (k Keys) Setting(name string) string     { return k.Settings() + name }
func (k Keys) CMLeader() string               { return k.prefix + "cm/leader" }
func (k Keys) PreparedXacts() string          { return k.prefix + "prepared/" }
func (k Keys) PreparedXact(gid string) string { return k.PreparedXacts() + gid }
func (k Keys) CMInitialized() string          { return k.prefix + "cm/initialized" }
func (k Keys) Horizons() string               { return k.prefix + "horizon/" }
func (k Keys) Horizon(node string) string     { return k.Horizons() + node }

// SettingTxnMode is the name of the cluster's transaction mode setting
// (settings/txn_mode: gtm, gtm-lite or gtm-free), written once at init.
const SettingTxnMode = "txn_mode"

// Names maps <schema>/<relation> to "t:<table id>" or "i:<table id>" so
// tables and indexes share one namespace per schema, as in PostgreSQL.
func (k Keys) Names() string                  { return k.prefix + "catalog/names/" }
func (k Keys) Name(schema, rel string) string { return k.Names() + schema + "/" + rel }
func (k Keys) Health(node string) string      { return k.prefix + "health/" + node }

// Sequences: the catalog's descriptors (catalog/sequences/<id>, names in
// catalog/names as "s:<id>") and the GTM leader's state records
// (gtm/seq/<id>).
func (k Keys) Sequences() string            { return k.prefix + "catalog/sequences/" }
func (k Keys) Sequence(id uint32) string    { return fmt.Sprintf("%s%010d", k.Sequences(), id) }
func (k Keys) Views() string                { return k.prefix + "catalog/views/" }
func (k Keys) View(id uint32) string        { return fmt.Sprintf("%s%010d", k.Views(), id) }
func (k Keys) GTMSequences() string         { return k.prefix + "gtm/seq/" }
func (k Keys) GTMSequence(id uint32) string { return fmt.Sprintf("%s%010d", k.GTMSequences(), id) }
