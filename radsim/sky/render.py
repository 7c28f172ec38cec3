"""The sky-model image of a catalogue on a field's pixel grid (Jy/pixel).

* Sources (or lobes) smaller than 1/3 pixel (FWHM) are points, placed with sub-pixel accuracy by
  cloud-in-cell (bilinear) weights on the four nearest pixel centres; a point inside the image whose
  neighbour lies off the edge gives that weight to the edge pixel, so every point inside conserves its flux.
* Larger components are elliptical Gaussians integrated over each pixel by sub-sampling, normalised so that
  the stamp holds exactly the component's flux; the part of a stamp beyond the image edge is lost (that flux
  is really outside the field).

Images are accumulated in float64 and returned as float32 ``image[y, x]``.

That pixelised image is the sky *model* (pictures, the ``none`` backend). What a telescope observes is the sky
itself: :class:`Sky` keeps every point at its exact position, and :meth:`Sky.band_limited` gives the sky as a
band-limited image on the pixel grid (all spatial frequencies up to the pixel Nyquist limit, i.e. the exact
Fourier series of the points, by ducc0's type-1 non-uniform FFT), so that an instrument whose uv coverage lies
within that band (radsim's synthesis backends drop visibilities beyond it) sees every point at its sub-pixel
position with its full flux. Gaussian components are integrated over pixels as above and the pixel box is then
divided out of their transform (sinc(u) sinc(v)), which leaves them exact but for aliasing beyond Nyquist.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from radsim.sky.catalogue import Catalogue

FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
POINT_FRACTION = 1.0 / 3.0      # components smaller than this many pixels (FWHM) are points
MAX_STAMP_HALF = 256            # pixels; larger Gaussians are truncated at this radius (flux kept)
STAMP_BUDGET = 1 << 23          # sub-samples evaluated at once


def components(cat: Catalogue, grid):
    """Split sources into point and Gaussian components in pixel units.

    Returns (points, gaussians): points = (x, y, flux); gaussians = (x, y, flux, sigma_major_pix,
    sigma_minor_pix, pa_rad)."""
    x, y = grid.lm_to_pixel(cat.l, cat.m)
    pix_arcsec = grid.pixel_deg * 3600.0
    point_limit = np.float32(POINT_FRACTION * pix_arcsec)
    double = (cat.cls == 2) & (cat.lobe_sep_arcsec >= point_limit)
    extended = (cat.major_arcsec >= point_limit) & ~double
    single_point = ~(double | extended)
    # lobes: half the flux each at +-sep/2 along the PA (east of north; east is -x on the image)
    pa = np.radians(cat.pa_deg[double].astype(float))
    half = 0.5 * cat.lobe_sep_arcsec[double] / pix_arcsec
    dx, dy = -np.sin(pa) * half, np.cos(pa) * half
    lx = np.concatenate([x[double] + dx, x[double] - dx])
    ly = np.concatenate([y[double] + dy, y[double] - dy])
    lf = np.tile(0.5 * cat.flux_jy[double], 2)
    lmaj = np.tile(cat.major_arcsec[double], 2)
    lpa = np.tile(cat.pa_deg[double], 2)
    lobe_ext = lmaj >= point_limit
    points = (np.concatenate([x[single_point], lx[~lobe_ext]]), np.concatenate([y[single_point], ly[~lobe_ext]]),
              np.concatenate([cat.flux_jy[single_point], lf[~lobe_ext]]))
    s = FWHM_TO_SIGMA / pix_arcsec
    gaussians = (np.concatenate([x[extended], lx[lobe_ext]]), np.concatenate([y[extended], ly[lobe_ext]]),
                 np.concatenate([cat.flux_jy[extended], lf[lobe_ext]]),
                 np.concatenate([cat.major_arcsec[extended], lmaj[lobe_ext]]).astype(float) * s,
                 np.concatenate([cat.minor_arcsec[extended], lmaj[lobe_ext]]).astype(float) * s,
                 np.radians(np.concatenate([cat.pa_deg[extended], lpa[lobe_ext]]).astype(float)))
    return points, gaussians


def add_points(padded: np.ndarray, npix: int, x, y, flux, scratch=None) -> None:
    """Cloud-in-cell deposit of point sources into a flattened float64 image padded by one pixel on every side
    ((npix + 2)^2 values, in place). Points outside the image footprint are dropped. ``scratch`` is an optional
    :class:`_Scratch` whose buffers are reused between calls (fresh large arrays cost page faults)."""
    inside = (x >= -0.5) & (x < npix - 0.5) & (y >= -0.5) & (y < npix - 0.5)
    if not inside.all():
        x, y, flux = x[inside], y[inside], flux[inside]
    n = x.size
    p = npix + 2
    idx, w = (scratch or _Scratch()).get(n)
    xs = x + 1.0                      # padded coordinates are >= 0.5: truncation is floor
    ys = y + 1.0
    x0 = xs.astype(np.int64)
    y0 = ys.astype(np.int64)
    fx = xs - x0
    fy = ys - y0
    base = idx[:n]
    np.multiply(y0, p, out=base)
    base += x0
    for k, offset in enumerate((1, p, p + 1), start=1):
        np.add(base, offset, out=idx[k * n:(k + 1) * n])
    gx = 1.0 - fx
    wy0 = flux * (1.0 - fy)
    wy1 = flux * fy
    for k, (a, b) in enumerate(((gx, wy0), (fx, wy0), (gx, wy1), (fx, wy1))):
        np.multiply(a, b, out=w[k * n:(k + 1) * n])
    padded += np.bincount(idx, weights=w, minlength=p * p)


class _Scratch:
    """Reusable index and weight buffers for :func:`add_points` (4 entries per point)."""

    def __init__(self):
        self.idx = np.empty(0, np.int64)
        self.w = np.empty(0)

    def get(self, n: int):
        if self.idx.size < 4 * n:
            self.idx = np.empty(4 * n, np.int64)
            self.w = np.empty(4 * n)
        return self.idx[:4 * n], self.w[:4 * n]


def _supersampling(sigma_minor_pix: np.ndarray) -> np.ndarray:
    return np.clip(np.ceil(1.5 / np.maximum(sigma_minor_pix, 1e-3)), 2, 8).astype(int)


def add_gaussians(padded: np.ndarray, npix: int, x, y, flux, sig_maj, sig_min, pa) -> None:
    """Deposit elliptical Gaussians into the padded flattened image, each integrated over pixels by
    sub-sampling and normalised to its flux; stamp pixels beyond the image are dropped."""
    if x.size == 0:
        return
    p = npix + 2
    half = np.minimum(np.ceil(4.0 * sig_maj + 1.0), MAX_STAMP_HALF).astype(int)
    sub = _supersampling(sig_min)
    key = half * 16 + sub
    for k in np.unique(key):
        sel = np.flatnonzero(key == k)
        h, s = int(k // 16), int(k % 16)
        width = 2 * h + 1
        per_source = width * width * s * s
        step = max(1, STAMP_BUDGET // per_source)
        off = (np.arange(s) + 0.5) / s - 0.5
        pix = np.arange(-h, h + 1)
        # sub-sample offsets from the stamp's central pixel, shape (width*s,)
        grid1d = (pix[:, None] + off[None, :]).ravel()
        for start in range(0, sel.size, step):
            i = sel[start:start + step]
            ix = np.rint(x[i]).astype(np.int64)
            iy = np.rint(y[i]).astype(np.int64)
            dx = grid1d[None, :] - (x[i] - ix)[:, None]          # (n, width*s)
            dy = grid1d[None, :] - (y[i] - iy)[:, None]
            # major axis along PA east of north: direction (-sin pa, cos pa) in pixels
            c, sn = np.cos(pa[i])[:, None, None], np.sin(pa[i])[:, None, None]
            u = -sn * dx[:, None, :] + c * dy[:, :, None]         # along major, (n, ys, xs)
            v = c * dx[:, None, :] + sn * dy[:, :, None]          # along minor
            prof = np.exp(-0.5 * ((u / sig_maj[i, None, None]) ** 2 + (v / sig_min[i, None, None]) ** 2))
            prof = prof.reshape(i.size, width, s, width, s).sum(axis=(2, 4))
            prof *= (flux[i] / prof.sum(axis=(1, 2)))[:, None, None]
            px = ix[:, None, None] + pix[None, None, :]
            py = iy[:, None, None] + pix[None, :, None]
            ok = (px >= 0) & (px < npix) & (py >= 0) & (py < npix)
            _deposit(padded, ((py + 1) * p + px + 1)[ok], prof[ok])


def _deposit(image: np.ndarray, index, weights) -> None:
    """``image += np.bincount(index, weights, minlength=image.size)`` bit for bit (each pixel's weights summed
    in the order given, then added), touching only the pixels indexed: a few stamps no longer cost a pass over
    the whole image (5% of a 250-million-source realisation)."""
    if 8 * len(index) > image.size:
        image += np.bincount(index, weights=weights, minlength=image.size)
        return
    touched, inverse = np.unique(index, return_inverse=True)
    image[touched] += np.bincount(inverse, weights=weights, minlength=touched.size)


NUFFT_EPSILON = 1e-5            # relative accuracy of the point sources' Fourier series
NUFFT_CHUNK = 1 << 23           # points transformed at once: the series is linear, so memory stays bounded
BAND_LIMIT_PAD = 64             # pixels of zero sky on every side: the series' period is the field plus 2 x pad


@dataclass
class Sky:
    """A sky as the instruments see it (module docstring): ``model`` the pixelised sky model (Jy/pixel); point
    components at their exact pixel coordinates ``points_x``, ``points_y`` with fluxes ``points_jy`` (float32:
    1e-4 pixel at 2560 pixels); ``pixels`` the pixel image of the rest (Jy/pixel), integrated over pixels when
    ``box_integrated`` (Gaussian stamps) or pixel values to be taken as they are (a sky given as an image)."""

    given_model: np.ndarray | None    # None: made from the points (cloud-in-cell) and pixels when first asked for
    points_x: np.ndarray
    points_y: np.ndarray
    points_jy: np.ndarray
    pixels: np.ndarray
    box_integrated: bool = True
    gaussians: tuple | None = None    # the Gaussian components (x, y, flux, sigma_major, sigma_minor pix, pa rad)
    # points not kept but transformed as they came (SkyAccumulator(stream_points=True)): their Fourier series
    # (the band_limited grid, BAND_LIMIT_PAD) and their total flux (Jy)
    points_ft: np.ndarray | None = None
    streamed_jy: float = 0.0

    @property
    def model(self) -> np.ndarray:
        """The pixelised sky model (Jy/pixel, float32; module docstring): made once, when first asked for (a
        simulation that writes only tiles never needs it)."""
        if self.given_model is None and self.points_ft is not None:
            raise ValueError("this sky's points were transformed as they came and not kept, so it has no "
                             "pixelised sky model; make the realisation with sky_model=True")
        if self.given_model is None:
            n = self.npix
            padded = np.zeros((n + 2) ** 2)
            add_points(padded, n, self.points_x.astype(np.float64), self.points_y.astype(np.float64),
                       self.points_jy.astype(np.float64))
            self.given_model = (fold_padding(padded, n) + self.pixels).astype(np.float32)
        return self.given_model

    @property
    def flux_jy(self) -> float:
        """The total flux inside the field (Jy)."""
        return float(self.points_jy.sum(dtype=np.float64) + self.pixels.sum(dtype=np.float64)) + self.streamed_jy

    @classmethod
    def from_image(cls, image: np.ndarray) -> "Sky":
        """A sky given only as a pixel image (Jy/pixel): each pixel is a point at the pixel centre."""
        image = np.asarray(image, dtype=np.float32)
        empty = np.zeros(0, np.float32)
        return cls(image, empty, empty, empty, image, box_integrated=False)

    @property
    def npix(self) -> int:
        return self.pixels.shape[0]

    def band_limited(self, pad: int = BAND_LIMIT_PAD) -> np.ndarray:
        """(npix, npix) float64 image (Jy/pixel) of the sky band-limited at the pixel Nyquist frequency: the
        Fourier series (period npix + 2 pad) of the points plus the pixel image with its pixel box divided out,
        sampled at the pixel centres. A sky given as pixels is returned as it is."""
        n = self.npix
        if self.points_jy.size == 0 and not self.box_integrated:
            return np.asarray(self.pixels, dtype=np.float64)
        p = series_size(n, pad)
        if self.points_ft is not None:
            if pad != BAND_LIMIT_PAD:
                raise ValueError(f"this sky's points were transformed with pad {BAND_LIMIT_PAD}, not {pad}")
            ft = self.points_ft.copy()
        else:
            ft = np.zeros((p, p), np.complex64)
        for start in range(0, self.points_jy.size, NUFFT_CHUNK):
            sl = slice(start, start + NUFFT_CHUNK)
            add_point_series(ft, self.points_x[sl], self.points_y[sl], self.points_jy[sl])
        if np.any(self.pixels):
            pix = scipy.fft.fft2(np.asarray(self.pixels, np.float32), (p, p))
            if self.box_integrated:
                k = scipy.fft.fftfreq(p).astype(np.float32)
                pix /= np.sinc(k)[:, None] * np.sinc(k)[None, :]
            ft += pix
        return scipy.fft.ifft2(ft, overwrite_x=True)[:n, :n].real.astype(np.float64)


def series_size(npix: int, pad: int = BAND_LIMIT_PAD) -> int:
    """Side of the grid of the sky's Fourier series: the field plus ``pad`` pixels of zero sky on every side."""
    return scipy.fft.next_fast_len(npix + 2 * pad)


