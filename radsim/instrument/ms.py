"""A Measurement Set written from scratch with python-casacore, in ASKAP's layout.

The main table has one row per integration and baseline (cross-correlations, ANTENNA1 < ANTENNA2), UVW =
POSITION(ANTENNA2) - POSITION(ANTENNA1) in metres (J2000), two polarisation products XX, YY, and DATA,
MODEL_DATA columns; subtables ANTENNA, SPECTRAL_WINDOW, POLARIZATION, DATA_DESCRIPTION, FIELD, OBSERVATION and
FEED each get their rows (WSClean stops with "No observations in set" without an OBSERVATION row).
Times are MJD seconds (UTC) at the middle of each integration.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CORR_XX, CORR_YY = 9, 12      # casacore Stokes enumeration
MEAS_FREQ_TOPO = 5
N_POL = 2                     # XX and YY


def write_ms(path, observation, uvw_m: np.ndarray, times_mjd: np.ndarray, n_channels: int = 1,
             antenna_names=None) -> Path:
    """Write an empty-data MS (DATA and MODEL_DATA zero) for ``observation`` with UVW (n_times, n_baselines, 3)
    at ``times_mjd``; the band is split into ``n_channels`` equal channels around the centre frequency."""
    from casacore import tables

    path = Path(path)
    n_t, n_b, _ = uvw_m.shape
    if len(observation.pairs) != n_b:
        raise ValueError(f"{n_b} baselines of UVW for {len(observation.pairs)} antenna pairs")
    t_sec = np.repeat(np.asarray(times_mjd, dtype=float) * 86400.0, n_b)
    _main_table(tables, path, observation, uvw_m, t_sec, n_channels)

    def sub(name):
        return tables.table(str(path / name), readonly=False, ack=False)

    with sub("ANTENNA") as t:
        _antennas(t, observation, antenna_names or [f"ak{i + 1:02d}" for i in range(observation.n_antennas)])
    with sub("SPECTRAL_WINDOW") as t:
        _spectral_window(t, observation, n_channels)
    with sub("POLARIZATION") as t:
        t.addrows(1)
        t.putcell("NUM_CORR", 0, N_POL)
        t.putcell("CORR_TYPE", 0, np.array([CORR_XX, CORR_YY], np.int32))
        t.putcell("CORR_PRODUCT", 0, np.array([[0, 0], [1, 1]], np.int32))
    with sub("DATA_DESCRIPTION") as t:
        t.addrows(1)
        t.putcell("SPECTRAL_WINDOW_ID", 0, 0)
        t.putcell("POLARIZATION_ID", 0, 0)
    with sub("FIELD") as t:
        _field(t, observation, float(t_sec[0]))
    t_range = np.array([t_sec[0] - observation.integration_s / 2, t_sec[-1] + observation.integration_s / 2])
    with sub("OBSERVATION") as t:
        t.addrows(1)
        t.putcell("TELESCOPE_NAME", 0, "ASKAP")
        t.putcell("TIME_RANGE", 0, t_range)
        t.putcell("OBSERVER", 0, "radsim")
        t.putcell("PROJECT", 0, "radsim")
        t.putcell("RELEASE_DATE", 0, 0.0)
        t.putcell("SCHEDULE_TYPE", 0, "")
    with sub("FEED") as t:
        _feeds(t, observation.n_antennas, t_range)
    return path


def _main_table(tables, path: Path, observation, uvw_m: np.ndarray, t_sec: np.ndarray, n_channels: int) -> None:
    """One row per integration and baseline: times (MJD s), antennas, UVW (m), zero DATA and MODEL_DATA."""
    n_t, n_b, _ = uvw_m.shape
    pairs = observation.pairs
    desc = tables.maketabdesc([
        tables.makearrcoldesc("DATA", 0j, ndim=2, shape=[n_channels, N_POL], valuetype="complex"),
        tables.makearrcoldesc("MODEL_DATA", 0j, ndim=2, shape=[n_channels, N_POL], valuetype="complex"),
    ])
    ms = tables.default_ms(str(path), desc)
    n_rows = n_t * n_b
    ms.addrows(n_rows)
    ms.putcol("TIME", t_sec)
    ms.putcol("TIME_CENTROID", t_sec)
    ms.putcol("INTERVAL", np.full(n_rows, observation.integration_s))
    ms.putcol("EXPOSURE", np.full(n_rows, observation.integration_s))
    ms.putcol("ANTENNA1", np.tile(pairs[:, 0], n_t).astype(np.int32))
    ms.putcol("ANTENNA2", np.tile(pairs[:, 1], n_t).astype(np.int32))
    ms.putcol("UVW", uvw_m.reshape(-1, 3))
    ms.putcol("SCAN_NUMBER", np.ones(n_rows, np.int32))
    for col in ("DATA", "MODEL_DATA"):
        ms.putcol(col, np.zeros((n_rows, n_channels, N_POL), np.complex64))
    ms.putcol("FLAG", np.zeros((n_rows, n_channels, N_POL), bool))
    ms.putcol("WEIGHT", np.ones((n_rows, N_POL), np.float32))
    ms.putcol("SIGMA", np.ones((n_rows, N_POL), np.float32))
    ms.close()


def _antennas(t, observation, names) -> None:
    n_a = observation.n_antennas
    t.addrows(n_a)
    t.putcol("NAME", names)
    t.putcol("STATION", ["ASKAP"] * n_a)
    t.putcol("TYPE", ["GROUND-BASED"] * n_a)
    t.putcol("MOUNT", ["ALT-AZ"] * n_a)
    t.putcol("POSITION", np.asarray(observation.positions_itrf_m, dtype=float))
    t.putcol("OFFSET", np.zeros((n_a, 3)))
    t.putcol("DISH_DIAMETER", np.full(n_a, observation.dish_diameter_m))


def _spectral_window(t, observation, n_channels: int) -> None:
    width = observation.bandwidth_hz / n_channels
    freqs = observation.frequency_hz + (np.arange(n_channels) - (n_channels - 1) / 2.0) * width
    t.addrows(1)
    t.putcell("NUM_CHAN", 0, n_channels)
    t.putcell("CHAN_FREQ", 0, freqs)
    for col in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
        t.putcell(col, 0, np.full(n_channels, width))
    t.putcell("REF_FREQUENCY", 0, observation.frequency_hz)
    t.putcell("TOTAL_BANDWIDTH", 0, observation.bandwidth_hz)
    t.putcell("MEAS_FREQ_REF", 0, MEAS_FREQ_TOPO)
    t.putcell("NAME", 0, "radsim")
    t.putcell("NET_SIDEBAND", 0, 1)


def _field(t, observation, first_time_s: float) -> None:
    direction = np.array([[math.radians(observation.ra_deg), math.radians(observation.dec_deg)]])
    t.addrows(1)
    t.putcell("NAME", 0, "radsim")
    t.putcell("CODE", 0, "")
    for col in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
        t.putcell(col, 0, direction)
    t.putcell("NUM_POLY", 0, 0)
    t.putcell("TIME", 0, first_time_s)
    t.putcell("SOURCE_ID", 0, -1)


def _feeds(t, n_a: int, t_range: np.ndarray) -> None:
    """One feed per antenna with two linear receptors X, Y (ASKAP's PAF beams are formed per feed)."""
    t.addrows(n_a)
    t.putcol("ANTENNA_ID", np.arange(n_a, dtype=np.int32))
    t.putcol("FEED_ID", np.zeros(n_a, np.int32))
    t.putcol("SPECTRAL_WINDOW_ID", np.full(n_a, -1, np.int32))
    t.putcol("TIME", np.full(n_a, float(np.mean(t_range))))
    t.putcol("INTERVAL", np.full(n_a, float(t_range[1] - t_range[0])))
    t.putcol("NUM_RECEPTORS", np.full(n_a, 2, np.int32))
    t.putcol("BEAM_ID", np.full(n_a, -1, np.int32))
    t.putcol("BEAM_OFFSET", np.zeros((n_a, 2, 2)))
    t.putcol("POLARIZATION_TYPE", np.array([["X", "Y"]] * n_a))
    t.putcol("POL_RESPONSE", np.tile(np.eye(2, dtype=np.complex64), (n_a, 1, 1)))
    t.putcol("POSITION", np.zeros((n_a, 3)))
    t.putcol("RECEPTOR_ANGLE", np.tile([-math.pi / 4, math.pi / 4], (n_a, 1)))
