package tpch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPostgresBin is where Debian's postgresql-15 package puts the
// server binaries.
const DefaultPostgresBin = "/usr/lib/postgresql/15/bin"

// PostgresOptions configures a throwaway PostgreSQL server.
type PostgresOptions struct {
	// BinDir holds initdb and postgres (default DefaultPostgresBin).
	BinDir string
	// Dir is where the server's temporary directory is made (default the
	// system's temporary directory).
	Dir string
	// Settings are extra server settings, "name=value" each (-c).
	Settings []string
}

// Postgres is a PostgreSQL server in a temporary directory, listening on a
// free loopback port, with collation "C" (text ordered bytewise, as in
// Meridian) and trust authentication for the user postgres. When the
// caller is root, the server runs as the user postgres (PostgreSQL refuses
// to run as root). Stop it with Stop.
type Postgres struct {
	// URL connects to the database postgres as the user postgres.
	URL  string
	Port int

	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the server process has exited
}

// StartPostgres initializes and starts a server and waits until it
// accepts connections.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.BinDir == "" {
		opts.BinDir = DefaultPostgresBin
	}
	for _, prog := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, prog)); err != nil {
			return nil, fmt.Errorf("tpch: PostgreSQL's %s: %w (install postgresql-15)", prog, err)
		}
	}
	dir, err := os.MkdirTemp(opts.Dir, "meridian-pg-")
	if err != nil {
		return nil, fmt.Errorf("tpch: PostgreSQL directory: %w", err)
	}
	cred, err := serverCredential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(opts.BinDir, "initdb"), "-D", data,
		"--locale=C.UTF-8", "--encoding=UTF8", "-A", "trust", "-U", "postgres", "-N")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("tpch: initdb: %w\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		p, err := startServer(ctx, opts, dir, cred)
		if err == nil {
			return p, nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// serverCredential returns the credential to run the server with: nil for
// a non-root caller, else the user postgres, who then gets dir.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("tpch: running as root, PostgreSQL must run as the user postgres: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("tpch: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startServer starts postgres on a free port and waits for it.
func startServer(ctx context.Context, opts PostgresOptions, dir string, cred *syscall.Credential) (*Postgres, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1"}
	for _, s := range opts.Settings {
		args = append(args, "-c", s)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("tpch: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(opts.BinDir, "postgres"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tpch: start postgres: %w", err)
	}
	p := &Postgres{
		URL:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Port:   port,
		dir:    dir,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		conn, err := pgconn.Connect(ctx, p.URL)
		if err == nil {
			conn.Close(ctx)
			return p, nil
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("tpch: postgres exited at start:\n%s", bytes.TrimSpace(log))
		case <-ctx.Done():
			p.kill()
			return nil, fmt.Errorf("tpch: postgres did not accept connections: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("tpch: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop shuts the server down (fast shutdown, then SIGKILL after 30 s)
// and removes its directory.
func (p *Postgres) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("tpch: remove PostgreSQL directory: %w", err)
	}
	return nil
}

// kill SIGKILLs the server and waits for it.
func (p *Postgres) kill() {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return
	}
	<-p.exited
}