def add_point_series(ft: np.ndarray, x, y, flux) -> None:
    """Add to ``ft`` ((p, p) complex64, FFT order) the Fourier series of points at pixel coordinates (x, y) with
    fluxes ``flux`` (Jy): ducc0's type-1 non-uniform FFT, the grid's period p pixels."""
    if len(flux) == 0:
        return
    coord = np.empty((len(flux), 2), np.float32)
    coord[:, 0] = y
    coord[:, 1] = x
    _add_series(ft, coord, np.asarray(flux, np.float32), np.empty_like(ft))


def _add_series(ft, coord, flux, scratch) -> None:
    """``add_point_series`` of float32 pixel coordinates ``coord`` ((n, 2): y, x; scaled in place to radians of
    the period) and float32 fluxes; ``scratch`` a complex64 array shaped as ``ft``."""
    import ducc0
    coord *= np.float32(2.0 * math.pi / ft.shape[0])
    ft += ducc0.nufft.nu2u(points=flux.astype(np.complex64), coord=coord, forward=True, epsilon=NUFFT_EPSILON,
                           out=scratch, fft_order=True, nthreads=1)


class _PointStream:
    """Points transformed NUFFT_CHUNK at a time as they come and forgotten (memory that does not grow with the
    number of sources): the same batches, in the same order and float32 rounding, as Sky.band_limited makes of
    kept points, so that both give the same series. Copied straight into fixed buffers: at 250 million points
    the lists of chunks joined before each transform cost a tenth of the realisation."""

    def __init__(self, p: int):
        self.ft = np.zeros((p, p), np.complex64)
        self.scratch = np.empty_like(self.ft)
        self.coord = np.empty((NUFFT_CHUNK, 2), np.float32)
        self.flux = np.empty(NUFFT_CHUNK, np.float32)
        self.n = 0
        self.total_jy = 0.0

    def add(self, x, y, flux) -> None:
        at, size = 0, len(flux)
        while at < size:
            m = min(size - at, NUFFT_CHUNK - self.n)
            sl = slice(self.n, self.n + m)
            self.coord[sl, 0] = y[at:at + m]
            self.coord[sl, 1] = x[at:at + m]
            self.flux[sl] = flux[at:at + m]
            self.n += m
            at += m
            if self.n == NUFFT_CHUNK:
                self.flush()

    def flush(self) -> None:
        if self.n:
            f = self.flux[:self.n]
            _add_series(self.ft, self.coord[:self.n], f, self.scratch)
            self.total_jy += float(f.sum(dtype=np.float64))
            self.n = 0


