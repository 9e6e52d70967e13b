// Package proto holds Meridian's protobuf contracts; the generated Go code is
// in meridianpb.
package proto

//go:generate protoc --go_out=. --go_opt=module=github.com/meridian-db/meridian/proto --go-grpc_out=. --go-grpc_opt=module=github.com/meridian-db/meridian/proto meridian.proto plan.proto sequence.proto
