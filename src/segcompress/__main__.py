"""``python -m segcompress`` is the same as the ``segcompress`` command."""

from segcompress.cli import main

raise SystemExit(main())
