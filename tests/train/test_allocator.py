"""Keeping freed memory on the heap changes where memory comes from, never the result."""

import subprocess
import sys

SCRIPT = """
import hashlib, sys
import kdlab.train.loop as loop
if sys.argv[1] == "off":
    loop.keep_freed_memory = lambda: False
from kdlab.config import resolve
from kdlab.train.runner import run_config
cfg = resolve({"name": "a", "data": {"train_size": 128}, "model": {"name": "resnet8"},
               "train": {"epochs": 1, "batch_size": 64}, "record": {"loggers": []}})
run, _ = run_config(cfg, sys.argv[2], progress=False, log=lambda m: None)
from safetensors.torch import load_file
weights = load_file(str(run.final_weights))
print(hashlib.sha256(b"".join(weights[k].numpy().tobytes() for k in sorted(weights))).hexdigest())
"""


def test_the_same_weights_with_and_without_it(tmp_path):
    from kdlab.train.allocator import keep_freed_memory

    assert keep_freed_memory()  # glibc here: it applies
    digests = [subprocess.run([sys.executable, "-c", SCRIPT, mode, str(tmp_path / mode)], capture_output=True,
                              text=True, check=True).stdout for mode in ("on", "off")]
    assert digests[0] == digests[1] and len(digests[0].strip()) == 64
