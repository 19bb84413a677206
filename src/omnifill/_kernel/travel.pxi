# omnifill._core, travel: The travel models in the kernel's terms: unit vectors, chords, the ETA of a span of
# stores by the great circle, and by road (points snapped to graph nodes, a store-by-node table of path minutes).
# Included by _core.pyx (one extension module: the inner loops stay inlined).

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


def chord_radius(double dist_m):
    """The chord on the unit sphere of a great-circle distance in metres."""
    return _chord_radius(dist_m)


@cython.final
cdef class NodeSnap:
    """The nearest of a set of points (road nodes) to any point, by great-circle distance;
    ties go to the lower node position. A uniform grid in the plane tangent at the nodes'
    centre (the grid index's projection, a contraction): the query scans rings of cells
    around its own until the best chord found is shorter than the ring's inner distance,
    so the answer is exact. Built once per graph; queries share nothing mutable."""

    cdef double[::1] gx, gy, gz
    cdef int32_t[::1] gnode
    cdef int64_t[::1] gstart
    cdef double ex[3]
    cdef double ny[3]
    cdef double u0, v0, cell
    cdef Py_ssize_t ncols, nrows
    cdef readonly Py_ssize_t n_nodes, n_eligible
    cdef object _args

    def __init__(self, lat, lon, eligible=None):
        """lat, lon: the nodes (WGS84 degrees). eligible: per node, whether a point may
        snap to it (default all); at least one must be."""
        self._args = (lat, lon, eligible)
        lat = _as_f64("lat", lat)
        n = lat.shape[0]
        lon = _as_f64("lon", lon, n)
        ok = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
        if ok.shape != (n,):
            raise ValueError("eligible needs one value per node")
        sel = np.flatnonzero(ok).astype(np.int32)
        if not len(sel):
            raise ValueError("no node to snap to")
        self.n_nodes, self.n_eligible = n, len(sel)
        xyz = unit_vectors(lat[sel], lon[sel])
        c = xyz.sum(axis=0)
        norm = np.linalg.norm(c)
        c = c / norm if norm > 1e-12 else np.array([1.0, 0.0, 0.0])
        east = np.array([-c[1], c[0], 0.0])
        if np.linalg.norm(east) < 1e-12:
            east = np.array([0.0, 1.0, 0.0])
        east /= np.linalg.norm(east)
        north = np.cross(c, east)
        for k in range(3):
            self.ex[k] = east[k]
            self.ny[k] = north[k]
        u, v = xyz @ east, xyz @ north
        self.u0, self.v0 = float(u.min()), float(v.min())
        span_u, span_v = float(u.max()) - self.u0, float(v.max()) - self.v0
        # about two nodes a cell
        self.cell = max(sqrt(max(span_u * span_v, 1e-24) / (0.5 * len(sel))), max(span_u, span_v) / 4096.0, 1e-12)
        self.ncols = <Py_ssize_t>floor(span_u / self.cell) + 1
        self.nrows = <Py_ssize_t>floor(span_v / self.cell) + 1
        col = np.minimum(((u - self.u0) / self.cell).astype(np.int64), self.ncols - 1)
        row = np.minimum(((v - self.v0) / self.cell).astype(np.int64), self.nrows - 1)
        key = row * self.ncols + col
        order = np.lexsort((sel, key))
        self.gx = np.ascontiguousarray(xyz[order, 0])
        self.gy = np.ascontiguousarray(xyz[order, 1])
        self.gz = np.ascontiguousarray(xyz[order, 2])
        self.gnode = np.ascontiguousarray(sel[order])
        cs = np.zeros(self.ncols * self.nrows + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=self.ncols * self.nrows), out=cs[1:])
        self.gstart = cs

    def __reduce__(self):
        return (NodeSnap, self._args)

    cdef inline void _scan(self, Py_ssize_t s, Py_ssize_t e, double ox, double oy, double oz,
                           double* best2, int32_t* best) noexcept nogil:
        cdef double dx, dy, dz, d2
        cdef int32_t nd
        for s in range(s, e):
            dx = self.gx[s] - ox
            dy = self.gy[s] - oy
            dz = self.gz[s] - oz
            d2 = dx * dx + dy * dy + dz * dz
            nd = self.gnode[s]
            if d2 < best2[0] or (d2 == best2[0] and nd < best[0]):
                best2[0] = d2
                best[0] = nd

    cdef int32_t locate(self, double ox, double oy, double oz, double* chord) noexcept nogil:
        # the nearest eligible node to the unit vector o, and the chord to it
        cdef double ou = ox * self.ex[0] + oy * self.ex[1] + oz * self.ex[2] - self.u0
        cdef double ov = ox * self.ny[0] + oy * self.ny[1] + oz * self.ny[2] - self.v0
        cdef double fc = floor(ou / self.cell), fr = floor(ov / self.cell)
        cdef Py_ssize_t cq = 0 if fc < 0 else (self.ncols - 1 if fc > self.ncols - 1 else <Py_ssize_t>fc)
        cdef Py_ssize_t rq = 0 if fr < 0 else (self.nrows - 1 if fr > self.nrows - 1 else <Py_ssize_t>fr)
        cdef Py_ssize_t k, r, c0, c1, kmax = self.ncols if self.ncols > self.nrows else self.nrows
        cdef double best2 = INFINITY
        cdef int32_t best = -1
        cdef const int64_t* cs = &self.gstart[0]
        for k in range(kmax + 1):
            # the ring of cells k away (Chebyshev) from the query's cell
            c0 = cq - k if cq - k > 0 else 0
            c1 = cq + k if cq + k < self.ncols - 1 else self.ncols - 1
            for r in range(rq - k, rq + k + 1):
                if r < 0 or r >= self.nrows:
                    continue
                if r == rq - k or r == rq + k:
                    self._scan(cs[r * self.ncols + c0], cs[r * self.ncols + c1 + 1], ox, oy, oz, &best2, &best)
                else:
                    if cq - k >= 0:
                        self._scan(cs[r * self.ncols + cq - k], cs[r * self.ncols + cq - k + 1], ox, oy, oz,
                                   &best2, &best)
                    if cq + k <= self.ncols - 1:
                        self._scan(cs[r * self.ncols + cq + k], cs[r * self.ncols + cq + k + 1], ox, oy, oz,
                                   &best2, &best)
            # a node not yet seen is more than k cells away in the plane, so farther than
            # k * cell on the sphere (the projection is a contraction)
            if best >= 0 and sqrt(best2) + 1e-12 <= k * self.cell:
                break
        chord[0] = sqrt(best2)
        return best

    def snap(self, lat, lon):
        """Each point's nearest node (int64 positions) and the chord to it (unit sphere)."""
        xyz = unit_vectors(np.atleast_1d(np.asarray(lat, np.float64)), np.atleast_1d(np.asarray(lon, np.float64)))
        if not np.isfinite(xyz).all():
            raise ValueError("coordinates must be finite")
        cdef const double[:, ::1] p = np.ascontiguousarray(xyz)
        cdef Py_ssize_t i, n = p.shape[0]
        node = np.empty(n, np.int64)
        ch = np.empty(n, np.float64)
        cdef int64_t[::1] nv = node
        cdef double[::1] cv = ch
        cdef double c
        with nogil:
            for i in range(n):
                nv[i] = self.locate(p[i, 0], p[i, 1], p[i, 2], &c)
                cv[i] = c
        return node, ch


