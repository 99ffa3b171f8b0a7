import numpy as np
import pytest

from jaxjam.core.geometry import (
    Q_INT_MIN,
    beta_eq37,
    check_q_int,
    check_ratio,
    inc_from_q_int,
    q_int_from_inc,
    q_int_range,
)


def test_q_int_inclination_round_trip():
    qmin = 0.72
    q = np.linspace(0.06, 0.71, 30)
    inc = inc_from_q_int(q, qmin)
    assert np.all(np.diff(inc) > 0)  # flatter intrinsic shape -> closer to face-on
    np.testing.assert_allclose(q_int_from_inc(inc, qmin), q, rtol=1e-10)
    assert inc_from_q_int(qmin, qmin) == pytest.approx(90.0)


def test_jampy_deprojection_recovers_q_int():
    # jampy deprojects q' into q_intr = sqrt(q'^2 - cos^2 i)/sin i (jam_axi_proj.psf_conv).
    qmin = 0.4
    for q in [0.06, 0.2, 0.39]:
        inc = np.radians(inc_from_q_int(q, qmin))
        q_intr = np.sqrt(qmin**2 - np.cos(inc) ** 2) / np.sin(inc)
        assert q_intr == pytest.approx(q, rel=1e-12)
        # and jampy's own inclination limit (intrinsic q >= 0.05) is respected
        assert qmin >= np.hypot(np.cos(inc), 0.05 * np.sin(inc))


def test_range_and_checks():
    assert q_int_range(0.5) == (Q_INT_MIN, 0.5)
    with pytest.raises(ValueError, match="q'min"):
        q_int_range(0.04)
    for bad in [0.05, 0.051, 0.6, np.nan]:
        with pytest.raises(ValueError, match="q_int"):
            check_q_int(bad, 0.5)
    check_q_int(0.3, 0.5)
    with pytest.raises(ValueError, match="below the limit"):
        q_int_from_inc(20.0, 0.5)
    for bad in [0.49, 1.51, np.nan]:
        with pytest.raises(ValueError, match="ratio"):
            check_ratio(bad)
    check_ratio(1.5)


def test_beta_eq37_and_its_derivative():
    r = np.ones(50)
    th = np.linspace(0.01, np.pi / 2 - 0.01, 50)
    b, db = beta_eq37(0.7)(r, th)
    h = 1e-6
    fd = (beta_eq37(0.7)(r, th + h)[0] - beta_eq37(0.7)(r, th - h)[0]) / (2 * h)
    np.testing.assert_allclose(db, fd, rtol=1e-6, atol=1e-9)
    # ratio < 1: radial anisotropy on the major axis (beta > 0 at theta = 90 deg)
    assert b[-1] > 0
    b1, db1 = beta_eq37(1.0)(r, th)
    assert np.all(b1 == 0) and np.all(db1 == 0)
