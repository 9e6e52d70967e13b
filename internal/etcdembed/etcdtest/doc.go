// Package etcdtest starts an embedded etcd for a test and hands back a
// client; everything is stopped by t.Cleanup.
//
//	func TestX(t *testing.T) {
//		cli := etcdtest.Start(t)
//		...
//	}
package etcdtest
