"""``python -m reprogrammability`` is the same as ``repro``."""

from .cli import main

raise SystemExit(main())
