# omnifill._core, search_complete: The depth-first completion of an option and the bounds that prune it.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

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


cdef inline uint64_t _free_side(Ctx* c, int32_t s, uint64_t mask) noexcept nogil:
    # the lines of mask whose units at store s are priced 0 (or have no row: no price)
    cdef uint64_t out = 0, m = mask
    cdef int j
    cdef int64_t row
    if s < 0:
        return 0
    while m:
        j = __builtin_ctzll(m)
        m &= m - 1
        row = _row_of(c.inv_indptr, c.inv_sku, s, c.line_sku[j])
        if row < 0 or c.row_price[row] <= 0.0:
            out |= (<uint64_t>1) << j
    return out


cdef inline uint64_t _elem_free(Ctx* c, Elem* e) noexcept nogil:
    # the lines e supplies at a price of 0: a's own at a, a transfer's at its source b (every
    # line it holds when there are no unit prices); cached in the element
    if c.row_price == NULL:
        return e.mask
    if not e.free_done:
        e.free = _free_side(c, e.a, e.own) | _free_side(c, e.b, e.src)
        e.free_done = 1
    return e.free


cdef void _complete_all(Ctx* c, Py_ssize_t start, Py_ssize_t limit, uint64_t covered, uint64_t cov_free, int npk,
                        int ntr, double base) noexcept nogil:
    # every set of elements (before limit, in index order from start) that each hold some
    # line, whether or not another element of the set holds it too.
    # The planner's lists (c.all_subsets): every such set, as under contention the planner
    # may need either store's units. Under unit prices alone (c.unit_priced): only the sets
    # in which each element holds a line that no element before it in the path supplies at
    # a price of 0 (cov_free: the lines the path supplies so). Exact for the priced cost: in
    # the cheapest option each element supplies a line at a price below every earlier
    # element's (_priced_sourcing keeps the earlier on ties; one supplying none costs more
    # than the option without it), so no earlier element holds that line at 0
    cdef uint64_t unc = c.full & ~covered
    cdef double fe = _time_cost(c, c.E), lb
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
    if slots <= 0 or fe + base + c.min_add > _cost_threshold(c):
        return
    for i in range(start, limit):
        e = &c.el[i]
        if not e.mask or not _fits(c, e, npk, ntr):
            continue
        if not c.all_subsets and not (e.mask & ~cov_free):
            continue  # every line it holds the path already supplies at no price
        lb = fe + base + e.base + (c.c_unf * _popcount(unc & ~e.mask) if slots == 1 else 0.0)
        if lb > _cost_threshold(c):
            continue
        _push(c, i, e.mask & unc)
        _complete_all(c, i + 1, limit, covered | e.mask, cov_free | _elem_free(c, e), npk + e.npk, ntr + e.ntr,
                      base + e.base)
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
    cdef double fe = _time_cost(c, c.E), cost, gu, extra, alt
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
    if fe + base + c.min_add + gu > _cost_threshold(c):
        return
    if slots == 1:
        # one slot left: each element once, no recursion
        c.nodes += (limit - lo) >> 4
        for i in range(lo, limit):
            e = &c.el[i]
            if not (e.mask & free) or not _fits(c, e, npk, ntr):
                continue
            cost = fe + base + e.base + c.c_unf * _popcount(unc & ~e.mask)
            if cost > _cost_threshold(c):
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
    if fe + base + c.min_add + gu + c.c_unf * (nf - slots * maxnew if nf > slots * maxnew else 0) > _cost_threshold(c):
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
        if fe + base + e.base + gu + extra > _cost_threshold(c):
            continue
        _push(c, i, e.mask & unc)
        _complete(c, lo, limit, covered | e.mask, given_up, npk + e.npk, ntr + e.ntr, base + e.base)
        c.depth -= 1
        if c.aborted:
            return
    # or the line stays unfilled
    _complete(c, lo, limit, covered, given_up | bit, npk, ntr, base)
