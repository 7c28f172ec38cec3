"""The observation model: ASKAP's site, UVW coordinates (against casacore measures), hour angles, noise."""
import numpy as np
import pytest

from radsim.instrument import telescope as T


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
                                         (61041.25, 300.0, -10.0), (60980.0, 187.5, -45.0), (59047.29, 342.2, -68.4),
                                         (57110.24, 271.3, -23.1), (58318.93, 283.8, -50.1), (60310.8, 147.3, 25.0)])
def test_uvw_against_casacore_measures(mjd, ra, dec):
    pos = T.ASKAP_PADS_ITRF_M
    pairs = np.array([[0, 1], [0, 35], [0, 31], [13, 26], [5, 33]])
    ours = T.uvw_m(pos, pairs, ra, dec, [mjd], site_itrf_m=pos[0])[0]
    ref = _casacore_uvw(pos, pairs, ra, dec, mjd)
    assert np.abs(ours - ref).max() < 0.001          # the 1 mm; measured: 0.04 mm at most
    # The frame's observatory anywhere on the array (here: its centre) moves UVW by micrometres, not more.
    assert np.abs(T.uvw_m(pos, pairs, ra, dec, [mjd])[0] - ours).max() < 1e-6


def test_measurement_set_uvw_equal_casacore_s_own_recomputation(tmp_path):
    """casacore recomputes UVW from a Measurement Set's antennas, field and times (TaQL's mscal.uvwj2000, as
    CASA's tools do); over a 6 h track of all 630 baselines it must agree with what we wrote."""
    from casacore import tables
    from radsim.instrument.ms import write_ms
    obs = T.Observation(187.5, -45.0, 944e6, 288e6, ha_start_h=-3.0, ha_end_h=3.0, integration_s=1800)
    path = write_ms(tmp_path / "uvw.ms", obs, obs.uvw_m(), obs.times_mjd())
    t = tables.taql(f"select UVW, mscal.uvwj2000() as RECOMPUTED from '{path}'")
    written, recomputed = t.getcol("UVW"), t.getcol("RECOMPUTED")
    assert written.shape == (12 * 630, 3) and np.abs(written).max() > 5000
    assert np.abs(written - recomputed).max() < 0.001      # measured: 0.07 mm


def test_uvw_need_casacore_s_polar_motion_and_diurnal_terms():
    """Where casacore departs from the IERS textbook (polar motion on the celestial axes, the diurnal term along
    the vertical), leaving either term out misses casacore by more than the 1 mm goal on 6 km baselines."""
    import erfa
    pos = T.ASKAP_PADS_ITRF_M
    pairs = np.array([[0, 31], [5, 33], [0, 35]])
    mjd, ra, dec = 57110.24, 271.3, -23.1
    ref = _casacore_uvw(pos, pairs, ra, dec, mjd)
    gast, tt, tdb, xp, yp = T._time_scales([mjd])
    p = T.unit_vector(np.radians(ra), np.radians(dec))
    p_app = T.apparent_mean_direction(p, tdb)
    precess = erfa.pnm80(tt.jd1, tt.jd2)
    d_app = np.einsum("tij,tj->ti", precess, p_app)
    aber = T.rotation_onto(p_app, p[None]) @ np.transpose(precess, (0, 2, 1))
    basis = T.uvw_basis(np.radians([ra]), np.radians([dec]))
    b = pos[pairs[:, 1]] - pos[pairs[:, 0]]

    def miss(diurnal, terrestrial):
        return np.abs(np.einsum("tki,tij,bj->tbk", basis, aber @ diurnal @ terrestrial, b)[0] - ref).max()

    full = T.terrestrial_to_date(gast, xp, yp)
    diurnal = T.diurnal_rotation(d_app, gast, pos[0])
    assert miss(diurnal, full) < 0.001
    assert miss(np.eye(3)[None], full) > 0.002
    assert miss(diurnal, T.terrestrial_to_date(gast, 0.0 * xp, 0.0 * yp)) > 0.002
    # the textbook's polar motion (terrestrial axes, before the Earth's rotation) is no better than none
    textbook = T.terrestrial_to_date(gast, 0.0 * xp, 0.0 * yp) @ np.transpose(erfa.pom00(xp, yp, 0.0), (0, 2, 1))
    assert miss(diurnal, textbook) > 0.002


def test_observation_samples_the_requested_hour_angles():
    obs = T.Observation(187.5, -45.0, 944e6, 288e6, ha_start_h=-1.0, ha_end_h=1.0, integration_s=600)
    ha = obs.hour_angles_h()
    assert len(ha) == 12 and ha[0] == pytest.approx(-1 + 1 / 12) and ha[-1] == pytest.approx(1 - 1 / 12)
    # casacore's hour angle of the phase centre at each sample, seen from the array centre
    from casacore.measures import measures
    from casacore.quanta import quantity as q
    dm = measures()
    dm.do_frame(dm.position("itrf", *[q(v, "m") for v in obs.positions_itrf_m.mean(axis=0)]))
    got = []
    for mjd in obs.times_mjd():
        dm.do_frame(dm.epoch("utc", q(mjd, "d")))
        got.append(dm.measure(dm.direction("J2000", q(obs.ra_deg, "deg"), q(obs.dec_deg, "deg")), "HADEC")
                   ["m0"]["value"])
    got = (np.degrees(got) + 180.0) % 360.0 - 180.0
    assert np.allclose(got / 15.0, ha, atol=3e-5)           # 0.1 s of time
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


def test_dates_need_the_shipped_earth_orientation_table():
    table = T._iers()
    last_measured = table["MJD"].value[np.asarray(table["UT1Flag"]) != "P"].max()
    # after the last measurement the table's predictions serve (astropy alone refuses them 30 days on)
    predicted = T.Observation(187.5, -45.0, 944e6, 288e6, date_mjd=last_measured + 60, integration_s=3600)
    assert np.isfinite(predicted.uvw_m()).all()
    beyond = T.Observation(187.5, -45.0, 944e6, 288e6, date_mjd=table["MJD"].value[-1] + 30)
    with pytest.raises(T.ObservationError, match=r"outside the IERS Earth-orientation table.*imaging\.date_mjd"):
        beyond.uvw_m()


def test_radiometer_equation():
    # T_sys 50 K, efficiency 0.8, 12 m: A_eff = 90.48 m^2, SEFD = 2 k T / A_eff = 1526 Jy;
    # 1 MHz and 10 s: sigma = 1526 / sqrt(2e7) = 0.3412 Jy
    assert T.visibility_noise_jy(50, 0.8, 12, 1e6, 10) == pytest.approx(0.3412, rel=1e-3)
    assert T.natural_image_noise_jy(0.3412, 10_000) == pytest.approx(0.3412 / np.sqrt(20_000))
