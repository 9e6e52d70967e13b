package client_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meridian-db/meridian/gtm/internal/gtmtest"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

func BenchmarkDbgRTT(b *testing.B) {
	_, eps := etcdtest.StartWithEndpoints(b)
	s := gtmtest.StartServer(b, eps, gtmtest.Config("gtm-bench"))
	gtmtest.WaitLeader(b, s)
	cc, _ := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer cc.Close()
	pb := meridianpb.NewGTMClient(cc)
	ctx := context.Background()
	pb.GetCSN(ctx, &meridianpb.CSNRequest{CommitCount: 1})
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if _, err := pb.GetCSN(ctx, &meridianpb.CSNRequest{CommitCount: 64}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/float64(b.N), "us/rtt")
}