class SkyAccumulator:
    """Accumulates catalogue chunks into a sky image (float64, padded by one pixel for cloud-in-cell) and, with
    ``keep_points``, the :class:`Sky` that the synthesis backends observe."""

    def __init__(self, grid, keep_points: bool = False, keep_components: bool | None = None,
                 stream_points: bool = False):
        self.grid = grid
        self.npix = grid.npix
        self._padded = np.zeros((self.npix + 2) ** 2) if not keep_points else None
        self._scratch = _Scratch()
        self.keep_points = keep_points
        # the Gaussian components' parameters too (WSClean's exact visibilities), besides their pixel image
        self.keep_components = keep_points if keep_components is None else keep_components
        # points transformed in batches of NUFFT_CHUNK as they come and not kept: memory that does not grow with
        # the number of sources, for imagers that need only the band-limited sky (no sky model then)
        self.stream_points = keep_points and stream_points
        self._stream = _PointStream(series_size(self.npix)) if self.stream_points else None
        self._points: list = []
        self._gaussians = np.zeros((self.npix + 2) ** 2) if keep_points else None
        self._components: list = []

    def add(self, cat: Catalogue) -> None:
        (px, py, pf), gauss = components(cat, self.grid)
        if self.keep_points:          # the sky model is made from these only if asked for (Sky.model)
            inside = (px >= -0.5) & (px < self.npix - 0.5) & (py >= -0.5) & (py < self.npix - 0.5)
            if not inside.all():
                px, py, pf = px[inside], py[inside], pf[inside]
            if self.stream_points:
                self._stream.add(px, py, pf)
            else:
                self._points.append(tuple(np.asarray(a, np.float32) for a in (px, py, pf)))
            add_gaussians(self._gaussians, self.npix, *gauss)
            if self.keep_components:
                self._components.append(gauss)
        else:
            add_points(self._padded, self.npix, px, py, pf, self._scratch)
            add_gaussians(self._padded, self.npix, *gauss)

    def sky(self) -> Sky:
        """The :class:`Sky` of everything added (needs ``keep_points``)."""
        if not self.keep_points:
            raise ValueError("SkyAccumulator(keep_points=False) keeps no points")
        model = None
        n = self.npix
        gauss = self._gaussians.reshape(n + 2, n + 2)[1:-1, 1:-1].astype(np.float32)
        components = tuple(_drain(self._components, 6, np.float64)) if self._components else None
        if self.stream_points:
            self._stream.flush()
            empty = np.zeros(0, np.float32)
            return Sky(model, empty, empty, empty, gauss, box_integrated=True, gaussians=components,
                       points_ft=self._stream.ft, streamed_jy=self._stream.total_jy)
        cols = _drain(self._points, 3, np.float32)
        return Sky(model, cols[0], cols[1], cols[2], gauss, box_integrated=True, gaussians=components)

    def image64(self) -> np.ndarray:
        """The image (npix, npix) float64 (without ``keep_points``; with it, ``sky().model``)."""
        if self.keep_points:
            raise ValueError("SkyAccumulator(keep_points=True): the image is sky().model")
        return fold_padding(self._padded, self.npix)


