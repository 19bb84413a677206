# omnifill._core: the compiled kernel (candidate search and inventory coverage).
#
# Error policy (how errors cross from C to Python)
# ------------------------------------------------
# The `def` functions below coerce and check their arguments once (dtype, shape, finiteness)
# and raise ValueError naming the argument. Below them, `cdef ... noexcept nogil` functions do
# the work over typed memoryviews and return an int error code (0 = ok, ERR_* otherwise). They
# never raise and never touch Python objects. After the GIL is back, `_raise_for(code)` turns a
# code into the one exception it stands for. Scratch memory is freed before a kernel returns,
# on every path; output blocks are handed to their owning arrays even when the kernel failed.
#
# Data layout
# -----------
# Points on Earth are unit vectors p = (cos lat cos lon, cos lat sin lon, sin lat). The chord
# c = |p - q| gives the great-circle distance exactly: d = 2 R asin(c / 2) (haversine's h is
# (c/2)^2). So the kernel never evaluates a trigonometric function per (order, store) pair:
# c^2 is six flops, and asin of the small half-chord is an odd polynomial (exact to double
# precision below 255 km, libm beyond).
#
# The grid: stores are projected orthographically onto the plane tangent to the sphere at the
# city's centre, (u, v) = (p . east, p . north). Orthographic projection is a contraction,
# |P(p) - P(q)| <= |p - q|, so every store within chord r of an order lies within planar
# distance r of the order's projection: a planar disc search never misses a store, at any
# latitude and across the antimeridian (it only gets less selective far from the centre).
# Cells are square, `cell` wide, `ncols` x `nrows`, numbered row-major. Stores are sorted by
# (cell, store index) into the arrays sx, sy, sz, sh (handling minutes), sidx (store index in
# the network) and szone (zone tier bits); cell_start[k] .. cell_start[k+1] is cell k's slice.
# The cells a disc touches within one row are contiguous, so a query scans, per row, a single
# contiguous span of stores.
#
# Candidate output is CSR: indptr (n_orders + 1, int64), store_index (int32), eta_min (f64);
# each order's stores sorted by ETA, then store index. The output arrays are anonymous
# mappings asked for huge pages, grown by mremap (which moves pages, never data) and handed
# to numpy without a copy. Each order's hits are gathered and bucket-sorted in a small scratch
# that stays in cache from order to order, then written out once, in order.

from libc.math cimport sqrt, sin, cos, asin, floor, fabs, M_PI, isfinite, isnan
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, int32_t, uint64_t, uint8_t, int8_t

import numpy as np

cdef extern from *:
    """
    #define OMNIFILL_EARTH_RADIUS_M 6371008.8
    """
    double EARTH_RADIUS_M "OMNIFILL_EARTH_RADIUS_M"

EARTH_RADIUS = EARTH_RADIUS_M

# An ETA within ETA_TOLERANCE_MIN of the limit counts as within it. The kernel and the numpy
# reference compute the same great-circle distance by different float paths (chord vs.
# haversine); they agree to about 1e-12 minutes, so a store placed exactly at the limit is in
# for both. The tolerance is 1e-9 minutes (60 nanoseconds, 4 micrometres at courier speed).
cdef double ETA_TOL = 1e-9
ETA_TOLERANCE_MIN = ETA_TOL

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


cdef extern from *:
    """
    /* asin(x) for 0 <= x < 0.02 (chords under 255 km): the Taylor series to x^9 is exact to
       double precision there, the first dropped term being 63/2816 x^11, relative 2e-19. */
    static inline double omnifill_asin_poly(double x) {
        double x2 = x * x;
        return x * (1.0 + x2 * (1.0 / 6.0 + x2 * (3.0 / 40.0 + x2 * (5.0 / 112.0
                    + x2 * (35.0 / 1152.0)))));
    }

    /* The ETA of every store of one contiguous span, valid while every half-chord is below
       0.02 (the caller checks). Written in C so that GCC can build it twice, for AVX2+FMA
       and for the baseline, and pick one at load time (function multiversioning): the loop
       is branch-free and vectorises (4 sqrt at once with AVX2). */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define OMNIFILL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define OMNIFILL_CLONES
    #endif
    OMNIFILL_CLONES
    static void omnifill_span_eta(const double* __restrict sx, const double* __restrict sy,
                                  const double* __restrict sz, const double* __restrict sh,
                                  Py_ssize_t m, double ox, double oy, double oz, double kr,
                                  double* __restrict eta) {
        for (Py_ssize_t s = 0; s < m; ++s) {
            double dx = sx[s] - ox, dy = sy[s] - oy, dz = sz[s] - oz;
            eta[s] = sh[s] + kr * omnifill_asin_poly(0.5 * sqrt(dx * dx + dy * dy + dz * dz));
        }
    }
    """
    double _asin_poly "omnifill_asin_poly"(double x) noexcept nogil
    void _span_eta "omnifill_span_eta"(const double* sx, const double* sy, const double* sz,
                                        const double* sh, Py_ssize_t m, double ox, double oy,
                                        double oz, double kr, double* eta) noexcept nogil


cdef inline double _asin_small(double x) noexcept nogil:
    # asin(x) for 0 <= x <= 1: the polynomial below 0.02, libm above
    if x < 0.02:
        return _asin_poly(x)
    if x >= 1.0:
        return M_PI / 2.0
    return asin(x)


cdef inline Py_ssize_t _bucket(double eta, double lo, double scale, double top) noexcept nogil:
    # an ETA's sort bucket, clamped in floating point to [0, top] before the conversion (a far
    # zone hit's ETA may lie beyond the limit, and converting an out-of-range double is undefined)
    cdef double fb = (eta - lo) * scale
    fb = fb if fb < top else top
    return <Py_ssize_t>(fb if fb > 0.0 else 0.0)


cdef inline double _chord_radius(double dist_m) noexcept nogil:
    # the chord (on the unit sphere) of a great-circle distance in metres
    cdef double ang = dist_m / EARTH_RADIUS_M
    if ang >= M_PI:
        return 2.0
    return 2.0 * sin(0.5 * ang)


def unit_vectors(lat, lon):
    """Unit vectors (n, 3) of WGS84 degrees, the kernel's representation of a point."""
    la = np.radians(np.asarray(lat, dtype=np.float64))
    lo = np.radians(np.asarray(lon, dtype=np.float64))
    cl = np.cos(la)
    return np.stack([cl * np.cos(lo), cl * np.sin(lo), np.sin(la)], axis=-1)


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


cdef struct Hit:
    double eta
    int32_t idx


