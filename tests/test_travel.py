"""The travel model: the kernel's legs agree with the Python model, and its bounds hold."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifill import _core
from omnifill.config import Travel
from omnifill.geo import haversine_m
from omnifill.travel import MODELS, GreatCircle, model_of

TRAVEL = Travel(circuity=1.3, courier_m_per_min=250.0, handling_min=10.0, transfer_m_per_min=400.0,
                transfer_handling_min=15.0, parcel_lead_min=1440.0)
coord = st.tuples(st.floats(31.0, 31.5), st.floats(121.2, 121.8))


def chord(a, b):
    pa, pb = _core.unit_vectors(*a), _core.unit_vectors(*b)
    return float(np.sqrt(((pa - pb) ** 2).sum()))


@settings(max_examples=200, deadline=None)
@given(coord, coord, st.floats(0.0, 30.0))
def test_the_kernel_legs_agree_with_the_python_model(a, b, handling):
    model = GreatCircle(TRAVEL)
    legs = model.kernel
    c = chord(a, b)
    assert legs.courier_minutes(c) == pytest.approx(
        float(model.direct_eta(0.0, a[0], a[1], b[0], b[1])), rel=1e-9, abs=1e-9)
    assert legs.transfer_minutes(handling, c) == pytest.approx(
        handling + float(model.transfer_minutes(a[0], a[1], b[0], b[1])), rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(coord, coord)
def test_no_courier_leg_is_longer_than_the_reach_of_its_minutes(a, b):
    legs = GreatCircle(TRAVEL).kernel
    c = chord(a, b)
    minutes = legs.courier_minutes(c)
    assert c <= legs.reach_chord(minutes) * (1 + 1e-12) + 1e-15
    # haversine and the chord part ways by micrometres for points nanometres apart (the chord
    # of two unit vectors that close cancels); the kernel's ETA tolerance (1e-9 min) is 4 um
    assert float(haversine_m(a[0], a[1], b[0], b[1])) <= float(GreatCircle(TRAVEL).reach_m(minutes)) * (1 + 1e-9) + 4e-6


def test_the_kernel_legs_survive_pickling_with_their_values():
    legs = GreatCircle(TRAVEL).kernel
    back = pickle.loads(pickle.dumps(legs))
    assert (back.circuity, back.courier_m_per_min, back.transfer_m_per_min, back.transfer_handling_min) == (
        1.3, 250.0, 400.0, 15.0)
    assert back.courier_minutes(0.001) == legs.courier_minutes(0.001)


def test_bad_speeds_are_refused_by_the_kernel_legs():
    with pytest.raises(ValueError, match="positive"):
        _core.Legs(1.3, 0.0, 400.0, 15.0)
    with pytest.raises(ValueError, match="transfer_handling_min"):
        _core.Legs(1.3, 250.0, 400.0, float("nan"))


def test_the_config_names_a_registered_model():
    assert isinstance(model_of(TRAVEL), GreatCircle)
    assert "great_circle" in MODELS
