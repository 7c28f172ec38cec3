"""The observation model: ASKAP's site, UVW coordinates (against casacore measures), hour angles, noise."""
import numpy as np
import pytest

from radsim import telescope as T


def test_askap_pads_and_site():
    assert T.ASKAP_PADS_ITRF_M.shape == (36, 3) and len(np.unique(T.ASKAP_PADS_ITRF_M, axis=0)) == 36
    lon, lat, h = T.site_geodetic()
    assert lon == pytest.approx(116.631, abs=0.01) and lat == pytest.approx(-26.697, abs=0.01)
    assert h == pytest.approx(370, abs=30)
    b = np.linalg.norm(T.ASKAP_PADS_ITRF_M[:, None] - T.ASKAP_PADS_ITRF_M[None], axis=-1)
    assert 20 < b[b > 0].min() < 30 and 5500 < b.max() < 6500     # ASKAP: 22 m to 6 km baselines


def _casacore_uvw(pos, pairs, ra, dec, mjd):
    from casacore.measures import measures
    from casacore.quanta import quantity as q
    dm = measures()
    dm.do_frame(dm.position("itrf", *[q(v, "m") for v in pos[0]]))
    dm.do_frame(dm.epoch("utc", q(mjd, "d")))
    dm.do_frame(dm.direction("J2000", q(ra, "deg"), q(dec, "deg")))
    out = []
    for i, j in pairs:
        bl = dm.baseline("itrf", *[q(v, "m") for v in pos[j] - pos[i]])
        out.append(np.asarray(dm.to_uvw(bl)["xyz"].get_value()))
    return np.array(out)


@pytest.mark.parametrize("mjd,ra,dec", [(57023.3, 187.5, -45.0), (58849.1, 10.0, -80.0), (60676.4, 150.0, -30.0),
                                         (61041.25, 300.0, -10.0), (60980.0, 187.5, -45.0)])
def test_uvw_against_casacore_measures(mjd, ra, dec):
    pos = T.ASKAP_PADS_ITRF_M
    pairs = np.array([[0, 1], [0, 35], [0, 31], [13, 26], [5, 33]])
    ours = T.uvw_m(pos, pairs, ra, dec, [mjd])[0]
    ref = _casacore_uvw(pos, pairs, ra, dec, mjd)
    # Agreement reached: 8 mm on 6 km baselines (1.3e-6 of the length) over 2015-2026; the goal is 1 mm,
    # not met yet (see radsim.telescope). Without the aberration rotation the difference is 0.27 m.
    assert np.abs(ours - ref).max() < 0.009


def test_observation_samples_the_requested_hour_angles():
    obs = T.Observation(187.5, -45.0, 944e6, 288e6, ha_start_h=-1.0, ha_end_h=1.0, integration_s=600)
    ha = obs.hour_angles_h()
    assert len(ha) == 12 and ha[0] == pytest.approx(-1 + 1 / 12) and ha[-1] == pytest.approx(1 - 1 / 12)
    lon, _, _ = obs.site()
    got = T.local_hour_angle_deg(obs.ra_deg, obs.times_mjd(), lon) / 15.0
    assert np.allclose(got, ha, atol=2e-4)
    uvw = obs.uvw_m()
    assert uvw.shape == (12, 630, 3) and obs.n_visibilities == 12 * 630
    # earth rotation: the uv track of a baseline turns with the hour angle
    ang = np.unwrap(np.arctan2(uvw[:, 1, 1], uvw[:, 1, 0]))
    assert abs(ang[-1] - ang[0]) > np.radians(10)


def test_field_below_the_elevation_limit_is_refused_before_work():
    obs = T.Observation(187.5, 40.0, 944e6, 288e6)       # never higher than 23 deg from latitude -26.7
    with pytest.raises(T.ObservationError, match="below the limit of 15 deg"):
        obs.uvw_m()
    T.Observation(187.5, 40.0, 944e6, 288e6, ha_start_h=-0.5, ha_end_h=0.5).check_elevation()


def test_radiometer_equation():
    # T_sys 50 K, efficiency 0.8, 12 m: A_eff = 90.48 m^2, SEFD = 2 k T / A_eff = 1526 Jy;
    # 1 MHz and 10 s: sigma = 1526 / sqrt(2e7) = 0.3412 Jy
    assert T.visibility_noise_jy(50, 0.8, 12, 1e6, 10) == pytest.approx(0.3412, rel=1e-3)
    assert T.natural_image_noise_jy(0.3412, 10_000) == pytest.approx(0.3412 / np.sqrt(20_000))
