package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPackTransposes holds packA and packB to their definitions (element
// (i, r) of op(A)'s block at panel i/mr, r·mr + i%mr; element (r, j) of
// op(B)'s at panel j/nr, r·nr + j%nr; zero padding), for every tile size,
// both transposes and partial panels.
func TestPackTransposes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tile := range []int{6, 8, 12, 14, 16, 32, 48, 64} {
		for _, s := range [][2]int{{1, 1}, {tile, 256}, {tile*3 + 1, 37}, {97, 256}, {5, 9}} {
			rows, depth := s[0], s[1]
			for _, tr := range []bool{false, true} {
				name := fmt.Sprintf("tile%d/%dx%d/t%v", tile, rows, depth, tr)
				// op(X) is rows × depth for A, depth × rows for B; X has a
				// leading dimension above the minimum and an offset block.
				const off = 2
				ld := depth + off + 3
				if tr {
					ld = rows + off + 3
				}
				x := make([]float32, (max(rows, depth)+off+2)*ld)
				for i := range x {
					x[i] = rng.Float32()
				}
				opA := func(i, r int) float32 { // op(X)[off+i][off+r]
					if tr {
						return x[(off+r)*ld+off+i]
					}
					return x[(off+i)*ld+off+r]
				}
				up := (rows + tile - 1) / tile * tile
				got := make([]float32, up*depth)
				packA(got, tile, tr, x, ld, off, off, rows, depth)
				checkPanels(t, "packA "+name, got, tile, rows, depth, opA)
				// packB over the same X: op(B) is depth × rows.
				opB := func(r, j int) float32 {
					if tr { // op(B) = Bᵀ: B is rows × depth
						return x[(off+j)*ld+off+r]
					}
					return x[(off+r)*ld+off+j]
				}
				clear(got)
				packB(got, tile, tr, x, ld, off, off, depth, rows) // the same X as B
				checkPanels(t, "packB "+name, got, tile, rows, depth, func(j, r int) float32 { return opB(r, j) })
			}
		}
	}
}

// checkPanels checks packed panels of tile rows (or columns) each, k-major:
// element (i, r) of the operand at panel i/tile, r·tile + i%tile, equal to
// op(i, r) for i < rows and zero in the padding up to the tile.
func checkPanels(t *testing.T, what string, got []float32, tile, rows, depth int, op func(i, r int) float32) {
	t.Helper()
	up := (rows + tile - 1) / tile * tile
	for i := 0; i < up; i++ {
		for r := 0; r < depth; r++ {
			want := float32(0)
			if i < rows {
				want = op(i, r)
			}
			if g := got[i/tile*tile*depth+r*tile+i%tile]; g != want {
				t.Fatalf("%s: (%d,%d) = %v, want %v", what, i, r, g, want)
			}
		}
	}
}

// BenchmarkPack times the weight gradient's packing: A = dY (non-transposed,
// 6-row panels) and op(B) = Xᵀ (64-column panels), depth 256.
func BenchmarkPack(b *testing.B) {
	const m, n, kb = 96, 384, 256
	a := make([]float32, m*1024)
	x := make([]float32, n*1024)
	dst := make([]float32, max(m, n)*kb)
	b.Run("A6", func(b *testing.B) {
		b.SetBytes(m * kb * 4)
		for b.Loop() {
			packA(dst, 6, false, a, 1024, 0, 256, m, kb)
		}
	})
	b.Run("A12", func(b *testing.B) {
		b.SetBytes(m * kb * 4)
		for b.Loop() {
			packA(dst, 12, false, a, 1024, 0, 256, m, kb)
		}
	})
	for _, nr := range []int{32, 64} {
		b.Run(fmt.Sprintf("Bt%d", nr), func(b *testing.B) {
			b.SetBytes(n * kb * 4)
			for b.Loop() {
				packB(dst, nr, true, x, 1024, 256, 0, kb, n)
			}
		})
	}
}
