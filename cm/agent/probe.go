package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/meridian-db/meridian/cm/health"
)

// prober checks one node's /health.
type prober struct {
	url    string
	client *http.Client
}

func newProber(cfg Config) *prober {
	return &prober{
		url: strings.TrimRight(cfg.NodeHTTP, "/") + "/health",
		client: &http.Client{
			Timeout: cfg.Timeout,
			// A new connection per probe: a node that cannot accept
			// connections any more must look down.
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
}

// probe returns the health value of the node: health.OK or health.Down.
func (p *prober) probe(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return health.Down(err.Error())
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return health.Down(err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return health.OK
	}
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 256)).ReadString('\n')
	reason := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if line = strings.TrimSpace(line); line != "" {
		reason += ": " + line
	}
	return health.Down(reason)
}
