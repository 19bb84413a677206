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