cdef void _insertion_sort_soa(double* eta, int32_t* idx, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double e
    cdef int32_t x
    for i in range(1, n):
        e = eta[i]
        x = idx[i]
        j = i - 1
        while j >= 0 and (e < eta[j] or (e == eta[j] and x < idx[j])):
            eta[j + 1] = eta[j]
            idx[j + 1] = idx[j]
            j -= 1
        eta[j + 1] = e
        idx[j + 1] = x


cdef class GridIndex:
    """A uniform grid over one city's stores, in the tangent plane at the city's centre.

    Built once per (network, cell size); queried from any number of threads at once (the
    queries release the GIL and share nothing mutable).
    """

    cdef readonly Py_ssize_t n_stores, ncols, nrows
    cdef readonly double cell, u0, v0
    cdef double ex[3]
    cdef double ny[3]
    cdef double[::1] sx, sy, sz, sh
    cdef int32_t[::1] sidx
    cdef uint8_t[::1] szone
    cdef int64_t[::1] grid_pos   # per network store: its position in the grid arrays, or -1
    cdef int64_t[::1] cell_start
    # per store index of the whole network (not just the grid), for zone-forced pairs
    cdef double[::1] ax, ay, az, ah
    cdef readonly Py_ssize_t n_network
    cdef readonly double min_handling
    cdef double cen[3]
    cdef readonly double reach   # the largest chord from the centre to a store of the grid

    def __init__(self, lat, lon, handling_min, store_index, zone_bits, n_network,
                 all_lat, all_lon, all_handling_min, double cell, centre=None):
        """Index the stores `store_index` (positions in the network, 0 .. n_network-1).

        lat, lon, handling_min, zone_bits: one value per indexed store. all_*: one per store of
        the network (zone-forced candidates may name stores outside the grid). cell: the cell
        side as a chord on the unit sphere. centre: (lat, lon) of the tangent plane, default
        the mean of the indexed stores' unit vectors.
        """
        lat = _as_f64("lat", lat)
        n = lat.shape[0]
        lon = _as_f64("lon", lon, n)
        h = _as_f64("handling_min", handling_min, n)
        idx = np.ascontiguousarray(store_index, dtype=np.int32)
        zb = np.ascontiguousarray(zone_bits, dtype=np.uint8)
        if idx.shape != (n,) or zb.shape != (n,):
            raise ValueError("store_index and zone_bits need one value per store")
        if n and (idx.min() < 0 or idx.max() >= n_network):
            raise ValueError("store_index outside 0 .. n_network-1")
        if not (cell > 0.0 and isfinite(cell)):
            raise ValueError(f"cell must be a positive chord, got {cell!r}")
        all_xyz = unit_vectors(_as_f64("all_lat", all_lat, n_network),
                               _as_f64("all_lon", all_lon, n_network))
        self.ax = np.ascontiguousarray(all_xyz[:, 0])
        self.ay = np.ascontiguousarray(all_xyz[:, 1])
        self.az = np.ascontiguousarray(all_xyz[:, 2])
        self.ah = _as_f64("all_handling_min", all_handling_min, n_network)
        self.n_network = n_network
        self.n_stores = n
        self.min_handling = float(h.min()) if n else 0.0

        xyz = unit_vectors(lat, lon)
        if centre is None:
            c = xyz.sum(axis=0) if n else np.array([1.0, 0.0, 0.0])
            norm = np.linalg.norm(c)
            c = c / norm if norm > 1e-12 else np.array([1.0, 0.0, 0.0])
        else:
            c = unit_vectors([centre[0]], [centre[1]])[0]
        # east and north at the centre; at a pole pick any east
        east = np.array([-c[1], c[0], 0.0])
        if np.linalg.norm(east) < 1e-12:
            east = np.array([0.0, 1.0, 0.0])
        east /= np.linalg.norm(east)
        north = np.cross(c, east)
        for k in range(3):
            self.ex[k] = east[k]
            self.ny[k] = north[k]
            self.cen[k] = c[k]
        self.reach = float(np.linalg.norm(xyz - c, axis=1).max()) if n else 0.0
        u = xyz @ east
        v = xyz @ north
        self.cell = cell
        if n:
            self.u0 = float(u.min())
            self.v0 = float(v.min())
            # cap the cell count near 4 per store: a sparse, wide network gets bigger cells
            span_u = float(u.max()) - self.u0
            span_v = float(v.max()) - self.v0
            while (floor(span_u / self.cell) + 1) * (floor(span_v / self.cell) + 1) > 4 * n + 64:
                self.cell *= 2.0
            self.ncols = <Py_ssize_t>floor(span_u / self.cell) + 1
            self.nrows = <Py_ssize_t>floor(span_v / self.cell) + 1
        else:
            self.u0 = self.v0 = 0.0
            self.ncols = self.nrows = 1
        col = np.minimum(((u - self.u0) / self.cell).astype(np.int64), self.ncols - 1)
        row = np.minimum(((v - self.v0) / self.cell).astype(np.int64), self.nrows - 1)
        key = row * self.ncols + col
        order = np.lexsort((idx, key))
        self.sx = np.ascontiguousarray(xyz[order, 0])
        self.sy = np.ascontiguousarray(xyz[order, 1])
        self.sz = np.ascontiguousarray(xyz[order, 2])
        self.sh = np.ascontiguousarray(h[order])
        self.sidx = np.ascontiguousarray(idx[order])
        self.szone = np.ascontiguousarray(zb[order])
        pos = np.full(n_network, -1, dtype=np.int64)
        pos[idx[order]] = np.arange(n, dtype=np.int64)
        self.grid_pos = pos
        counts = np.bincount(key, minlength=self.ncols * self.nrows)
        cs = np.zeros(self.ncols * self.nrows + 1, dtype=np.int64)
        np.cumsum(counts, out=cs[1:])
        self.cell_start = cs

    def set_zone_bits(self, Py_ssize_t store, int bits):
        """Change one store's zone tier bits in place (a zone added or removed): no rebuild.

        A query running at the same time sees the old bits or the new ones, never a mix."""
        if store < 0 or store >= self.n_network:
            raise ValueError(f"store {store} outside 0 .. {self.n_network - 1}")
        if not 0 <= bits < 256:
            raise ValueError(f"zone bits must fit a byte, got {bits}")
        cdef int64_t p = self.grid_pos[store]
        if p >= 0:
            self.szone[p] = <uint8_t>bits

    def query_one(self, double lat, double lon, double max_eta_min, *, double circuity,
                  double courier_m_per_min, Py_ssize_t max_candidates=-1, int tier_bit=0,
                  zone_store=None):
        """One order's candidates: (store_index int32, eta_min float64), by ETA then index.

        The same search as ``query`` for a single order, without the array set-up: the
        order service's path. tier_bit and zone_store as ``query``'s per-order values.
        """
        if not (fabs(lat) <= 90.0 and fabs(lon) <= 180.0):
            raise ValueError(f"({lat!r}, {lon!r}) is not a valid coordinate")
        if isnan(max_eta_min):
            raise ValueError("max_eta_min is NaN")
        if not (circuity > 0 and courier_m_per_min > 0):
            raise ValueError("circuity and courier_m_per_min must be positive")
        if not 0 <= tier_bit < 256:
            raise ValueError(f"tier_bit must fit a byte, got {tier_bit}")
        cdef const int32_t[::1] zs_v
        cdef const int32_t* zs_p = NULL
        cdef int64_t zi[2]
        zi[0] = 0
        zi[1] = 0
        if zone_store is not None:
            zs = np.ascontiguousarray(zone_store, dtype=np.int32)
            zs_v = zs
            zi[1] = zs_v.shape[0]
            if zi[1]:
                zs_p = &zs_v[0]
        cdef double la = lat, lo = lon, me = max_eta_min
        cdef uint8_t tb = <uint8_t>tier_bit
        cdef int64_t ip[2]
        cdef Block b_idx, b_eta
        cdef int64_t n_out = 0
        cdef int code
        b_idx.ptr = b_eta.ptr = NULL
        b_idx.cap = b_eta.cap = 0
        b_idx.mapped = b_eta.mapped = False
        with nogil:
            code = self._query(&la, &lo, &me, &tb, zi, zs_p, 0, 1, circuity, courier_m_per_min,
                               max_candidates, ip, &b_idx, &b_eta, &n_out, 64)
        idx = _as_array(b_idx, n_out, sizeof(int32_t), b"i", np.int32)
        eta = _as_array(b_eta, n_out, sizeof(double), b"d", np.float64)
        _raise_for(code)
        return idx, eta

    def query(self, lat, lon, max_eta_min, *, double circuity, double courier_m_per_min,
              tier_bits=None, zone_indptr=None, zone_store=None, Py_ssize_t max_candidates=-1,
              Py_ssize_t start=0, Py_ssize_t stop=-1, double expected_per_order=16.0):
        """Candidates of orders [start, stop): CSR (indptr, store_index, eta_min).

        max_eta_min: one limit per order (already broadcast). tier_bits: per order, the zone
        tier bit (1 = 30-minute zones, 2 = 60-minute zones, 0 = none); a store whose zone bits
        share it is left out of the radius rule for that order. zone_indptr / zone_store: per
        order, the stores whose zone contains the order (network indices), added whatever
        their ETA. max_candidates < 0: all. expected_per_order sizes the first reservation of
        the output (it grows by mremap when short; a good guess saves the remaps).
        """
        la = _as_f64("lat", lat)
        cdef Py_ssize_t n_all = la.shape[0]
        lo = _as_f64("lon", lon, n_all)
        me = np.ascontiguousarray(max_eta_min, dtype=np.float64)
        if me.shape != (n_all,):
            raise ValueError("max_eta_min needs one value per order")
        if np.isnan(me).any():
            raise ValueError("max_eta_min contains NaN")
        if stop < 0 or stop > n_all:
            stop = n_all
        if start < 0 or start > stop:
            raise ValueError("start/stop out of range")
        if tier_bits is None:
            tb = np.zeros(n_all, dtype=np.uint8)
        else:
            tb = np.ascontiguousarray(tier_bits, dtype=np.uint8)
            if tb.shape != (n_all,):
                raise ValueError("tier_bits needs one value per order")
        if zone_indptr is None:
            zi = np.zeros(n_all + 1, dtype=np.int64)
            zs = np.zeros(0, dtype=np.int32)
        else:
            zi = np.ascontiguousarray(zone_indptr, dtype=np.int64)
            zs = np.ascontiguousarray(zone_store, dtype=np.int32)
            if zi.shape != (n_all + 1,) or zi[0] != 0 or zi[-1] != zs.shape[0] or (np.diff(zi) < 0).any():
                raise ValueError("zone_indptr is not a valid CSR index for zone_store")
        if not (circuity > 0 and courier_m_per_min > 0):
            raise ValueError("circuity and courier_m_per_min must be positive")

        cdef const double[::1] la_v = la, lo_v = lo, me_v = me
        cdef const uint8_t[::1] tb_v = tb
        cdef const int64_t[::1] zi_v = zi
        cdef const int32_t[::1] zs_v = zs
        cdef Py_ssize_t n = stop - start
        cdef Block b_indptr, b_idx, b_eta
        if n_all == 0:
            return np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64)
        cdef int64_t n_out = 0
        cdef int code = OK
        b_indptr.ptr = b_idx.ptr = b_eta.ptr = NULL
        b_indptr.cap = b_idx.cap = b_eta.cap = 0
        b_indptr.mapped = b_idx.mapped = b_eta.mapped = False
        with nogil:
            code = _block_reserve(&b_indptr, (n + 1) * sizeof(int64_t))
            if code == OK:
                code = self._query(&la_v[0], &lo_v[0], &me_v[0], &tb_v[0], &zi_v[0],
                                   &zs_v[0] if zs_v.shape[0] else NULL, start, stop,
                                   circuity, courier_m_per_min, max_candidates,
                                   <int64_t*>b_indptr.ptr, &b_idx, &b_eta, &n_out,
                                   <int64_t>(max(expected_per_order, 1.0) * n) + 1024)
        # the blocks now belong to the arrays (unmapped with them, also on the error path)
        indptr = _as_array(b_indptr, n + 1, sizeof(int64_t), b"q", np.int64)
        idx = _as_array(b_idx, n_out, sizeof(int32_t), b"i", np.int32)
        eta = _as_array(b_eta, n_out, sizeof(double), b"d", np.float64)
        _raise_for(code)
        return indptr, idx, eta

    cdef int _query(self, const double* lat, const double* lon,
                    const double* max_eta, const uint8_t* tier_bits,
                    const int64_t* zone_indptr, const int32_t* zone_store,
                    Py_ssize_t start, Py_ssize_t stop, double circuity, double speed,
                    Py_ssize_t max_cand, int64_t* indptr, Block* b_idx, Block* b_eta,
                    int64_t* n_out_p, int64_t first_cap) noexcept nogil:
        cdef double kr = 2.0 * EARTH_RADIUS_M * circuity / speed   # minutes per asin(c/2)
        cdef double m_per_min = speed / circuity                   # metres of great circle per minute
        cdef Py_ssize_t i, r, r0, r1, c0, c1, s, s_end, k, nh, keep, need
        cdef Py_ssize_t ncols = self.ncols, nrows = self.nrows
        cdef double cell = self.cell, u0 = self.u0, v0 = self.v0
        cdef double la, lo, cl, ox, oy, oz, ou, ov, lim, rad, rad2, dy, hw, band_lo, dx, dyy, dz
        cdef double c2, eta, e, b_lo, b_top, b_scale
        cdef Py_ssize_t b, nb, prev_nh = 16
        cdef int32_t p
        cdef bint ok
        cdef double* out_eta
        cdef int32_t* out_idx
        cdef bint fast
        cdef uint8_t tb
        cdef int32_t si
        cdef const double* sx = &self.sx[0] if self.n_stores else NULL
        cdef const double* sy = &self.sy[0] if self.n_stores else NULL
        cdef const double* sz = &self.sz[0] if self.n_stores else NULL
        cdef const double* sh = &self.sh[0] if self.n_stores else NULL
        cdef const int32_t* sidx = &self.sidx[0] if self.n_stores else NULL
        cdef const uint8_t* szone = &self.szone[0] if self.n_stores else NULL
        cdef const int64_t* cstart = &self.cell_start[0]
        cdef int64_t n_out = 0
        # per-query scratch: stays in cache from order to order
        cdef Scratch sc
        sc.cap = sc.ccap = 0
        sc.hits = NULL
        sc.eta = NULL
        sc.bucket = NULL
        sc.counts = NULL
        cdef int code = _scratch_reserve(&sc, 1024)
        if code == OK:
            # a first guess at the output size; grown by mremap (no copy) when short
            code = _block_reserve(b_idx, first_cap * sizeof(int32_t))
        if code == OK:
            code = _block_reserve(b_eta, first_cap * sizeof(double))
        indptr[0] = 0
        i = start
        while code == OK and i < stop:
            la = lat[i] * (M_PI / 180.0)
            lo = lon[i] * (M_PI / 180.0)
            cl = cos(la)
            ox = cl * cos(lo)
            oy = cl * sin(lo)
            oz = sin(la)
            lim = max_eta[i] + ETA_TOL
            tb = tier_bits[i]
            nh = 0
            # ETA buckets for the sort, set up before the scan so that the compaction counts
            # them: every hit's ETA lies in [min handling, limit] (zone hits may lie above
            # and go to the top bucket), about two buckets per hit of the previous order
            nb = 4 * prev_nh + 16
            if nb + 1 > sc.ccap:
                code = _counts_reserve(&sc, nb + 1)
                if code != OK:
                    break
            memset(sc.counts, 0, (nb + 1) * sizeof(int32_t))
            b_lo = self.min_handling
            b_top = nb - 1.0
            b_scale = nb / (lim - b_lo) if lim > b_lo + 1e-9 else 0.0
            # --- radius rule over the grid ------------------------------------------------
            if self.n_stores and lim >= self.min_handling:
                rad = _chord_radius((lim - self.min_handling) * m_per_min)
                rad = rad * (1.0 + 1e-12) + 1e-15
                rad2 = rad * rad
                # the polynomial asin holds for every store of the grid when the order is
                # within (0.04 - reach) of the centre, i.e. all chords stay under 0.04 (255 km)
                dx = ox - self.cen[0]
                dyy = oy - self.cen[1]
                dz = oz - self.cen[2]
                fast = sqrt(dx * dx + dyy * dyy + dz * dz) + self.reach < 0.039
                ou = ox * self.ex[0] + oy * self.ex[1] + oz * self.ex[2] - u0
                ov = ox * self.ny[0] + oy * self.ny[1] + oz * self.ny[2] - v0
                r0 = <Py_ssize_t>floor((ov - rad) / cell)
                r1 = <Py_ssize_t>floor((ov + rad) / cell)
                r0 = 0 if r0 < 0 else r0
                r1 = nrows - 1 if r1 > nrows - 1 else r1
                for r in range(r0, r1 + 1):
                    band_lo = r * cell
                    if ov < band_lo:
                        dy = band_lo - ov
                    elif ov > band_lo + cell:
                        dy = ov - band_lo - cell
                    else:
                        dy = 0.0
                    if dy > rad:
                        continue
                    hw = sqrt(rad2 - dy * dy)
                    if ou + hw < 0.0 or ou - hw > ncols * cell:
                        continue
                    c0 = <Py_ssize_t>floor((ou - hw) / cell)
                    c1 = <Py_ssize_t>floor((ou + hw) / cell)
                    c0 = 0 if c0 < 0 else c0
                    c1 = ncols - 1 if c1 > ncols - 1 else c1
                    s = cstart[r * ncols + c0]
                    s_end = cstart[r * ncols + c1 + 1]
                    if nh + (s_end - s) > sc.cap:
                        code = _scratch_reserve(&sc, nh + (s_end - s))
                        if code != OK:
                            break
                    # every store of the span gets its exact ETA; a branch-free compaction
                    # then keeps the hits (the ETA test is exact; no chord pre-test needed)
                    if fast:
                        _span_eta(sx + s, sy + s, sz + s, sh + s, s_end - s, ox, oy, oz, kr, sc.eta)
                    else:
                        for k in range(s_end - s):
                            dx = sx[s + k] - ox
                            dyy = sy[s + k] - oy
                            dz = sz[s + k] - oz
                            sc.eta[k] = sh[s + k] + kr * _asin_small(0.5 * sqrt(dx * dx + dyy * dyy + dz * dz))
                    for k in range(s_end - s):
                        e = sc.eta[k]
                        ok = (e <= lim) & ((szone[s + k] & tb) == 0)
                        b = _bucket(e, b_lo, b_scale, b_top)
                        sc.hits[nh].eta = e
                        sc.hits[nh].idx = sidx[s + k]
                        sc.bucket[nh] = <int32_t>b
                        sc.counts[b + 1] += ok
                        nh += ok
                    if code != OK:
                        break
            # --- stores whose zone contains the order (zone rule, any ETA) -----------------
            if code == OK and zone_indptr[i + 1] > zone_indptr[i]:
                code = _scratch_reserve(&sc, nh + zone_indptr[i + 1] - zone_indptr[i])
            for k in range(zone_indptr[i], zone_indptr[i + 1]):
                if code != OK:
                    break
                si = zone_store[k]
                if si < 0 or si >= self.n_network:
                    code = ERR_STORE_INDEX
                    break
                dx = self.ax[si] - ox
                dyy = self.ay[si] - oy
                dz = self.az[si] - oz
                c2 = dx * dx + dyy * dyy + dz * dz
                e = self.ah[si] + kr * _asin_small(0.5 * sqrt(c2))
                b = _bucket(e, b_lo, b_scale, b_top)
                sc.hits[nh].eta = e
                sc.hits[nh].idx = si
                sc.bucket[nh] = <int32_t>b
                sc.counts[b + 1] += 1
                nh += 1
            if code != OK:
                break
            # --- sort (nearest max_cand kept) straight into the output ---------------------
            keep = nh if (max_cand < 0 or nh < max_cand) else max_cand
            need = n_out + nh
            code = _block_reserve(b_idx, need * sizeof(int32_t))
            if code == OK:
                code = _block_reserve(b_eta, need * sizeof(double))
            if code != OK:
                break
            # counting sort by bucket straight into the output, then an insertion pass that
            # only reorders hits sharing a bucket (ETA ties go to the lower store index)
            for k in range(1, nb + 1):
                sc.counts[k] += sc.counts[k - 1]
            out_eta = (<double*>b_eta.ptr) + n_out
            out_idx = (<int32_t*>b_idx.ptr) + n_out
            for k in range(nh):
                b = sc.bucket[k]
                p = sc.counts[b]
                sc.counts[b] = p + 1
                out_eta[p] = sc.hits[k].eta
                out_idx[p] = sc.hits[k].idx
            _insertion_sort_soa(out_eta, out_idx, nh)
            n_out += keep
            prev_nh = nh
            indptr[i - start + 1] = n_out
            i += 1
        _scratch_free(&sc)
        n_out_p[0] = n_out
        return code


