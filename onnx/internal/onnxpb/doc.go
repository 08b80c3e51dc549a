// Package onnxpb holds the Go types of ONNX's protobuf schema, generated
// from onnx.proto of ONNX 1.12.0 (as Debian's python3-onnx 1.12.0 ships it)
// by protoc 3.21.12 with protoc-gen-go v1.36.12 (google.golang.org/protobuf):
//
//	cp /usr/lib/python3/dist-packages/onnx/onnx.proto onnx/internal/onnxpb/
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	cd onnx/internal/onnxpb && protoc --go_out=. --go_opt=paths=source_relative \
//	    --go_opt=Monnx.proto=github.com/gomobilenet/mobilenet/onnx/internal/onnxpb onnx.proto
package onnxpb
