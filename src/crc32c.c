/*
 * CRC-32C with the CPU's own instruction, compiled at load by bun:ffi's cc() (TinyCC) and
 * loaded by src/crc32c-native.ts, which checks the CPU first and tests every function against
 * the TypeScript implementation before it uses any. Checksums only: what a frame is, what is
 * valid and what is cut are decided in TypeScript.
 *
 * No #include and no libc (compiled with -nostdlib): slim images without C headers or libc.so
 * still compile it. TinyCC has no crc32 mnemonic on either architecture, so the instructions
 * are written as their bytes, each beside the instruction it is.
 *
 * Every function works on the CRC register (no pre- or post-inversion inside); the callers
 * below invert at the edges, as the format's CRC-32C (init and final xor 0xFFFFFFFF) needs.
 */

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

#if defined(__x86_64__) || defined(_M_X64)

/*
 * Three chains of CHAIN bytes each run side by side: the crc32 instruction takes 3 cycles
 * but starts one per cycle, so one chain uses a third of it. They are joined by advancing
 * the earlier chains' registers over CHAIN zero bytes (shift_table), which is what running
 * one chain over all of it would have done. 8 KiB chains: the join costs two table lookups
 * of four bytes per 24 KiB, and inputs shorter than 24 KiB run one chain.
 */
#define CHAIN 8192

/* shift_table[k * 256 + b]: register byte k holding b, advanced over CHAIN zero bytes. */
static u32 shift_table[1024];
static u64 zero_words[CHAIN / 8];

