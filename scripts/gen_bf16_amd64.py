#!/usr/bin/env python3
"""Writes blas/bf16_amd64.s: the bf16 kernels (AMX tiles and AVX512-BF16).

Go's assembler has no mnemonics for AMX or AVX512-BF16 (golang/go#61079),
so those instructions are written as BYTE sequences. This script assembles
each one with GNU as (binutils), reads its bytes back with objdump, and
writes them with the instruction as a comment; everything else is ordinary
Go assembly. Run from the repository root: python3 scripts/gen_bf16_amd64.py
(needs `as` and `objdump`).

Kernels:

amxBF16(cfg *byte, a, b *uint16, kblocks, npanels int, c *float32, ldc, ldb int, acc bool)
    For each of npanels 32-column panels p: the 32×32 block of C at
    c[32p:], rows ldc floats apart, = (acc ? C : 0) + A·B_p over kblocks
    blocks of 32 depths, on four 16×16 fp32 accumulator tiles (tmm0–3), A's
    two 16-row tiles (tmm4–5) and B's two 16-column tiles (tmm6–7):
    TDPBF16PS, fp32 sums of bf16 products. Layouts (bf16): A panel
    [kblocks][32 rows][32 depths]; B [depth pairs][ldb columns][2] (VNNI
    pairs), panel p at column 32p. cfg is the 64-byte tile configuration
    (palette 1, tmm0–7 16 rows × 64 bytes), loaded and released inside the
    call.

amxBF16x16(cfg *byte, a, b *uint16, kblocks int, c *float32, ldc, ldb int, acc bool)
    amxBF16 on one panel of 16 columns: the 32×16 block of C at c = (acc ?
    C : 0) + A·B[:, 0:16], on two accumulator tiles (tmm0, tmm2), A's two
    tiles (tmm4–5) and one of B (tmm6); layouts as amxBF16's. An edge of
    16 columns (a sample's 4×4 map) is stored to C straight from the tiles.

cvtGatherBF16(dst *uint16, dstStride int, src *float32, srcStride int, blocks int)
    For each of blocks blocks: 32 bf16 values at dst (then dst +=
    dstStride bytes) = the 16 floats at src and the 16 at src + srcStride
    (then src += 2·srcStride bytes): the rows of two samples' 4×4 maps as
    one block of 32 depths.

dotBF16x8x32(a, b *uint16, kblocks, ldb int, c *float32, ldc int, acc bool)
    C[0:8][0:32] = (acc ? C : 0) + A·B with VDPBF16PS (AVX512-BF16, for CPUs
    without AMX): A 8 rows of a 32-row panel (as amxBF16's, row stride 64
    bytes, 2048 bytes a depth block), each row's depth pair broadcast from
    memory; B as amxBF16's (ldb columns a depth pair); 16 accumulators.

packPairsBF16(dst *uint16, r0, r1 *float32, n int)
    dst[2j] = bf16(r0[j]), dst[2j+1] = bf16(r1[j]) for j < n, n a multiple
    of 32: two rows of B as VNNI pairs, rounded to nearest even
    (VCVTNE2PS2BF16; NaN stays NaN).

cvtBF16(dst *uint16, src *float32, n int)
    dst[j] = bf16(src[j]) for j < n, n a multiple of 32.
"""
import os
import re
import subprocess
import tempfile


