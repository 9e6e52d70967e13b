package pgwire

import (
	"context"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5"
)

// A server in front of an engine (here the tests' fake; the coordinator
// passes its session layer), queried with pgx.
func Example() {
	cfg := NewConfig()
	cfg.AuthMethod = AuthSCRAM
	cfg.Users = map[string]string{"alice": "secret"}
	srv, err := NewServer(cfg, newFakeEngine())
	if err != nil {
		panic(err)
	}
	defer func() { _ = srv.Close() }()

	ln, err := net.Listen("tcp", "127.0.0.1:0") // or srv.ListenAndServe() on cfg.ListenAddr
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(ln) }()

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, "postgres://alice:secret@"+ln.Addr().String()+"/db?sslmode=disable")
	if err != nil {
		panic(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int32
	var s string
	if err := conn.QueryRow(ctx, "select $1::int4, 'hello'", 42).Scan(&n, &s); err != nil {
		panic(err)
	}
	fmt.Println(n, s, conn.PgConn().ParameterStatus("server_version"))
	// Output: 42 hello 15.0 (Meridian)
}