/* CPUID leaf 1, ECX bit 20: SSE4.2, which brings crc32. Every x86-64 CPU has CPUID. */
u32 crc32c_cpu_supported(void) {
  u32 a = 1, b, c = 0, d;
  __asm__ volatile(".byte 0x0f, 0xa2" /* cpuid */ : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  return (c >> 20) & 1;
}

/* The register after `words` 8-byte words at p. */
static u64 one_chain(const u8 *p, u64 words, u64 reg) {
  if (words == 0) return reg;
  __asm__ volatile(
      "1:\n"
      ".byte 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x06\n" /* crc32q (%rsi), %rax */
      "add $8, %%rsi\n"
      "dec %%rcx\n"
      "jnz 1b\n"
      : "+a"(reg), "+S"(p), "+c"(words)
      :
      : "memory", "cc");
  return reg;
}

/* Runs the chains at p, p + CHAIN and p + 2 * CHAIN over CHAIN bytes each. */
static void three_chains(const u8 *p, u64 *reg0, u64 *reg1, u64 *reg2) {
  u64 a = *reg0, d = *reg1, di = *reg2, words = CHAIN / 8;
  __asm__ volatile(
      "1:\n"
      ".byte 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x06\n"                         /* crc32q (%rsi), %rax */
      ".byte 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x96, 0x00, 0x20, 0x00, 0x00\n" /* crc32q 8192(%rsi), %rdx */
      ".byte 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xbe, 0x00, 0x40, 0x00, 0x00\n" /* crc32q 16384(%rsi), %rdi */
      "add $8, %%rsi\n"
      "dec %%rcx\n"
      "jnz 1b\n"
      : "+a"(a), "+d"(d), "+D"(di), "+S"(p), "+c"(words)
      :
      : "memory", "cc");
  *reg0 = a;
  *reg1 = d;
  *reg2 = di;
}

static u32 one_byte(u32 reg, u32 byte) {
  __asm__(".byte 0xf2, 0x0f, 0x38, 0xf0, 0xc1" /* crc32b %cl, %eax */ : "+a"(reg) : "c"(byte));
  return reg;
}

static u32 shift(u32 reg) {
  return shift_table[reg & 0xff] ^ shift_table[256 + ((reg >> 8) & 0xff)] ^
         shift_table[512 + ((reg >> 16) & 0xff)] ^ shift_table[768 + (reg >> 24)];
}

/* Builds shift_table: the image of each register bit, then every byte as the XOR of its bits. */
void crc32c_prepare(void) {
  for (u32 i = 0; i < 1024; i++) shift_table[i] = 0;
  for (u32 bit = 0; bit < 32; bit++) {
    u32 image = (u32)one_chain((const u8 *)zero_words, CHAIN / 8, (u64)1 << bit);
    u32 slot = (bit >> 3) * 256, mask = 1u << (bit & 7);
    for (u32 b = 0; b < 256; b++)
      if (b & mask) shift_table[slot + b] ^= image;
  }
}

static u32 advance(const u8 *p, u64 n, u32 reg) {
  u64 r = reg;
  for (; n >= 3 * CHAIN; p += 3 * CHAIN, n -= 3 * CHAIN) {
    u64 r1 = 0, r2 = 0;
    three_chains(p, &r, &r1, &r2);
    r = shift(shift((u32)r) ^ (u32)r1) ^ (u32)r2;
  }
  r = one_chain(p, n >> 3, r);
  p += n & ~(u64)7;
  u32 out = (u32)r;
  for (n &= 7; n > 0; n--) out = one_byte(out, *p++);
  return out;
}

#elif defined(__aarch64__) || defined(_M_ARM64)

/*
 * One chain: the crc32cx instruction is fast enough on arm64 cores that one chain runs near
 * memory speed. The function is written whole in instruction words (AAPCS64: x0 = bytes,
 * x1 = length, w2 = register; returns the register in w0), assembled with llvm-mc
 * -mattr=+crc. `.int`, not `.word`: TinyCC makes `.word` two bytes. Both names, because
 * Mach-O prefixes C symbols with an underscore.
 */
__asm__(
    ".text\n"
    ".p2align 2\n"
    ".globl crc32c_arm64_advance\n"
    ".globl _crc32c_arm64_advance\n"
    "crc32c_arm64_advance:\n"
    "_crc32c_arm64_advance:\n"
    ".int 0xf100203f\n" /*     cmp x1, #8             */
    ".int 0x540000c3\n" /*     b.lo 2f                */
    ".int 0xf8408403\n" /* 1:  ldr x3, [x0], #8       */
    ".int 0x9ac35c42\n" /*     crc32cx w2, w2, x3     */
    ".int 0xd1002021\n" /*     sub x1, x1, #8         */
    ".int 0xf100203f\n" /*     cmp x1, #8             */
    ".int 0x54ffff82\n" /*     b.hs 1b                */
    ".int 0xb40000a1\n" /* 2:  cbz x1, 4f             */
    ".int 0x38401403\n" /* 3:  ldrb w3, [x0], #1      */
    ".int 0x1ac35042\n" /*     crc32cb w2, w2, w3     */
    ".int 0xf1000421\n" /*     subs x1, x1, #1        */
    ".int 0x54ffffa1\n" /*     b.ne 3b                */
    ".int 0x2a0203e0\n" /* 4:  mov w0, w2             */
    ".int 0xd65f03c0\n" /*     ret                    */
);
u32 crc32c_arm64_advance(const u8 *p, u64 n, u32 reg);

/* The CPU check needs the OS (HWCAP, sysctl, IsProcessorFeaturePresent): TypeScript does it. */
u32 crc32c_cpu_supported(void) { return 1; }

void crc32c_prepare(void) {}

static u32 advance(const u8 *p, u64 n, u32 reg) { return crc32c_arm64_advance(p, n, reg); }

#else
#error "no CRC-32C instruction on this architecture"
#endif

/* The CRC-32C of bytes[start..end), continuing from `previous` (0 for a fresh one). */
u32 crc32c_range(const u8 *bytes, u32 start, u32 end, u32 previous) {
  return ~advance(bytes + start, end - start, ~previous);
}

/*
 * For each i < count, out[i] = CRC-32C of bytes[ranges[2i]..ranges[2i+1]). Returns count, or
 * the index of the first range that is reversed or runs past `length`, before computing it:
 * the caller's bounds are checked here, where a wrong one would read outside the buffer.
 */
u32 crc32c_ranges(const u8 *bytes, u32 length, const u32 *ranges, u32 count, u32 *out) {
  for (u32 i = 0; i < count; i++) {
    u32 start = ranges[2 * i], end = ranges[2 * i + 1];
    if (start > end || end > length) return i;
    out[i] = ~advance(bytes + start, end - start, 0xffffffffu);
  }
  return count;
}