def encode(lines):
    """Assembles GNU-syntax instructions and returns their bytes, one list
    per line."""
    with tempfile.TemporaryDirectory() as d:
        src, obj = os.path.join(d, "t.s"), os.path.join(d, "t.o")
        with open(src, "w") as f:
            for i, l in enumerate(lines):
                f.write(f"L{i}: {l}\n")
        subprocess.run(["as", "--64", src, "-o", obj], check=True)
        dump = subprocess.run(["objdump", "-d", "-w", obj], check=True, capture_output=True, text=True).stdout
    # Bytes by address, then cut at each label's address.
    code = {}
    for m in re.finditer(r"^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)", dump, re.M):
        addr = int(m.group(1), 16)
        for i, b in enumerate(m.group(2).split()):
            code[addr + i] = int(b, 16)
    starts = []
    for m in re.finditer(r"^([0-9a-f]+) <L(\d+)>:", dump, re.M):
        starts.append((int(m.group(2)), int(m.group(1), 16)))
    starts.sort()
    end = max(code) + 1
    out = []
    for idx, (i, a) in enumerate(starts):
        b = starts[idx + 1][1] if idx + 1 < len(starts) else end
        out.append([code[x] for x in range(a, b)])
    assert len(out) == len(lines), (len(out), len(lines))
    return out


class Asm:
    def __init__(self):
        self.items = []  # ("go", text) or ("gnu", text)

    def go(self, s):
        self.items.append(("go", s))

    def gnu(self, s):
        self.items.append(("gnu", s))

    def text(self):
        gnu = [s for k, s in self.items if k == "gnu"]
        enc = iter(encode(gnu))
        out = []
        for k, s in self.items:
            if k == "go":
                out.append(s)
                continue
            b = next(enc)
            out.append("\tBYTE " + "; BYTE ".join(f"$0x{x:02x}" for x in b) + f" // {s}")
        return "\n".join(out)


def amx():
    a = Asm()
    a.go("// func amxBF16(cfg *byte, a, b *uint16, kblocks, npanels int, c *float32, ldc, ldb int, acc bool)")
    a.go("TEXT ·amxBF16(SB), NOSPLIT, $0-65")
    a.go("\tMOVQ cfg+0(FP), DI")
    a.go("\tMOVQ b+16(FP), BX")
    a.go("\tMOVQ kblocks+24(FP), R8")
    a.go("\tMOVQ npanels+32(FP), R9")
    a.go("\tMOVQ c+40(FP), R10")
    a.go("\tMOVQ ldc+48(FP), R13")
    a.go("\tSHLQ $2, R13")  # C's row stride in bytes
    a.go("\tMOVQ ldb+56(FP), R12")
    a.go("\tSHLQ $2, R12")  # B's depth-pair stride in bytes (ldb columns × 2 bf16)
    a.go("\tMOVQ R12, AX")
    a.go("\tSHLQ $4, AX")  # 16 depth pairs: one depth block of B
    a.go("\tMOVQ $64, R11")
    a.gnu("ldtilecfg (%rdi)")
    a.go("panel:")
    a.go("\tMOVQ R13, R14")
    a.go("\tSHLQ $4, R14")
    a.go("\tADDQ R10, R14")  # C rows 16-31
    a.go("\tCMPB acc+64(FP), $0")
    a.go("\tJNE load")
    for t in range(4):
        a.gnu(f"tilezero %tmm{t}")
    a.go("\tJMP start")
    a.go("load:")
    a.gnu("tileloadd (%r10,%r13,1), %tmm0")
    a.gnu("tileloadd 64(%r10,%r13,1), %tmm1")
    a.gnu("tileloadd (%r14,%r13,1), %tmm2")
    a.gnu("tileloadd 64(%r14,%r13,1), %tmm3")
    a.go("start:")
    a.go("\tMOVQ a+8(FP), SI")
    a.go("\tMOVQ BX, DX")
    a.go("\tMOVQ R8, CX")
    a.go("kloop:")
    a.gnu("tileloadd (%rsi,%r11,1), %tmm4")  # A rows 0-15: 16 × 64 bytes
    a.gnu("tileloadd 1024(%rsi,%r11,1), %tmm5")  # A rows 16-31
    a.gnu("tileloadd (%rdx,%r12,1), %tmm6")  # B columns 0-15: 16 depth pairs, ldb·4 bytes apart
    a.gnu("tileloadd 64(%rdx,%r12,1), %tmm7")  # B columns 16-31
    a.gnu("tdpbf16ps %tmm6, %tmm4, %tmm0")  # C[0:16][0:16] += A0·B0
    a.gnu("tdpbf16ps %tmm7, %tmm4, %tmm1")  # C[0:16][16:32] += A0·B1
    a.gnu("tdpbf16ps %tmm6, %tmm5, %tmm2")  # C[16:32][0:16] += A1·B0
    a.gnu("tdpbf16ps %tmm7, %tmm5, %tmm3")  # C[16:32][16:32] += A1·B1
    a.go("\tADDQ $2048, SI")
    a.go("\tADDQ AX, DX")
    a.go("\tDECQ CX")
    a.go("\tJNZ kloop")
    a.gnu("tilestored %tmm0, (%r10,%r13,1)")
    a.gnu("tilestored %tmm1, 64(%r10,%r13,1)")
    a.gnu("tilestored %tmm2, (%r14,%r13,1)")
    a.gnu("tilestored %tmm3, 64(%r14,%r13,1)")
    a.go("\tADDQ $128, R10")  # the next 32 columns of C
    a.go("\tADDQ $128, BX")  # and of B
    a.go("\tDECQ R9")
    a.go("\tJNZ panel")
    a.gnu("tilerelease")
    a.go("\tRET")
    return a.text()


