"""`python -m kdlab ...` is the `kdlab` command; `torchrun ... -m kdlab run CONFIG` starts it per rank."""

import sys

from kdlab.cli import main

sys.exit(main())
