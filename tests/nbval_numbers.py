"""Compare stored notebook outputs with fresh ones at the precision the computation supports.

nbval compares text outputs character by character. Floating point differs by CPU model,
instruction set and thread count, so a stored ``3.2e-15`` comes back as ``3.7e-15`` on
another machine and a character-exact comparison fails for no reason a reader would
care about. This pytest plugin (loaded by the repository's ``conftest.py``) makes nbval compare
numbers by the rules below and everything else exactly. It is the one place where the
book decides how precisely a printed number must be reproduced:

1. **Text is exact.** Everything that is not a number (words, punctuation, shapes'
   brackets, line breaks) must match, except that a run of spaces counts as one space
   (NumPy pads columns to the widest number, which moves with the numbers).
2. **Integers are exact.** Counts, shapes, parameter numbers, token ids, indices and
   tables of integers never depend on the machine. A float printed without decimals
   (``f"{x:.0f}"``) reads as an integer too: give a number that may vary at least one
   decimal, or scientific notation.
3. **A decimal number may move by one unit in its last printed digit** (``0.9077`` and
   ``0.9078`` agree, ``0.9080`` does not). Deterministic float computations differ only
   in their last few bits across machines; printed to a sensible number of digits, the
   only visible effect is a rounding flip in the last digit.
4. **A number in scientific notation is a size**, usually the size of a disagreement
   (a gradient-check error, a framework parity). Below ``1e-3`` two such numbers agree
   when they are within a factor of ten of each other and share their sign (``3.2e-15``
   and ``3.7e-15``; ``5.7e-06`` and ``4.8e-06``); ``0`` agrees with anything below
   ``1e-12``. At ``1e-3`` and above, rule 3 applies to the mantissa.

A number whose value depends on the whole trajectory of a training run (an accuracy after
training, a loss curve's last value, a sample drawn from a trained model) follows none of
these rules: its cell is tagged ``nbval-ignore-output`` and asserts its result against a
band measured on several machines (``tests/test_portable.py`` enforces both).
"""
from __future__ import annotations

import math
import re

from nbval.plugin import IPyNbCell

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
INTEGER = re.compile(r"[-+]?\d+")
SPACES = re.compile(r"[ \t]+")
#: Below this, numbers in scientific notation are sizes of disagreements (rule 4).
SIZE_LIMIT = 1e-3
#: A printed 0 agrees with a disagreement smaller than this (rule 4).
ZERO_LIMIT = 1e-12


def _decimals(token: str) -> int:
    mantissa = re.split("[eE]", token)[0]
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def numbers_agree(stored: str, fresh: str) -> bool:
    """Whether two printed numbers agree under the rules in this module's docstring."""
    if stored == fresh:
        return True
    if INTEGER.fullmatch(stored) or INTEGER.fullmatch(fresh):
        return False  # rule 2
    a, b = float(stored), float(fresh)
    scientific = "e" in stored.lower() or "e" in fresh.lower()
    if scientific and min(abs(a), abs(b)) < SIZE_LIMIT and max(abs(a), abs(b)) < SIZE_LIMIT * 10:
        if a == 0 or b == 0:
            return max(abs(a), abs(b)) < ZERO_LIMIT
        return (a > 0) == (b > 0) and abs(math.log10(abs(a)) - math.log10(abs(b))) <= 1.0
    if scientific:
        exponent = math.floor(math.log10(max(abs(a), abs(b), 1e-300)))
        quantum = 10.0 ** (exponent - _decimals(stored))
    else:
        quantum = 10.0 ** -max(_decimals(stored), _decimals(fresh))
    return abs(a - b) <= quantum * (1 + 1e-9)


def texts_agree(stored: str, fresh: str) -> bool:
    """Whether two output texts agree: same text around the numbers, numbers that agree."""
    if stored == fresh:
        return True
    stored_numbers, fresh_numbers = NUMBER.findall(stored), NUMBER.findall(fresh)
    if len(stored_numbers) != len(fresh_numbers):
        return False
    skeleton = lambda text: SPACES.sub(" ", NUMBER.sub("#", text))  # noqa: E731
    if skeleton(stored) != skeleton(fresh):
        return False
    return all(numbers_agree(s, f) for s, f in zip(stored_numbers, fresh_numbers))


def _align(cell: IPyNbCell, fresh: list, stored: list) -> None:
    """Where a fresh text agrees with the stored one numerically, put the stored text in its place.

    nbval's own comparison then sees equal texts; any real difference is still reported by
    nbval, with its usual diff.
    """
    if len(fresh) != len(stored):
        return
    for new, old in zip(fresh, stored):
        if new.get("output_type") != old.get("output_type"):
            continue
        if new.get("output_type") == "stream":
            if new.get("name") == old.get("name") and texts_agree(cell.sanitize(old.text), cell.sanitize(new.text)):
                new.text = old.text
            continue
        new_data, old_data = new.get("data", {}), old.get("data", {})
        for key, value in new_data.items():
            if key.startswith("text/") and isinstance(value, str) and isinstance(old_data.get(key), str):
                if texts_agree(cell.sanitize(old_data[key]), cell.sanitize(value)):
                    new_data[key] = old_data[key]


_original_compare = IPyNbCell.compare_outputs


def _compare_outputs(self, test, ref, skip_compare=None):
    _align(self, test, ref)
    return _original_compare(self, test, ref, skip_compare)


def pytest_configure(config):
    IPyNbCell.compare_outputs = _compare_outputs
