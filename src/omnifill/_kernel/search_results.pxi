# omnifill._core, search_results: the option search's answers as typed objects.
# Included by _core.pyx (one extension module: the inner loops stay inlined).
#
# Both paths answer in one layout: per option (cheapest first) its cost and eta, and
# el_indptr into one array of elements of ELEMENT_DTYPE, built from the C struct ElementRow
# (as scikit-learn builds NODE_DTYPE from its Node struct), so the dtype is the struct and
# cannot drift from it. SearchResult is one order's answer (the router's), SearchBatch many
# orders' (the planner's); both are frozen (read-only attributes).

cdef struct ElementRow:
    int32_t kind        # ElementKind: EL_DELIVER .. EL_PICKUP
    int32_t a, b        # stores (-1: none)
    double eta
    uint64_t from_a     # the lines it supplies from a's stock
    uint64_t from_b     # the lines it supplies from b's (a transfer's source)
    uint64_t a_holds    # every line a could fill
    uint64_t b_holds    # every line b could send

cdef ElementRow _dummy_row
ELEMENT_DTYPE = np.asarray(<ElementRow[:1]>(&_dummy_row)).dtype
ELEMENT_FIELDS = ELEMENT_DTYPE.names


cdef Py_ssize_t _option_elements(Ctx* c) noexcept nogil:
    # how many elements the recorded options hold together
    cdef Py_ssize_t n = 0
    cdef int t
    for t in range(c.n_top):
        n += c.top[t].n
    return n


cdef int _write_options(Ctx* c, int per_opt, double* cost, double* eta, int64_t* el_end,
                        ElementRow* rows, Py_ssize_t* no_p, Py_ssize_t* ne_p) noexcept nogil:
    # append the recorded options, cheapest first: cost[no], eta[no], their elements from
    # rows[ne], el_end[no] the element count after option no
    cdef Py_ssize_t no = no_p[0], ne = ne_p[0]
    cdef int t, j
    cdef Opt* o
    cdef Elem* e
    cdef ElementRow* r
    cdef uint64_t own
    for t in range(c.n_top):
        o = c.top[t]
        if o.n > per_opt:   # never: an option has max_packages + max_transfers + 1 elements at most
            return ERR_BOUNDS
        cost[no] = o.cost
        eta[no] = o.eta
        for j in range(o.n):
            e = &o.el[j]
            r = &rows[ne]
            own = o.new[j] & ~o.via_b[j]
            r.kind, r.a, r.b, r.eta = e.kind, e.a, e.b, e.eta
            r.from_a, r.from_b, r.a_holds, r.b_holds = own, o.new[j] & ~own, e.own, e.src
            ne += 1
        no += 1
        el_end[no - 1] = ne
    no_p[0], ne_p[0] = no, ne
    return OK


cdef inline ElementRow* _rows_of(object arr):
    # the data of a fresh, C-contiguous ELEMENT_DTYPE array
    cdef ElementRow[::1] v = arr
    return &v[0] if v.shape[0] else NULL


cdef object _found(double cost, double eta, object rows):
    # an option as (cost, eta, elements), an element (kind label, a, b, eta, lines from a,
    # lines from b, lines a holds, lines b holds): the form options.option_from_search reads
    return (cost, eta, [(ELEMENT_KINDS[r[0]],) + r[1:] for r in rows])


