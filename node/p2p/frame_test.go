package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

func framed(declared uint64, body []byte) []byte {
	return append(binary.AppendUvarint(nil, declared), body...)
}

// ../shared/SECURITY.md scenario 19: a peer that declares a 1 MiB frame and sends ten bytes
// costs about what arrived, not the declared size; whole frames still
// read, short and oversized ones are refused with a clear error.
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	body := []byte("0123456789")
	got, err := readFrame(bytes.NewReader(framed(uint64(len(body)), body)))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("whole frame: %q, %v", got, err)
	}
	if _, err := readFrame(bytes.NewReader(framed(MaxFrameBytes+1, body))); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0x80})); !errors.Is(err, ErrShortFrame) {
		t.Fatalf("cut header: %v", err)
	}
	lying := framed(MaxFrameBytes, body)
	const runs = 64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		if _, err := readFrame(bytes.NewReader(lying)); !errors.Is(err, ErrShortFrame) {
			t.Fatalf("declared 1 MiB, sent 10 bytes: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	// Allocating the declared size would cost runs MiB; what arrived costs
	// a few KiB per frame at most.
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 16<<10 {
		t.Fatalf("a 10-byte frame declared at 1 MiB allocated %d bytes", per)
	}
}
