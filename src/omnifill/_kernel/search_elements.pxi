# omnifill._core, search_elements: Sorting and merging an order's elements by (eta, tie rank).
# Included by _core.pyx (one extension module: the inner loops stay inlined).

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
    e.own = e.src = e.mask = e.free = 0
    e.done = e.free_done = 0
