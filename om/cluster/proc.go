package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is a node running as a child process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func (p *proc) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
	p.log.Close()
}

// args are the command line of a node in process mode.
func (c *Cluster) args(n *Node) (string, []string) {
	o := c.opts
	etcd := strings.Join(c.etcd.Endpoints(), ",")
	switch n.Role {
	case "gtm":
		return "gtm", []string{"--name", n.Name, "--listen", n.Addr, "--http", n.HTTP, "--etcd", etcd, "--cluster", o.Cluster}
	case "cm":
		return "cm", []string{"server", "--name", n.Name, "--http", n.HTTP, "--etcd", etcd, "--cluster", o.Cluster, "--datanodes", fmt.Sprint(o.DNs),
			"--txn-mode", o.TxnMode}
	case "agent":
		return "cm", []string{"agent", "--name", n.Name, "--node", n.Name[len("agent-"):], "--node-http", "http://" + n.HTTP, "--etcd", etcd, "--cluster", o.Cluster, "--interval", "1s"}
	case "datanode":
		args := []string{"--name", n.Name, "--num", fmt.Sprint(c.num(n)), "--listen", n.Addr, "--http", n.HTTP,
			"--data", filepath.Join(o.Dir, n.Name), "--etcd", etcd, "--cluster", o.Cluster, "--cache-bytes", fmt.Sprint(o.CacheBytes)}
		if o.CleanInterval != 0 {
			args = append(args, "--clean-interval", o.CleanInterval.String())
		}
		if o.QueryMem > 0 {
			args = append(args, "--query-mem", fmt.Sprint(o.QueryMem))
		}
		if o.RowEngine {
			args = append(args, "--row-engine")
		}
		return "datanode", args
	case "coordinator":
		args := []string{"--name", n.Name, "--num", fmt.Sprint(c.num(n)), "--pg", n.Addr, "--http", n.HTTP,
			"--etcd", etcd, "--cluster", o.Cluster}
		if o.RowEngine {
			args = append(args, "--row-engine")
		}
		return "coordinator", args
	}
	return "", nil
}

func (c *Cluster) startProc(ctx context.Context, n *Node) error {
	bin, args := c.args(n)
	logf, err := os.OpenFile(filepath.Join(c.opts.Dir, n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.opts.BinDir, bin), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(n.Env) > 0 {
		cmd.Env = append(os.Environ(), n.Env...)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(p.done) }()
	n.proc = p
	// Ready when its HTTP health answers (coordinators: and the PostgreSQL
	// port accepts).
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start; see %s", n.Name, logf.Name())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become healthy; see %s", n.Name, logf.Name())
		}
		ok := n.Role == "agent" || n.Role == "cm" || healthy(n.HTTP)
		if ok && n.Role == "coordinator" {
			conn, err := net.DialTimeout("tcp", n.Addr, time.Second)
			ok = err == nil
			if ok {
				conn.Close()
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func healthy(addr string) bool {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + addr + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
