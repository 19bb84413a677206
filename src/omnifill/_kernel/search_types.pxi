# omnifill._core, search_types: The option search's elements, options and search state (its structs and kinds).
# Included by _core.pyx (one extension module: the inner loops stay inlined).

# ---------------------------------------------------------------------------------------------
# Option search: the exact minimum-cost way to fulfil one order (the router's decision).
#
# An order's lines (at most 64, one bit each) are filled by *elements*:
#   deliver      store a delivers the lines it holds, in its own package (eta: a's direct ETA)
#   transfer     store a delivers its own lines plus the lines store b sends it (one package,
#                one transfer): eta = max(h_a, h_b + transfer_leg(b, a)) + leg(a, customer)
#   parcel       warehouse w ships the lines it holds as a parcel (eta: parcel_lead_min)
#   into_pickup  store b sends lines to the pickup store p (pickup orders; no package of its
#                own): arrival = h_b + transfer_leg(b, p)
# A delivery option is a set of elements, every store in it distinct, with at most
# max_packages packages and max_transfers transfers; lines no element covers are unfilled. A
# pickup option is p's own package (ready at h_p) plus at most max_transfers transfers into p.
# Its cost is f(E) + sum(element bases) + unfilled_per_line * unfilled, where E is the latest
# element's eta (0 when nothing is filled), f(E) = per_minute * E + late_per_minute *
# max(0, E - promise), and an element's base is per_package (+ per_parcel) (+ per_transfer).
# A re-route (Ctx.eta_offset, eta_floor) puts the clock and the order's other packages into
# f: f(max(E, floor) + offset), still nondecreasing in E, so every bound below holds.
#
# Enumeration: elements are sorted by (eta, tie rank). Every option has a latest element t and
# is found when the scan reaches t, by a depth-first completion over the elements before t
# that branches on the lowest line still open: some element of the option covers it, or it
# stays unfilled. Bounds, all against the runner-up's cost (so best and runner-up are exact):
#   - f is increasing: once f(eta_t) plus the cheapest base is too dear, the scan stops;
#   - lines no element up to t holds are unfilled in every option whose latest element is t;
#   - with k slots left and no element adding more than m open lines, at least
#     open - k * m lines stay unfilled.
# Cheap feasible options (each warehouse alone, the nearest stores greedily) are offered
# first, so the bounds bite from the start. Transfers are looked at only when the best
# options without them leave room for one (phase B), over the sources a bound on the
# transfer's eta allows. A store's mask (the lines it can fill from available stock) is
# computed when first needed and cached for the search; when many are needed they are all
# computed at once from the SKU-major copy of the stock (the order's lines' postings). The
# whole search runs without the GIL. A node budget caps pathological searches; the result
# then says it is not proven.
# ---------------------------------------------------------------------------------------------


cdef extern from *:
    """
    /* popcount: the instruction when the build targets it, else a branch-free SWAR count
       (a library call to __popcountdi2 measured slower in the option search) */
    static inline int omnifill_popcount(unsigned long long x) {
    #if defined(__POPCNT__)
        return __builtin_popcountll(x);
    #else
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
        return (int)((x * 0x0101010101010101ULL) >> 56);
    #endif
    }
    """
    int omnifill_popcount(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil

cdef enum:
    EL_DELIVER = 0
    EL_TRANSFER = 1
    EL_PARCEL = 2
    EL_INTO_PICKUP = 3
    EL_PICKUP = 4        # the pickup store's own package
    MAX_OPT = 66         # elements in one option: max_packages + max_transfers + 1
    LINES_CAP = 64       # lines in one order's search (MAX_LINES, for C arrays)

ELEMENT_KINDS = ("deliver", "transfer", "parcel", "into_pickup", "pickup")
MAX_LINES = 64
# The dense (sku x store) copy of available stock is kept when it needs at most this many
# bytes (5,000 SKUs x 613 stores is 3 MB); beyond, masks come from the CSR (binary search)
# and the SKU-major postings.
DENSE_MAX_BYTES = 64 << 20

cdef struct Elem:
    double eta
    double base
    uint64_t own        # lines a (or w) fills from its own stock
    uint64_t src        # lines b can send (transfers)
    uint64_t mask       # own | src
    int32_t a, b        # stores (-1: none)
    int32_t npk, ntr    # packages and transfers it adds
    int32_t kind
    int32_t done        # mask known
    uint64_t free       # under unit prices: the lines it supplies at a price of 0 (_elem_free)
    int32_t free_done   # free known
    int64_t rank        # tie order among equal etas: the home store first, then store index

cdef struct Opt:
    bint set
    double cost
    double eta
    int n
    bint home           # the home store takes part
    Elem el[MAX_OPT]
    uint64_t new[MAX_OPT]   # the lines each element supplies
    uint64_t via_b[MAX_OPT] # of those, the lines that come from its b (a transfer's source)
    int64_t key[MAX_OPT]    # sorted element keys: the identity of the option and its tie order

cdef struct Ctx:
    Elem* el
    uint64_t full
    double window           # the runner-up is exact when within this much of the best
    double promise, c_min, c_late, c_unf, min_add
    # a re-route after a rejection (OptionSearch.search's eta_offset, eta_floor): the
    # option's eta E counts from eta_offset minutes after the order, and the order's other
    # packages arrive at eta_floor (in the same clock as E), so f sees max(E, eta_floor) +
    # eta_offset; empty_time is f of an option that fills nothing (0 without other packages)
    double eta_offset, eta_floor, empty_time
    int max_pk, max_tr
    bint pickup
    bint pickup_paid        # the pickup store's package is already paid for (a re-route)
    int32_t home
    double E                # the eta of the option being completed
    double dead_cost        # phase B: c_unf x the lines no element or source holds (unfilled in every option)
    bint need_transfer      # phase B: record only options with a transfer
    bint all_subsets        # every set of elements that each hold a line (the planner's lists)
    # under unit prices (row_price set): every set of elements in which each holds a line no
    # element before it supplies at a price of 0 (search_complete.pxi, _complete_all)
    bint unit_priced
    # a search over the candidates within cut_eta only (OptionSearch.route's first radius):
    # cut_ok says the search over every candidate in reach would have been the same, because
    # when its scan passed cut_eta no option with a farther store could still be kept
    double cut_eta          # 1e300: the candidates are all there are
    bint cut_checked, cut_ok
    double cut_thr          # the cost threshold when the scan passed cut_eta
    int64_t nodes, node_limit
    bint aborted
    int depth
    int32_t path[MAX_OPT]
    uint64_t path_new[MAX_OPT]
    Opt** top               # the k cheapest options so far, cheapest first (top[0]: the best)
    int n_top, k
    Opt* cand               # the scratch option _record fills
    # prices (NULL: none): per stock row, a unit's price; the order's lines, and the stock CSR
    # to find a line's row at a store. A priced option's cost adds, per filled line, the
    # price of its units at the cheapest store of the option holding it (search_record.pxi)
    const double* row_price
    const int64_t* inv_indptr
    const int32_t* inv_sku
    const int32_t* line_sku
    const int64_t* line_qty

cdef double COST_TOL = 1e-9
