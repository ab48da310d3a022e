"""The C half of minirun, built with cffi at install time.

Only what Python 3.11's standard library lacks lives here: unshare, setns,
mount, umount2, pivot_root, setdomainname, prctl, capget/capset, openat2,
inotify (the API's wait for a file),
and libseccomp (compiling a filter, and installing a compiled one); bpf
(a cgroup v2 device program); and sethostname, which the socket module has, but importing
socket costs about 2 ms on every start.  Every function is a short pass-through that returns -1 and
sets errno; minirun/kernel/_native.py turns that into OSError in one place.
No policy lives in C.

One function is not the kernel's: mr_inflate_span, zlib's inflatePrime
and inflateSetDictionary (which Python's zlib module lacks) for a lazy
layer's spans; its door is minirun/engine/lazy/inflate.py.  It is here,
not in ctypes, so that the compiler lays out zlib's z_stream from zlib.h
(no hand-copied struct) and all of minirun's C is built in one place, by
one tool, into one module; the call releases the GIL, so spans inflate in
parallel as before.  zlib.h comes with
python3-dev (zlib1g-dev); the interpreter already links libz.so.1, so
linking it here loads nothing new at start.

The doors into this module are listed in tests/unit/test_layout.py
(NATIVE_DOORS); no other module may import it, ctypes or cffi.
"""
from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef("""
int unshare(int flags);
int setns(int fd, int nstype);
int mount(const char *source, const char *target, const char *filesystemtype,
          unsigned long mountflags, const void *data);
int umount2(const char *target, int flags);
int setdomainname(const char *name, size_t len);
int sethostname(const char *name, size_t len);
int inotify_init1(int flags);
int inotify_add_watch(int fd, const char *pathname, uint32_t mask);

int mr_pivot_root(const char *new_root, const char *put_old);
int mr_prctl(int option, unsigned long arg2, unsigned long arg3,
             unsigned long arg4, unsigned long arg5);
int mr_capget(uint32_t data[6]);
int mr_capset(const uint32_t data[6]);
int mr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
               uint64_t resolve);

typedef struct { unsigned int arg; int op; uint64_t datum_a; uint64_t datum_b; } mr_arg_cmp;
void *mr_seccomp_init(uint32_t def_action);
void mr_seccomp_release(void *ctx);
int mr_seccomp_arch_add(void *ctx, const char *arch_name);
int mr_seccomp_syscall_resolve_name(const char *name);
int mr_seccomp_rule_add(void *ctx, uint32_t action, int syscall,
                        unsigned int arg_cnt, const mr_arg_cmp *args);
int mr_seccomp_attr_set(void *ctx, int attr, uint32_t value);
int mr_seccomp_load(void *ctx);
int mr_seccomp_export_bpf(void *ctx, int fd);
int mr_seccomp_set_filter(const unsigned char *program, unsigned int length);
unsigned int mr_seccomp_version(void);
int mr_bpf_prog_load_device(const unsigned char *insns, unsigned int length,
                            char *log, unsigned int log_size);
int mr_bpf_prog_attach_device(int cgroup_fd, int prog_fd);
int mr_signal_default(int sig);
long mr_inflate_span(const char *in, size_t in_len, int bits,
                     const char *window, size_t window_len, char *out, size_t out_len);
""")

ffibuilder.set_source("minirun._native", r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <string.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <limits.h>
#include <zlib.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct mr_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };

int mr_pivot_root(const char *new_root, const char *put_old)
{
    return syscall(SYS_pivot_root, new_root, put_old);
}

int mr_prctl(int option, unsigned long a2, unsigned long a3,
             unsigned long a4, unsigned long a5)
{
    return prctl(option, a2, a3, a4, a5);
}

/* data[0..2] = effective, permitted, inheritable (low 32 bits);
   data[3..5] = the same, high 32 bits. */
int mr_capget(uint32_t data[6])
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    data[0] = d[0].effective; data[1] = d[0].permitted; data[2] = d[0].inheritable;
    data[3] = d[1].effective; data[4] = d[1].permitted; data[5] = d[1].inheritable;
    return 0;
}

int mr_capset(const uint32_t data[6])
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { data[0], data[1], data[2] }, { data[3], data[4], data[5] } };
    return syscall(SYS_capset, &h, d);
}