def _drain(chunks: list, n_columns: int, dtype) -> list:
    """The columns of a list of chunks (tuples of arrays) joined, the list emptied chunk by chunk as they are
    copied: the peak is the joined columns plus one chunk, not twice the whole."""
    total = sum(len(c[0]) for c in chunks)
    out = [np.empty(total, dtype) for _ in range(n_columns)]
    at = 0
    while chunks:
        chunk = chunks.pop(0)
        m = len(chunk[0])
        for k in range(n_columns):
            out[k][at:at + m] = chunk[k]
        at += m
    return out


def fold_padding(padded: np.ndarray, npix: int) -> np.ndarray:
    """The (npix, npix) float64 image of a flattened image padded by one pixel: weight that cloud-in-cell put on
    the padding ring belongs to points inside the edge pixels and is given back to them (flux conservation)."""
    a = padded.reshape(npix + 2, npix + 2).copy()
    a[1, :] += a[0, :]
    a[-2, :] += a[-1, :]
    a[:, 1] += a[:, 0]
    a[:, -2] += a[:, -1]
    return a[1:-1, 1:-1].copy()


def render(cat: Catalogue, grid) -> np.ndarray:
    """Sky-model image (Jy/pixel, float32, image[y, x]) of a catalogue."""
    acc = SkyAccumulator(grid)
    acc.add(cat)
    return acc.image64().astype(np.float32)
