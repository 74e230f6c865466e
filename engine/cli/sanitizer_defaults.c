/*
 * Sanitizer defaults for the engine's own binary and the device bench, in
 * builds with AddressSanitizer only, so that a debug build runs device
 * jobs by hand as the tests run them. ASAN_OPTIONS and LSAN_OPTIONS in the environment
 * still win.
 *
 * PoCL 3.1 compiles kernels with libLLVM-15, which gives the compiling
 * thread an alternate signal stack of its own. When that thread exits,
 * ASan unmaps the thread's alternate stack as if it were its own, the
 * unmap fails, and ASan aborts the run with "failed to deallocate". So
 * the engine runs without ASan's alternate stack, which ASan uses only to
 * report stack overflows.
 *
 * PoCL and LLVM also keep compiler state until the process ends and never
 * free it, which LeakSanitizer would report at exit. The suppressions are
 * those of tests/support/lsan-opencl.supp, which the tests use.
 */
#ifndef __has_feature
#define __has_feature(x) 0 /* GCC before 14 has no __has_feature */
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void)
{
	return "use_sigaltstack=0";
}

const char *__lsan_default_suppressions(void)
{
	return "leak:libpocl.so\n"
	       "leak:libLLVM\n"
	       "leak:libOpenCL.so\n"
	       "leak:libclang-cpp\n";
}
#else
typedef int bl_sanitizer_defaults_unused; /* ISO C wants a declaration in every file */
#endif
