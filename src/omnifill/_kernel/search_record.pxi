# omnifill._core, search_record: Recording an option among the k cheapest: identity, tie order, the cost threshold.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

cdef inline int _popcount(uint64_t x) noexcept nogil:
    return omnifill_popcount(x)


cdef inline double _time_cost(Ctx* c, double E) noexcept nogil:
    cdef double late = E - c.promise
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


cdef void _record(Ctx* c, double cost) noexcept nogil:
    # offer the option on the path (cost given) as best or runner-up
    cdef Opt* o = c.cand
    cdef Opt* tmp
    cdef int i, pos
    cdef Elem* e
    cdef bint has_tr = False
    if cost > _cost_threshold(c):
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
    _record(c, (_time_cost(c, E) if c.depth else 0.0) + base + c.c_unf * _popcount(c.full & ~cov))


cdef inline double _latest_eta(Ctx* c, double base) noexcept nogil:
    # the latest eta at which an option of this base can still cost no more than _cost_threshold
    cdef double thr = _cost_threshold(c), P = c.promise, budget, slope
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
