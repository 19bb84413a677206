# omnifill._core: the compiled kernel (candidate search, inventory coverage, option search).
#
# Error policy (how errors cross from C to Python)
# ------------------------------------------------
# The `def` functions below coerce and check their arguments once (dtype, shape, finiteness)
# and raise ValueError naming the argument. Below them, `cdef ... noexcept nogil` functions do
# the work over typed memoryviews and return an int error code (0 = ok, ERR_* otherwise). They
# never raise and never touch Python objects. After the GIL is back, `_raise_for(code)` turns a
# code into the one exception it stands for. Scratch memory is freed before a kernel returns,
# on every path; output blocks are handed to their owning arrays even when the kernel failed.
#
# Data layout
# -----------
# Points on Earth are unit vectors p = (cos lat cos lon, cos lat sin lon, sin lat). The chord
# c = |p - q| gives the great-circle distance exactly: d = 2 R asin(c / 2) (haversine's h is
# (c/2)^2). So the kernel never evaluates a trigonometric function per (order, store) pair:
# c^2 is six flops, and asin of the small half-chord is an odd polynomial (exact to double
# precision below 255 km, libm beyond).
#
# The grid: stores are projected orthographically onto the plane tangent to the sphere at the
# city's centre, (u, v) = (p . east, p . north). Orthographic projection is a contraction,
# |P(p) - P(q)| <= |p - q|, so every store within chord r of an order lies within planar
# distance r of the order's projection: a planar disc search never misses a store, at any
# latitude and across the antimeridian (it only gets less selective far from the centre).
# Cells are square, `cell` wide, `ncols` x `nrows`, numbered row-major. Stores are sorted by
# (cell, store index) into the arrays sx, sy, sz, sh (handling minutes), sidx (store index in
# the network) and szone (zone tier bits); cell_start[k] .. cell_start[k+1] is cell k's slice.
# The cells a disc touches within one row are contiguous, so a query scans, per row, a single
# contiguous span of stores.
#
# Candidate output is CSR: indptr (n_orders + 1, int64), store_index (int32), eta_min (f64);
# each order's stores sorted by ETA, then store index. The output arrays are anonymous
# mappings asked for huge pages, grown by mremap (which moves pages, never data) and handed
# to numpy without a copy. Each order's hits are gathered and bucket-sorted in a small scratch
# that stays in cache from order to order, then written out once, in order.
#
# Rooms
# -----
# One extension module, its code in rooms under _kernel/ (textual includes, so every inner
# loop stays inlined across them; a benchmark of before and after is in benchmarks/README.md).
# Each room uses only the rooms included above it (but the last: the phases are functions of
# the OptionSearch class above them, and its methods call them):
#   errors.pxi           error codes, _raise_for, argument coercion for the def layer
#   travel.pxi           the travel models: great-circle chords and span ETAs, road snapping and tables, reach
#   memory.pxi           output blocks handed to numpy without a copy
#   grid.pxi             GridIndex: the candidate search over one city's stores
#   coverage.pxi         which lines each candidate store fills alone
#   search_types.pxi     the option search's elements, options, state and kinds
#   search_record.pxi    keeping the k cheapest options (identity, ties, the threshold, the latest
#                        eta) and the priced sourcing of an option (set_prices)
#   search_complete.pxi  the depth-first completion and its bounds
#   search_elements.pxi  ordering an order's elements
#   search_results.pxi   the answers: SearchResult, SearchBatch, ELEMENT_DTYPE (from a C struct)
#   option_search.pxi    OptionSearch: stock state, masks, the def layer (search, search_many)
#   search_phases.pxi    the three phases: deliveries, transfers, pickups

from libc.math cimport sqrt, sin, cos, asin, floor, fabs, M_PI, isfinite, isnan, INFINITY
from libc.stdlib cimport malloc, qsort, realloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, int32_t, uint64_t, uint8_t, int8_t
cimport cython

import numpy as np

include "_kernel/errors.pxi"
include "_kernel/travel.pxi"
include "_kernel/memory.pxi"
include "_kernel/grid.pxi"
include "_kernel/coverage.pxi"
include "_kernel/search_types.pxi"
include "_kernel/search_record.pxi"
include "_kernel/search_complete.pxi"
include "_kernel/search_elements.pxi"
include "_kernel/search_results.pxi"
include "_kernel/option_search.pxi"
include "_kernel/search_phases.pxi"