def amx16():
    a = Asm()
    a.go("// func amxBF16x16(cfg *byte, a, b *uint16, kblocks int, c *float32, ldc, ldb int, acc bool)")
    a.go("TEXT ·amxBF16x16(SB), NOSPLIT, $0-57")
    a.go("\tMOVQ cfg+0(FP), DI")
    a.go("\tMOVQ a+8(FP), SI")
    a.go("\tMOVQ b+16(FP), DX")
    a.go("\tMOVQ kblocks+24(FP), CX")
    a.go("\tMOVQ c+32(FP), R10")
    a.go("\tMOVQ ldc+40(FP), R13")
    a.go("\tSHLQ $2, R13")  # C's row stride in bytes
    a.go("\tMOVQ ldb+48(FP), R12")
    a.go("\tSHLQ $2, R12")  # B's depth-pair stride in bytes
    a.go("\tMOVQ R12, AX")
    a.go("\tSHLQ $4, AX")  # one depth block of B
    a.go("\tMOVQ $64, R11")
    a.go("\tMOVQ R13, R14")
    a.go("\tSHLQ $4, R14")
    a.go("\tADDQ R10, R14")  # C rows 16-31
    a.gnu("ldtilecfg (%rdi)")
    a.go("\tCMPB acc+56(FP), $0")
    a.go("\tJNE load16")
    a.gnu("tilezero %tmm0")
    a.gnu("tilezero %tmm2")
    a.go("\tJMP kloop16")
    a.go("load16:")
    a.gnu("tileloadd (%r10,%r13,1), %tmm0")
    a.gnu("tileloadd (%r14,%r13,1), %tmm2")
    a.go("kloop16:")
    a.gnu("tileloadd (%rsi,%r11,1), %tmm4")  # A rows 0-15
    a.gnu("tileloadd 1024(%rsi,%r11,1), %tmm5")  # A rows 16-31
    a.gnu("tileloadd (%rdx,%r12,1), %tmm6")  # B columns 0-15
    a.gnu("tdpbf16ps %tmm6, %tmm4, %tmm0")  # C[0:16][0:16] += A0·B0
    a.gnu("tdpbf16ps %tmm6, %tmm5, %tmm2")  # C[16:32][0:16] += A1·B0
    a.go("\tADDQ $2048, SI")
    a.go("\tADDQ AX, DX")
    a.go("\tDECQ CX")
    a.go("\tJNZ kloop16")
    a.gnu("tilestored %tmm0, (%r10,%r13,1)")
    a.gnu("tilestored %tmm2, (%r14,%r13,1)")
    a.gnu("tilerelease")
    a.go("\tRET")
    return a.text()


