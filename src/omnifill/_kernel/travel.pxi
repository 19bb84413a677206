# omnifill._core, travel: The great-circle travel model in the kernel's terms: unit vectors, chords, the ETA of a span of stores.
# Included by _core.pyx (one extension module: the inner loops stay inlined).

cdef extern from *:
    """
    #define OMNIFILL_EARTH_RADIUS_M 6371008.8
    """
    double EARTH_RADIUS_M "OMNIFILL_EARTH_RADIUS_M"

EARTH_RADIUS = EARTH_RADIUS_M

# An ETA within ETA_TOLERANCE_MIN of the limit counts as within it. The kernel and the numpy
# reference compute the same great-circle distance by different float paths (chord vs.
# haversine); they agree to about 1e-12 minutes, so a store placed exactly at the limit is in
# for both. The tolerance is 1e-9 minutes (60 nanoseconds, 4 micrometres at courier speed).
cdef double ETA_TOL = 1e-9
ETA_TOLERANCE_MIN = ETA_TOL


cdef extern from *:
    """
    /* asin(x) for 0 <= x < 0.02 (chords under 255 km): the Taylor series to x^9 is exact to
       double precision there, the first dropped term being 63/2816 x^11, relative 2e-19. */
    static inline double omnifill_asin_poly(double x) {
        double x2 = x * x;
        return x * (1.0 + x2 * (1.0 / 6.0 + x2 * (3.0 / 40.0 + x2 * (5.0 / 112.0
                    + x2 * (35.0 / 1152.0)))));
    }

    /* The ETA of every store of one contiguous span, valid while every half-chord is below
       0.02 (the caller checks). Written in C so that GCC can build it twice, for AVX2+FMA
       and for the baseline, and pick one at load time (function multiversioning): the loop
       is branch-free and vectorises (4 sqrt at once with AVX2). */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define OMNIFILL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define OMNIFILL_CLONES
    #endif
    OMNIFILL_CLONES
    static void omnifill_span_eta(const double* __restrict sx, const double* __restrict sy,
                                  const double* __restrict sz, const double* __restrict sh,
                                  Py_ssize_t m, double ox, double oy, double oz, double kr,
                                  double* __restrict eta) {
        for (Py_ssize_t s = 0; s < m; ++s) {
            double dx = sx[s] - ox, dy = sy[s] - oy, dz = sz[s] - oz;
            eta[s] = sh[s] + kr * omnifill_asin_poly(0.5 * sqrt(dx * dx + dy * dy + dz * dz));
        }
    }
    """
    double _asin_poly "omnifill_asin_poly"(double x) noexcept nogil
    void _span_eta "omnifill_span_eta"(const double* sx, const double* sy, const double* sz,
                                        const double* sh, Py_ssize_t m, double ox, double oy,
                                        double oz, double kr, double* eta) noexcept nogil


cdef inline double _asin_small(double x) noexcept nogil:
    # asin(x) for 0 <= x <= 1: the polynomial below 0.02, libm above
    if x < 0.02:
        return _asin_poly(x)
    if x >= 1.0:
        return M_PI / 2.0
    return asin(x)


cdef inline double _chord_radius(double dist_m) noexcept nogil:
    # the chord (on the unit sphere) of a great-circle distance in metres
    cdef double ang = dist_m / EARTH_RADIUS_M
    if ang >= M_PI:
        return 2.0
    return 2.0 * sin(0.5 * ang)


def unit_vectors(lat, lon):
    """Unit vectors (n, 3) of WGS84 degrees, the kernel's representation of a point."""
    la = np.radians(np.asarray(lat, dtype=np.float64))
    lo = np.radians(np.asarray(lon, dtype=np.float64))
    cl = np.cos(la)
    return np.stack([cl * np.cos(lo), cl * np.sin(lo), np.sin(la)], axis=-1)


def chord_radius(double dist_m):
    """The chord on the unit sphere of a great-circle distance in metres."""
    return _chord_radius(dist_m)