cdef struct Scratch:
    Py_ssize_t cap      # entries of eta, hits, bucket
    Py_ssize_t ccap     # entries of counts
    double* eta         # the ETAs of one span
    Hit* hits           # this order's hits, unsorted
    int32_t* bucket     # each hit's ETA bucket
    int32_t* counts     # per bucket: count, then start in the output


cdef inline bint _grow(void** p, size_t nbytes) noexcept nogil:
    # realloc *p; on failure *p is left as it was (still owned, freed by the caller)
    cdef void* a = realloc(p[0], nbytes)
    if a == NULL:
        return False
    p[0] = a
    return True


cdef int _scratch_reserve(Scratch* sc, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t cap = sc.cap if sc.cap else 256
    if n <= sc.cap:
        return OK
    while cap < n:
        cap *= 2
    if not (_grow(<void**>&sc.hits, cap * sizeof(Hit))
            and _grow(<void**>&sc.eta, cap * sizeof(double))
            and _grow(<void**>&sc.bucket, cap * sizeof(int32_t))):
        return ERR_NOMEM
    sc.cap = cap
    return OK


cdef int _counts_reserve(Scratch* sc, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t cap = sc.ccap if sc.ccap else 256
    while cap < n:
        cap *= 2
    if not _grow(<void**>&sc.counts, cap * sizeof(int32_t)):
        return ERR_NOMEM
    sc.ccap = cap
    return OK


cdef void _scratch_free(Scratch* sc) noexcept nogil:
    free(sc.hits)
    free(sc.eta)
    free(sc.bucket)
    free(sc.counts)


def chord_radius(double dist_m):
    """The chord on the unit sphere of a great-circle distance in metres."""
    return _chord_radius(dist_m)


# ---------------------------------------------------------------------------------------------
# Inventory coverage
#
# Inventory is CSR by store: inv_indptr (n_stores + 1), inv_sku (SKU codes, ascending within a
# store), inv_avail (available = on_hand - safety_stock). An order's lines are CSR too:
# line_indptr (n_orders + 1), line_sku (code, -1 for a SKU no store stocks), line_qty.
#
# Masks: line j of an order is bit (j % 64) of word (j // 64). An order of L lines uses
# W = max(1, ceil(L / 64)) words per candidate, so orders of any length are exact; the common
# case (L <= 64) is one uint64 per (order, candidate). For candidate p of order i (p counted in
# the candidates' CSR), its words are masks[word_start[i] + (p - indptr[i]) * W_i : ... + W_i].
# ---------------------------------------------------------------------------------------------

cdef inline int64_t _available(const int64_t* indptr, const int32_t* skus, const int64_t* avail,
                               Py_ssize_t store, int32_t sku) noexcept nogil:
    cdef int64_t lo = indptr[store], hi = indptr[store + 1], mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if skus[mid] < sku:
            lo = mid + 1
        else:
            hi = mid
    if lo < indptr[store + 1] and skus[lo] == sku:
        return avail[lo]
    return 0


def coverage(cand_indptr, cand_store, line_indptr, line_sku, line_qty,
             inv_indptr, inv_sku, inv_avail):
    """Per (order, candidate) bitmask of the lines that store can fill alone.

    Returns (masks uint64, word_start int64 (n_orders + 1), words int32 (n_orders),
    full bool (n_orders)): full[i] is True when some candidate fills every line of order i.
    """
    ci = np.ascontiguousarray(cand_indptr, dtype=np.int64)
    cs = np.ascontiguousarray(cand_store, dtype=np.int32)
    li = np.ascontiguousarray(line_indptr, dtype=np.int64)
    ls = np.ascontiguousarray(line_sku, dtype=np.int32)
    lq = np.ascontiguousarray(line_qty, dtype=np.int64)
    ii = np.ascontiguousarray(inv_indptr, dtype=np.int64)
    isk = np.ascontiguousarray(inv_sku, dtype=np.int32)
    ia = np.ascontiguousarray(inv_avail, dtype=np.int64)
    cdef Py_ssize_t n = ci.shape[0] - 1
    if n < 0 or li.shape[0] != n + 1:
        raise ValueError("cand_indptr and line_indptr must both have n_orders + 1 entries")
    if ci[-1] != cs.shape[0] or li[-1] != ls.shape[0] or ls.shape != lq.shape:
        raise ValueError("candidate or line CSR arrays do not match their indptr")
    if ii[-1] != isk.shape[0] or isk.shape != ia.shape:
        raise ValueError("inventory CSR arrays do not match inv_indptr")
    n_stores = ii.shape[0] - 1
    if cs.shape[0] and (cs.min() < 0 or cs.max() >= n_stores):
        raise ValueError("cand_store names a store outside the inventory")
    nl = np.diff(li)
    words = np.maximum(1, (nl + 63) // 64).astype(np.int32)
    word_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.diff(ci) * words, out=word_start[1:])
    masks = np.zeros(int(word_start[-1]), dtype=np.uint64)
    full = np.zeros(n, dtype=np.bool_)
    cdef const int64_t[::1] ci_v = ci, li_v = li, lq_v = lq, ii_v = ii, ia_v = ia
    cdef const int32_t[::1] cs_v = cs, ls_v = ls, isk_v = isk
    cdef const int32_t[::1] w_v = words
    cdef const int64_t[::1] ws_v = word_start
    cdef uint64_t[::1] m_v = masks
    cdef uint8_t[::1] f_v = full.view(np.uint8)
    with nogil:
        _coverage(n, ci_v, cs_v, li_v, ls_v, lq_v, ii_v, isk_v, ia_v, w_v, ws_v, m_v, f_v)
    return masks, word_start, words, full


cdef void _coverage(Py_ssize_t n, const int64_t[::1] ci, const int32_t[::1] cs,
                    const int64_t[::1] li, const int32_t[::1] ls, const int64_t[::1] lq,
                    const int64_t[::1] ii, const int32_t[::1] isk, const int64_t[::1] ia,
                    const int32_t[::1] words, const int64_t[::1] word_start,
                    uint64_t[::1] masks, uint8_t[::1] full) noexcept nogil:
    cdef Py_ssize_t i, p, j, w, nl, nw
    cdef int64_t base
    cdef int32_t sku, store
    cdef bint all_lines
    cdef uint64_t want
    cdef const int64_t* ip = &ii[0]
    cdef const int32_t* sp = &isk[0] if isk.shape[0] else NULL
    cdef const int64_t* ap = &ia[0] if ia.shape[0] else NULL
    for i in range(n):
        nl = li[i + 1] - li[i]
        nw = words[i]
        if nl == 0:
            full[i] = 1
            continue
        for p in range(ci[i], ci[i + 1]):
            store = cs[p]
            base = word_start[i] + (p - ci[i]) * nw
            for j in range(nl):
                sku = ls[li[i] + j]
                if sku >= 0 and sp != NULL and _available(ip, sp, ap, store, sku) >= lq[li[i] + j]:
                    masks[base + (j >> 6)] |= (<uint64_t>1) << (j & 63)
            if not full[i]:
                all_lines = True
                for w in range(nw):
                    if w < nw - 1 or (nl & 63) == 0:
                        want = ~(<uint64_t>0)
                    else:
                        want = ((<uint64_t>1) << (nl & 63)) - 1
                    if masks[base + w] != want:
                        all_lines = False
                        break
                if all_lines:
                    full[i] = 1



# ---------------------------------------------------------------------------------------------
# Option search: the exact minimum-cost way to fulfil one order (the router's decision).
#
# An order's lines (at most 64, one bit each) are filled by *elements*:
#   deliver      store a delivers the lines it holds, in its own package (eta: a's direct ETA)
#   transfer     store a delivers its own lines plus the lines store b sends it (one package,
#                one transfer): eta = max(h_a, h_b + transfer_leg(b, a)) + leg(a, customer)
#   parcel       warehouse w ships the lines it holds as a parcel (eta: parcel_lead_min)
#   into_pickup  store b sends lines to the pickup store p (pickup orders; no package of its
#                own): arrival = h_b + transfer_leg(b, p)
# A delivery option is a set of elements, every store in it distinct, with at most
# max_packages packages and max_transfers transfers; lines no element covers are unfilled. A
# pickup option is p's own package (ready at h_p) plus at most max_transfers transfers into p.
# Its cost is f(E) + sum(element bases) + unfilled_per_line * unfilled, where E is the latest
# element's eta (0 when nothing is filled), f(E) = per_minute * E + late_per_minute *
# max(0, E - promise), and an element's base is per_package (+ per_parcel) (+ per_transfer).
#
# Enumeration: elements are sorted by (eta, tie rank). Every option has a latest element t and
# is found when the scan reaches t, by a depth-first completion over the elements before t
# that branches on the lowest line still open: some element of the option covers it, or it
# stays unfilled. Bounds, all against the runner-up's cost (so best and runner-up are exact):
#   - f is increasing: once f(eta_t) plus the cheapest base is too dear, the scan stops;
#   - lines no element up to t holds are unfilled in every option whose latest element is t;
#   - with k slots left and no element adding more than m open lines, at least
#     open - k * m lines stay unfilled.
# Cheap feasible options (each warehouse alone, the nearest stores greedily) are offered
# first, so the bounds bite from the start. Transfers are looked at only when the best
# options without them leave room for one (phase B), over the sources a bound on the
# transfer's eta allows. A store's mask (the lines it can fill from available stock) is
# computed when first needed and cached for the search; when many are needed they are all
# computed at once from the SKU-major copy of the stock (the order's lines' postings). The
# whole search runs without the GIL. A node budget caps pathological searches; the result
# then says it is not proven.
# ---------------------------------------------------------------------------------------------

from libc.stdlib cimport malloc, qsort
cimport cython

cdef extern from *:
    """
    /* popcount: the instruction when the build targets it, else a branch-free SWAR count
       (a library call to __popcountdi2 measured slower in the option search) */
    static inline int omnifill_popcount(unsigned long long x) {
    #if defined(__POPCNT__)
        return __builtin_popcountll(x);
    #else
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
        return (int)((x * 0x0101010101010101ULL) >> 56);
    #endif
    }
    """
    int omnifill_popcount(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil

cdef enum:
    EL_DELIVER = 0
    EL_TRANSFER = 1
    EL_PARCEL = 2
    EL_INTO_PICKUP = 3
    EL_PICKUP = 4        # the pickup store's own package
    MAX_OPT = 66         # elements in one option: max_packages + max_transfers + 1

ELEMENT_KINDS = ("deliver", "transfer", "parcel", "into_pickup", "pickup")
MAX_LINES = 64
# The dense (sku x store) copy of available stock is kept when it needs at most this many
# bytes (5,000 SKUs x 613 stores is 3 MB); beyond, masks come from the CSR (binary search)
# and the SKU-major postings.
DENSE_MAX_BYTES = 64 << 20

cdef struct Elem:
    double eta
    double base
    uint64_t own        # lines a (or w) fills from its own stock
    uint64_t src        # lines b can send (transfers)
    uint64_t mask       # own | src
    int32_t a, b        # stores (-1: none)
    int32_t npk, ntr    # packages and transfers it adds
    int32_t kind
    int32_t done        # mask known
    int64_t rank        # tie order among equal etas: the home store first, then store index

cdef struct Opt:
    bint set
    double cost
    double eta
    int n
    bint home           # the home store takes part
    Elem el[MAX_OPT]
    uint64_t new[MAX_OPT]   # the lines each element supplies
    int64_t key[MAX_OPT]    # sorted element keys: the identity of the option and its tie order

cdef struct Ctx:
    Elem* el
    uint64_t full
    double window           # the runner-up is exact when within this much of the best
    double promise, c_min, c_late, c_unf, min_add
    int max_pk, max_tr
    bint pickup
    int32_t home
    double E                # the eta of the option being completed
    double dead_cost        # phase B: c_unf x the lines no element or source holds (unfilled in every option)
    bint need_transfer      # phase B: record only options with a transfer
    bint all_subsets        # every set of elements that each hold a line (the planner's lists)
    int64_t nodes, node_limit
    bint aborted
    int depth
    int32_t path[MAX_OPT]
    uint64_t path_new[MAX_OPT]
    Opt** top               # the k cheapest options so far, cheapest first (top[0]: the best)
    int n_top, k
    Opt* cand               # the scratch option _record fills

cdef double COST_TOL = 1e-9


cdef inline int _popcount(uint64_t x) noexcept nogil:
    return omnifill_popcount(x)


cdef inline double _f(Ctx* c, double E) noexcept nogil:
    cdef double late = E - c.promise
    return c.c_min * E + (c.c_late * late if late > 0.0 else 0.0)


cdef inline double _thr(Ctx* c) noexcept nogil:
    # an option costing more than this can join neither the k cheapest nor the window above
    # the best
    cdef double t = c.top[c.k - 1].cost if c.n_top == c.k else 1e300
    if c.n_top and c.top[0].cost + c.window < t:
        t = c.top[0].cost + c.window
    return t + COST_TOL


cdef inline int64_t _elem_key(Elem* e) noexcept nogil:
    return ((<int64_t>(e.a + 1)) << 34) | ((<int64_t>(e.b + 1)) << 3) | e.kind


cdef void _sort_keys(int64_t* k, int n) noexcept nogil:
    cdef int i, j
    cdef int64_t v
    for i in range(1, n):
        v = k[i]
        j = i - 1
        while j >= 0 and k[j] > v:
            k[j + 1] = k[j]
            j -= 1
        k[j + 1] = v


cdef int _cmp_opt(Opt* x, Opt* y) noexcept nogil:
    # < 0 when x is preferred: lower cost, then the home store taking part, then lower stores
    cdef int i
    if x.cost < y.cost - COST_TOL:
        return -1
    if x.cost > y.cost + COST_TOL:
        return 1
    if x.home != y.home:
        return -1 if x.home else 1
    for i in range(x.n if x.n < y.n else y.n):
        if x.key[i] != y.key[i]:
            return -1 if x.key[i] < y.key[i] else 1
    return x.n - y.n


cdef bint _same_opt(Opt* x, Opt* y) noexcept nogil:
    cdef int i
    if x.n != y.n:
        return False
    for i in range(x.n):
        if x.key[i] != y.key[i]:
            return False
    return True


cdef void _record(Ctx* c, double cost) noexcept nogil:
    # offer the option on the path (cost given) as best or runner-up
    cdef Opt* o = c.cand
    cdef Opt* tmp
    cdef int i, pos
    cdef Elem* e
    cdef bint has_tr = False
    if cost > _thr(c):
        return
    o.n = c.depth
    o.home = False
    for i in range(c.depth):
        e = &c.el[c.path[i]]
        o.el[i] = e[0]
        o.new[i] = c.path_new[i]
        o.key[i] = _elem_key(e)
        if e.ntr:
            has_tr = True
        if c.home >= 0 and (e.a == c.home or e.b == c.home):
            o.home = True
    if c.need_transfer and not has_tr:
        return   # found in phase A already
    o.set = True
    o.cost = cost
    o.eta = c.E if c.depth else 0.0
    _sort_keys(o.key, o.n)
    for i in range(c.n_top):
        if _same_opt(o, c.top[i]):
            return
    pos = c.n_top
    while pos > 0 and _cmp_opt(o, c.top[pos - 1]) < 0:
        pos -= 1
    if pos >= c.k:
        return
    if c.n_top == c.k:
        tmp = c.top[c.k - 1]    # the k-th drops out; its buffer is the next scratch
    else:
        tmp = c.top[c.n_top]    # an unused buffer (top holds k + 1 buffers)
        c.n_top += 1
    i = c.n_top - 1
    while i > pos:
        c.top[i] = c.top[i - 1]
        i -= 1
    c.top[pos] = o
    c.cand = tmp
    c.cand.set = False


cdef void _record_path(Ctx* c) noexcept nogil:
    # offer the path as it stands (any elements, in any order): cost from its elements
    cdef int i
    cdef Elem* e
    cdef double E = 0.0, base = 0.0
    cdef uint64_t cov = 0
    for i in range(c.depth):
        e = &c.el[c.path[i]]
        if e.eta > E:
            E = e.eta
        base += e.base
        c.path_new[i] = e.mask & ~cov
        cov |= e.mask
    c.E = E
    _record(c, (_f(c, E) if c.depth else 0.0) + base + c.c_unf * _popcount(c.full & ~cov))


cdef inline bint _fits(Ctx* c, Elem* e, int npk, int ntr) noexcept nogil:
    # within the package and transfer limits, and no store of e already in the option
    cdef int i
    cdef Elem* p
    if npk + e.npk > c.max_pk or ntr + e.ntr > c.max_tr:
        return False
    for i in range(c.depth):
        p = &c.el[c.path[i]]
        if e.a >= 0 and (e.a == p.a or e.a == p.b):
            return False
        if e.b >= 0 and (e.b == p.a or e.b == p.b):
            return False
    return True


cdef inline void _push(Ctx* c, Py_ssize_t i, uint64_t new) noexcept nogil:
    c.path[c.depth] = <int32_t>i
    c.path_new[c.depth] = new
    c.depth += 1


cdef bint _augment(uint64_t* supply, int e, int* owner, uint64_t* seen) noexcept nogil:
    # Kuhn's augmenting path: give element e a line of its own
    cdef uint64_t free = supply[e] & ~seen[0]
    cdef int j
    while free:
        j = __builtin_ctzll(free)
        free &= free - 1
        seen[0] |= (<uint64_t>1) << j
        if owner[j] < 0 or _augment(supply, owner[j], owner, seen):
            owner[j] = e
            return True
    return False


cdef bint _each_carries_a_line(Ctx* c) noexcept nogil:
    # can every package and transfer of the path carry a line of its own? (a transfer's lines
    # come from its source; a pickup store's own package needs none when transfers come in)
    cdef uint64_t supply[MAX_OPT]
    cdef int owner[64]
    cdef int i, n = 0
    cdef uint64_t seen
    cdef Elem* e
    for i in range(64):
        owner[i] = -1
    for i in range(c.depth):
        e = &c.el[c.path[i]]
        if e.kind == EL_PICKUP and c.depth > 1:
            continue
        supply[n] = e.src if (e.kind == EL_TRANSFER or e.kind == EL_INTO_PICKUP) else e.mask
        n += 1
    for i in range(n):
        seen = 0
        if not _augment(supply, i, owner, &seen):
            return False
    return True


cdef void _complete_all(Ctx* c, Py_ssize_t start, Py_ssize_t limit, uint64_t covered, int npk, int ntr,
                        double base) noexcept nogil:
    # the planner's enumeration: every set of elements (before limit, in index order from
    # start) that each hold some line, whether or not another element of the set holds it
    # too: under contention the planner may need either store's units
    cdef uint64_t unc = c.full & ~covered
    cdef double fe = _f(c, c.E), lb
    cdef Py_ssize_t i
    cdef Elem* e
    cdef int slots
    c.nodes += 1
    if c.nodes > c.node_limit:
        c.aborted = True
        return
    if not _each_carries_a_line(c):
        return  # nor will any superset
    _record(c, fe + base + c.c_unf * _popcount(unc))
    slots = (c.max_tr - ntr) if c.pickup else (c.max_pk - npk)
    if slots <= 0 or fe + base + c.min_add > _thr(c):
        return
    for i in range(start, limit):
        e = &c.el[i]
        if not e.mask or not _fits(c, e, npk, ntr):
            continue
        lb = fe + base + e.base + (c.c_unf * _popcount(unc & ~e.mask) if slots == 1 else 0.0)
        if lb > _thr(c):
            continue
        _push(c, i, e.mask & unc)
        _complete_all(c, i + 1, limit, covered | e.mask, npk + e.npk, ntr + e.ntr, base + e.base)
        c.depth -= 1
        if c.aborted:
            return


cdef void _complete(Ctx* c, Py_ssize_t lo, Py_ssize_t limit, uint64_t covered, uint64_t given_up, int npk,
                    int ntr, double base) noexcept nogil:
    # record the path's option, then every extension by elements lo .. limit-1 that keeps
    # given_up lines unfilled (options covering them are found in their sibling branch)
    cdef uint64_t unc = c.full & ~covered
    cdef uint64_t free = unc & ~given_up
    cdef uint64_t bit
    cdef double fe = _f(c, c.E), cost, gu, extra, alt
    cdef Py_ssize_t i
    cdef Elem* e
    cdef int slots, k, maxnew, nf, left
    c.nodes += 1
    if c.nodes > c.node_limit:
        c.aborted = True
        return
    _record(c, fe + base + c.c_unf * _popcount(unc))
    if free == 0:
        return
    slots = (c.max_tr - ntr) if c.pickup else (c.max_pk - npk)
    if slots <= 0:
        return
    gu = c.c_unf * _popcount(given_up)
    if fe + base + c.min_add + gu > _thr(c):
        return
    if slots == 1:
        # one slot left: each element once, no recursion
        c.nodes += (limit - lo) >> 4
        for i in range(lo, limit):
            e = &c.el[i]
            if not (e.mask & free) or not _fits(c, e, npk, ntr):
                continue
            cost = fe + base + e.base + c.c_unf * _popcount(unc & ~e.mask)
            if cost > _thr(c):
                continue
            _push(c, i, e.mask & unc)
            _record(c, cost)
            c.depth -= 1
        return
    # the most open lines one element can add bounds what the slots left can fill
    maxnew = 0
    for i in range(lo, limit):
        e = &c.el[i]
        k = _popcount(e.mask & free)
        if k > maxnew and _fits(c, e, npk, ntr):
            maxnew = k
    c.nodes += (limit - lo) >> 4
    nf = _popcount(free)
    if fe + base + c.min_add + gu + c.c_unf * (nf - slots * maxnew if nf > slots * maxnew else 0) > _thr(c):
        return
    bit = free & (~free + 1)
    for i in range(lo, limit):
        e = &c.el[i]
        if not (e.mask & bit) or not _fits(c, e, npk, ntr):
            continue
        left = _popcount(free & ~e.mask)
        extra = c.c_unf * left
        if left > 0:
            alt = c.min_add + c.c_unf * (left - (slots - 1) * maxnew if left > (slots - 1) * maxnew else 0)
            if alt < extra:
                extra = alt
        if fe + base + e.base + gu + extra > _thr(c):
            continue
        _push(c, i, e.mask & unc)
        _complete(c, lo, limit, covered | e.mask, given_up, npk + e.npk, ntr + e.ntr, base + e.base)
        c.depth -= 1
        if c.aborted:
            return
    # or the line stays unfilled
    _complete(c, lo, limit, covered, given_up | bit, npk, ntr, base)


cdef int _elem_cmp(const void* x, const void* y) noexcept nogil:
    cdef const Elem* a = <const Elem*>x
    cdef const Elem* b = <const Elem*>y
    if a.eta != b.eta:
        return -1 if a.eta < b.eta else 1
    if a.rank != b.rank:
        return -1 if a.rank < b.rank else 1
    if a.b != b.b:
        return -1 if a.b < b.b else 1
    return 0


cdef struct Src:
    double lb           # a lower bound on the eta of any package its transfer joins
    int32_t b
    uint64_t mask


cdef int _src_cmp(const void* x, const void* y) noexcept nogil:
    cdef const Src* a = <const Src*>x
    cdef const Src* b = <const Src*>y
    if a.lb != b.lb:
        return -1 if a.lb < b.lb else 1
    return -1 if a.b < b.b else (1 if a.b > b.b else 0)


cdef void _sort_elems(Elem* el, Py_ssize_t n) noexcept nogil:
    # by (eta, rank, b). The candidates arrive sorted by (eta, store) and a batch of new
    # transfers is appended to a sorted run, so the list is mostly in order: insertion sort
    # moves little; a long run out of order goes to qsort
    cdef Py_ssize_t i, j, moves = 0
    cdef Elem v
    for i in range(1, n):
        if _elem_cmp(&el[i - 1], &el[i]) <= 0:
            continue
        v = el[i]
        j = i - 1
        while j >= 0 and _elem_cmp(&el[j], &v) > 0:
            el[j + 1] = el[j]
            j -= 1
            moves += 1
        el[j + 1] = v
        if moves > 8 * n:
            qsort(el, n, sizeof(Elem), _elem_cmp)
            return


cdef void _merge_new(Elem* el, Py_ssize_t n_old, Py_ssize_t n_new) noexcept nogil:
    # el[:n_old] is sorted and el[n_old:n_old + n_new] was just appended: sort the new run
    # alone, then merge the two from the back (the order is total, so the result is the one
    # sorting everything gives). Re-sorting the whole tail after every batch of transfer
    # pairs was most of a search's time on a network whose nearby stock had run out.
    cdef Py_ssize_t i = n_old - 1, j = n_new - 1, k = n_old + n_new - 1
    cdef Elem* tmp
    if n_new <= 0:
        return
    _sort_elems(&el[n_old], n_new)
    if n_old <= 0 or _elem_cmp(&el[n_old - 1], &el[n_old]) <= 0:
        return
    tmp = <Elem*>malloc(n_new * sizeof(Elem))
    if tmp == NULL:   # no memory for the merge: sort it all in place instead
        _sort_elems(el, n_old + n_new)
        return
    memcpy(tmp, &el[n_old], n_new * sizeof(Elem))
    while j >= 0:
        if i >= 0 and _elem_cmp(&el[i], &tmp[j]) > 0:
            el[k] = el[i]
            i -= 1
        else:
            el[k] = tmp[j]
            j -= 1
        k -= 1
    free(tmp)


cdef inline void _set_elem(Elem* e, int kind, int32_t a, int32_t b, double eta, double base, int npk,
                           int ntr, int64_t rank) noexcept nogil:
    e.kind, e.a, e.b, e.eta, e.base, e.npk, e.ntr, e.rank = kind, a, b, eta, base, npk, ntr, rank
    e.own = e.src = e.mask = 0
    e.done = 0


def sku_major(inv_indptr, inv_sku):
    """The SKU-major index of a CSR inventory (rows by store, ``inv_sku`` codes): per SKU
    code its rows (``csc_indptr``), each row's store (``csc_store``) and CSR position
    (``csc_pos``), and every CSR row's store (``store_of_row``). It depends on which store
    holds which SKU, not on stock, so the searches over a network and over the same network
    with other stock (``Network.with_stock``) share one (``Inventory.sku_index``)."""
    ip = np.ascontiguousarray(inv_indptr, np.int64)
    sk = np.ascontiguousarray(inv_sku, np.int32)
    order = np.argsort(sk, kind="stable")
    n_codes = int(sk.max()) + 1 if sk.shape[0] else 0
    ci = np.zeros(n_codes + 1, np.int64)
    np.cumsum(np.bincount(sk, minlength=n_codes), out=ci[1:])
    store_of_row = np.repeat(np.arange(ip.shape[0] - 1, dtype=np.int32), np.diff(ip))
    return ci, np.ascontiguousarray(store_of_row[order]), order.astype(np.int64), store_of_row


# The search's nogil methods read self's typed attributes; a None check there would need the
# GIL, and self is never None in a method, so the debug build's nonecheck is off for the class.
@cython.nonecheck(False)
cdef class OptionSearch:
    """The exact minimum-cost option of one order, and its runner-up (see the block comment).

    Reads the stock (``avail``, aligned with the inventory CSR) and ``usable`` (a store open
    and below capacity) in place at each search: the owner keeps them current and serialises
    searches against its writes. Not for two threads at once (it reuses its scratch).
    """

    cdef const int64_t[::1] inv_indptr
    cdef const int32_t[::1] inv_sku
    cdef const int64_t[::1] avail
    cdef int64_t[::1] avail_w             # the same array, for take()
    cdef uint8_t[::1] dense               # SKU-major available units, saturated at 255
    cdef Py_ssize_t dense_codes           # SKU codes the dense copy covers (0: no dense copy)
    cdef const int64_t[::1] csc_indptr    # per SKU code: its rows in csc_store / csc_pos
    cdef const int32_t[::1] csc_store
    cdef const int64_t[::1] csc_pos       # the row's position in the CSR (for avail)
    cdef const uint8_t[::1] usable
    cdef uint8_t[::1] usable_w          # the same array, for spend()
    cdef const double[::1] handling, lat, lon
    cdef const double[:, ::1] xyz
    cdef readonly double circuity, courier, transfer_speed, transfer_handling, parcel_lead
    cdef readonly double c_min, c_pkg, c_parcel, c_tr, c_late, c_unf
    cdef readonly int max_pk, max_tr
    cdef readonly double h_lo, h_hi
    cdef public int64_t node_limit
    cdef public double runner_up_window
    cdef public bint release_gil    # let other threads run Python during a search
    cdef Elem* el
    cdef Py_ssize_t el_cap
    cdef Opt* opts    # k + 1 option buffers: the k cheapest and a scratch
    cdef Opt** top
    cdef int k_alloc
    # per-search state
    cdef uint64_t[::1] smask        # per store: its mask, valid where stamp == cur
    cdef int32_t[::1] stamp
    cdef int32_t[::1] seen          # per store: examined in the search numbered cur
    cdef int32_t cur
    cdef bint oom
    cdef bint bulk                  # every store's mask is known (stamp != cur means 0)
    cdef int64_t lazy_work, bulk_work
    cdef const int32_t* skp
    cdef const int64_t* qtp
    cdef Py_ssize_t nl
    cdef int32_t* ex_store          # stores whose stock was read, in order
    cdef Py_ssize_t n_ex, ex_cap
    cdef GridIndex tgrid
    cdef double cust_lat, cust_lon

    def __cinit__(self):
        self.el = NULL
        self.el_cap = 0
        self.ex_store = NULL
        self.n_ex = self.ex_cap = 0
        self.opts = NULL
        self.top = NULL
        self.k_alloc = 0

    def __dealloc__(self):
        free(self.el)
        free(self.opts)
        free(self.top)
        free(self.ex_store)

    def __init__(self, inv_indptr, inv_sku, avail, usable, handling_min, lat, lon, *,
                 double circuity, double courier_m_per_min, double transfer_m_per_min,
                 double transfer_handling_min, double parcel_lead_min, double per_minute,
                 double per_package, double per_parcel, double per_transfer, double late_per_minute,
                 double unfilled_per_line, int max_packages, int max_transfers,
                 int64_t node_limit=2_000_000, double runner_up_window=-1.0, sku_index=None):
        """runner_up_window: the runner-up is searched exactly up to this much above the
        best cost (default per_package: one more package's worth); -1 for the default.
        sku_index: ``sku_major(inv_indptr, inv_sku)`` when the caller has it (it depends on
        which store holds which SKU, not on stock: searches over the same rows share it)."""
        self.handling = _as_f64("handling_min", handling_min)
        n = self.handling.shape[0]
        self.lat = _as_f64("lat", lat, n)
        self.lon = _as_f64("lon", lon, n)
        self.xyz = np.ascontiguousarray(unit_vectors(self.lat, self.lon))
        self.smask = np.zeros(n, np.uint64)
        self.stamp = np.zeros(n, np.int32)
        self.seen = np.zeros(n, np.int32)
        self.cur = 0
        u = np.asarray(usable)
        if u.dtype != np.uint8 or u.shape != (n,) or not u.flags.c_contiguous:
            raise ValueError("usable must be a contiguous uint8 array, one per store")
        if not u.flags.writeable:
            raise ValueError("usable must be writeable")
        self.usable = u
        self.usable_w = u
        if not (circuity > 0 and courier_m_per_min > 0 and transfer_m_per_min > 0):
            raise ValueError("circuity and speeds must be positive")
        if not (1 <= max_packages <= 32 and 0 <= max_transfers <= 32):
            raise ValueError("the option search takes max_packages 1..32 and max_transfers 0..32")
        for v in (per_minute, per_package, per_parcel, per_transfer, late_per_minute, unfilled_per_line,
                  transfer_handling_min, parcel_lead_min):
            if not (v >= 0 and isfinite(v)):
                raise ValueError("costs and times must be finite and >= 0")
        self.circuity, self.courier, self.transfer_speed = circuity, courier_m_per_min, transfer_m_per_min
        self.transfer_handling, self.parcel_lead = transfer_handling_min, parcel_lead_min
        self.c_min, self.c_pkg, self.c_parcel, self.c_tr = per_minute, per_package, per_parcel, per_transfer
        self.c_late, self.c_unf = late_per_minute, unfilled_per_line
        self.max_pk, self.max_tr = max_packages, max_transfers
        self.h_lo = float(np.min(self.handling)) if n else 0.0
        self.h_hi = float(np.max(self.handling)) if n else 0.0
        self.node_limit = node_limit
        self.runner_up_window = per_package if runner_up_window < 0 else runner_up_window
        self.release_gil = False
        self.set_inventory(inv_indptr, inv_sku, avail, sku_index)

    def set_inventory(self, inv_indptr, inv_sku, avail, sku_index=None):
        """Point the search at new stock arrays (after a (store, sku) row was added). Builds
        the SKU-major copy (O(rows log rows)) unless ``sku_index`` (``sku_major`` of the
        same indptr and sku) is given."""
        ip = np.asarray(inv_indptr)
        sk = np.asarray(inv_sku)
        av = np.asarray(avail)
        if ip.dtype != np.int64 or sk.dtype != np.int32 or av.dtype != np.int64:
            raise ValueError("inventory arrays must be int64 indptr, int32 sku, int64 avail")
        if not (ip.flags.c_contiguous and sk.flags.c_contiguous and av.flags.c_contiguous):
            raise ValueError("inventory arrays must be contiguous")
        if ip.shape[0] != self.handling.shape[0] + 1 or ip[ip.shape[0] - 1] != sk.shape[0] or sk.shape != av.shape:
            raise ValueError("inventory CSR arrays do not match the stores")
        if sk.shape[0] and sk.min() < 0:
            raise ValueError("negative sku code")
        if sku_index is None:
            sku_index = sku_major(ip, sk)
        ci, csc_store, csc_pos, store_of_row = sku_index
        n_codes = ci.shape[0] - 1
        if (store_of_row.shape[0] != sk.shape[0] or csc_pos.shape[0] != sk.shape[0]
                or (sk.shape[0] and n_codes != int(sk.max()) + 1)):
            raise ValueError("sku_index is not sku_major of these inventory arrays")
        if not av.flags.writeable:
            raise ValueError("avail must be writeable")
        self.inv_indptr = ip
        self.inv_sku = sk
        self.avail = av
        self.avail_w = av
        n_st = ip.shape[0] - 1
        if 0 < n_codes * n_st <= DENSE_MAX_BYTES:
            # a (sku, store) table of available units: one byte per pair, a line's stores
            # together, so a mask is one load per (store, line) instead of a binary search
            d = np.full(n_codes * n_st, 0, np.uint8)   # every page written now, not by an order
            d[sk.astype(np.int64) * n_st + store_of_row] = np.clip(av, 0, 255)
            self.dense = d
            self.dense_codes = n_codes
        else:
            self.dense = np.zeros(1, np.uint8)
            self.dense_codes = 0
        self.csc_indptr = ci
        self.csc_store = csc_store
        self.csc_pos = csc_pos

    cdef int _reserve(self, Py_ssize_t n) noexcept nogil:
        cdef Elem* p
        if n <= self.el_cap:
            return OK
        if n < 2 * self.el_cap:
            n = 2 * self.el_cap
        p = <Elem*>realloc(self.el, n * sizeof(Elem))
        if p == NULL:
            return ERR_NOMEM
        self.el = p
        self.el_cap = n
        return OK

    # --- masks -----------------------------------------------------------------------------
    cdef void _start(self, const int32_t* skp, const int64_t* qtp, Py_ssize_t nl) noexcept nogil:
        cdef Py_ssize_t j
        cdef int32_t k
        self.skp, self.qtp, self.nl = skp, qtp, nl
        self.cur += 1
        if self.cur == 2147483647:
            memset(&self.stamp[0], 0, self.stamp.shape[0] * sizeof(int32_t))
            memset(&self.seen[0], 0, self.seen.shape[0] * sizeof(int32_t))
            self.cur = 1
        self.bulk = False
        self.oom = False
        self.n_ex = 0
        self.lazy_work = 0
        # the bulk pass reads each line's postings once
        self.bulk_work = self.handling.shape[0] // 8
        for j in range(nl):
            k = skp[j]
            if 0 <= k < self.csc_indptr.shape[0] - 1:
                self.bulk_work += self.csc_indptr[k + 1] - self.csc_indptr[k]

    cdef int _note(self, int32_t s) noexcept nogil:
        cdef int32_t* p
        cdef Py_ssize_t cap
        if self.n_ex == self.ex_cap:
            cap = 2 * self.ex_cap + 64
            p = <int32_t*>realloc(self.ex_store, cap * sizeof(int32_t))
            if p == NULL:
                return ERR_NOMEM
            self.ex_store = p
            self.ex_cap = cap
        self.ex_store[self.n_ex] = s
        self.n_ex += 1
        return OK

    cdef void _bulk_masks(self) noexcept nogil:
        # every store's mask from the order's lines' postings
        cdef Py_ssize_t j, p
        cdef int32_t k, s
        cdef int32_t cur = self.cur
        cdef uint64_t bit
        for j in range(self.nl):
            k = self.skp[j]
            if not (0 <= k < self.csc_indptr.shape[0] - 1):
                continue
            bit = (<uint64_t>1) << j
            for p in range(self.csc_indptr[k], self.csc_indptr[k + 1]):
                if self.avail[self.csc_pos[p]] >= self.qtp[j]:
                    s = self.csc_store[p]
                    if self.stamp[s] != cur:
                        self.stamp[s] = cur
                        self.smask[s] = 0
                    self.smask[s] |= bit
        self.bulk = True

    cdef uint64_t _mask_of(self, int32_t s) noexcept nogil:
        # the lines store s can fill alone (cached for the search); notes s as examined
        cdef uint64_t m = 0
        cdef Py_ssize_t j
        if self.seen[s] != self.cur:
            self.seen[s] = self.cur
            if self._note(s) != OK:
                self.oom = True
        if self.dense_codes:
            return self._dense_mask(s)
        if self.bulk:
            return self.smask[s] if self.stamp[s] == self.cur else 0
        if self.stamp[s] == self.cur:
            return self.smask[s]
        self.lazy_work += 8 * self.nl
        if self.lazy_work > self.bulk_work:
            self._bulk_masks()
            return self.smask[s] if self.stamp[s] == self.cur else 0
        if self.inv_sku.shape[0]:
            for j in range(self.nl):
                if self.skp[j] >= 0 and _available(&self.inv_indptr[0], &self.inv_sku[0], &self.avail[0],
                                                   s, self.skp[j]) >= self.qtp[j]:
                    m |= (<uint64_t>1) << j
        self.stamp[s] = self.cur
        self.smask[s] = m
        return m

    cdef uint64_t _dense_mask(self, int32_t s) noexcept nogil:
        cdef uint64_t m = 0
        cdef Py_ssize_t j, n_st = self.handling.shape[0]
        cdef int32_t k
        cdef int64_t q
        for j in range(self.nl):
            k = self.skp[j]
            if 0 <= k < self.dense_codes:
                q = self.qtp[j]
                if q < 255:
                    if self.dense[k * n_st + s] >= q:
                        m |= (<uint64_t>1) << j
                elif _available(&self.inv_indptr[0], &self.inv_sku[0], &self.avail[0], s, k) >= q:
                    m |= (<uint64_t>1) << j
            elif k >= 0 and _available(&self.inv_indptr[0], &self.inv_sku[0], &self.avail[0], s, k) >= self.qtp[j]:
                m |= (<uint64_t>1) << j
        self.stamp[s] = self.cur
        self.smask[s] = m
        return m

    cdef int64_t _pos(self, Py_ssize_t store, int32_t sku) noexcept nogil:
        cdef int64_t lo = self.inv_indptr[store], hi = self.inv_indptr[store + 1], mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.inv_sku[mid] < sku:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.inv_indptr[store + 1] and self.inv_sku[lo] == sku:
            return lo
        return -1

    cdef inline void _set_avail(self, Py_ssize_t store, int64_t pos, int64_t v) noexcept nogil:
        cdef int32_t k = self.inv_sku[pos]
        self.avail_w[pos] = v
        if k < self.dense_codes:
            self.dense[k * self.handling.shape[0] + store] = <uint8_t>(0 if v < 0 else (255 if v > 255 else v))

    def take(self, line_src, line_sku, line_qty, int64_t[::1] reserved, int sign=1):
        """Reserve (sign 1) or give back (sign -1) each line's qty at its source store
        (line_src: store per line, -1 for none). ``reserved`` is the owner's array, aligned
        with avail. Checks every line first and changes nothing unless all can be taken."""
        src = np.ascontiguousarray(line_src, dtype=np.int32)
        ls = np.ascontiguousarray(line_sku, dtype=np.int32)
        lq = np.ascontiguousarray(line_qty, dtype=np.int64)
        if not (src.shape == ls.shape == lq.shape) or reserved.shape[0] != self.avail.shape[0]:
            raise ValueError("one source, sku and qty per line; reserved aligned with avail")
        if sign not in (1, -1):
            raise ValueError("sign is 1 (take) or -1 (give back)")
        cdef const int32_t[::1] sv = src
        cdef const int32_t[::1] kv = ls
        cdef const int64_t[::1] qv = lq
        cdef Py_ssize_t j, n = sv.shape[0], n_st = self.handling.shape[0]
        cdef int64_t pos
        for j in range(n):
            if sv[j] < 0:
                continue
            if sv[j] >= n_st:
                raise ValueError(f"line {j}: store {sv[j]} outside the network")
            pos = self._pos(sv[j], kv[j])
            if pos < 0 or (sign > 0 and self.avail[pos] < qv[j]):
                raise ValueError(f"line {j}: store {sv[j]} does not have {qv[j]} of sku code {kv[j]} available")
        for j in range(n):
            if sv[j] < 0:
                continue
            pos = self._pos(sv[j], kv[j])
            self._set_avail(sv[j], pos, self.avail[pos] - sign * qv[j])
            reserved[pos] += sign * qv[j]

    def spend(self, stores, double[::1] cap_left, const uint8_t[::1] closed, uint8_t[::1] status, int sign=1):
        """Each store in ``stores`` spends (sign 1) or gets back (sign -1) one unit of
        capacity; ``usable`` and the owner's ``status`` (0 usable, 1 closed, 2 at capacity)
        follow."""
        cdef Py_ssize_t n_st = self.handling.shape[0]
        if cap_left.shape[0] != n_st or closed.shape[0] != n_st or status.shape[0] != n_st:
            raise ValueError("cap_left, closed and status need one entry per store")
        if sign not in (1, -1):
            raise ValueError("sign is 1 (spend) or -1 (give back)")
        cdef Py_ssize_t st
        for x in stores:
            st = x
            if not 0 <= st < n_st:
                raise ValueError(f"store {st} outside the network")
            cap_left[st] -= sign
            status[st] = 1 if closed[st] else (2 if cap_left[st] < 1 else 0)
            self.usable_w[st] = status[st] == 0

    def refresh(self, Py_ssize_t store, int64_t pos):
        """The owner changed avail[pos] (of this store) in place: bring the dense copy along."""
        if not (0 <= store < self.handling.shape[0] and self.inv_indptr[store] <= pos < self.inv_indptr[store + 1]):
            raise IndexError("position outside the store's rows")
        self._set_avail(store, pos, self.avail[pos])

    cdef inline double _transfer_arrival(self, Py_ssize_t b, Py_ssize_t a) noexcept nogil:
        # when b's lines are at a: h_b + transfer_handling + circuity * d(b, a) / transfer speed
        cdef double dx = self.xyz[b, 0] - self.xyz[a, 0]
        cdef double dy = self.xyz[b, 1] - self.xyz[a, 1]
        cdef double dz = self.xyz[b, 2] - self.xyz[a, 2]
        cdef double d = 2.0 * EARTH_RADIUS_M * _asin_small(0.5 * sqrt(dx * dx + dy * dy + dz * dz))
        return self.handling[b] + self.transfer_handling + self.circuity * d / self.transfer_speed

    cdef double _e_max(self, Ctx* c, double base) noexcept nogil:
        # the latest eta at which an option of this base can still cost no more than _thr
        cdef double thr = _thr(c), P = c.promise, budget, slope
        if thr >= 1e299:
            return 1e300
        budget = thr - base
        if budget < 0.0:
            return -1.0
        if c.c_min > 0.0 and c.c_min * P >= budget:
            return budget / c.c_min
        slope = c.c_min + c.c_late
        if slope <= 0.0:
            return 1e300
        return P + (budget - c.c_min * P) / slope

    cdef int _sources(self, double lat, double lon, double gmax, Block* b_idx, Block* b_eta,
                      int64_t* n_out) noexcept nogil:
        # the transfer grid's stores whose grid eta (h_b + courier leg) from (lat, lon) is
        # within gmax, by that eta
        cdef int64_t ip[2]
        cdef uint8_t tb = 0
        cdef int64_t zi[2]
        zi[0] = zi[1] = 0
        return self.tgrid._query(&lat, &lon, &gmax, &tb, zi, NULL, 0, 1, self.circuity, self.courier, -1, ip,
                                 b_idx, b_eta, n_out, 64)

    # --- the search --------------------------------------------------------------------------
    cdef int _alloc_top(self, int k) noexcept nogil:
        cdef Opt* o
        cdef Opt** t
        if k <= self.k_alloc:
            return OK
        o = <Opt*>realloc(self.opts, (k + 1) * sizeof(Opt))
        if o == NULL:
            return ERR_NOMEM
        self.opts = o
        t = <Opt**>realloc(self.top, (k + 1) * sizeof(Opt*))
        if t == NULL:
            return ERR_NOMEM
        self.top = t
        self.k_alloc = k
        return OK

    def search(self, line_sku, line_qty, double promise_min, d_store, d_eta, w_store, *,
               double lat, double lon, GridIndex tgrid=None, int pickup=-1, int home=-1, int k=2,
               window=None, bint all_subsets=False):
        """The best option and the runner-up for one order.

        line_sku (int32; -1: no store stocks it), line_qty: the order's lines (at most 64).
        d_store, d_eta: the delivery candidates by ETA (ignored for a pickup order).
        w_store: the warehouses that may ship it a parcel. lat, lon: the customer. tgrid: the
        grid of the stores that may send transfers (None: no transfers). pickup: the pickup
        store, or -1 for a delivery. home: the home store (preferred on ties), or -1.
        k: how many of the cheapest options to keep (2: the best and the runner-up); window:
        keep only options within this much of the best (default runner_up_window; pass
        float("inf") with k > 2 for the k cheapest whatever their cost). all_subsets: keep
        options in which an element's lines are all held by other elements too (the planner
        needs them when stock is short; the router's best never is one).
        Returns a dict: ``line_src``: the store each line's stock comes from in the best
        option (-1: unfilled); ``stores``: the stores the best option uses, one capacity unit
        each; ``best`` and ``runner_up`` as (cost, eta, elements), elements a list
        of (kind, a, b, eta, lines_from_a, lines_from_b, lines_a_holds, lines_b_holds); ``runner_up_exact``: the runner-up
        is the cheapest other option (else every other option costs more than best +
        ``window`` and runner_up is the cheapest one the search met); ``proven`` (False when
        the node budget ran out); ``examined``: (stores, masks) for every store whose stock
        was read.
        """
        ls = np.ascontiguousarray(line_sku, dtype=np.int32)
        lq = np.ascontiguousarray(line_qty, dtype=np.int64)
        ds = np.ascontiguousarray(d_store, dtype=np.int32)
        de = np.ascontiguousarray(d_eta, dtype=np.float64)
        ws = np.ascontiguousarray(w_store, dtype=np.int32)
        cdef Py_ssize_t nl = ls.shape[0]
        if nl > MAX_LINES or lq.shape[0] != nl:
            raise ValueError("the option search takes at most 64 lines, one qty per line")
        if de.shape[0] != ds.shape[0]:
            raise ValueError("d_store and d_eta differ in length")
        if isnan(promise_min) or not (fabs(lat) <= 90.0 and fabs(lon) <= 180.0):
            raise ValueError("promise_min is NaN or the customer's coordinate is invalid")
        cdef Py_ssize_t n_st = self.handling.shape[0]
        if pickup >= n_st:
            raise ValueError("pickup store outside the network")
        if tgrid is not None and tgrid.n_network != n_st:
            raise ValueError("tgrid indexes another network")
        cdef const int32_t[::1] lsv = ls
        cdef const int64_t[::1] lqv = lq
        cdef const int32_t[::1] dsv = ds
        cdef const double[::1] dev = de
        cdef const int32_t[::1] wsv = ws
        cdef const int32_t* skp = &lsv[0] if nl else NULL
        cdef const int64_t* qtp = &lqv[0] if nl else NULL
        cdef const int32_t* dsp = &dsv[0] if ds.shape[0] else NULL
        cdef const double* dep = &dev[0] if ds.shape[0] else NULL
        cdef const int32_t* wsp = &wsv[0] if ws.shape[0] else NULL
        cdef Py_ssize_t nd = ds.shape[0], nw = ws.shape[0], i
        for i in range(nd):
            if not 0 <= dsp[i] < n_st:
                raise ValueError(f"d_store[{i}] = {dsp[i]} is outside the network")
        for i in range(nw):
            if not 0 <= wsp[i] < n_st:
                raise ValueError(f"w_store[{i}] = {wsp[i]} is outside the network")
        if not 1 <= k <= 4096:
            raise ValueError(f"k must be 1..4096, got {k}")
        if self._alloc_top(k) != OK:
            raise MemoryError()
        cdef Ctx c
        cdef int code
        cdef double win = self.runner_up_window if window is None else float(window)
        if not win >= 0:
            raise ValueError("window must be >= 0")
        self._init_ctx(&c, nl, promise_min, k, win, all_subsets, pickup, home)
        self.tgrid = tgrid if self.max_tr > 0 else None
        self.cust_lat, self.cust_lon = lat, lon
        cdef bint use_t = self.tgrid is not None
        if self.release_gil:
            with nogil:
                code = self._run(&c, skp, qtp, nl, pickup, dsp, dep, nd, wsp, nw, home, use_t)
        else:
            code = self._run(&c, skp, qtp, nl, pickup, dsp, dep, nd, wsp, nw, home, use_t)
        self.tgrid = None
        if self.oom:
            code = ERR_NOMEM
        _raise_for(code)
        ex_store = np.empty(self.n_ex, np.int32)
        ex_mask = np.empty(self.n_ex, np.uint64)
        cdef int32_t[::1] exs = ex_store
        cdef uint64_t[::1] exm = ex_mask
        cdef int32_t s
        for i in range(self.n_ex):
            s = self.ex_store[i]
            exs[i] = s
            exm[i] = self.smask[s] if self.stamp[s] == self.cur else 0
        cdef Opt* best = c.top[0]   # the all-unfilled option is always recorded first
        within = c.n_top > 1 and c.top[1].cost <= best.cost + c.window + COST_TOL
        line_src = np.full(nl, -1, np.int32)
        cdef int32_t[::1] lsrc = line_src
        cdef Elem* e
        cdef int kk
        cdef Py_ssize_t j
        stores = []
        for kk in range(best.n):
            e = &best.el[kk]
            if e.a >= 0:
                stores.append(e.a)
            if e.b >= 0:
                stores.append(e.b)
            for j in range(nl):
                if (best.new[kk] >> j) & 1:
                    lsrc[j] = e.a if (e.own >> j) & 1 else e.b
        return {
            "line_src": line_src,
            "stores": stores,
            "best": self._opt_tuple(best),
            "runner_up": self._opt_tuple(c.top[1]) if c.n_top > 1 else None,
            "runner_up_exact": within or c.n_top < 2,
            "options": [self._opt_tuple(c.top[i]) for i in range(c.n_top)] if k > 2 else None,
            "window": c.window,
            "proven": not c.aborted,
            "examined": (ex_store, ex_mask),
            "nodes": c.nodes,
        }

    cdef void _init_ctx(self, Ctx* c, Py_ssize_t nl, double promise, int k, double window, bint all_subsets,
                        int32_t pickup, int32_t home) noexcept nogil:
        # a fresh search state for one order (the top-k buffers emptied)
        cdef int i
        for i in range(k + 1):
            self.opts[i].set = False
            self.top[i] = &self.opts[i]
        c.top, c.n_top, c.k = self.top, 0, k
        c.cand = &self.opts[k]
        c.full = ((<uint64_t>1) << nl) - 1 if nl < 64 else ~(<uint64_t>0)
        c.window = window
        c.promise, c.c_min, c.c_late, c.c_unf = promise, self.c_min, self.c_late, self.c_unf
        c.max_pk, c.max_tr = self.max_pk, self.max_tr
        c.home = home
        c.nodes, c.node_limit, c.aborted = 0, self.node_limit, False
        c.depth = 0
        c.need_transfer = False
        c.all_subsets = all_subsets
        c.pickup = pickup >= 0
        c.E = 0.0
        c.dead_cost = 0.0
        c.el = NULL

    def search_many(self, line_indptr, line_sku, line_qty, promise_min, lat, lon, pickup, home,
                    cand_indptr, cand_store, cand_eta, w_store, GridIndex tgrid=None, *, int k=8,
                    double window=1e300, bint all_subsets=False, Py_ssize_t chunk=4096):
        """The k cheapest options of many orders in one call: ``search`` for each order in
        turn, without the GIL and without a Python object per order or option (the planner's
        bulk path). Nothing is reserved; every order sees the same stock.

        Per order i: lines line_indptr[i]:line_indptr[i+1] of line_sku (int32; -1: no store
        stocks it) and line_qty (at most 64 lines, merged by SKU); promise_min, lat, lon;
        pickup (the pickup store or -1) and home (-1: none); delivery candidates
        cand_indptr[i]:cand_indptr[i+1] of cand_store / cand_eta, sorted by eta. w_store: the
        warehouses that may ship a parcel, the same for every order (call once per city);
        tgrid as in ``search``.

        Returns a dict of arrays: ``opt_indptr`` (n + 1) into the options, cheapest first per
        order; per option ``cost``, ``eta`` and ``el_indptr`` (n_options + 1) into the
        elements; per element ``kind`` (int8, an index into ELEMENT_KINDS), ``a``, ``b``
        (int32, -1: none), ``el_eta``, and uint64 line masks ``from_a``, ``from_b`` (the lines
        it supplies from a and from b) and ``a_holds``, ``b_holds`` (all a and b could);
        ``proven`` (bool per order) and ``nodes``.
        """
        lip = np.ascontiguousarray(line_indptr, dtype=np.int64)
        ls = np.ascontiguousarray(line_sku, dtype=np.int32)
        lq = np.ascontiguousarray(line_qty, dtype=np.int64)
        cdef Py_ssize_t n = lip.shape[0] - 1
        pr = _as_f64("promise_min", promise_min, n)
        la = _as_f64("lat", lat, n)
        lo = _as_f64("lon", lon, n)
        pk = np.ascontiguousarray(pickup, dtype=np.int32)
        hm = np.ascontiguousarray(home, dtype=np.int32)
        cip = np.ascontiguousarray(cand_indptr, dtype=np.int64)
        cs = np.ascontiguousarray(cand_store, dtype=np.int32)
        ce = np.ascontiguousarray(cand_eta, dtype=np.float64)
        ws = np.ascontiguousarray(w_store, dtype=np.int32)
        cdef Py_ssize_t n_st = self.handling.shape[0]
        if n < 0 or lip[0] != 0 or np.any(np.diff(lip) < 0) or lip[n] != ls.shape[0] or lq.shape != ls.shape:
            raise ValueError("line_indptr, line_sku and line_qty do not form a CSR")
        if n and int(np.diff(lip).max()) > MAX_LINES:
            raise ValueError("the option search takes at most 64 lines per order")
        if pk.shape[0] != n or hm.shape[0] != n or cip.shape[0] != n + 1:
            raise ValueError("pickup, home and cand_indptr must have one entry per order (+1 for cand_indptr)")
        if cip[0] != 0 or np.any(np.diff(cip) < 0) or cip[n] != cs.shape[0] or ce.shape != cs.shape:
            raise ValueError("cand_indptr, cand_store and cand_eta do not form a CSR")
        if np.any(np.isnan(pr)) or np.any(~(np.abs(la) <= 90.0)) or np.any(~(np.abs(lo) <= 180.0)):
            raise ValueError("a promise_min is NaN or a customer's coordinate is invalid")
        for name, arr in (("cand_store", cs), ("w_store", ws)):
            if arr.shape[0] and not (0 <= arr.min() and arr.max() < n_st):
                raise ValueError(f"{name} has a store outside the network")
        if pk.shape[0] and (pk.max() >= n_st or hm.max() >= n_st):
            raise ValueError("a pickup or home store is outside the network")
        if tgrid is not None and tgrid.n_network != n_st:
            raise ValueError("tgrid indexes another network")
        if not 1 <= k <= 4096:
            raise ValueError(f"k must be 1..4096, got {k}")
        if not window >= 0:
            raise ValueError("window must be >= 0")
        if self._alloc_top(k) != OK:
            raise MemoryError()
        cdef const int64_t[::1] lipv = lip
        cdef const int32_t[::1] lsv = ls
        cdef const int64_t[::1] lqv = lq
        cdef const double[::1] prv = pr, lav = la, lov = lo, cev = ce
        cdef const int32_t[::1] pkv = pk, hmv = hm, csv = cs, wsv = ws
        cdef const int64_t[::1] cipv = cip
        cdef const int32_t* wsp = &wsv[0] if ws.shape[0] else NULL
        cdef Py_ssize_t nw = ws.shape[0]
        cdef Py_ssize_t per_opt = self.max_pk + self.max_tr + 1
        cdef Py_ssize_t c0, c1, i, j, no, ne, l0, nl, d0, nd
        cdef Ctx c
        cdef Opt* o
        cdef Elem* e
        cdef int code = OK, t
        cdef uint64_t own
        cdef int64_t nodes = 0
        cdef bint use_t = tgrid is not None and self.max_tr > 0
        cdef double[::1] cost_v, eta_v, eeta_v
        cdef int64_t[::1] oip_v, eip_v
        cdef int8_t[::1] kind_v
        cdef int32_t[::1] a_v, b_v
        cdef uint64_t[::1] fa_v, fb_v, ha_v, hb_v
        cdef uint8_t[::1] prov_v
        proven = np.zeros(n, np.uint8)
        prov_v = proven
        opt_count = np.zeros(n, np.int64)
        oip_v = opt_count
        parts = []
        self.tgrid = tgrid if use_t else None
        try:
            for c0 in range(0, n, chunk if chunk > 0 else 4096):
                c1 = min(n, c0 + (chunk if chunk > 0 else 4096))
                cost = np.empty((c1 - c0) * k, np.float64)
                eta = np.empty((c1 - c0) * k, np.float64)
                eip = np.empty((c1 - c0) * k + 1, np.int64)
                kind = np.empty((c1 - c0) * k * per_opt, np.int8)
                a = np.empty((c1 - c0) * k * per_opt, np.int32)
                b = np.empty((c1 - c0) * k * per_opt, np.int32)
                el_eta = np.empty((c1 - c0) * k * per_opt, np.float64)
                fa = np.empty((c1 - c0) * k * per_opt, np.uint64)
                fb = np.empty((c1 - c0) * k * per_opt, np.uint64)
                ha = np.empty((c1 - c0) * k * per_opt, np.uint64)
                hb = np.empty((c1 - c0) * k * per_opt, np.uint64)
                cost_v, eta_v, eip_v, kind_v, a_v, b_v = cost, eta, eip, kind, a, b
                eeta_v, fa_v, fb_v, ha_v, hb_v = el_eta, fa, fb, ha, hb
                no = ne = 0
                eip_v[0] = 0
                with nogil:
                    for i in range(c0, c1):
                        l0, nl = lipv[i], lipv[i + 1] - lipv[i]
                        d0, nd = cipv[i], cipv[i + 1] - cipv[i]
                        self._init_ctx(&c, nl, prv[i], k, window, all_subsets, pkv[i], hmv[i])
                        self.cust_lat, self.cust_lon = lav[i], lov[i]
                        code = self._run(&c, &lsv[l0] if nl else NULL, &lqv[l0] if nl else NULL, nl, pkv[i],
                                         &csv[d0] if nd else NULL, &cev[d0] if nd else NULL, nd, wsp, nw, hmv[i],
                                         use_t)
                        if self.oom:
                            code = ERR_NOMEM
                        if code != OK:
                            break
                        nodes += c.nodes
                        prov_v[i] = not c.aborted
                        oip_v[i] = c.n_top
                        for t in range(c.n_top):
                            o = c.top[t]
                            if o.n > per_opt:   # never: an option has max_packages + max_transfers + 1 elements at most
                                code = ERR_BOUNDS
                                break
                            cost_v[no] = o.cost
                            eta_v[no] = o.eta
                            for j in range(o.n):
                                e = &o.el[j]
                                own = o.new[j] & e.own
                                kind_v[ne] = <int8_t>e.kind
                                a_v[ne] = e.a
                                b_v[ne] = e.b
                                eeta_v[ne] = e.eta
                                fa_v[ne] = own
                                fb_v[ne] = o.new[j] & ~own
                                ha_v[ne] = e.own
                                hb_v[ne] = e.src
                                ne += 1
                            no += 1
                            eip_v[no] = ne
                        if code != OK:
                            break
                _raise_for(code)
                parts.append((cost[:no], eta[:no], eip[1:no + 1], kind[:ne], a[:ne], b[:ne], el_eta[:ne],
                              fa[:ne], fb[:ne], ha[:ne], hb[:ne]))
        finally:
            self.tgrid = None
        # element offsets were per chunk: shift them by the elements before the chunk
        shift = 0
        eips = [np.zeros(1, np.int64)]
        for part in parts:
            eips.append(part[2] + shift)
            shift += part[3].shape[0]
        cat = (lambda col, dt: np.concatenate([p[col] for p in parts]) if parts else np.zeros(0, dt))
        opt_indptr = np.zeros(n + 1, np.int64)
        np.cumsum(opt_count, out=opt_indptr[1:])
        return {
            "opt_indptr": opt_indptr,
            "cost": cat(0, np.float64), "eta": cat(1, np.float64),
            "el_indptr": np.concatenate(eips),
            "kind": cat(3, np.int8), "a": cat(4, np.int32), "b": cat(5, np.int32), "el_eta": cat(6, np.float64),
            "from_a": cat(7, np.uint64), "from_b": cat(8, np.uint64),
            "a_holds": cat(9, np.uint64), "b_holds": cat(10, np.uint64),
            "proven": proven.view(bool),
            "nodes": nodes,
        }

    cdef int _run(self, Ctx* c, const int32_t* skp, const int64_t* qtp, Py_ssize_t nl, int32_t pickup,
                  const int32_t* dsp, const double* dep, Py_ssize_t nd, const int32_t* wsp, Py_ssize_t nw,
                  int32_t home, bint use_t) noexcept nogil:
        self._start(skp, qtp, nl)
        _record(c, self.c_unf * nl)   # the all-unfilled option: no package, eta 0
        if c.pickup:
            return self._search_pickup(c, pickup, use_t)
        return self._search_delivery(c, dsp, dep, nd, wsp, nw, home, use_t)

    cdef int _element_mask(self, Elem* e) noexcept nogil:
        if not e.done:
            e.own = e.mask = self._mask_of(e.a)
            e.done = 1
        return ERR_NOMEM if self.oom else OK

    cdef int _search_delivery(self, Ctx* c, const int32_t* dsp, const double* dep, Py_ssize_t nd,
                              const int32_t* wsp, Py_ssize_t nw, int32_t home, bint use_t) noexcept nogil:
        cdef Py_ssize_t i, n_el = 0, g
        cdef int32_t s
        cdef uint64_t cov
        cdef int code
        if self._reserve(nd + nw + 1) != OK:
            return ERR_NOMEM
        for i in range(nd):
            s = dsp[i]
            if self.usable[s]:
                _set_elem(&self.el[n_el], EL_DELIVER, s, -1, dep[i], self.c_pkg, 1, 0, -1 if s == home else s)
                n_el += 1
        for i in range(nw):
            s = wsp[i]
            if self.usable[s]:
                _set_elem(&self.el[n_el], EL_PARCEL, s, -1, self.parcel_lead, self.c_pkg + self.c_parcel, 1, 0,
                          -1 if s == home else s)
                n_el += 1
        _sort_elems(self.el, n_el)
        c.el = self.el
        c.min_add = self.c_pkg
        # seeds: each warehouse alone; the nearest stores greedily, alone and with each warehouse
        for i in range(n_el):
            if c.el[i].kind == EL_PARCEL:
                code = self._element_mask(&c.el[i])
                if code != OK:
                    return code
                c.depth = 0
                _push(c, i, 0)
                _record_path(c)
        c.depth = 0
        cov = 0
        g = 0
        for i in range(n_el):
            if c.depth >= c.max_pk or cov == c.full or g >= 4 * c.max_pk + 4:
                break
            if c.el[i].kind != EL_DELIVER:
                continue
            code = self._element_mask(&c.el[i])
            if code != OK:
                return code
            g += 1
            if c.el[i].mask & ~cov:
                cov |= c.el[i].mask
                _push(c, i, 0)
                _record_path(c)
        if c.depth and c.depth < c.max_pk and cov != c.full:
            for i in range(n_el):
                if c.el[i].kind == EL_PARCEL and c.el[i].mask & ~cov:
                    _push(c, i, 0)
                    _record_path(c)
                    c.depth -= 1
        c.depth = 0
        cov = 0
        code = self._scan(c, 0, n_el, 1e300, &cov, &g)
        if code != OK or c.aborted:
            return code
        if use_t:
            return self._phase_transfers(c, n_el)
        return OK

    cdef int _scan(self, Ctx* c, Py_ssize_t t0, Py_ssize_t n_el, double eta_below, uint64_t* union,
                   Py_ssize_t* t_next) noexcept nogil:
        # every option whose latest element is t, for t = t0 .. in eta order while eta_t <
        # eta_below, until the bound stops it. t_next: where to resume, or -1 when the bound
        # (or the node budget) ended the scan for good. union: the masks of elements 0..t.
        cdef Py_ssize_t t
        cdef Elem* e
        cdef int code
        t_next[0] = -1
        for t in range(t0, n_el):
            e = &c.el[t]
            if e.eta >= eta_below:
                t_next[0] = t   # elements still to come may sort before this one
                return OK
            if _f(c, e.eta) + c.min_add + c.dead_cost > _thr(c):
                return OK
            code = self._element_mask(e)
            if code != OK:
                return code
            union[0] |= e.mask
            if e.mask == 0:
                continue
            # lines no element up to t holds stay unfilled in every option ending at t
            if _f(c, e.eta) + e.base + c.c_unf * _popcount(c.full & ~union[0]) > _thr(c):
                continue
            c.E = e.eta
            c.depth = 0
            _push(c, t, e.mask)
            if c.all_subsets:
                _complete_all(c, 0, t, e.mask, e.npk, e.ntr, e.base)
            else:
                _complete(c, 0, t, e.mask, 0, e.npk, e.ntr, e.base)
            c.depth = 0
            if c.aborted:
                return OK
        t_next[0] = n_el
        return OK

    cdef int _phase_transfers(self, Ctx* c, Py_ssize_t n_a) noexcept nogil:
        # phase B: packages that receive one transfer. Sources are taken in the order of a
        # lower bound on their transfers' eta; the pairs of a batch of sources join the
        # element list and the scan goes on up to the next source's bound, so the elements
        # before the scan position are always all there are. Records only options with a
        # transfer (the others were seen in phase A).
        cdef double emax = self._e_max(c, self.c_pkg + self.c_tr)
        cdef double vmax = self.transfer_speed if self.transfer_speed > self.courier else self.courier
        cdef double gmax, eta, ha, lb, lb_p, frontier
        cdef Py_ssize_t i, j, k, n_el, na = 0, n_ok = 0, t = 0, batch_end
        cdef Elem* ea
        cdef int32_t b
        cdef uint64_t mb, union = 0
        cdef int code, top_sum, pa, skipped
        cdef Py_ssize_t i2
        cdef bint has_parcel = False
        cdef int top[MAX_OPT]
        cdef int n_top = c.max_pk - 1 if c.max_pk - 1 < MAX_OPT - 1 else MAX_OPT - 1
        cdef uint64_t u_d = 0, u_p = 0, u_s = 0
        cdef Block b_idx, b_eta
        cdef int64_t n_src = 0
        cdef const int32_t* src
        cdef const double* src_eta
        cdef Src* ok = NULL
        if emax < self.h_lo + self.transfer_handling:
            return OK
        # with one transfer per order, the other packages are deliveries (a parcel makes the
        # eta parcel_lead_min): lines that neither the deliverers (u_d) nor the source hold
        # stay unfilled, and the other packages add at most the largest max_packages - 1
        # deliverer masks
        for i in range(n_top + 1):
            top[i] = 0
        for i in range(n_a):
            ea = &c.el[i]
            if ea.eta <= emax:
                code = self._element_mask(ea)
                if code != OK:
                    return code
                if ea.kind == EL_PARCEL:
                    has_parcel = True
                    u_p |= ea.mask
                if ea.kind == EL_DELIVER:
                    na += 1
                    u_d |= ea.mask
                    pa = _popcount(ea.mask)
                    j = n_top
                    while j > 0 and top[j - 1] < pa:
                        top[j] = top[j - 1]
                        j -= 1
                    top[j] = pa
        if na == 0:
            return OK
        # b -> a -> customer is no shorter than b -> customer at the faster of the two speeds:
        # eta >= h_b + transfer_handling + (grid eta of b - h_b) * courier / vmax
        gmax = self.h_lo + (emax - self.h_lo - self.transfer_handling) * vmax / self.courier
        b_idx.ptr = b_eta.ptr = NULL
        b_idx.cap = b_eta.cap = 0
        b_idx.mapped = b_eta.mapped = False
        code = self._sources(self.cust_lat, self.cust_lon, gmax if gmax < 1e7 else 1e7, &b_idx, &b_eta, &n_src)
        if code == OK and n_src:
            ok = <Src*>malloc(n_src * sizeof(Src))
            if ok == NULL:
                code = ERR_NOMEM
        if code != OK:
            _block_free(&b_idx)
            _block_free(&b_eta)
            return code
        src = <const int32_t*>b_idx.ptr
        src_eta = <const double*>b_eta.ptr
        for k in range(n_src):
            b = src[k]
            if not self.usable[b]:
                continue
            mb = self._mask_of(b)
            if not mb:
                continue
            eta = self.handling[b] + self.transfer_handling + (src_eta[k] - self.handling[b]) * self.courier / vmax
            ok[n_ok].lb = eta
            ok[n_ok].b = b
            ok[n_ok].mask = mb
            u_s |= mb
            n_ok += 1
        _block_free(&b_idx)
        _block_free(&b_eta)
        qsort(ok, n_ok, sizeof(Src), _src_cmp)
        # the elements the first scan never reached lie beyond emax: no option with a
        # transfer uses them
        j = 0
        for i in range(n_a):
            if c.el[i].done:
                if j != i:
                    c.el[j] = c.el[i]
                j += 1
        n_a = j
        n_el = n_a
        c.need_transfer = True
        # every option of this phase is made of deliverers within emax, parcels and these
        # sources: the lines none of them holds are unfilled in all of them, a cost the scan's
        # stopping rule may count (on a network whose stock has run out it is what stops it)
        c.dead_cost = c.c_unf * _popcount(c.full & ~(u_d | u_p | u_s))
        k = 0
        while True:
            frontier = ok[k].lb if k < n_ok else 1e300
            code = self._scan(c, t, n_el, frontier, &union, &t)
            if code != OK or t < 0 or k >= n_ok:
                break
            # the next sources (up to 8, or all with the same bound) join the elements
            batch_end = k + 8 if k + 8 < n_ok else n_ok
            while batch_end < n_ok and ok[batch_end].lb <= ok[batch_end - 1].lb:
                batch_end += 1
            j = n_el
            for k in range(k, batch_end):
                b, mb = ok[k].b, ok[k].mask
                if self.max_tr == 1:
                    # the source's eta bound and the lines neither it nor any deliverer holds
                    lb = _f(c, ok[k].lb) + self.c_pkg + self.c_tr
                    pa = _popcount(c.full & ~(u_d | mb))
                    if pa > 0:
                        lb_p = (_f(c, ok[k].lb if ok[k].lb > self.parcel_lead else self.parcel_lead)
                                + 2 * self.c_pkg + self.c_parcel + self.c_tr)
                        lb += self.c_unf * pa
                        if has_parcel and lb_p < lb:
                            lb = lb_p
                    if lb > _thr(c):
                        continue
                for i in range(n_a):
                    ea = &c.el[i]
                    if ea.kind != EL_DELIVER or ea.eta > emax or ea.a == b or not (c.all_subsets or mb & ~ea.own):
                        continue
                    ha = self.handling[ea.a]
                    eta = self._transfer_arrival(b, ea.a)
                    eta = (eta if eta > ha else ha) + (ea.eta - ha)
                    lb = _f(c, eta) + self.c_pkg + self.c_tr
                    if self.max_tr == 1:
                        top_sum = 0
                        pa = _popcount(ea.own)
                        skipped = 0
                        for i2 in range(n_top + 1):
                            if top[i2] == pa and skipped == 0:
                                skipped = 1      # a's own mask is one of the top: skip it once
                                continue
                            if i2 - skipped < n_top:
                                top_sum += top[i2]
                        pa = _popcount(c.full & ~(ea.own | mb)) - top_sum
                        i2 = _popcount(c.full & ~(u_d | mb))
                        if i2 > pa:
                            pa = <int>i2
                        if pa > 0:
                            lb_p = (_f(c, eta if eta > self.parcel_lead else self.parcel_lead) + 2 * self.c_pkg
                                    + self.c_parcel + self.c_tr)   # or a parcel takes part
                            lb += self.c_unf * pa
                            if has_parcel and lb_p < lb:
                                lb = lb_p
                    if lb > _thr(c):
                        continue
                    if self._reserve(n_el + 1) != OK:
                        free(ok)
                        return ERR_NOMEM
                    c.el = self.el
                    ea = &c.el[i]
                    _set_elem(&c.el[n_el], EL_TRANSFER, ea.a, b, eta, self.c_pkg + self.c_tr, 1, 1, ea.rank)
                    c.el[n_el].own = ea.own
                    c.el[n_el].src = mb
                    c.el[n_el].mask = ea.own | mb
                    c.el[n_el].done = 1
                    n_el += 1
            k = batch_end
            # the new pairs' etas are all >= the bound the scan stopped at: merge them into
            # the (sorted) elements not scanned yet
            if n_el > j:
                _merge_new(&c.el[t], j - t, n_el - j)
        c.need_transfer = False
        c.dead_cost = 0.0
        free(ok)
        return code

    cdef int _search_pickup(self, Ctx* c, int32_t p, bint use_t) noexcept nogil:
        # one package at p: p's own lines, ready at h_p, plus up to max_transfers transfers in
        cdef uint64_t mp, mb
        cdef double hp = self.handling[p], emax = -1.0, gmax, eta
        cdef Py_ssize_t n_el, t, k
        cdef int32_t b
        cdef Elem* e
        cdef Block b_idx, b_eta
        cdef int64_t n_src = 0
        cdef const int32_t* src = NULL
        cdef int code = OK
        b_eta.ptr = NULL
        b_eta.cap = 0
        b_eta.mapped = False
        if not self.usable[p]:
            return OK
        mp = self._mask_of(p)
        if self.oom or self._reserve(1) != OK:
            return ERR_NOMEM
        c.min_add = self.c_tr
        c.max_pk = 1
        c.el = self.el
        # element 0 is p's own package, kept out of the scan; alone, it is the first seed
        _set_elem(&c.el[0], EL_PICKUP, p, -1, hp, self.c_pkg, 1, 0, -2)
        c.el[0].own = c.el[0].mask = mp
        c.el[0].done = 1
        if mp:
            c.depth = 0
            _push(c, 0, mp)
            _record_path(c)
        c.depth = 0
        b_idx.ptr = NULL
        b_idx.cap = 0
        b_idx.mapped = False
        if use_t and mp != c.full:
            emax = self._e_max(c, self.c_pkg + self.c_tr)
            if emax >= self.h_lo + self.transfer_handling:
                # arrival h_b + th + c d / vt <= emax  =>  grid eta h_b + c d / vc <= gmax
                if self.transfer_speed >= self.courier:
                    gmax = self.h_lo + (emax - self.transfer_handling - self.h_lo) * self.transfer_speed / self.courier
                else:
                    gmax = self.h_hi + (emax - self.transfer_handling - self.h_hi) * self.transfer_speed / self.courier
                code = self._sources(self.lat[p], self.lon[p], gmax if gmax < 1e7 else 1e7, &b_idx, &b_eta,
                                     &n_src)
                _block_free(&b_eta)
                src = <const int32_t*>b_idx.ptr
        if code != OK or self._reserve(n_src + 1) != OK:
            _block_free(&b_idx)
            return code if code != OK else ERR_NOMEM
        c.el = self.el
        n_el = 1
        for k in range(n_src):
            b = src[k]
            if b == p or not self.usable[b]:
                continue
            mb = self._mask_of(b)
            if not (mb & ~mp) and not (c.all_subsets and mb):
                continue
            eta = self._transfer_arrival(b, p)
            if eta > emax:
                continue
            _set_elem(&c.el[n_el], EL_INTO_PICKUP, -1, b, eta, self.c_tr, 0, 1, -1 if b == c.home else b)
            c.el[n_el].src = c.el[n_el].mask = mb
            c.el[n_el].done = 1
            n_el += 1
        _block_free(&b_idx)
        _sort_elems(&c.el[1], n_el - 1)
        for t in range(1, n_el):
            e = &c.el[t]
            eta = e.eta if e.eta > hp else hp
            if _f(c, eta) + self.c_pkg + self.c_tr > _thr(c):
                break
            c.E = eta
            c.depth = 0
            _push(c, 0, mp)
            _push(c, t, e.mask & ~mp)
            # the completion draws on transfers 1 .. t-1; element 0 is never drawn again
            if c.all_subsets:
                _complete_all(c, 1, t, mp | e.mask, 1, 1, self.c_pkg + e.base)
            else:
                _complete(c, 1, t, mp | e.mask, 0, 1, 1, self.c_pkg + e.base)
            c.depth = 0
            if c.aborted:
                break
        return OK

    # --- small helpers for the owner ---------------------------------------------------------
    cdef object _opt_tuple(self, Opt* o):
        els = []
        cdef int i
        cdef Elem* e
        cdef uint64_t own
        for i in range(o.n):
            e = &o.el[i]
            own = o.new[i] & e.own
            # the lines the element supplies (from a, from b), then all it could (a's, b's)
            els.append((ELEMENT_KINDS[e.kind], e.a, e.b, e.eta, own, o.new[i] & ~own, e.own, e.src))
        return (o.cost, o.eta, els)

    def line_masks(self, stores, line_sku, line_qty):
        """Per store, the mask (uint64) of the lines it can fill alone from available stock."""
        st = np.ascontiguousarray(stores, dtype=np.int32)
        ls = np.ascontiguousarray(line_sku, dtype=np.int32)
        lq = np.ascontiguousarray(line_qty, dtype=np.int64)
        if ls.shape[0] > MAX_LINES or lq.shape != ls.shape:
            raise ValueError("at most 64 lines, one qty per sku")
        if st.shape[0] and (st.min() < 0 or st.max() >= self.handling.shape[0]):
            raise ValueError("a store index is outside the network")
        out = np.zeros(st.shape[0], dtype=np.uint64)
        cdef uint64_t[::1] o = out
        cdef const int32_t[::1] sv = st
        cdef const int32_t[::1] lsv = ls
        cdef const int64_t[::1] lqv = lq
        cdef Py_ssize_t i, nl = ls.shape[0]
        if nl == 0:
            return out
        self._start(&lsv[0], &lqv[0], nl)
        self.bulk_work = 1 << 60   # one store at a time here
        for i in range(st.shape[0]):
            o[i] = self._mask_of(sv[i])
        return out

    def is_usable(self, Py_ssize_t store):
        """The store is open and below capacity (as the owner last set it)."""
        return bool(self.usable[store])

    def handling_of(self, Py_ssize_t store):
        return self.handling[store]

    def stock_position(self, Py_ssize_t store, int32_t sku):
        """The position of (store, sku) in the inventory CSR, or -1 when the store has no row."""
        if not 0 <= store < self.handling.shape[0]:
            raise IndexError("store index outside the network")
        return self._pos(store, sku)

    def transfer_arrival(self, Py_ssize_t b, Py_ssize_t a):
        """Minutes until lines sent by store b are ready at store a."""
        if not (0 <= a < self.handling.shape[0] and 0 <= b < self.handling.shape[0]):
            raise IndexError("store index outside the network")
        return self._transfer_arrival(b, a)