def dot8x32():
    a = Asm()
    a.go("// func dotBF16x8x32(a, b *uint16, kblocks, ldb int, c *float32, ldc int, acc bool)")
    a.go("TEXT ·dotBF16x8x32(SB), NOSPLIT, $0-49")
    a.go("\tMOVQ a+0(FP), SI")
    a.go("\tMOVQ b+8(FP), DX")
    a.go("\tMOVQ kblocks+16(FP), CX")
    a.go("\tMOVQ ldb+24(FP), R8")
    a.go("\tSHLQ $2, R8")  # bytes between depth pairs of B (ldb columns × 2 bf16)
    a.go("\tMOVQ c+32(FP), DI")
    a.go("\tMOVQ ldc+40(FP), R9")
    a.go("\tSHLQ $2, R9")
    for r in range(16):
        a.go(f"\tVPXORD Z{r}, Z{r}, Z{r}")
    a.go("kloop:")
    # 16 depth pairs of a 32-deep block: B's two vectors of 16 columns,
    # then each of the 8 rows' pair (broadcast from A) against both.
    for q in range(16):
        a.go("\tVMOVDQU16 (DX), Z16")
        a.go("\tVMOVDQU16 64(DX), Z17")
        for r in range(8):
            d = r * 64 + q * 4
            a.gnu(f"vdpbf16ps {d}(%rsi){{1to16}}, %zmm16, %zmm{2 * r}")
            a.gnu(f"vdpbf16ps {d}(%rsi){{1to16}}, %zmm17, %zmm{2 * r + 1}")
        a.go("\tADDQ R8, DX")
    a.go("\tADDQ $2048, SI")  # the panel's next block (32 rows × 32 depths)
    a.go("\tDECQ CX")
    a.go("\tJNZ kloop")
    a.go("\tCMPB acc+48(FP), $0")
    a.go("\tJEQ store")
    for r in range(8):
        a.go(f"\tVADDPS (DI), Z{2 * r}, Z{2 * r}")
        a.go(f"\tVADDPS 64(DI), Z{2 * r + 1}, Z{2 * r + 1}")
        if r < 7:
            a.go("\tADDQ R9, DI")
    a.go("\tMOVQ c+32(FP), DI")
    a.go("store:")
    for r in range(8):
        a.go(f"\tVMOVUPS Z{2 * r}, (DI)")
        a.go(f"\tVMOVUPS Z{2 * r + 1}, 64(DI)")
        if r < 7:
            a.go("\tADDQ R9, DI")
    a.go("\tVZEROUPPER")
    a.go("\tRET")
    return a.text()


def pack_pairs():
    a = Asm()
    a.go("// func packPairsBF16(dst *uint16, r0, r1 *float32, n int)")
    a.go("TEXT ·packPairsBF16(SB), NOSPLIT, $0-32")
    a.go("\tMOVQ dst+0(FP), DI")
    a.go("\tMOVQ r0+8(FP), SI")
    a.go("\tMOVQ r1+16(FP), DX")
    a.go("\tMOVQ n+24(FP), CX")
    a.go("\tSHRQ $4, CX")  # 16 columns a step
    a.go("\tJZ done")
    a.go("\tVMOVDQU16 ·interleave16<>(SB), Z7")
    a.go("loop:")
    a.go("\tVMOVUPS (SI), Z0")  # r0[j:j+16]
    a.go("\tVMOVUPS (DX), Z1")  # r1[j:j+16]
    # Words 0-15 = bf16(r0), 16-31 = bf16(r1) (the r/m source gives the low half).
    a.gnu("vcvtne2ps2bf16 %zmm0, %zmm1, %zmm2")
    a.go("\tVPERMW Z2, Z7, Z3")  # words r0[0], r1[0], r0[1], r1[1], …
    a.go("\tVMOVDQU16 Z3, (DI)")
    a.go("\tADDQ $64, SI")
    a.go("\tADDQ $64, DX")
    a.go("\tADDQ $64, DI")
    a.go("\tDECQ CX")
    a.go("\tJNZ loop")
    a.go("done:")
    a.go("\tVZEROUPPER")
    a.go("\tRET")
    return a.text()