@cython.final
cdef class Legs:
    """A travel model as the kernel computes it. The grid index and the option search take
    one (``omnifill.travel``'s models build it from the config: ``TravelModel.kernel``) and
    ask it every travel question: the exact methods give a leg's minutes, the bound methods
    the reach that prunes the grid (no courier leg of m minutes is longer) and lower bounds
    on a relayed leg (transfer, then courier), which prune the transfer phases.

    Two models, one class (it is final: its methods are direct C calls the compiler inlines,
    and the road test is one predictable branch):

    - the great circle (``Legs(circuity, courier, transfer, transfer_handling)``): a leg takes
      ``circuity * great_circle / speed`` minutes at the courier's or the transfer's speed,
      from the chord between two unit vectors. Every expression keeps the operand order the
      searches had before the class existed, so ETAs are bit for bit the same.
    - roads (``road_legs``): a point is snapped to its nearest eligible node (``NodeSnap``)
      with an access leg of ``circuity * great_circle / courier`` minutes; a leg from store s
      to a point is ``access(s) + path(node(s), node(point)) + access(point)``, the path read
      from a node-by-store float32 table (one row per node, one column per store of the
      network). A transfer is the same leg between two stores (``transfer_m_per_min`` is not
      used). The relay bounds hold with both speeds equal, because shortest paths obey the
      triangle inequality: leg(b, a) + leg(a, c) >= leg(b, c).
    """

    cdef readonly double circuity, courier_m_per_min, transfer_m_per_min, transfer_handling_min
    cdef double courier_per_asin    # courier minutes per asin(chord / 2)
    cdef double courier_gc_m_per_min    # metres of great circle a courier covers a minute
    cdef double fastest_m_per_min   # the faster of the courier's and the transfer's speeds
    # roads (road == False: the great circle, and none of these is set)
    cdef readonly bint road
    cdef readonly double reach_m_per_min    # great-circle metres a minute no leg exceeds (inf: unbounded)
    cdef readonly Py_ssize_t n_network, n_nodes
    cdef readonly NodeSnap snapper
    cdef const float[:, ::1] table_v        # (n_nodes, n_network): path minutes from store s's node
    cdef const float* tp
    cdef const int32_t[::1] store_node_v
    cdef const double[::1] store_access_v
    cdef object _road_args                  # for pickling

    def __init__(self, double circuity, double courier_m_per_min, double transfer_m_per_min=1.0,
                 double transfer_handling_min=0.0):
        if not (circuity > 0 and courier_m_per_min > 0 and transfer_m_per_min > 0):
            raise ValueError("circuity and speeds must be positive")
        if not (transfer_handling_min >= 0 and isfinite(transfer_handling_min)):
            raise ValueError("transfer_handling_min must be finite and >= 0")
        self.circuity, self.courier_m_per_min = circuity, courier_m_per_min
        self.transfer_m_per_min, self.transfer_handling_min = transfer_m_per_min, transfer_handling_min
        self.courier_per_asin = 2.0 * EARTH_RADIUS_M * circuity / courier_m_per_min
        self.courier_gc_m_per_min = courier_m_per_min / circuity
        self.fastest_m_per_min = transfer_m_per_min if transfer_m_per_min > courier_m_per_min else courier_m_per_min
        self.road = False
        self.tp = NULL

    def __reduce__(self):
        if self.road:
            return (road_legs, self._road_args)
        return (Legs, (self.circuity, self.courier_m_per_min, self.transfer_m_per_min,
                       self.transfer_handling_min))

    # --- exact --------------------------------------------------------------------------------
    cdef inline double courier_leg(self, double chord) noexcept nogil:
        # a courier's minutes over the great circle of this chord (by road: an access leg)
        return self.courier_per_asin * _asin_small(0.5 * chord)

    cdef inline void courier_span(self, const double* sx, const double* sy, const double* sz,
                                  const double* sh, Py_ssize_t m, double ox, double oy, double oz,
                                  double* eta) noexcept nogil:
        # handling plus the courier leg of every store of a span, to (ox, oy, oz); valid while
        # every chord is under 0.04 (the caller checks), vectorised
        _span_eta(sx, sy, sz, sh, m, ox, oy, oz, self.courier_per_asin, eta)

    cdef inline double transfer_arrival(self, double handling, double chord) noexcept nogil:
        # when lines handed over at `handling` reach the other store: transfer handling plus
        # the transfer's leg
        cdef double d = 2.0 * EARTH_RADIUS_M * _asin_small(0.5 * chord)
        return handling + self.transfer_handling_min + self.circuity * d / self.transfer_m_per_min

    # --- roads (only when self.road) ------------------------------------------------------------
    cdef inline int32_t road_locate(self, double ox, double oy, double oz, double* access) noexcept nogil:
        # a point's node and its access leg's minutes
        cdef double chord
        cdef int32_t node = self.snapper.locate(ox, oy, oz, &chord)
        access[0] = self.courier_leg(chord)
        return node

    cdef inline double road_leg(self, Py_ssize_t s, int32_t node, double access) noexcept nogil:
        # store s (network index) to a point at `node` with `access`: access + path + access
        return self.store_access_v[s] + <double>self.tp[node * self.n_network + s] + access

    cdef inline double road_transfer(self, double handling, Py_ssize_t b, Py_ssize_t a) noexcept nogil:
        # when b's lines handed over at `handling` reach store a
        return handling + self.transfer_handling_min + self.road_leg(b, self.store_node_v[a], self.store_access_v[a])

    # --- bounds ---------------------------------------------------------------------------------
    cdef inline double courier_reach_chord(self, double minutes) noexcept nogil:
        # the chord no courier leg of `minutes` exceeds (the grid's search radius)
        if self.road:
            if not isfinite(self.reach_m_per_min):
                return 2.0
            return _chord_radius(minutes * self.reach_m_per_min)
        return _chord_radius(minutes * self.courier_gc_m_per_min)

    cdef inline double relay_lower_bound(self, double handling_b, double courier_eta_b) noexcept nogil:
        # b -> a -> customer is no shorter than b -> customer at the faster of the two speeds:
        # eta >= h_b + transfer_handling + (b's courier eta - h_b) * courier / fastest
        return (handling_b + self.transfer_handling_min
                + (courier_eta_b - handling_b) * self.courier_m_per_min / self.fastest_m_per_min)

    cdef inline double relay_courier_limit(self, double h_lo, double eta_max) noexcept nogil:
        # the courier eta from the customer beyond which no source (handling >= h_lo) can
        # relay its lines in time for eta_max (the inverse of relay_lower_bound)
        return h_lo + (eta_max - h_lo - self.transfer_handling_min) * self.fastest_m_per_min / self.courier_m_per_min

    cdef inline double transfer_courier_limit(self, double h_lo, double h_hi, double eta_max) noexcept nogil:
        # the courier eta from a store beyond which no source's transfer arrives there by
        # eta_max: arrival h_b + th + c d / v_t <= eta_max  =>  h_b + c d / v_c <= limit
        if self.transfer_m_per_min >= self.courier_m_per_min:
            return (h_lo + (eta_max - self.transfer_handling_min - h_lo)
                    * self.transfer_m_per_min / self.courier_m_per_min)
        return (h_hi + (eta_max - self.transfer_handling_min - h_hi)
                * self.transfer_m_per_min / self.courier_m_per_min)

    # --- for Python (tests and the reference) ---------------------------------------------------
    def courier_minutes(self, double chord):
        """A courier's minutes over the great circle of a unit-sphere chord."""
        return self.courier_leg(chord)

    def transfer_minutes(self, double handling, double chord):
        """When lines handed over at ``handling`` reach the other store of this chord."""
        return self.transfer_arrival(handling, chord)

    def reach_chord(self, double minutes):
        """The chord no courier leg of ``minutes`` exceeds."""
        return self.courier_reach_chord(minutes)

    def store_node(self):
        """By road: each network store's node (int32); None for the great circle."""
        return np.asarray(self.store_node_v) if self.road else None

    def store_access(self):
        """By road: each network store's access leg in minutes; None for the great circle."""
        return np.asarray(self.store_access_v) if self.road else None

    def locate(self, double lat, double lon):
        """By road: a point's (node, access minutes)."""
        if not self.road:
            raise ValueError("great-circle legs have no nodes")
        cdef double acc
        xyz = unit_vectors([lat], [lon])[0]
        cdef int32_t node = self.road_locate(xyz[0], xyz[1], xyz[2], &acc)
        return int(node), acc


