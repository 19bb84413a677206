# omnifill._core, errors: The kernel's error codes and the one place they become exceptions; argument coercion for the `def` layer.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

cdef enum:
    OK = 0
    ERR_NOMEM = 1
    ERR_STORE_INDEX = 2
    ERR_BOUNDS = 3

cdef int _raise_for(int code) except -1:
    if code == OK:
        return 0
    if code == ERR_NOMEM:
        raise MemoryError("omnifill._core: out of memory")
    if code == ERR_STORE_INDEX:
        raise IndexError("omnifill._core: a zone pair names a store index outside the network")
    if code == ERR_BOUNDS:
        raise RuntimeError("omnifill._core: an option has more elements than max_packages + max_transfers + 1")
    raise RuntimeError(f"omnifill._core: unknown error code {code}")


def _as_f64(name, a, n=None):
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has length {arr.shape[0]}, expected {n}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name}[{bad}] is not finite: {arr[bad]!r}")
    return arr
