"""Models by name. Each builder takes the dataset's num_classes and input_shape plus its own options,
and registers itself in its own file. Any nn.Module can be trained too (kdlab.fit(model=...))."""

from .base import (MODELS, build_model, check_outputs, check_vocabulary, count_parameters, evaluating, forward_kwargs,
                   logits_in, logits_of)

__all__ = ["MODELS", "build_model", "check_outputs", "check_vocabulary", "count_parameters", "evaluating", "forward_kwargs",
           "logits_in", "logits_of"]
