# omnifill._core, coverage: Inventory coverage: per (order, candidate) the mask of lines a store fills alone.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

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

cdef inline int64_t _row_of(const int64_t* indptr, const int32_t* skus, Py_ssize_t store,
                            int32_t sku) noexcept nogil:
    # the stock row of (store, sku) in a CSR by store (SKU codes ascending), or -1
    cdef int64_t lo = indptr[store], hi = indptr[store + 1], mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if skus[mid] < sku:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < indptr[store + 1] and skus[lo] == sku else -1


cdef inline int64_t _available(const int64_t* indptr, const int32_t* skus, const int64_t* avail,
                               Py_ssize_t store, int32_t sku) noexcept nogil:
    cdef int64_t row = _row_of(indptr, skus, store, sku)
    return avail[row] if row >= 0 else 0


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