def cvt():
    a = Asm()
    a.go("// func cvtBF16(dst *uint16, src *float32, n int)")
    a.go("TEXT ·cvtBF16(SB), NOSPLIT, $0-24")
    a.go("\tMOVQ dst+0(FP), DI")
    a.go("\tMOVQ src+8(FP), SI")
    a.go("\tMOVQ n+16(FP), CX")
    a.go("\tSHRQ $5, CX")  # 32 values a step
    a.go("\tJZ done")
    a.go("loop:")
    a.go("\tVMOVUPS (SI), Z0")
    a.go("\tVMOVUPS 64(SI), Z1")
    a.gnu("vcvtne2ps2bf16 %zmm0, %zmm1, %zmm2")  # low half src[0:16], high src[16:32]
    a.go("\tVMOVDQU16 Z2, (DI)")
    a.go("\tADDQ $128, SI")
    a.go("\tADDQ $64, DI")
    a.go("\tDECQ CX")
    a.go("\tJNZ loop")
    a.go("done:")
    a.go("\tVZEROUPPER")
    a.go("\tRET")
    return a.text()


def cvt_gather():
    a = Asm()
    a.go("// func cvtGatherBF16(dst *uint16, dstStride int, src *float32, srcStride int, blocks int)")
    a.go("TEXT ·cvtGatherBF16(SB), NOSPLIT, $0-40")
    a.go("\tMOVQ dst+0(FP), DI")
    a.go("\tMOVQ dstStride+8(FP), DX")
    a.go("\tMOVQ src+16(FP), SI")
    a.go("\tMOVQ srcStride+24(FP), R8")
    a.go("\tMOVQ blocks+32(FP), CX")
    a.go("\tTESTQ CX, CX")
    a.go("\tJZ done")
    a.go("loop:")
    a.go("\tVMOVUPS (SI), Z0")  # 16 values of one sample
    a.go("\tVMOVUPS (SI)(R8*1), Z1")  # the next sample's 16
    a.gnu("vcvtne2ps2bf16 %zmm0, %zmm1, %zmm2")  # low half from Z0, high from Z1
    a.go("\tVMOVDQU16 Z2, (DI)")
    a.go("\tLEAQ (SI)(R8*2), SI")
    a.go("\tADDQ DX, DI")
    a.go("\tDECQ CX")
    a.go("\tJNZ loop")
    a.go("done:")
    a.go("\tVZEROUPPER")
    a.go("\tRET")
    return a.text()


def main():
    # VPERMW index: result word 2i = word i (r0[i]), word 2i+1 = word 16+i (r1[i]).
    idx = []
    for i in range(16):
        idx += [i, 16 + i]
    data = []
    for q in range(8):  # 8 quadwords of 4 words
        w = idx[4 * q:4 * q + 4]
        v = w[0] | w[1] << 16 | w[2] << 32 | w[3] << 48
        data.append(f"DATA ·interleave16<>+{8 * q}(SB)/8, ${v:#018x}")
    parts = [
        "// Code generated by scripts/gen_bf16_amd64.py; DO NOT EDIT.",
        "",
        "//go:build amd64 && !purego",
        "",
        '#include "textflag.h"',
        "",
        "\n".join(data),
        "GLOBL ·interleave16<>(SB), RODATA|NOPTR, $64",
        "",
        amx(),
        "",
        amx16(),
        "",
        dot8x32(),
        "",
        pack_pairs(),
        "",
        cvt(),
        "",
        cvt_gather(),
        "",
    ]
    with open("blas/bf16_amd64.s", "w") as f:
        f.write("\n".join(parts))


if __name__ == "__main__":
    main()
