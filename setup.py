"""Build the Cython extension. Metadata lives in pyproject.toml; this file only builds _core.

Compiler directives are set here and nowhere else. OMNIFILL_DEBUG_CYTHON=1 turns bounds
checks, wraparound and initialisation checks back on for a debug build of the kernel.
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("OMNIFILL_DEBUG_CYTHON", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "nonecheck": DEBUG,
    "embedsignature": True,
}

extensions = [
    Extension(
        "omnifill._core",
        ["src/omnifill/_core.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # -fno-math-errno: sqrt never sets errno here (its argument is a sum of squares), which
        # lets the compiler vectorise the ETA loop
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
