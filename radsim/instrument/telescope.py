"""The telescope: ASKAP's antennas and site, an observation's time sampling, UVW coordinates and thermal noise.

Units: positions and baselines in metres (ITRF), angles in degrees unless named ``_rad``, times as MJD (UTC),
frequencies in Hz, temperatures in K, flux densities in Jy.

UVW coordinates follow casacore's measures (``measures.to_uvw``: the baseline converted ITRF -> J2000 as an
``MBaseline``, then projected on u east, v north, w towards the J2000 phase centre), the convention of the
Measurement Sets that WSClean, CASA and Yandasoft read. That chain is rebuilt here with ERFA, step for step
from casacore's ``MCBaseline`` and ``MeasMath``:

1. Earth rotation by Greenwich apparent sidereal time (IAU 1982 GMST, 1994 equation of the equinoxes, IERS
   UT1-UTC), then polar motion as casacore applies it: small rotations about the x and y axes of the
   *celestial* frame of date (the IERS convention applies them in the terrestrial frame, before the Earth's
   rotation).
2. casacore's diurnal-aberration term: a rigid rotation that moves the apparent phase centre by
   0.32 arcsec x sin(zenith distance) along the vertical, towards the nadir (the textbook term points to the
   east point).
3. IAU 1976 precession and 1980 nutation back to the mean J2000 frame.
4. Annual aberration and the Sun's light deflection, as the rigid rotation that carries the phase centre's
   apparent direction onto its J2000 direction.

Items 1 and 2 are casacore's own conventions, each about 0.3 arcsec; they are kept because the Measurement
Sets must agree with the tools that read them (leaving both out cost up to 10 mm on 6 km baselines). Measured
against ``measures.to_uvw`` on ASKAP baselines up to 6 km, 2015-2026, eleven directions: within 0.04 mm;
against casacore's recomputation from a written Measurement Set (``mscal.uvwj2000``): within 0.07 mm
(tests/test_telescope.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from radsim.errors import RadsimError

ASKAP_DISH_DIAMETER_M = 12.0
# ITRF X, Y, Z (m) of the 36 ASKAP pads, as in the antenna definitions of Yandasoft's simulation tests
# (github.com/ATNF/yandasoft).
ASKAP_PADS_ITRF_M = np.array([
    [-2556088.277119, 5097405.532442, -2848428.180831], [-2556109.732785, 5097388.192148, -2848439.879537],
    [-2556121.934611, 5097392.368652, -2848421.579192], [-2556087.396082, 5097423.589662, -2848396.867933],
    [-2556028.577459, 5097451.415906, -2848399.832533], [-2556232.372414, 5097389.391515, -2848328.426136],
    [-2556282.880670, 5097252.290820, -2848527.104272], [-2556005.813742, 5097327.008027, -2848641.257970],
    [-2555892.578900, 5097559.600315, -2848328.739449], [-2556059.228687, 5097560.766055, -2848178.119367],
    [-2556397.233607, 5097421.429903, -2848124.497319], [-2556497.103895, 5097335.429448, -2848188.341538],
    [-2556406.080068, 5097062.480906, -2848754.645322], [-2555972.183634, 5097232.468277, -2848839.258658],
    [-2555394.936910, 5097674.796317, -2848567.461727], [-2555594.324604, 5097837.854444, -2848099.893715],
    [-2555750.870510, 5097838.134985, -2847959.859185], [-2556069.462582, 5097603.920955, -2848092.274965],
    [-2556381.190776, 5097500.427293, -2847998.357716], [-2556605.056960, 5097304.029838, -2848147.909371],
    [-2556767.207558, 5097225.950251, -2848142.128456], [-2556912.753231, 5097159.741952, -2848130.040372],
    [-2555953.562495, 5097142.700272, -2849015.387324], [-2555958.701831, 5096978.303711, -2849302.939555],
    [-2555673.205520, 5097943.089850, -2847842.472334], [-2555872.936754, 5097849.668094, -2847830.538974],
    [-2555323.500413, 5098263.559004, -2847584.314431], [-2556556.015329, 5097773.131733, -2847357.560448],
    [-2556747.729649, 5097452.682517, -2847756.402514], [-2557349.573007, 5097172.582941, -2847717.619666],
    [-2558275.620701, 5096804.286562, -2847546.191513], [-2558279.633691, 5095040.492423, -2850676.218080],
    [-2555536.788451, 5096268.027055, -2850940.366550], [-2553019.517106, 5097938.539273, -2850213.845106],
    [-2554350.469491, 5098778.949829, -2847534.852249], [-2556759.676071, 5098672.032453, -2845576.642592],
])
ASKAP_PAD_NAMES = [f"Pad{i:02d}" for i in range(1, 37)]
BOLTZMANN_JY_M2_PER_K = 1.380649e-23 / 1e-26      # k_B in Jy m^2 / K
SIDEREAL_PER_SOLAR = 1.002737909350795
SPEED_OF_LIGHT_M_S = 299792458.0
AU_M = 149597870700.0


class ObservationError(RadsimError, ValueError):
    """An observation that cannot be made as asked (e.g. the field below the elevation limit)."""


def site_geodetic(positions_itrf_m=ASKAP_PADS_ITRF_M) -> tuple[float, float, float]:
    """(east longitude deg, geodetic latitude deg, height m, WGS84) of the array centre."""
    import erfa
    lon, lat, h = erfa.gc2gd(1, np.mean(positions_itrf_m, axis=0))
    return math.degrees(lon), math.degrees(lat), float(h)


def baseline_pairs(n_antennas: int) -> np.ndarray:
    """(n_baselines, 2) antenna index pairs (i < j), cross-correlations only."""
    i, j = np.triu_indices(n_antennas, k=1)
    return np.stack([i, j], axis=1)


def _iers():
    from astropy.utils import iers
    iers.conf.auto_download = False   # compute nodes have no network; astropy-iers-data ships the tables
    iers.conf.auto_max_age = None     # and its predictions serve dates after its last measurement
    return iers.earth_orientation_table.get()


def _utc(mjd_utc):
    """UTC astropy Time of the MJDs, refused with a clear error outside the shipped Earth-orientation table."""
    from astropy.time import Time
    mjd = np.atleast_1d(np.asarray(mjd_utc, dtype=float))
    covered = _iers()["MJD"].value
    if mjd.min() < covered[0] or mjd.max() > covered[-1]:
        raise ObservationError(
            f"observation times MJD {mjd.min():.2f}-{mjd.max():.2f} fall outside the IERS Earth-orientation table "
            f"shipped with astropy-iers-data (MJD {covered[0]:.0f}-{covered[-1]:.0f}, the last part predicted): "
            f"set imaging.date_mjd inside it, or install a newer astropy-iers-data")
    return Time(mjd, format="mjd", scale="utc")


def _time_scales(mjd_utc):
    """(Greenwich apparent sidereal time in rad, TT and TDB astropy Times, polar motion x, y in rad) at the given
    UTC MJDs, from the IERS tables. The sidereal time is casacore's: IAU 1982 GMST of UT1 plus the 1994 equation
    of the equinoxes."""
    import astropy.units as u
    import erfa
    from astropy.time import Time
    t = _utc(mjd_utc)
    table = _iers()
    xp, yp = table.pm_xy(t)
    ut1 = Time((t + table.ut1_utc(t)).mjd, format="mjd", scale="ut1")
    return erfa.gst94(ut1.jd1, ut1.jd2), t.tt, t.tdb, xp.to_value(u.rad), yp.to_value(u.rad)


def terrestrial_to_date(gast_rad, xp_rad, yp_rad) -> np.ndarray:
    """(n, 3, 3) matrices taking ITRF vectors to the true equator and equinox of date, as casacore's
    ITRF -> HADEC -> TOPO chain does: Earth rotation by the Greenwich apparent sidereal time, then polar motion
    applied as small rotations about the celestial x (by -yp) and y (by -xp) axes of date."""
    import erfa
    m = erfa.rz(-gast_rad, np.eye(3))       # ERFA's rotations turn the frame: -gast turns the vector by +gast
    return erfa.ry(xp_rad, erfa.rx(yp_rad, m))


def apparent_mean_direction(p: np.ndarray, tdb) -> np.ndarray:
    """(n, 3) unit vectors of J2000 direction ``p`` (3,) as seen from the geocentre at TDB times ``tdb``: light
    deflection by the Sun, then annual aberration (relativistic), still on the mean J2000 axes."""
    import erfa
    helio, bary = erfa.epv00(tdb.jd1, tdb.jd2)
    beta = bary["v"] * (AU_M / 86400.0 / SPEED_OF_LIGHT_M_S)     # Earth's barycentric velocity / c
    dist = np.linalg.norm(helio["p"], axis=-1)                  # Sun-Earth distance (au)
    deflected = erfa.ldsun(np.broadcast_to(p, beta.shape), helio["p"] / dist[:, None], dist)
    return erfa.ab(deflected, beta, dist, np.sqrt(1.0 - np.sum(beta ** 2, axis=-1)))


def diurnal_rotation(d_app: np.ndarray, gast_rad, site_itrf_m) -> np.ndarray:
    """(n, 3, 3) rotations, in the frame of date, by casacore's diurnal-aberration term: a shift of
    2 pi R / (sidereal day c) (0.32 arcsec at ASKAP's geocentric radius R) towards minus the site's zenith,
    taken at the apparent direction ``d_app`` (n, 3), as ``MeasMath::deapplyTOPOtoHADEC`` writes it
    (``gast_rad``: Greenwich apparent sidereal time)."""
    site = np.asarray(site_itrf_m, dtype=float)
    radius = float(np.linalg.norm(site))
    lat = math.asin(site[2] / radius)                           # geocentric
    last = gast_rad + math.atan2(site[1], site[0])
    zenith = np.stack([np.cos(last) * math.cos(lat), np.sin(last) * math.cos(lat),
                       np.full(last.shape, math.sin(lat))], axis=-1)
    shift = -(2.0 * math.pi * radius / 86400.0 * SIDEREAL_PER_SOLAR / SPEED_OF_LIGHT_M_S) * zenith
    shifted = d_app + shift - np.sum(shift * d_app, axis=-1)[:, None] * d_app
    return rotation_onto(d_app, shifted / np.linalg.norm(shifted, axis=-1)[:, None])


def uvw_basis(ra_rad, dec_rad) -> np.ndarray:
    """(n, 3, 3) rows e_u, e_v, e_w: east, north and towards the direction."""
    ra = np.atleast_1d(ra_rad)
    dec = np.atleast_1d(dec_rad)
    sa, ca, sd, cd = np.sin(ra), np.cos(ra), np.sin(dec), np.cos(dec)
    z = np.zeros_like(ra)
    return np.stack([np.stack([-sa, ca, z], -1), np.stack([-sd * ca, -sd * sa, cd], -1),
                     np.stack([cd * ca, cd * sa, sd], -1)], axis=1)


def rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation matrices carrying unit vectors ``a`` onto ``b`` (both (n, 3)), Rodrigues' formula."""
    v = np.cross(a, b)
    s = np.linalg.norm(v, axis=-1)
    c = np.einsum("ni,ni->n", a, b)
    k = v / np.where(s > 0, s, 1.0)[:, None]
    kx = np.zeros((len(a), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx -= np.transpose(kx, (0, 2, 1))
    return np.eye(3)[None] + s[:, None, None] * kx + (1.0 - c)[:, None, None] * (kx @ kx)


def unit_vector(ra_rad, dec_rad) -> np.ndarray:
    """Cartesian unit vector(s) of a direction, shape (..., 3)."""
    return np.stack([np.cos(dec_rad) * np.cos(ra_rad), np.cos(dec_rad) * np.sin(ra_rad), np.sin(dec_rad)], -1)


def uvw_m(positions_itrf_m, pairs, ra_deg, dec_deg, mjd_utc, site_itrf_m=None) -> np.ndarray:
    """UVW (m) of baselines ``positions[j] - positions[i]`` for each (i, j) in ``pairs`` towards a J2000
    direction at the given UTC MJDs, as casacore's ``measures.to_uvw`` gives them (module docstring): shape
    (n_times, n_baselines, 3). ``site_itrf_m`` (default: the array centre) is the observatory position of
    casacore's frame; moving it across the array changes the UVW by micrometres."""
    import erfa
    pos = np.asarray(positions_itrf_m, dtype=float)
    site = pos.mean(axis=0) if site_itrf_m is None else site_itrf_m
    b = pos[pairs[:, 1]] - pos[pairs[:, 0]]                        # (nb, 3) ITRF
    gast, tt, tdb, xp, yp = _time_scales(mjd_utc)
    p = unit_vector(math.radians(ra_deg), math.radians(dec_deg))
    p_app = apparent_mean_direction(p, tdb)                       # (nt, 3) mean J2000 axes
    precess = erfa.pnm80(tt.jd1, tt.jd2)                          # mean J2000 -> true of date (IAU 1976/1980)
    d_app = np.einsum("tij,tj->ti", precess, p_app)
    to_j2000 = (rotation_onto(p_app, np.broadcast_to(p, p_app.shape)) @ np.transpose(precess, (0, 2, 1))
                @ diurnal_rotation(d_app, gast, site) @ terrestrial_to_date(gast, xp, yp))
    basis = uvw_basis(np.full(len(p_app), math.radians(ra_deg)), np.full(len(p_app), math.radians(dec_deg)))
    return np.einsum("tki,tij,bj->tbk", basis, to_j2000, b)


def local_hour_angle_deg(ra_deg: float, mjd_utc, longitude_deg: float, dec_deg: float = 0.0) -> np.ndarray:
    """Local apparent hour angle (deg, -180..180) of a J2000 direction from ``longitude_deg`` (east): apparent
    sidereal time minus the apparent right ascension of date, through the same chain as the UVW."""
    import erfa
    gast, tt, tdb, _, _ = _time_scales(mjd_utc)
    p = unit_vector(math.radians(ra_deg), math.radians(dec_deg))
    d = np.einsum("tij,tj->ti", erfa.pnm80(tt.jd1, tt.jd2), apparent_mean_direction(p, tdb))
    ha = gast - np.arctan2(d[:, 1], d[:, 0])
    return (np.degrees(ha) + longitude_deg + 180.0) % 360.0 - 180.0


def elevation_deg(ra_deg: float, dec_deg: float, hour_angle_deg, latitude_deg: float) -> np.ndarray:
    """Elevation (deg) from the hour angle, declination and latitude (spherical astronomy; no refraction)."""
    h = np.radians(hour_angle_deg)
    d, p = math.radians(dec_deg), math.radians(latitude_deg)
    return np.degrees(np.arcsin(np.sin(p) * math.sin(d) + np.cos(p) * math.cos(d) * np.cos(h)))


@dataclass(frozen=True)
class Observation:
    """A synthesis observation of one field with ASKAP.

    Times are sampled every ``integration_s`` from hour angle ``ha_start_h`` to ``ha_end_h`` (hours, local
    hour angle of the phase centre) around the transit nearest to ``date_mjd``."""

    ra_deg: float
    dec_deg: float
    frequency_hz: float
    bandwidth_hz: float
    ha_start_h: float = -4.0
    ha_end_h: float = 4.0
    integration_s: float = 300.0
    date_mjd: float = 60676.0          # 2025-01-01, inside the bundled IERS tables
    elevation_limit_deg: float = 15.0
    positions_itrf_m: np.ndarray = field(default_factory=lambda: ASKAP_PADS_ITRF_M.copy(), repr=False)
    dish_diameter_m: float = ASKAP_DISH_DIAMETER_M

    @property
    def n_antennas(self) -> int:
        return len(self.positions_itrf_m)

    @property
    def pairs(self) -> np.ndarray:
        return baseline_pairs(self.n_antennas)

    def site(self):
        return site_geodetic(self.positions_itrf_m)

    def hour_angles_h(self) -> np.ndarray:
        if not self.ha_end_h > self.ha_start_h:
            raise ObservationError(f"hour-angle range {self.ha_start_h}..{self.ha_end_h} h is empty")
        step_h = self.integration_s / 3600.0 * SIDEREAL_PER_SOLAR
        n = max(1, int(round((self.ha_end_h - self.ha_start_h) / step_h)))
        return self.ha_start_h + (np.arange(n) + 0.5) * (self.ha_end_h - self.ha_start_h) / n

    def check_elevation(self) -> None:
        """Raise :class:`ObservationError` before any work if the field sets below the elevation limit."""
        _, lat, _ = self.site()
        ha = self.hour_angles_h()
        el = elevation_deg(self.ra_deg, self.dec_deg, ha * 15.0, lat)
        if el.min() < self.elevation_limit_deg:
            worst = ha[np.argmin(el)]
            raise ObservationError(
                f"the field (Dec {self.dec_deg:g} deg) is at elevation {el.min():.1f} deg at hour angle "
                f"{worst:+.2f} h, below the limit of {self.elevation_limit_deg:g} deg seen from latitude "
                f"{lat:.2f} deg; shorten the hour-angle range or lower the limit")

    def times_mjd(self) -> np.ndarray:
        """UTC MJDs of the samples: transit nearest ``date_mjd`` plus the hour angles in sidereal time."""
        lon, _, _ = self.site()
        ha0 = float(local_hour_angle_deg(self.ra_deg, self.date_mjd, lon, self.dec_deg)[0])
        transit = self.date_mjd - ha0 / 360.0 / SIDEREAL_PER_SOLAR
        return transit + self.hour_angles_h() / 24.0 / SIDEREAL_PER_SOLAR

    def uvw_m(self) -> np.ndarray:
        """(n_times, n_baselines, 3) UVW in metres."""
        self.check_elevation()
        return uvw_m(self.positions_itrf_m, self.pairs, self.ra_deg, self.dec_deg, self.times_mjd())

    @property
    def n_visibilities(self) -> int:
        return len(self.hour_angles_h()) * len(self.pairs)


def visibility_noise_jy(system_temperature_k: float, aperture_efficiency: float, dish_diameter_m: float,
                        bandwidth_hz: float, integration_s: float) -> float:
    """Radiometer equation: rms of one visibility of one polarisation product (Jy),
    sigma = SEFD / sqrt(2 dnu tau) with SEFD = 2 k T_sys / (eta pi D^2 / 4)."""
    a_eff = aperture_efficiency * math.pi * dish_diameter_m ** 2 / 4.0
    sefd = 2.0 * BOLTZMANN_JY_M2_PER_K * system_temperature_k / a_eff
    return sefd / math.sqrt(2.0 * bandwidth_hz * integration_s)


def natural_image_noise_jy(visibility_sigma_jy: float, n_visibilities: int, n_polarisations: int = 2) -> float:
    """Stokes I image rms (Jy/beam) with natural weighting: sigma_vis / sqrt(n_pol * n_vis), Stokes I being the
    mean of the polarisation products."""
    return visibility_sigma_jy / math.sqrt(n_polarisations * n_visibilities)
