# omnifill._core, grid: The grid index over one city's stores and its candidate queries.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

cdef inline Py_ssize_t _bucket(double eta, double lo, double scale, double top) noexcept nogil:
    # an ETA's sort bucket, clamped in floating point to [0, top] before the conversion (a far
    # zone hit's ETA may lie beyond the limit, and converting an out-of-range double is undefined)
    cdef double fb = (eta - lo) * scale
    fb = fb if fb < top else top
    return <Py_ssize_t>(fb if fb > 0.0 else 0.0)


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

    def _check_legs(self, Legs travel):
        if travel.road and travel.n_network != self.n_network:
            raise ValueError(f"road legs cover {travel.n_network} stores, the grid's network {self.n_network}")

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

    def query_one(self, double lat, double lon, double max_eta_min, *, Legs travel not None,
                  Py_ssize_t max_candidates=-1, int tier_bit=0, zone_store=None):
        """One order's candidates: (store_index int32, eta_min float64), by ETA then index.

        The same search as ``query`` for a single order, without the array set-up: the
        order service's path. tier_bit and zone_store as ``query``'s per-order values.
        """
        if not (fabs(lat) <= 90.0 and fabs(lon) <= 180.0):
            raise ValueError(f"({lat!r}, {lon!r}) is not a valid coordinate")
        if isnan(max_eta_min):
            raise ValueError("max_eta_min is NaN")
        if not 0 <= tier_bit < 256:
            raise ValueError(f"tier_bit must fit a byte, got {tier_bit}")
        self._check_legs(travel)
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
            code = self._query(&la, &lo, &me, &tb, zi, zs_p, 0, 1, travel, max_candidates, ip,
                               &b_idx, &b_eta, &n_out, 64)
        idx = _as_array(b_idx, n_out, sizeof(int32_t), b"i", np.int32)
        eta = _as_array(b_eta, n_out, sizeof(double), b"d", np.float64)
        _raise_for(code)
        return idx, eta

    def query(self, lat, lon, max_eta_min, *, Legs travel not None, tier_bits=None, zone_indptr=None, zone_store=None, Py_ssize_t max_candidates=-1,
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
        self._check_legs(travel)
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
                                   travel, max_candidates,
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
                    Py_ssize_t start, Py_ssize_t stop, Legs travel, Py_ssize_t max_cand, int64_t* indptr, Block* b_idx, Block* b_eta,
                    int64_t* n_out_p, int64_t first_cap) noexcept nogil:
        cdef Py_ssize_t i, r, r0, r1, c0, c1, s, s_end, k, nh, keep, need
        cdef Py_ssize_t ncols = self.ncols, nrows = self.nrows
        cdef double cell = self.cell, u0 = self.u0, v0 = self.v0
        cdef double la, lo, cl, ox, oy, oz, ou, ov, lim, rad, rad2, dy, hw, band_lo, dx, dyy, dz
        cdef double c2, eta, e, b_lo, b_top, b_scale
        cdef double cacc = 0.0     # by road: the order's access leg and node
        cdef int32_t cnode = 0
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
            if travel.road:
                cnode = travel.road_locate(ox, oy, oz, &cacc)
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
                rad = travel.courier_reach_chord(lim - self.min_handling)
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
                    if travel.road:
                        for k in range(s_end - s):
                            sc.eta[k] = sh[s + k] + travel.road_leg(sidx[s + k], cnode, cacc)
                    elif fast:
                        travel.courier_span(sx + s, sy + s, sz + s, sh + s, s_end - s, ox, oy, oz, sc.eta)
                    else:
                        for k in range(s_end - s):
                            dx = sx[s + k] - ox
                            dyy = sy[s + k] - oy
                            dz = sz[s + k] - oz
                            sc.eta[k] = sh[s + k] + travel.courier_leg(sqrt(dx * dx + dyy * dyy + dz * dz))
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
                if travel.road:
                    e = self.ah[si] + travel.road_leg(si, cnode, cacc)
                else:
                    dx = self.ax[si] - ox
                    dyy = self.ay[si] - oy
                    dz = self.az[si] - oz
                    c2 = dx * dx + dyy * dyy + dz * dz
                    e = self.ah[si] + travel.courier_leg(sqrt(c2))
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
