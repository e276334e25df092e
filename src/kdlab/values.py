"""Constrained value types, for config fields and for the options of registered builders alike.

The registry validates a builder's options against its annotations, so `hidden: list[Width]` or
`temperature: Positive` turn a bad value into an error that names the option and the valid range.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

FLOAT32_MAX = 3.4028234663852886e38  # what a float32 parameter update can take as a factor


def _fits_float32(value: float) -> float:
    if value > FLOAT32_MAX:
        raise ValueError(f"must be at most {FLOAT32_MAX:.4g}, the largest float32 number (got {value:.4g})")
    return value


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # finite and > 0
# A factor applied to float32 parameters (a learning rate, a weight decay): beyond float32's range an
# optimizer step cannot even be taken.
Rate = Annotated[float, Field(gt=0, allow_inf_nan=False), AfterValidator(_fits_float32)]
NonNegativeRate = Annotated[float, Field(ge=0, allow_inf_nan=False), AfterValidator(_fits_float32)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1)]  # sizes, widths, numbers of things
NonNegativeInt = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]  # what torch and numpy generators accept
