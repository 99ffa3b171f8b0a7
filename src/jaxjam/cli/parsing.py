"""Text → values for the command line and the survey catalogue (the same words in both)."""

from __future__ import annotations

__all__ = ["bounds_pair", "floats", "psf_from_text"]


def floats(text, name: str) -> tuple[float, ...]:
    """``"1,2.5"`` → ``(1.0, 2.5)``; ``name`` (a flag or a column) is named in the error."""
    try:
        return tuple(float(v) for v in str(text).split(","))
    except ValueError as exc:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from exc


def bounds_pair(text, name: str) -> tuple[float, float]:
    """``"LO,HI"`` → ``(LO, HI)``: prior bounds given by a flag or a catalogue column ``name``."""
    pair = floats(text, name)
    if len(pair) != 2:
        raise ValueError(f"{name} needs two numbers LO,HI, got {text!r}")
    return pair


def psf_from_text(sigmapsf, normpsf, pixsize, names=("--sigmapsf", "--normpsf", "--pixsize")):
    """A :class:`~jaxjam.core.psf.PSF` from jampy's ``sigmapsf``/``normpsf``/``pixsize`` as text
    (``None`` where not given), or ``None`` when none is given.

    Parameters
    ----------
    sigmapsf : str or None
        Gaussian sigmas, arcsec, comma-separated.
    normpsf : str or None
        Their weights, comma-separated (may be left out for a single Gaussian).
    pixsize : str, float or None
        Pixel size, arcsec.
    names : (str, str, str)
        How the three are called in messages (the CLI's flags, or the catalogue's columns).
    """
    from jaxjam.core.psf import PSF

    n_sig, n_norm, n_pix = names
    given = [v is not None for v in (sigmapsf, normpsf, pixsize)]
    if not any(given):
        return None
    if sigmapsf is None or pixsize is None:
        raise ValueError(f"a PSF needs {n_sig} and {n_pix} (and {n_norm} for several Gaussians)")
    sig = floats(sigmapsf, n_sig)
    if normpsf is not None:
        weights = floats(normpsf, n_norm)
    elif len(sig) == 1:
        weights = (1.0,)
    else:
        raise ValueError(f"{n_norm} is needed with several {n_sig} Gaussians")
    (pix,) = floats(pixsize, n_pix)
    return PSF(sig, weights, pix)
