# omnifill._core, option_search: the OptionSearch class: stock state, masks, the def layer (search, search_many).
# Included by _core.pyx (one extension module: the inner loops stay inlined).

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
    cdef readonly Legs travel
    cdef readonly double transfer_handling, parcel_lead
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
    # prices (set_prices): per stock row a unit's, per store a capacity unit's; NULL: none
    cdef double[::1] row_price_v, store_price_v
    cdef const double* row_price
    cdef const double* store_price
    cdef bint prices_off    # set_prices_active(False): the prices are kept but not applied
    # route(): the owner's reservation arrays (bind_owner), an order's lines, the candidates
    cdef int64_t[::1] own_reserved
    cdef double[::1] own_cap
    cdef const uint8_t[::1] own_closed
    cdef uint8_t[::1] own_status
    cdef bint owned
    cdef int32_t r_sku[LINES_CAP]
    cdef int64_t r_qty[LINES_CAP]
    cdef Block q_idx, q_eta          # the candidates searched (r_nc of them)
    cdef GridIndex r_grid            # during route(): the grid the delivery phase widens over
    cdef double r_reach, r_radius    # ... the order's reach, and the radius its candidates fill
    cdef int64_t r_nc
    cdef int r_widened

    def __cinit__(self):
        self.row_price = NULL
        self.store_price = NULL
        self.owned = False
        self.q_idx.ptr = self.q_eta.ptr = NULL
        self.q_idx.cap = self.q_eta.cap = 0
        self.q_idx.mapped = self.q_eta.mapped = False
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
        _block_free(&self.q_idx)
        _block_free(&self.q_eta)

    def __init__(self, inv_indptr, inv_sku, avail, usable, handling_min, lat, lon, *,
                 Legs travel not None, double parcel_lead_min, double per_minute,
                 double per_package, double per_parcel, double per_transfer, double late_per_minute,
                 double unfilled_per_line, int max_packages, int max_transfers,
                 int64_t node_limit=2_000_000, double runner_up_window=-1.0, sku_index=None):
        """runner_up_window: the runner-up is searched exactly up to this much above the
        best cost (default per_package: one more package's worth); -1 for the default.
        travel: every leg's minutes and the bounds that prune the transfers.
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
        if not (1 <= max_packages <= 32 and 0 <= max_transfers <= 32):
            raise ValueError("the option search takes max_packages 1..32 and max_transfers 0..32")
        for v in (per_minute, per_package, per_parcel, per_transfer, late_per_minute, unfilled_per_line,
                  parcel_lead_min):
            if not (v >= 0 and isfinite(v)):
                raise ValueError("costs and times must be finite and >= 0")
        if travel.road and travel.n_network != n:
            raise ValueError(f"road legs cover {travel.n_network} stores, the search {n}")
        self.travel = travel
        self.transfer_handling, self.parcel_lead = travel.transfer_handling_min, parcel_lead_min
        self.c_min, self.c_pkg, self.c_parcel, self.c_tr = per_minute, per_package, per_parcel, per_transfer
        self.c_late, self.c_unf = late_per_minute, unfilled_per_line
        self.max_pk, self.max_tr = max_packages, max_transfers
        self.h_lo = float(np.min(self.handling)) if n else 0.0
        self.h_hi = float(np.max(self.handling)) if n else 0.0
        self.node_limit = node_limit
        self.runner_up_window = per_package if runner_up_window < 0 else runner_up_window
        self.release_gil = False
        self.set_inventory(inv_indptr, inv_sku, avail, sku_index)

    def set_travel(self, Legs travel not None):
        """Search with other legs of the same model from now on (road times at another hour:
        ``Router.set_hour``). The stores and their handling stay; the transfer handling must too."""
        if travel.road != self.travel.road or travel.transfer_handling_min != self.transfer_handling:
            raise ValueError("set_travel takes legs of the same model and transfer handling")
        if travel.road and travel.n_network != self.handling.shape[0]:
            raise ValueError(f"road legs cover {travel.n_network} stores, the search {self.handling.shape[0]}")
        self.travel = travel

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
        self.row_price = NULL   # prices name rows: new rows, no prices
        self.row_price_v = None
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
        return _row_of(&self.inv_indptr[0], &self.inv_sku[0] if self.inv_sku.shape[0] else NULL, store, sku)

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
        for j in range(n):
            if sv[j] >= n_st:
                raise ValueError(f"line {j}: store {sv[j]} outside the network")
        if n:  # (no stock rows at all: every line has no source, and nothing is reserved)
            j = self._take_lines(&sv[0], &kv[0], &qv[0], n, &reserved[0] if reserved.shape[0] else NULL, sign)
            if j >= 0:
                raise ValueError(f"line {j}: store {sv[j]} does not have {qv[j]} of sku code {kv[j]} available")

    cdef Py_ssize_t _take_lines(self, const int32_t* src, const int32_t* sku, const int64_t* qty, Py_ssize_t n,
                                int64_t* reserved, int sign) noexcept:
        # take (sign 1) or give back (sign -1) each line's qty at its source (-1: none) into
        # the owner's reserved array: all of them, or, when a line's units are not there to
        # take, none (its position is returned; -1 when all were taken)
        cdef Py_ssize_t j
        cdef int64_t pos
        for j in range(n):
            if src[j] >= 0:
                pos = self._pos(src[j], sku[j])
                if pos < 0 or (sign > 0 and self.avail[pos] < qty[j]):
                    return j
        for j in range(n):
            if src[j] >= 0:
                pos = self._pos(src[j], sku[j])
                self._set_avail(src[j], pos, self.avail[pos] - sign * qty[j])
                reserved[pos] += sign * qty[j]
        return -1

    cdef inline void _spend_one(self, Py_ssize_t st, double* cap_left, const uint8_t* closed, uint8_t* status,
                                int sign) noexcept:
        # one store spends (sign 1) or gets back (sign -1) a unit of capacity; its status
        # (0 usable, 1 closed, 2 at capacity) and usable follow
        cap_left[st] -= sign
        status[st] = 1 if closed[st] else (2 if cap_left[st] < 1 else 0)
        self.usable_w[st] = status[st] == 0

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
            self._spend_one(st, &cap_left[0], &closed[0], &status[0], sign)

    def refresh(self, Py_ssize_t store, int64_t pos):
        """The owner changed avail[pos] (of this store) in place: bring the dense copy along."""
        if not (0 <= store < self.handling.shape[0] and self.inv_indptr[store] <= pos < self.inv_indptr[store + 1]):
            raise IndexError("position outside the store's rows")
        self._set_avail(store, pos, self.avail[pos])

    cdef inline double _transfer_arrival(self, Py_ssize_t b, Py_ssize_t a) noexcept nogil:
        # when b's lines are at a: h_b + transfer_handling + the leg (by road, or
        # circuity * d(b, a) / transfer speed)
        cdef double dx, dy, dz
        if self.travel.road:
            return self.travel.road_transfer(self.handling[b], b, a)
        dx = self.xyz[b, 0] - self.xyz[a, 0]
        dy = self.xyz[b, 1] - self.xyz[a, 1]
        dz = self.xyz[b, 2] - self.xyz[a, 2]
        return self.travel.transfer_arrival(self.handling[b], sqrt(dx * dx + dy * dy + dz * dz))

    cdef int _sources(self, double lat, double lon, double gmax, Block* b_idx, Block* b_eta,
                      int64_t* n_out) noexcept nogil:
        # the transfer grid's stores whose grid eta (h_b + courier leg) from (lat, lon) is
        # within gmax, by that eta
        cdef int64_t ip[2]
        cdef uint8_t tb = 0
        cdef int64_t zi[2]
        zi[0] = zi[1] = 0
        return self.tgrid._query(&lat, &lon, &gmax, &tb, zi, NULL, 0, 1, self.travel, -1, ip,
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
               window=None, bint all_subsets=False, double eta_offset=0.0, eta_floor=None,
               bint pickup_paid=False):
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
        A re-route of lines a store rejected (``Router.reject``): eta_offset, the minutes
        since the order (its promise counts from the order); eta_floor, when the order keeps
        other packages, their latest eta in the search's clock (minutes from now), so the
        order's eta is max(option's, floor) + offset and an option filling nothing still
        pays the kept packages' time; pickup_paid: the pickup store's package is kept (its
        package and capacity already paid). The options' etas stay in the search's clock.
        Returns a SearchResult (the options kept, the best option's line sources and
        stores, whether the runner-up is exact and the search proven, the stores examined).
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
        if not (isfinite(eta_offset) and eta_offset >= 0.0):
            raise ValueError(f"eta_offset must be a finite number of minutes >= 0, got {eta_offset!r}")
        cdef double e_floor = -1e300 if eta_floor is None else float(eta_floor)
        if eta_floor is not None and not isfinite(e_floor):
            raise ValueError(f"eta_floor must be finite, got {eta_floor!r}")
        self._init_ctx(&c, nl, promise_min, k, win, all_subsets, pickup, home)
        c.eta_offset, c.eta_floor = eta_offset, e_floor
        c.empty_time = 0.0 if eta_floor is None else _time_cost(&c, e_floor)
        c.pickup_paid = pickup_paid and pickup >= 0
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
        return self._answer(&c, nl, NULL, NULL, -1)

    def bind_owner(self, int64_t[::1] reserved not None, double[::1] cap_left not None,
                   const uint8_t[::1] closed not None, uint8_t[::1] status not None):
        """The owner's reservation arrays, for ``route(reserve=True)``: ``reserved`` aligned
        with avail, the others one per store (as ``take`` and ``spend`` take them). Bind
        again after ``set_inventory`` was given new arrays."""
        cdef Py_ssize_t n_st = self.handling.shape[0]
        if reserved.shape[0] != self.avail.shape[0]:
            raise ValueError("reserved must be aligned with avail")
        if cap_left.shape[0] != n_st or closed.shape[0] != n_st or status.shape[0] != n_st:
            raise ValueError("cap_left, closed and status need one entry per store")
        self.own_reserved, self.own_cap, self.own_closed, self.own_status = reserved, cap_left, closed, status
        self.owned = True

    def route(self, GridIndex grid not None, line_sku, line_qty, double promise_min, double reach_min, w_store,
              *, double lat, double lon, GridIndex tgrid=None, int home=-1, bint reserve=False):
        """One delivery order in one call: its candidates from ``grid`` (the stores whose
        direct ETA is within ``reach_min``), the best option and runner-up over them as
        ``search`` finds them, and with ``reserve`` the best option's units and capacity
        taken, as ``take`` and ``spend`` would, in the arrays given to ``bind_owner``.

        line_sku, line_qty: sequences (or arrays) of the order's at most 64 lines; w_store:
        the warehouses that may ship it a parcel (int32 array). The candidates are searched
        in widening radii. The first is the promise plus the minutes that cost one package
        and the runner-up window (at most reach_min). Its answer is the answer over every
        candidate when, as the scan passed that radius, no option using a farther store could
        still be kept: such an option costs at least the time cost at the radius plus one
        package. Otherwise the search runs again within the radius that condition asks for,
        and then over every candidate. The answer is thus the one ``search`` gives over
        every candidate in reach. ``searched_min`` is the last radius and ``passes`` the
        searches it took; ``cand_idx`` and ``cand_eta`` are the candidates within it.
        """
        cdef Py_ssize_t nl = 0, j, n_st = self.handling.shape[0], nw
        for v in line_sku:
            if nl == LINES_CAP:
                raise ValueError("the option search takes at most 64 lines")
            self.r_sku[nl] = v
            nl += 1
        j = 0
        for v in line_qty:
            if j == nl:
                break
            self.r_qty[j] = v
            j += 1
        if j != nl:
            raise ValueError("one qty per line")
        if isnan(promise_min) or isnan(reach_min) or not (fabs(lat) <= 90.0 and fabs(lon) <= 180.0):
            raise ValueError("promise_min or reach_min is NaN, or the customer's coordinate is invalid")
        if grid.n_network != n_st or (tgrid is not None and tgrid.n_network != n_st):
            raise ValueError("grid or tgrid indexes another network")
        if reserve and not self.owned:
            raise ValueError("route(reserve=True) needs bind_owner() first")
        ws = np.ascontiguousarray(w_store, dtype=np.int32)
        cdef const int32_t[::1] wsv = ws
        nw = wsv.shape[0]
        cdef const int32_t* wsp = &wsv[0] if nw else NULL
        for j in range(nw):
            if not 0 <= wsp[j] < n_st:
                raise ValueError(f"w_store[{j}] = {wsp[j]} is outside the network")
        if self._alloc_top(2) != OK:
            raise MemoryError()
        cdef Ctx c
        cdef int code = OK
        cdef double radius = self._first_radius(promise_min, reach_min)
        cdef double la = lat, lo = lon, me
        cdef int passes = 0
        cdef bint full
        self.tgrid = tgrid if self.max_tr > 0 else None
        self.cust_lat, self.cust_lon = lat, lon
        cdef bint use_t = self.tgrid is not None
        cdef bint rel = self.release_gil
        self.r_grid, self.r_reach = grid, reach_min
        while True:
            passes += 1
            full = radius >= reach_min
            me = reach_min if full else radius
            self._init_ctx(&c, nl, promise_min, 2, self.runner_up_window, False, -1, home)
            if not full:
                c.cut_eta = me + ETA_TOL   # the grid keeps the stores within me + ETA_TOL
            self.r_radius, self.r_widened = me, 0
            if rel:
                with nogil:
                    code = self._query_run(&c, la, lo, me, nl, wsp, nw, home, use_t)
            else:
                code = self._query_run(&c, la, lo, me, nl, wsp, nw, home, use_t)
            passes += self.r_widened
            if self.oom:
                code = ERR_NOMEM
            if code != OK or full or (c.cut_ok and not c.aborted):
                break
            # the delivery phase could not widen in place (its nearest-store seeds ran out of
            # candidates, or the node budget ended the scan): once more over every candidate
            radius = reach_min
        self.r_grid = None
        self.tgrid = None
        _raise_for(code)
        r = self._answer(&c, nl, <int32_t*>self.q_idx.ptr, <double*>self.q_eta.ptr, self.r_nc)
        r.searched_min = self.r_radius
        r.passes = passes
        if reserve:
            self._reserve_best(r.line_src, r.stores, nl)
        return r

    cdef int _query_run(self, Ctx* c, double la, double lo, double me, Py_ssize_t nl, const int32_t* wsp,
                        Py_ssize_t nw, int32_t home, bint use_t) noexcept nogil:
        # route(): the candidates within me minutes of the customer (r_grid's), then the
        # search over them (with the GIL or without: the caller decides)
        cdef uint8_t tb = 0
        cdef int64_t zi[2]
        cdef int64_t ip[2]
        cdef int64_t n_c = 0
        zi[0] = zi[1] = 0
        cdef int code = self.r_grid._query(&la, &lo, &me, &tb, zi, NULL, 0, 1, self.travel, -1, ip,
                                           &self.q_idx, &self.q_eta, &n_c, 64)
        self.r_nc = n_c
        if code == OK:
            code = self._run(c, self.r_sku, self.r_qty, nl, -1, <int32_t*>self.q_idx.ptr,
                             <double*>self.q_eta.ptr, n_c, wsp, nw, home, use_t)
        return code

    cdef int _widen(self, Ctx* c, Py_ssize_t t, Py_ssize_t* n_el_p) noexcept nogil:
        # route(): the scan stopped at element t, passing the radius with an option through a
        # farther store still keepable. The candidates out to where none is (the order's reach
        # at most) join the elements not scanned yet; those within the old radius are the new
        # query's first r_nc, in the same order, and every new one lies beyond them all
        cdef double me = self._eta_above(c.promise, c.cut_thr - self.c_pkg)
        cdef bint full = me >= self.r_reach
        cdef double la = self.cust_lat, lo = self.cust_lon
        cdef uint8_t tb = 0
        cdef int64_t zi[2]
        cdef int64_t ip[2]
        cdef int64_t n_c = 0, i
        cdef Py_ssize_t n_el = n_el_p[0], j
        cdef int32_t s
        cdef const int32_t* idx
        cdef const double* eta
        zi[0] = zi[1] = 0
        if full:
            me = self.r_reach
        cdef int code = self.r_grid._query(&la, &lo, &me, &tb, zi, NULL, 0, 1, self.travel, -1, ip,
                                           &self.q_idx, &self.q_eta, &n_c, 64)
        if code != OK:
            return code
        if self._reserve(n_el + (n_c - self.r_nc) + 1) != OK:
            return ERR_NOMEM
        c.el = self.el
        idx = <const int32_t*>self.q_idx.ptr
        eta = <const double*>self.q_eta.ptr
        j = n_el
        for i in range(self.r_nc, n_c):
            s = idx[i]
            if self.usable[s]:
                _set_elem(&c.el[j], EL_DELIVER, s, -1, eta[i], self.c_pkg + self._cap_price(s, -1), 1, 0,
                          -1 if s == c.home else s)
                j += 1
        if j > n_el:
            _merge_new(&c.el[t], n_el - t, j - n_el)
        n_el_p[0] = j
        self.r_nc, self.r_radius = n_c, me
        self.r_widened += 1
        c.cut_eta = 1e300 if full else me + ETA_TOL
        c.cut_checked = False
        c.cut_ok = True
        return OK

    cdef double _first_radius(self, double promise, double reach) noexcept nogil:
        # the promise plus the minutes one package and the runner-up window cost late
        cdef double e = self._eta_above(promise, self.c_min * promise + self.c_pkg + self.runner_up_window)
        return e if e < reach else reach

    cdef double _eta_above(self, double promise, double budget) noexcept nogil:
        # a direct ETA beyond which the time cost (per minute, and late beyond the promise)
        # exceeds budget
        cdef double slope = self.c_min + self.c_late
        if budget < 0.0:
            return 0.0
        if self.c_min > 0.0 and self.c_min * promise >= budget:
            return budget / self.c_min * (1.0 + 1e-9) + 1e-6
        if slope <= 0.0:
            return INFINITY
        return (promise + (budget - self.c_min * promise) / slope) * (1.0 + 1e-9) + 1e-6

    cdef void _reserve_best(self, object line_src, tuple stores, Py_ssize_t nl) except *:
        # take() and spend() of the best option, into the owner's arrays (the search just
        # found its units available; checked all the same before anything changes)
        cdef const int32_t[::1] sv = line_src
        cdef int64_t* res_p = &self.own_reserved[0] if self.own_reserved.shape[0] else NULL
        cdef Py_ssize_t j = self._take_lines(&sv[0], self.r_sku, self.r_qty, nl, res_p, 1) if nl else -1
        if j >= 0:
            raise ValueError(f"line {j}: store {sv[j]} does not have {self.r_qty[j]} of sku code "
                             f"{self.r_sku[j]} available")
        for x in stores:
            self._spend_one(<Py_ssize_t>x, &self.own_cap[0], &self.own_closed[0], &self.own_status[0], 1)

    cdef SearchResult _answer(self, Ctx* c, Py_ssize_t nl, const int32_t* cidx, const double* ceta,
                              Py_ssize_t n_cand):
        # the search's answer as a SearchResult; with n_cand >= 0, the candidates searched too
        cdef Py_ssize_t i, j, no = 0, ne = 0
        cdef int32_t s
        cdef Opt* best = c.top[0]   # the all-unfilled option is always recorded first
        cdef SearchResult r = SearchResult.__new__(SearchResult)
        if r._alloc(c.n_top, _option_elements(c)) != OK or r._alloc_extra(self.n_ex, n_cand) != OK:
            raise MemoryError()
        for i in range(self.n_ex):
            s = self.ex_store[i]
            r._ex_store[i] = s
            r._ex_mask[i] = self.smask[s] if self.stamp[s] == self.cur else 0
        if n_cand > 0:
            memcpy(r._cand_idx, cidx, n_cand * sizeof(int32_t))
            memcpy(r._cand_eta, ceta, n_cand * sizeof(double))
        within = c.n_top > 1 and c.top[1].cost <= best.cost + c.window + COST_TOL
        line_src = np.empty(nl, np.int32)
        cdef int32_t[::1] lsrc = line_src
        for j in range(nl):
            lsrc[j] = -1
        cdef Elem* e
        cdef int kk
        stores = []
        for kk in range(best.n):
            e = &best.el[kk]
            if e.a >= 0:
                stores.append(e.a)
            if e.b >= 0:
                stores.append(e.b)
            for j in range(nl):
                if (best.new[kk] >> j) & 1:
                    lsrc[j] = e.b if (best.via_b[kk] >> j) & 1 else e.a
        # the options go to the result's own C memory; its arrays are built when first read
        # (the router reads the best option only: no numpy array per decision)
        _raise_for(_write_options(c, self.max_pk + self.max_tr + 1, r._cost, r._eta, r._end + 1, r._rows,
                                  &no, &ne))
        r.line_src, r.stores = line_src, tuple(stores)   # (a tuple of ints: untracked by the collector)
        r.runner_up_exact = within or c.n_top < 2
        r.window, r.proven, r.nodes = c.window, not c.aborted, c.nodes
        r.searched_min = INFINITY
        r.passes = 1
        return r

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
        c.eta_offset, c.eta_floor, c.empty_time = 0.0, -1e300, 0.0
        c.pickup_paid = False
        c.home = home
        c.nodes, c.node_limit, c.aborted = 0, self.node_limit, False
        c.depth = 0
        c.need_transfer = False
        # under unit prices a line's cheapest holder may be any element of the set, so more
        # sets are searched than those the first cover leaves (c.unit_priced: _complete_all)
        c.all_subsets = all_subsets
        c.unit_priced = self.row_price != NULL
        c.pickup = pickup >= 0
        c.E = 0.0
        c.dead_cost = 0.0
        c.el = NULL
        c.cut_eta = 1e300
        c.cut_checked = False
        c.cut_ok = True
        c.cut_thr = 1e300

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

        Returns a SearchBatch: per order its options, cheapest first, their elements as
        one ELEMENT_DTYPE array, and whether its search was proven.
        """
        line_ptr = np.ascontiguousarray(line_indptr, dtype=np.int64)
        ls = np.ascontiguousarray(line_sku, dtype=np.int32)
        lq = np.ascontiguousarray(line_qty, dtype=np.int64)
        cdef Py_ssize_t n = line_ptr.shape[0] - 1
        pr = _as_f64("promise_min", promise_min, n)
        la = _as_f64("lat", lat, n)
        lo = _as_f64("lon", lon, n)
        pk = np.ascontiguousarray(pickup, dtype=np.int32)
        hm = np.ascontiguousarray(home, dtype=np.int32)
        cand_ptr = np.ascontiguousarray(cand_indptr, dtype=np.int64)
        cs = np.ascontiguousarray(cand_store, dtype=np.int32)
        ce = np.ascontiguousarray(cand_eta, dtype=np.float64)
        ws = np.ascontiguousarray(w_store, dtype=np.int32)
        cdef Py_ssize_t n_st = self.handling.shape[0]
        if n < 0 or line_ptr[0] != 0 or np.any(np.diff(line_ptr) < 0) or line_ptr[n] != ls.shape[0] or lq.shape != ls.shape:
            raise ValueError("line_indptr, line_sku and line_qty do not form a CSR")
        if n and int(np.diff(line_ptr).max()) > MAX_LINES:
            raise ValueError("the option search takes at most 64 lines per order")
        if pk.shape[0] != n or hm.shape[0] != n or cand_ptr.shape[0] != n + 1:
            raise ValueError("pickup, home and cand_indptr must have one entry per order (+1 for cand_indptr)")
        if cand_ptr[0] != 0 or np.any(np.diff(cand_ptr) < 0) or cand_ptr[n] != cs.shape[0] or ce.shape != cs.shape:
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
        cdef const int64_t[::1] line_ptr_v = line_ptr
        cdef const int32_t[::1] lsv = ls
        cdef const int64_t[::1] lqv = lq
        cdef const double[::1] prv = pr, lav = la, lov = lo, cev = ce
        cdef const int32_t[::1] pkv = pk, hmv = hm, csv = cs, wsv = ws
        cdef const int64_t[::1] cand_ptr_v = cand_ptr
        cdef const int32_t* wsp = &wsv[0] if ws.shape[0] else NULL
        cdef Py_ssize_t nw = ws.shape[0]
        cdef Py_ssize_t per_opt = self.max_pk + self.max_tr + 1
        cdef Py_ssize_t c0, c1, i, no, ne, l0, nl, d0, nd
        cdef Ctx c
        cdef int code = OK
        cdef int64_t nodes = 0
        cdef bint use_t = tgrid is not None and self.max_tr > 0
        cdef double[::1] cost_v, eta_v
        cdef int64_t[::1] oip_v, eip_v
        cdef ElementRow* rows_p
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
                rows = np.empty((c1 - c0) * k * per_opt, ELEMENT_DTYPE)
                cost_v, eta_v, eip_v = cost, eta, eip
                rows_p = _rows_of(rows)
                no = ne = 0
                eip_v[0] = 0
                with nogil:
                    for i in range(c0, c1):
                        l0, nl = line_ptr_v[i], line_ptr_v[i + 1] - line_ptr_v[i]
                        d0, nd = cand_ptr_v[i], cand_ptr_v[i + 1] - cand_ptr_v[i]
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
                        code = _write_options(&c, <int>per_opt, &cost_v[0], &eta_v[0], &eip_v[1], rows_p,
                                              &no, &ne)
                        if code != OK:
                            break
                _raise_for(code)
                parts.append((cost[:no], eta[:no], eip[1:no + 1], rows[:ne]))
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
        cdef SearchBatch r = SearchBatch.__new__(SearchBatch)
        r.opt_indptr, r.cost, r.eta = opt_indptr, cat(0, np.float64), cat(1, np.float64)
        # (concatenating would drop the struct's padding from the dtype: copied into one
        # ELEMENT_DTYPE array instead)
        elements = np.empty(shift, ELEMENT_DTYPE)
        shift = 0
        for part in parts:
            elements[shift:shift + part[3].shape[0]] = part[3]
            shift += part[3].shape[0]
        r.el_indptr, r.elements = np.concatenate(eips), elements
        r.proven, r.nodes = proven.view(bool), nodes
        return r

    cdef int _run(self, Ctx* c, const int32_t* skp, const int64_t* qtp, Py_ssize_t nl, int32_t pickup,
                  const int32_t* dsp, const double* dep, Py_ssize_t nd, const int32_t* wsp, Py_ssize_t nw,
                  int32_t home, bint use_t) noexcept nogil:
        self._start(skp, qtp, nl)
        c.row_price = self.row_price
        c.inv_indptr = &self.inv_indptr[0]
        c.inv_sku = &self.inv_sku[0] if self.inv_sku.shape[0] else NULL
        c.line_sku, c.line_qty = skp, qtp
        _record(c, c.empty_time + self.c_unf * nl)   # the all-unfilled option: no package, eta 0
        if c.pickup:
            return _search_pickup(self, c, pickup, use_t)
        return _search_delivery(self, c, dsp, dep, nd, wsp, nw, home, use_t)

    cdef int _element_mask(self, Elem* e) noexcept nogil:
        if not e.done:
            e.own = e.mask = self._mask_of(e.a)
            e.done = 1
        return ERR_NOMEM if self.oom else OK

    # --- prices --------------------------------------------------------------------------------
    def set_prices(self, row_price=None, store_price=None):
        """Price the searches that follow (None: no prices, the default). ``row_price``: per
        stock row (the CSR this search reads), the price of one unit taken there;
        ``store_price``: per store, the price of one unit of its capacity (a package it
        delivers or prepares, a transfer it sends). Prices are finite and >= 0.

        A priced option costs its cost model's cost plus the prices of what it uses: one
        capacity unit at each store taking part, and per line the units' price at the
        cheapest store of the option holding it (or ``unfilled_per_line``, leaving the line
        unfilled, when that is less). The search still finds the k cheapest options under
        these costs exactly: prices only add, so every bound stays a bound; under unit prices
        it also searches the sets in which a store holds only lines another store of the set
        holds too, when it may supply one at a lower price (a set where each store holds a
        line no store before it supplies at a price of 0), since a line's cheapest holder may
        be any store of the set. The planner's lower bound prices resources with the duals of
        its LP (Lagrangian pricing); a router with shadow prices (``Router(prices=...)``)
        prices its decisions with them. ``set_prices_active(False)`` searches as if unpriced.
        Cleared by ``set_inventory``."""
        if row_price is None:
            self.row_price_v = None
        else:
            rp = _as_f64("row_price", row_price, self.inv_sku.shape[0])
            if rp.shape[0] and rp.min() < 0:
                raise ValueError("row_price must be >= 0")
            self.row_price_v = rp if rp.shape[0] else None
        if store_price is None:
            self.store_price_v = None
        else:
            sp = _as_f64("store_price", store_price, self.handling.shape[0])
            if sp.shape[0] and sp.min() < 0:
                raise ValueError("store_price must be >= 0")
            self.store_price_v = sp if sp.shape[0] else None
        self._point_prices()

    def set_prices_active(self, bint active):
        """Apply the prices set (True, the default) or search as if there were none (False),
        keeping them for later: what a priced router's unpriced comparison costs is two
        pointers, not a copy of the prices."""
        self.prices_off = not active
        self._point_prices()

    cdef void _point_prices(self):
        if self.row_price_v is None or self.prices_off:
            self.row_price = NULL
        else:
            self.row_price = &self.row_price_v[0]
        if self.store_price_v is None or self.prices_off:
            self.store_price = NULL
        else:
            self.store_price = &self.store_price_v[0]

    cdef inline double _cap_price(self, int32_t a, int32_t b) noexcept nogil:
        # the capacity price of an element using stores a and b (-1: none)
        if self.store_price == NULL:
            return 0.0
        return (self.store_price[a] if a >= 0 else 0.0) + (self.store_price[b] if b >= 0 else 0.0)

    # --- small helpers for the owner ---------------------------------------------------------
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
