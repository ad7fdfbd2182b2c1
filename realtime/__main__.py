"""`python -m skelcam.realtime`: the same command as `skelcam` (where the script is not on PATH)."""

import sys

from skelcam.realtime.cli import main

sys.exit(main())
