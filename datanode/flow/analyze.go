package flow

import (
	"context"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// maxSampleRows bounds the sample one datanode returns.
const maxSampleRows = 100_000

// Analyze returns a table's row count here and a sample of its rows.
func (s *Server) Analyze(ctx context.Context, req *meridianpb.AnalyzeRequest) (*meridianpb.AnalyzeResponse, error) {
	if req.Table == nil {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.ProtocolViolation, "analyze without a table"))
	}
	n := int(min(req.SampleRows, maxSampleRows))
	rows, sample, err := s.cfg.Exec.Sample(ctx, req.Table, n)
	if err != nil {
		return nil, pgerr.ToStatus(err)
	}
	return &meridianpb.AnalyzeResponse{Rows: rows, Sample: sample}, nil
}