cdef class SearchResult:
    """One order's answer from ``OptionSearch.search``.

    The options kept (cheapest first; the all-unfilled option is always among them):
    ``cost``, ``eta`` and ``el_indptr`` into ``elements`` (ELEMENT_DTYPE). ``line_src``: the
    store each line's stock comes from in the best option (-1: unfilled); ``stores``: the
    stores the best option uses, one capacity unit each. ``runner_up_exact``: the second
    option is the cheapest other option (else every other option costs more than best +
    ``window``). ``proven``: False when the node budget ran out. ``examined_store`` and
    ``examined_mask``: every store whose stock was read, and the lines it can fill. ``stores``
    is a tuple.
    ``best``, ``runner_up`` and ``options`` give options as (cost, eta, elements) tuples.

    The options live in the result's own C memory (one block); the arrays are built from it
    when first read, so a caller that reads only ``best`` (the router) makes none.
    """

    cdef double* _cost
    cdef double* _eta
    cdef int64_t* _end          # _end[0] = 0, _end[i + 1]: the elements up to option i
    cdef ElementRow* _rows
    cdef Py_ssize_t _n_opt
    cdef object _arrays         # (cost, eta, el_indptr, elements), once read
    # the stores examined and their masks, and (OptionSearch.route) the candidates searched:
    # one more block of C memory, arrays built when read
    cdef char* _extra
    cdef int32_t* _ex_store
    cdef uint64_t* _ex_mask
    cdef Py_ssize_t _n_ex
    cdef int32_t* _cand_idx
    cdef double* _cand_eta
    cdef Py_ssize_t _n_cand     # -1: the caller gave the candidates (OptionSearch.search)
    cdef object _ex_arrays, _cand_arrays
    cdef readonly object line_src, stores
    cdef readonly bint runner_up_exact, proven
    cdef readonly double window
    cdef readonly int64_t nodes
    cdef readonly double searched_min   # route: the direct-ETA radius of the candidates searched
    cdef readonly int passes            # route: the searches it took (1: the first radius sufficed)

    def __cinit__(self):
        self._cost = NULL
        self._n_opt = 0
        self._extra = NULL
        self._n_ex = 0
        self._n_cand = -1

    def __dealloc__(self):
        free(self._cost)
        free(self._extra)

    cdef int _alloc_extra(self, Py_ssize_t n_ex, Py_ssize_t n_cand) noexcept:
        # ex_mask (8-byte) first, then cand_eta, then the two int32 arrays
        cdef Py_ssize_t nc = n_cand if n_cand > 0 else 0
        self._extra = <char*>malloc(n_ex * 12 + nc * 12 + 8)
        if self._extra == NULL:
            return ERR_NOMEM
        self._ex_mask = <uint64_t*>self._extra
        self._cand_eta = <double*>(self._extra + n_ex * 8)
        self._ex_store = <int32_t*>(self._extra + n_ex * 8 + nc * 8)
        self._cand_idx = self._ex_store + n_ex
        self._n_ex, self._n_cand = n_ex, n_cand
        return OK

    @property
    def examined_store(self):
        """Every store whose stock the search read, in the order it read them (int32)."""
        return (self._ex_arrays or self._make_ex())[0]

    @property
    def examined_mask(self):
        """Per examined store, the lines it can fill (uint64 masks)."""
        return (self._ex_arrays or self._make_ex())[1]

    cdef object _make_ex(self):
        st = np.empty(self._n_ex, np.int32)
        mk = np.empty(self._n_ex, np.uint64)
        cdef int32_t[::1] sv = st
        cdef uint64_t[::1] mv = mk
        if self._n_ex:
            memcpy(&sv[0], self._ex_store, self._n_ex * sizeof(int32_t))
            memcpy(&mv[0], self._ex_mask, self._n_ex * sizeof(uint64_t))
        self._ex_arrays = (st, mk)
        return self._ex_arrays

    @property
    def cand_idx(self):
        """``OptionSearch.route``: the candidates it searched (by ETA, then store), else None."""
        return None if self._n_cand < 0 else (self._cand_arrays or self._make_cands())[0]

    @property
    def cand_eta(self):
        """``OptionSearch.route``: the searched candidates' direct ETAs, else None."""
        return None if self._n_cand < 0 else (self._cand_arrays or self._make_cands())[1]

    cdef object _make_cands(self):
        ci = np.empty(self._n_cand, np.int32)
        ce = np.empty(self._n_cand, np.float64)
        cdef int32_t[::1] iv = ci
        cdef double[::1] ev = ce
        if self._n_cand:
            memcpy(&iv[0], self._cand_idx, self._n_cand * sizeof(int32_t))
            memcpy(&ev[0], self._cand_eta, self._n_cand * sizeof(double))
        self._cand_arrays = (ci, ce)
        return self._cand_arrays

    def __init__(self):
        raise TypeError("a SearchResult comes from OptionSearch.search")

    cdef int _alloc(self, Py_ssize_t n_opt, Py_ssize_t n_rows) noexcept:
        # one block: cost, eta (n_opt doubles each), end (n_opt + 1), then the rows (8-aligned)
        cdef size_t head = (2 * n_opt + n_opt + 1) * 8
        cdef char* p = <char*>malloc(head + n_rows * sizeof(ElementRow) + 8)
        if p == NULL:
            return ERR_NOMEM
        self._cost = <double*>p
        self._eta = self._cost + n_opt
        self._end = <int64_t*>(self._eta + n_opt)
        self._end[0] = 0
        self._rows = <ElementRow*>(p + head)
        self._n_opt = n_opt
        return OK

    cdef object _make_arrays(self):
        cdef Py_ssize_t n = self._n_opt, m = self._end[self._n_opt], i
        cost = np.empty(n, np.float64)
        eta = np.empty(n, np.float64)
        eip = np.empty(n + 1, np.int64)
        elements = np.empty(m, ELEMENT_DTYPE)
        cdef double[::1] cv = cost, ev = eta
        cdef int64_t[::1] iv = eip
        for i in range(n):
            cv[i] = self._cost[i]
            ev[i] = self._eta[i]
        for i in range(n + 1):
            iv[i] = self._end[i]
        if m:
            memcpy(_rows_of(elements), self._rows, m * sizeof(ElementRow))
        self._arrays = (cost, eta, eip, elements)
        return self._arrays

    @property
    def cost(self):
        return (self._arrays or self._make_arrays())[0]

    @property
    def eta(self):
        return (self._arrays or self._make_arrays())[1]

    @property
    def el_indptr(self):
        return (self._arrays or self._make_arrays())[2]

    @property
    def elements(self):
        return (self._arrays or self._make_arrays())[3]

    def option(self, Py_ssize_t i):
        """Option i (0: the best) as (cost, eta, elements)."""
        if not 0 <= i < self._n_opt:
            raise IndexError(f"option {i} of {self._n_opt}")
        cdef ElementRow* r
        cdef int64_t j
        els = []
        for j in range(self._end[i], self._end[i + 1]):
            r = &self._rows[j]
            els.append((ELEMENT_KINDS[r.kind], r.a, r.b, r.eta, r.from_a, r.from_b, r.a_holds, r.b_holds))
        return (self._cost[i], self._eta[i], els)

    @property
    def n_options(self):
        return self._n_opt

    @property
    def best(self):
        return self.option(0)

    @property
    def runner_up(self):
        """The second cheapest option kept, or None."""
        return self.option(1) if self._n_opt > 1 else None

    @property
    def options(self):
        """Every option kept, cheapest first (the k cheapest when k > 2 was asked for)."""
        return [self.option(i) for i in range(self._n_opt)]


cdef class SearchBatch:
    """Many orders' answers from ``OptionSearch.search_many``, as arrays.

    ``opt_indptr`` (n + 1) into the options, cheapest first per order; per option ``cost``,
    ``eta`` and ``el_indptr`` (n_options + 1) into ``elements`` (ELEMENT_DTYPE); per order
    ``proven``; ``nodes`` searched in all."""

    cdef readonly object opt_indptr, cost, eta, el_indptr, elements, proven
    cdef readonly int64_t nodes

    def __init__(self):
        raise TypeError("a SearchBatch comes from OptionSearch.search_many")

    def option(self, Py_ssize_t i):
        """Option i (counted over all orders) as (cost, eta, elements)."""
        if not 0 <= i < self.cost.shape[0]:
            raise IndexError(f"option {i} of {self.cost.shape[0]}")
        return _found(self.cost[i], self.eta[i],
                      self.elements[self.el_indptr[i]:self.el_indptr[i + 1]].tolist())