def road_legs(double circuity, double courier_m_per_min, double transfer_handling_min, NodeSnap snapper not None,
              store_lat, store_lon, table, double reach_m_per_min):
    """Road legs over one network's stores: ``table`` is (n_nodes, n_stores) float32, the
    path minutes from each store's node (the one ``snapper`` gives its place) to every node
    (inf: unreachable); reach_m_per_min: great-circle metres a minute no leg exceeds (the
    graph's fastest edge or the access speed, the larger; inf when unbounded)."""
    cdef Legs legs = Legs(circuity, courier_m_per_min, courier_m_per_min, transfer_handling_min)
    slat = _as_f64("store_lat", store_lat)
    n = slat.shape[0]
    slon = _as_f64("store_lon", store_lon, n)
    tab = np.asarray(table)
    if tab.dtype != np.float32 or tab.ndim != 2 or tab.shape != (snapper.n_nodes, n) or not tab.flags.c_contiguous:
        raise ValueError(f"table must be a contiguous float32 array of (n_nodes, n_stores) = ({snapper.n_nodes}, {n})")
    if np.isnan(tab).any() or (tab < 0).any():
        raise ValueError("table minutes must be >= 0 (inf: unreachable)")
    if not (reach_m_per_min > 0):
        raise ValueError("reach_m_per_min must be > 0")
    node, chord = snapper.snap(slat, slon)
    legs.road = True
    legs.reach_m_per_min = max(reach_m_per_min, legs.courier_gc_m_per_min)
    legs.snapper = snapper
    legs.n_network, legs.n_nodes = n, snapper.n_nodes
    legs.table_v = tab
    legs.tp = &legs.table_v[0, 0] if tab.size else NULL
    legs.store_node_v = node.astype(np.int32)
    legs.store_access_v = np.array([legs.courier_leg(c) for c in chord], np.float64)
    legs._road_args = (circuity, courier_m_per_min, transfer_handling_min, snapper, slat, slon, tab, reach_m_per_min)
    return legs
