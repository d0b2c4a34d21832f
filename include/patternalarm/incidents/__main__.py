"""``python -m include.patternalarm.incidents [--topic … --group …]``: run the incident sink."""

from __future__ import annotations

import sys

from include.patternalarm.incidents.sink import main

sys.exit(main())