int mr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
               uint64_t resolve)
{
    struct mr_open_how how = { flags, mode, resolve };
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* libseccomp returns -errno; these set errno and return -1 instead. */
#define MR_SCMP(expr) do { int r_ = (expr); if (r_ < 0) { errno = -r_; return -1; } return r_; } while (0)

void *mr_seccomp_init(uint32_t def_action) { return seccomp_init(def_action); }
void mr_seccomp_release(void *ctx) { seccomp_release(ctx); }

int mr_seccomp_arch_add(void *ctx, const char *arch_name)
{
    uint32_t token = seccomp_arch_resolve_name(arch_name);
    if (token == 0) { errno = EINVAL; return -1; }
    MR_SCMP(seccomp_arch_add(ctx, token));
}

int mr_seccomp_syscall_resolve_name(const char *name)
{
    return seccomp_syscall_resolve_name(name);
}

typedef struct { unsigned int arg; int op; uint64_t datum_a; uint64_t datum_b; } mr_arg_cmp;

int mr_seccomp_rule_add(void *ctx, uint32_t action, int syscall_nr,
                        unsigned int arg_cnt, const mr_arg_cmp *args)
{
    struct scmp_arg_cmp a[6];
    unsigned int i;
    if (arg_cnt > 6) { errno = EINVAL; return -1; }
    for (i = 0; i < arg_cnt; i++) {
        a[i].arg = args[i].arg; a[i].op = (enum scmp_compare)args[i].op;
        a[i].datum_a = args[i].datum_a; a[i].datum_b = args[i].datum_b;
    }
    MR_SCMP(seccomp_rule_add_array(ctx, action, syscall_nr, arg_cnt, a));
}

int mr_seccomp_attr_set(void *ctx, int attr, uint32_t value)
{
    MR_SCMP(seccomp_attr_set(ctx, (enum scmp_filter_attr)attr, value));
}

int mr_seccomp_load(void *ctx) { MR_SCMP(seccomp_load(ctx)); }
int mr_seccomp_export_bpf(void *ctx, int fd) { MR_SCMP(seccomp_export_bpf(ctx, fd)); }

/* Install a compiled program: what seccomp_load does after compiling. */
int mr_seccomp_set_filter(const unsigned char *program, unsigned int length)
{
    struct sock_fprog prog;
    if (length % sizeof(struct sock_filter) != 0) { errno = EINVAL; return -1; }
    prog.len = length / sizeof(struct sock_filter);
    prog.filter = (struct sock_filter *)program;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* bpf(2): load a cgroup device program; attach it to a cgroup (v2). */
int mr_bpf_prog_load_device(const unsigned char *insns, unsigned int length,
                            char *log, unsigned int log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = length / sizeof(struct bpf_insn);
    attr.license = (uint64_t)(uintptr_t)"Apache";
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = log_size;
    attr.log_level = log_size ? 1 : 0;
    return syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
}

int mr_bpf_prog_attach_device(int cgroup_fd, int prog_fd)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    return syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr);
}

/* rt_sigaction(sig, SIG_DFL) as a raw syscall: the C library refuses the
   two signals it keeps for itself (32, 33), which a parent may have ignored. */
struct mr_kernel_sigaction { void *handler; unsigned long flags; void *restorer;
                             unsigned long mask; };
int mr_signal_default(int sig)
{
    struct mr_kernel_sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.handler = (void *)0;   /* SIG_DFL */
    return syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask);
}

/* zlib's examples/zran.c, one span: a raw inflater whose first `bits` bits
   (0-7) are the top bits of in[0], with `window` (the output before the
   span) as its dictionary, inflating into out[0..out_len).  Returns the
   bytes written (short where the data ended early), or -1 and errno:
   ENOMEM (no inflater), EINVAL (bits or window refused by zlib), EIO (not
   deflate data), EOVERFLOW (more than zlib's 4 GiB at once). */
long mr_inflate_span(const char *in, size_t in_len, int bits,
                     const char *window, size_t window_len, char *out, size_t out_len)
{
    z_stream s;
    int ret = Z_OK;
    if (in_len > UINT_MAX || window_len > UINT_MAX || out_len > UINT_MAX
            || out_len > LONG_MAX) { errno = EOVERFLOW; return -1; }
    if (bits && in_len == 0) { errno = EIO; return -1; }
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK) { errno = ENOMEM; return -1; }
    if (bits) {
        ret = inflatePrime(&s, bits, (unsigned char)in[0] >> (8 - bits));
        in++; in_len--;
    }
    if (ret == Z_OK && window_len)
        ret = inflateSetDictionary(&s, (const Bytef *)window, (uInt)window_len);
    if (ret != Z_OK) { inflateEnd(&s); errno = EINVAL; return -1; }
    s.next_in = (Bytef *)in; s.avail_in = (uInt)in_len;
    s.next_out = (Bytef *)out; s.avail_out = (uInt)out_len;
    ret = inflate(&s, Z_NO_FLUSH);
    inflateEnd(&s);
    if (ret == Z_MEM_ERROR) { errno = ENOMEM; return -1; }
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) { errno = EIO; return -1; }
    return (long)(out_len - s.avail_out);
}

unsigned int mr_seccomp_version(void)
{
    const struct scmp_version *v = seccomp_version();
    return v->major * 10000 + v->minor * 100 + v->micro;
}
""", libraries=["seccomp", "z"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
