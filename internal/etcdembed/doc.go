// Package etcdembed runs an etcd server inside the current process, for
// `om demo` and for tests. Production clusters run etcd on its own.
//
// A single-member cluster starts in well under a second:
//
//	e, err := etcdembed.Start(ctx, etcdembed.Config{
//		Dir:       "/tmp/meridian/etcd",
//		ClientURL: "http://127.0.0.1:2379",
//		PeerURL:   "http://127.0.0.1:2380",
//		Log:       log,
//	})
//	if err != nil {
//		return err
//	}
//	defer e.Close()
//	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints()})
//
// etcd logs through zap; Start bridges it into the slog logger of the
// Config and keeps only errors, so a demo's terminal stays readable.
package etcdembed
