// Package cmtest holds test support shared by the cm packages: an embedded,
// single-member etcd on free 127.0.0.1 ports that can be restarted on the
// same data directory, and a goroutine leak check.
//
// It is imported by _test.go files only. Once internal/etcdembed/etcdtest
// lands, Start can become a thin wrapper over etcdtest.Start; Restart is the
// one thing the cm tests need beyond it.
package cmtest
