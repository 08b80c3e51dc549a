package cpu

import (
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	for _, c := range []struct {
		env     string
		sup     Tier
		want    Tier
		wantErr string
	}{
		{"", AVX512, AVX512, ""},
		{"", Go, Go, ""},
		{"avx2", AVX512, AVX2, ""},
		{"GO", AVX2, Go, ""},
		{"avx512", AVX2, AVX2, "this CPU runs at most avx2"},
		{"sse", AVX2, AVX2, `unknown kernel tier "sse"`},
		{"avx512-bf16", AVX512AMX, AVX512BF16, ""},
		{"avx512", AVX512AMX, AVX512, ""},
		{"avx512-amx", AVX512BF16, AVX512BF16, "this CPU runs at most avx512-bf16"},
	} {
		got, err := choose(c.env, c.sup)
		if got != c.want || (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("choose(%q, %v) = %v, %v; want %v, %q", c.env, c.sup, got, err, c.want, c.wantErr)
		}
	}
	if Active() > Supported() {
		t.Errorf("active tier %v above the supported %v", Active(), Supported())
	}
	for _, tr := range []Tier{Go, AVX2, AVX512, AVX512BF16, AVX512AMX} {
		if p, err := Parse(tr.String()); err != nil || p != tr {
			t.Errorf("Parse(%q) = %v, %v", tr, p, err)
		}
	}
}
