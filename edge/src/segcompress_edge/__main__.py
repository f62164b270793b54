"""``python -m segcompress_edge``."""

import sys

from segcompress_edge.cli import main

sys.exit(main())