@cython.final
cdef class GreatCircleLegs:
    """The great-circle travel model as the kernel computes it: a leg takes
    ``circuity * great_circle / speed`` minutes, at the courier's or the transfer's speed.

    The grid index and the option search take one (``omnifill.travel.GreatCircle.kernel()``
    builds it from the config's ``[travel]`` values) and ask it every travel question:
    the exact methods give a leg's minutes from the chord between two unit vectors (as
    scikit-learn's DistanceMetric has ``dist``); the bound methods give the reach that prunes
    the grid (no courier leg of m minutes is longer) and lower bounds on a relayed leg
    (transfer, then courier), which prune the transfer phases. Every expression keeps the
    operand order the searches had before this class existed, so ETAs are bit for bit the
    same. The class is final: its methods are direct C calls the compiler inlines.
    """

    cdef readonly double circuity, courier_m_per_min, transfer_m_per_min, transfer_handling_min
    cdef double courier_per_asin    # courier minutes per asin(chord / 2)
    cdef double courier_gc_m_per_min    # metres of great circle a courier covers a minute
    cdef double fastest_m_per_min   # the faster of the courier's and the transfer's speeds

    def __init__(self, double circuity, double courier_m_per_min, double transfer_m_per_min=1.0,
                 double transfer_handling_min=0.0):
        if not (circuity > 0 and courier_m_per_min > 0 and transfer_m_per_min > 0):
            raise ValueError("circuity and speeds must be positive")
        if not (transfer_handling_min >= 0 and isfinite(transfer_handling_min)):
            raise ValueError("transfer_handling_min must be finite and >= 0")
        self.circuity, self.courier_m_per_min = circuity, courier_m_per_min
        self.transfer_m_per_min, self.transfer_handling_min = transfer_m_per_min, transfer_handling_min
        self.courier_per_asin = 2.0 * EARTH_RADIUS_M * circuity / courier_m_per_min
        self.courier_gc_m_per_min = courier_m_per_min / circuity
        self.fastest_m_per_min = transfer_m_per_min if transfer_m_per_min > courier_m_per_min else courier_m_per_min

    def __reduce__(self):
        return (GreatCircleLegs, (self.circuity, self.courier_m_per_min, self.transfer_m_per_min,
                                  self.transfer_handling_min))

    # --- exact --------------------------------------------------------------------------------
    cdef inline double courier_leg(self, double chord) noexcept nogil:
        # a courier's minutes over the great circle of this chord
        return self.courier_per_asin * _asin_small(0.5 * chord)

    cdef inline void courier_span(self, const double* sx, const double* sy, const double* sz,
                                  const double* sh, Py_ssize_t m, double ox, double oy, double oz,
                                  double* eta) noexcept nogil:
        # handling plus the courier leg of every store of a span, to (ox, oy, oz); valid while
        # every chord is under 0.04 (the caller checks), vectorised
        _span_eta(sx, sy, sz, sh, m, ox, oy, oz, self.courier_per_asin, eta)

    cdef inline double transfer_arrival(self, double handling, double chord) noexcept nogil:
        # when lines handed over at `handling` reach the other store: transfer handling plus
        # the transfer's leg
        cdef double d = 2.0 * EARTH_RADIUS_M * _asin_small(0.5 * chord)
        return handling + self.transfer_handling_min + self.circuity * d / self.transfer_m_per_min

    # --- bounds ---------------------------------------------------------------------------------
    cdef inline double courier_reach_chord(self, double minutes) noexcept nogil:
        # the chord no courier leg of `minutes` exceeds (the grid's search radius)
        return _chord_radius(minutes * self.courier_gc_m_per_min)

    cdef inline double relay_lower_bound(self, double handling_b, double courier_eta_b) noexcept nogil:
        # b -> a -> customer is no shorter than b -> customer at the faster of the two speeds:
        # eta >= h_b + transfer_handling + (b's courier eta - h_b) * courier / fastest
        return (handling_b + self.transfer_handling_min
                + (courier_eta_b - handling_b) * self.courier_m_per_min / self.fastest_m_per_min)

    cdef inline double relay_courier_limit(self, double h_lo, double eta_max) noexcept nogil:
        # the courier eta from the customer beyond which no source (handling >= h_lo) can
        # relay its lines in time for eta_max (the inverse of relay_lower_bound)
        return h_lo + (eta_max - h_lo - self.transfer_handling_min) * self.fastest_m_per_min / self.courier_m_per_min

    cdef inline double transfer_courier_limit(self, double h_lo, double h_hi, double eta_max) noexcept nogil:
        # the courier eta from a store beyond which no source's transfer arrives there by
        # eta_max: arrival h_b + th + c d / v_t <= eta_max  =>  h_b + c d / v_c <= limit
        if self.transfer_m_per_min >= self.courier_m_per_min:
            return (h_lo + (eta_max - self.transfer_handling_min - h_lo)
                    * self.transfer_m_per_min / self.courier_m_per_min)
        return (h_hi + (eta_max - self.transfer_handling_min - h_hi)
                * self.transfer_m_per_min / self.courier_m_per_min)

    # --- for Python (tests and the reference) ---------------------------------------------------
    def courier_minutes(self, double chord):
        """A courier's minutes over the great circle of a unit-sphere chord."""
        return self.courier_leg(chord)

    def transfer_minutes(self, double handling, double chord):
        """When lines handed over at ``handling`` reach the other store of this chord."""
        return self.transfer_arrival(handling, chord)

    def reach_chord(self, double minutes):
        """The chord no courier leg of ``minutes`` exceeds."""
        return self.courier_reach_chord(minutes)
