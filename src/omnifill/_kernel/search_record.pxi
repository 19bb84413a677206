# omnifill._core, search_record: Recording an option among the k cheapest: identity, tie order, the cost threshold.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

cdef inline int _popcount(uint64_t x) noexcept nogil:
    return omnifill_popcount(x)


cdef inline double _time_cost(Ctx* c, double E) noexcept nogil:
    # f(E): per minute of the order's eta, and late beyond the promise; nondecreasing in E
    cdef double late
    if E < c.eta_floor:
        E = c.eta_floor
    E += c.eta_offset
    late = E - c.promise
    return c.c_min * E + (c.c_late * late if late > 0.0 else 0.0)


cdef inline double _cost_threshold(Ctx* c) noexcept nogil:
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


cdef double _priced_sourcing(Ctx* c, Opt* o) noexcept nogil:
    # what pricing adds to the option's cost: per line its elements hold, the price of its
    # units at the cheapest element holding it (a's own stock, or b's for a transfer), or
    # unfilled_per_line when that is less (the line is then left unfilled); o.new is set to
    # that sourcing. Ties keep the earlier element of the path.
    cdef int i, j
    cdef Elem* e
    cdef uint64_t bit, covered = 0
    cdef int32_t store
    cdef int64_t row
    cdef double p, total = 0.0
    cdef double best[64]
    cdef int who[64]
    cdef int src_side[64]
    cdef int side
    for i in range(o.n):
        o.new[i] = 0
        o.via_b[i] = 0
    for i in range(o.n):
        e = &o.el[i]
        for j in range(64):
            bit = (<uint64_t>1) << j
            if not (e.mask & bit):
                continue
            # from a's own stock or b's (a transfer's source may hold a line a holds too)
            for side in range(2):
                if side == 0 and not (e.own & bit):
                    continue
                if side == 1 and not (e.src & bit):
                    continue
                store = e.a if side == 0 else e.b
                row = _row_of(c.inv_indptr, c.inv_sku, store, c.line_sku[j])
                p = c.row_price[row] * c.line_qty[j] if row >= 0 else 0.0
                if not (covered & bit) or p < best[j]:
                    best[j] = p
                    who[j] = i
                    src_side[j] = side
                covered |= bit
    for j in range(64):
        bit = (<uint64_t>1) << j
        if covered & bit:
            if best[j] <= c.c_unf:
                total += best[j]
                o.new[who[j]] |= bit
                if src_side[j]:
                    o.via_b[who[j]] |= bit
            else:   # dearer than leaving it unfilled: the option leaves it (the model may)
                total += c.c_unf
    return total


cdef void _record(Ctx* c, double cost) noexcept nogil:
    # offer the option on the path (cost given) as best or runner-up
    cdef Opt* o = c.cand
    cdef Opt* tmp
    cdef int i, pos
    cdef Elem* e
    cdef bint has_tr = False
    if cost > _cost_threshold(c):
        return   # (prices only add: a priced option costs at least this)
    o.n = c.depth
    o.home = False
    for i in range(c.depth):
        e = &c.el[c.path[i]]
        o.el[i] = e[0]
        o.new[i] = c.path_new[i]
        o.via_b[i] = c.path_new[i] & ~e.own   # a's own lines from a, the rest from b
        o.key[i] = _elem_key(e)
        if e.ntr:
            has_tr = True
        if c.home >= 0 and (e.a == c.home or e.b == c.home):
            o.home = True
    if c.need_transfer and not has_tr:
        return   # found in phase A already
    if c.row_price != NULL and o.n:
        cost += _priced_sourcing(c, o)
        if cost > _cost_threshold(c):
            return
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
    _record(c, (_time_cost(c, E) if c.depth else c.empty_time) + base + c.c_unf * _popcount(c.full & ~cov))


cdef inline double _latest_eta(Ctx* c, double base) noexcept nogil:
    # the latest eta at which an option of this base can still cost no more than _cost_threshold
    # (f's inverse: the order-clock eta t with f = budget, less the offset; none below the floor)
    cdef double thr = _cost_threshold(c), P = c.promise, budget, slope, t
    if thr >= 1e299:
        return 1e300
    budget = thr - base
    if budget < 0.0:
        return -1.0
    if c.c_min > 0.0 and c.c_min * P >= budget:
        t = budget / c.c_min
    else:
        slope = c.c_min + c.c_late
        if slope <= 0.0:
            return 1e300
        t = P + (budget - c.c_min * P) / slope
    t -= c.eta_offset
    if t < c.eta_floor:
        return -1.0 if _time_cost(c, c.eta_floor) > budget else c.eta_floor
    return t
