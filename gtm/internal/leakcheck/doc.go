// Package leakcheck finds goroutines a test left running. (goleak is not
// in the module graph; this is the small part of it GTM tests need.)
//
//	cli := etcdtest.Start(t) // not under test: started before the check
//	leakcheck.Check(t)
//	s := startServer(t, ...) // t.Cleanup(s.Close)
//
// Check records the goroutines alive now and registers, with t.Cleanup, a
// check that waits a few seconds for every goroutine started since to
// exit and fails the test listing those left. Cleanups run last-in first
// out, so the check runs after the cleanups registered after it (the
// servers' Close) and before those registered before it (the etcd). Goroutines of an embedded etcd server are
// ignored: the etcd the test runs against is not under test, and a leaked
// client of it shows on the client side.
package leakcheck
