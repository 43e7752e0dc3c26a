# bcryptprimitives.dll for Wine 8, which lacks it: bun.exe imports ProcessPrng from it for its
# random numbers. BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData) fills the buffer and returns
# TRUE; this one hands both arguments (rcx, rdx, unchanged) to advapi32's SystemFunction036
# (RtlGenRandom), which does the same, and returns its BOOLEAN. Its ULONG length takes the low
# 32 bits of cbData: Bun asks for a few bytes at a time. Built by test/windows/wine.ts with
# llvm-mc, llvm-dlltool and lld-link (Debian's llvm and lld packages).
        .text
        .globl  ProcessPrng
ProcessPrng:
        subq    $40, %rsp                       # shadow space for the callee, stack 16-aligned
        callq   *__imp_SystemFunction036(%rip)
        movzbl  %al, %eax                       # RtlGenRandom's BOOLEAN as the BOOL
        addq    $40, %rsp
        retq
