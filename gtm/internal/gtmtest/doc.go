// Package gtmtest starts GTM replicas for tests of packages that use the
// GTM (the client, and later coordinators and datanodes).
//
//	cli, eps := etcdtest.StartWithEndpoints(t)
//	s := gtmtest.StartServer(t, eps, gtmtest.Config("gtm-1"))
//	gtmtest.WaitLeader(t, s)
package gtmtest
