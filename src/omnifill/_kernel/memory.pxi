# omnifill._core, memory: Output memory: blocks that grow by mremap and become numpy arrays without a copy.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

cdef extern from "<sys/mman.h>" nogil:
    void* mmap(void* addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void* addr, size_t length)
    int madvise(void* addr, size_t length, int advice)
    void* mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...)
    int PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MREMAP_MAYMOVE
    void* MAP_FAILED
    int MADV_HUGEPAGE


cdef struct Block:
    # An output array. Small ones live on the heap; from MAPPED_BYTES on, anonymous pages asked
    # to be huge (as numpy does for large arrays, so the kernel faults 2 MiB at a time), grown
    # by mremap, which moves pages, never data. A one-order query thus costs no page zeroing.
    char* ptr
    size_t cap      # bytes held
    bint mapped     # mmap'd (free with munmap) or malloc'd (free with free)


cdef enum:
    MAPPED_BYTES = 1 << 21


cdef int _block_reserve(Block* b, size_t nbytes) noexcept nogil:
    cdef size_t cap
    cdef void* p
    if nbytes <= b.cap:
        return OK
    cap = b.cap * 2 if b.cap else 4096
    while cap < nbytes:
        cap *= 2
    if cap < MAPPED_BYTES:
        p = realloc(b.ptr, cap)
        if p == NULL:
            return ERR_NOMEM
    elif b.mapped:
        p = mremap(b.ptr, b.cap, cap, MREMAP_MAYMOVE)
        if p == MAP_FAILED:
            return ERR_NOMEM
    else:
        p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            return ERR_NOMEM
        if b.ptr != NULL:
            memcpy(p, b.ptr, b.cap)   # leaving the heap: at most MAPPED_BYTES copied, once
            free(b.ptr)
        b.mapped = True
    if b.mapped:
        madvise(p, cap, MADV_HUGEPAGE)
    b.ptr = <char*>p
    b.cap = cap
    return OK


cdef void _block_free(Block* b) noexcept nogil:
    if b.ptr != NULL:
        if b.mapped:
            munmap(b.ptr, b.cap)
        else:
            free(b.ptr)
    b.ptr = NULL
    b.cap = 0


cdef class _BlockArray:
    """Owns one Block and lends it to numpy through the buffer protocol (no copy)."""
    cdef Block block
    cdef Py_ssize_t n, itemsize
    cdef bytes fmt
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __getbuffer__(self, Py_buffer* view, int flags):
        self.shape[0] = self.n
        self.strides[0] = self.itemsize
        view.buf = self.block.ptr
        view.obj = self
        view.len = self.n * self.itemsize
        view.readonly = 0
        view.itemsize = self.itemsize
        view.format = self.fmt
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __dealloc__(self):
        _block_free(&self.block)


cdef object _as_array(Block b, Py_ssize_t n, Py_ssize_t itemsize, bytes fmt, dtype):
    cdef _BlockArray a = _BlockArray.__new__(_BlockArray)
    a.block = b
    a.n = n
    a.itemsize = itemsize
    a.fmt = fmt
    if n == 0:
        return np.zeros(0, dtype=dtype)  # the block (if any) is unmapped with `a`
    return np.asarray(a).view(dtype)
