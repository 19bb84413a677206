# omnifill._core, search_phases: the option search's three phases, as functions of the search.
# Included by _core.pyx after option_search.pxi (one extension module: direct C calls).
#
#   _search_delivery   phase A: deliveries and parcels, elements by eta (with _scan), then
#   _phase_transfers   phase B: packages that receive one transfer, sources by a bound on eta
#   _search_pickup     a pickup order: the pickup store's package and transfers into it


cdef int _search_delivery(OptionSearch self, Ctx* c, const int32_t* dsp, const double* dep, Py_ssize_t nd,
                          const int32_t* wsp, Py_ssize_t nw, int32_t home, bint use_t) noexcept nogil:
    cdef Py_ssize_t i, n_el = 0, g
    cdef int32_t s
    cdef uint64_t cov
    cdef int code
    cdef bint seeded
    if self._reserve(nd + nw + 1) != OK:
        return ERR_NOMEM
    for i in range(nd):
        s = dsp[i]
        if self.usable[s]:
            _set_elem(&self.el[n_el], EL_DELIVER, s, -1, dep[i], self.c_pkg + self._cap_price(s, -1), 1, 0,
                      -1 if s == home else s)
            n_el += 1
    for i in range(nw):
        s = wsp[i]
        if self.usable[s]:
            _set_elem(&self.el[n_el], EL_PARCEL, s, -1, self.parcel_lead,
                      self.c_pkg + self.c_parcel + self._cap_price(s, -1), 1, 0,
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
    seeded = False    # the seeds stopped by their own rule, not for want of candidates
    for i in range(n_el):
        if c.depth >= c.max_pk or cov == c.full or g >= 4 * c.max_pk + 4:
            seeded = True
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
    if not seeded and (c.depth >= c.max_pk or cov == c.full or g >= 4 * c.max_pk + 4):
        seeded = True
    if c.depth and c.depth < c.max_pk and cov != c.full:
        for i in range(n_el):
            if c.el[i].kind == EL_PARCEL and c.el[i].mask & ~cov:
                _push(c, i, 0)
                _record_path(c)
                c.depth -= 1
    c.depth = 0
    cov = 0
    code = _scan(self, c, 0, n_el, 1e300, &cov, &g)
    while code == OK and not c.aborted and c.cut_eta < 1e300:
        # the candidates are those within a radius (OptionSearch.route): is the answer the
        # one over every candidate? Not when the seeds ran out of candidates (farther ones
        # would have given more), nor when the scan passed the radius with an option using a
        # farther store still keepable; then the candidates widen and the scan resumes
        if not c.cut_checked:
            _check_cut(c)     # the scan ended before the radius: by the bound, or the list's end
        if not seeded:
            c.cut_ok = False
            return OK         # the caller searches again over every candidate
        if c.cut_ok:
            break
        if g < 0:             # (never: a scan the bound stopped before the radius passes the check)
            c.cut_ok = False
            return OK
        code = self._widen(c, g, &n_el)
        if code == OK:
            code = _scan(self, c, g, n_el, 1e300, &cov, &g)
    if code != OK or c.aborted:
        return code
    if use_t:
        return _phase_transfers(self, c, n_el)
    return OK


cdef inline void _check_cut(Ctx* c) noexcept nogil:
    # the scan passes the first radius: a store beyond it delivers no sooner, so an option
    # using one costs more than this bound; when that is above the threshold, the search
    # over every candidate stops here too (its scan is this one up to here: the candidates
    # within the radius are a prefix of them all, in the same order)
    c.cut_checked = True
    c.cut_thr = _cost_threshold(c)
    c.cut_ok = _time_cost(c, c.cut_eta) + c.min_add + c.dead_cost > c.cut_thr


cdef int _scan(OptionSearch self, Ctx* c, Py_ssize_t t0, Py_ssize_t n_el, double eta_below, uint64_t* union,
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
        if e.eta > c.cut_eta and not c.cut_checked:
            _check_cut(c)
            if not c.cut_ok:
                t_next[0] = t   # the caller widens the candidates (or searches again) and resumes here
                return OK
        if e.eta >= eta_below:
            t_next[0] = t   # elements still to come may sort before this one
            return OK
        if _time_cost(c, e.eta) + c.min_add + c.dead_cost > _cost_threshold(c):
            return OK
        code = self._element_mask(e)
        if code != OK:
            return code
        union[0] |= e.mask
        if e.mask == 0:
            continue
        # lines no element up to t holds stay unfilled in every option ending at t
        if _time_cost(c, e.eta) + e.base + c.c_unf * _popcount(c.full & ~union[0]) > _cost_threshold(c):
            continue
        c.E = e.eta
        c.depth = 0
        _push(c, t, e.mask)
        if c.all_subsets or c.unit_priced:
            _complete_all(c, 0, t, e.mask, _elem_free(c, e), e.npk, e.ntr, e.base)
        else:
            _complete(c, 0, t, e.mask, 0, e.npk, e.ntr, e.base)
        c.depth = 0
        if c.aborted:
            return OK
    t_next[0] = n_el
    return OK


cdef int _phase_transfers(OptionSearch self, Ctx* c, Py_ssize_t n_a) noexcept nogil:
    # phase B: packages that receive one transfer. Sources are taken in the order of a
    # lower bound on their transfers' eta; the pairs of a batch of sources join the
    # element list and the scan goes on up to the next source's bound, so the elements
    # before the scan position are always all there are. Records only options with a
    # transfer (the others were seen in phase A).
    cdef double emax = _latest_eta(c, self.c_pkg + self.c_tr)
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
    # b -> a -> customer is no shorter than b -> customer at the faster of the two speeds
    gmax = self.travel.relay_courier_limit(self.h_lo, emax)
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
        eta = self.travel.relay_lower_bound(self.handling[b], src_eta[k])
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
        code = _scan(self, c, t, n_el, frontier, &union, &t)
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
                lb = _time_cost(c, ok[k].lb) + self.c_pkg + self.c_tr
                pa = _popcount(c.full & ~(u_d | mb))
                if pa > 0:
                    lb_p = (_time_cost(c, ok[k].lb if ok[k].lb > self.parcel_lead else self.parcel_lead)
                            + 2 * self.c_pkg + self.c_parcel + self.c_tr)
                    lb += self.c_unf * pa
                    if has_parcel and lb_p < lb:
                        lb = lb_p
                if lb > _cost_threshold(c):
                    continue
            for i in range(n_a):
                ea = &c.el[i]
                if ea.kind != EL_DELIVER or ea.eta > emax or ea.a == b or not (
                        c.all_subsets or mb & ~ea.own or (c.unit_priced and mb & ~_elem_free(c, ea))):
                    continue
                ha = self.handling[ea.a]
                eta = self._transfer_arrival(b, ea.a)
                eta = (eta if eta > ha else ha) + (ea.eta - ha)
                lb = _time_cost(c, eta) + self.c_pkg + self.c_tr
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
                        lb_p = (_time_cost(c, eta if eta > self.parcel_lead else self.parcel_lead) + 2 * self.c_pkg
                                + self.c_parcel + self.c_tr)   # or a parcel takes part
                        lb += self.c_unf * pa
                        if has_parcel and lb_p < lb:
                            lb = lb_p
                if lb > _cost_threshold(c):
                    continue
                if self._reserve(n_el + 1) != OK:
                    free(ok)
                    return ERR_NOMEM
                c.el = self.el
                ea = &c.el[i]
                _set_elem(&c.el[n_el], EL_TRANSFER, ea.a, b, eta, self.c_pkg + self.c_tr + self._cap_price(ea.a, b),
                          1, 1, ea.rank)
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


cdef int _search_pickup(OptionSearch self, Ctx* c, int32_t p, bint use_t) noexcept nogil:
    # one package at p: p's own lines, ready at h_p, plus up to max_transfers transfers in
    cdef uint64_t mp, mb
    cdef double hp = self.handling[p], emax = -1.0, gmax, eta
    cdef double pk = 0.0 if c.pickup_paid else self.c_pkg  # what p's package adds
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
    # (a re-route's pickup package is already paid for: its package and capacity are held)
    _set_elem(&c.el[0], EL_PICKUP, p, -1, hp, pk + (0.0 if c.pickup_paid else self._cap_price(p, -1)), 1, 0, -2)
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
    # transfers in: for the lines p lacks, or under unit prices for any line (a source's
    # units may be cheaper than p's own)
    if use_t and (mp != c.full or c.row_price != NULL):
        emax = _latest_eta(c, pk + self.c_tr)
        if emax >= self.h_lo + self.transfer_handling:
            # arrival h_b + th + c d / vt <= emax  =>  grid eta h_b + c d / vc <= gmax
            gmax = self.travel.transfer_courier_limit(self.h_lo, self.h_hi, emax)
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
        # (under unit prices, also a source of a line p holds at a price: its units may cost less)
        if not (mb & ~mp) and not ((c.all_subsets or c.unit_priced and mb & ~_elem_free(c, &c.el[0])) and mb):
            continue
        eta = self._transfer_arrival(b, p)
        if eta > emax:
            continue
        _set_elem(&c.el[n_el], EL_INTO_PICKUP, -1, b, eta, self.c_tr + self._cap_price(-1, b), 0, 1,
                  -1 if b == c.home else b)
        c.el[n_el].src = c.el[n_el].mask = mb
        c.el[n_el].done = 1
        n_el += 1
    _block_free(&b_idx)
    _sort_elems(&c.el[1], n_el - 1)
    for t in range(1, n_el):
        e = &c.el[t]
        eta = e.eta if e.eta > hp else hp
        if _time_cost(c, eta) + pk + self.c_tr > _cost_threshold(c):
            break
        c.E = eta
        c.depth = 0
        _push(c, 0, mp)
        _push(c, t, e.mask & ~mp)
        # the completion draws on transfers 1 .. t-1; element 0 is never drawn again
        if c.all_subsets or c.unit_priced:
            _complete_all(c, 1, t, mp | e.mask, _elem_free(c, &c.el[0]) | _elem_free(c, e), 1, 1,
                          c.el[0].base + e.base)
        else:
            _complete(c, 1, t, mp | e.mask, 0, 1, 1, c.el[0].base + e.base)
        c.depth = 0
        if c.aborted:
            break
    return OK
